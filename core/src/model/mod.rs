//! The typed content of rooms: what a nurse writes and reads. Plain data with validation;
//! how it is laid out in the Automerge document is `room`'s business.

pub mod consent;
pub mod design_r;
pub mod notice;
pub mod profile;
pub mod report;

pub use consent::Consent;
pub use design_r::DesignR;
pub use notice::{Message, Notice, NoticeContent};
pub use profile::{Profile, ProfileEdit};
pub use report::{
    AttachmentKind, AttachmentRef, AuthorInfo, Comment, Importance, IntakeOutput, Report,
    ReportBody, ReportContent, ReportEdit, ReportSummary, ShareScope, VitalSigns, Withdrawal,
    WoundAssessment,
};
