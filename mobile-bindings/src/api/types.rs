//! The records and enums the bindings exchange with Swift and Kotlin. Ids are strings (UUIDs,
//! hex hashes), times are milliseconds since the Unix epoch. Only their definitions live here
//! (uniffi names them by this module); their conversions to and from the client's and the
//! core's types are beside the code that uses them (`rooms`, `draft`, `report`,
//! `sync_state`, `search`).

/// Who this device belongs to, learnt at enrollment.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Identity {
    /// The professional's personal id.
    pub professional_id: String,
    /// This device's id (the administrator revokes it by this id).
    pub device_id: String,
    /// Name shown beside posts.
    pub name: String,
    /// Profession key (`nurse`, `care_manager`…).
    pub profession: String,
    /// Profession in Japanese (訪問看護師…).
    pub profession_ja: String,
    /// Organisation's name.
    pub organisation: String,
    /// The relay's address.
    pub relay_url: String,
}

/// Kind of room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum RoomKind {
    /// One patient's room.
    Patient,
    /// The city's important notices.
    CityNotices,
    /// Disaster and infection alerts.
    Alerts,
    /// Personal messages between two professionals.
    Direct,
}

/// One row of the room list.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct RoomInfo {
    /// Room id.
    pub id: String,
    /// Kind.
    pub kind: RoomKind,
    /// Name shown (the patient's name for patient rooms), as the relay gave it.
    pub display_name: String,
    /// Reports (in every document of the room this device holds).
    pub report_count: u32,
    /// Reports by others this professional has not marked read.
    pub unread_count: u32,
    /// Of those, reports that name this professional as must-read (特に読んでほしい人).
    pub must_read_unread: u32,
    /// Local changes the relay has not acknowledged yet.
    pub pending_changes: u32,
    /// The relay's reason for refusing this room's changes, if it did.
    pub refusal: Option<String>,
    /// Care time of the newest report, if any.
    pub last_care_time_ms: Option<i64>,
}

/// Kind of attachment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum AttachmentKind {
    /// A still image.
    Photo,
    /// A video clip.
    Video,
    /// A voice recording.
    Audio,
    /// A PDF or other document.
    Document,
}

/// A file attached to a report; its bytes are fetched with `Device.fetch_attachment`.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Attachment {
    /// SHA-256 of the file, hex.
    pub hash: String,
    /// Photo, video, audio or document.
    pub kind: AttachmentKind,
    /// MIME type.
    pub media_type: String,
    /// Bytes.
    pub size: u64,
    /// Caption.
    pub caption: Option<String>,
    /// When it was captured.
    pub captured_at_ms: Option<i64>,
    /// Hash of the small JPEG preview, for photos and videos.
    pub thumbnail_hash: Option<String>,
    /// Whether the whole file is on this device.
    pub available: bool,
}

/// One set of vital signs; every sign is optional.
#[derive(Clone, Debug, Default, PartialEq, uniffi::Record)]
pub struct Vitals {
    /// When they were measured.
    pub measured_at_ms: i64,
    /// Body temperature, °C.
    #[uniffi(default = None)]
    pub temperature_c: Option<f64>,
    /// Systolic blood pressure.
    #[uniffi(default = None)]
    pub systolic_mmhg: Option<u16>,
    /// Diastolic blood pressure.
    #[uniffi(default = None)]
    pub diastolic_mmhg: Option<u16>,
    /// Pulse.
    #[uniffi(default = None)]
    pub pulse_per_min: Option<u16>,
    /// SpO2, %.
    #[uniffi(default = None)]
    pub spo2_pct: Option<u8>,
    /// Respiration rate.
    #[uniffi(default = None)]
    pub respiration_per_min: Option<u16>,
    /// Blood glucose.
    #[uniffi(default = None)]
    pub glucose_mg_dl: Option<u16>,
    /// Weight.
    #[uniffi(default = None)]
    pub weight_kg: Option<f64>,
    /// Pain 0–10.
    #[uniffi(default = None)]
    pub pain: Option<u8>,
    /// Japan Coma Scale.
    #[uniffi(default = None)]
    pub consciousness_jcs: Option<u16>,
}

/// A pressure-ulcer assessment (DESIGN-R 2020) at one body site.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Wound {
    /// Body site (仙骨部…).
    pub site: String,
    /// The score in chart notation, e.g. `D3-e1s6i0g3n3p0` (the total may follow, `:13`).
    pub design_r: String,
    /// The total 0–66 (filled in by the core on reading; ignored when writing).
    #[uniffi(default = 0)]
    pub total: u8,
    /// Longest diameter, cm.
    #[uniffi(default = None)]
    pub length_cm: Option<f64>,
    /// Perpendicular diameter, cm.
    #[uniffi(default = None)]
    pub width_cm: Option<f64>,
    /// Hashes of this wound's photos among the report's attachments.
    #[uniffi(default = [])]
    pub photo_hashes: Vec<String>,
}

/// What an author writes: a free-text or SOAP report with its vitals, wounds and attachments.
/// For free text fill `text`; for SOAP fill any of `problem`, `s`, `o`, `a`, `p`.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct ReportDraft {
    /// When the care happened (実施日時).
    pub care_time_ms: i64,
    /// ☆ 1 to 3.
    #[uniffi(default = 1)]
    pub importance: u8,
    /// Free text (leave empty for SOAP).
    #[uniffi(default = "")]
    pub text: String,
    /// 問題点.
    #[uniffi(default = "")]
    pub problem: String,
    /// S.
    #[uniffi(default = "")]
    pub s: String,
    /// O.
    #[uniffi(default = "")]
    pub o: String,
    /// A.
    #[uniffi(default = "")]
    pub a: String,
    /// P.
    #[uniffi(default = "")]
    pub p: String,
    /// Only these members see it (empty: every member).
    #[uniffi(default = [])]
    pub audience: Vec<String>,
    /// Members asked to read it (特に読んでほしい人).
    #[uniffi(default = [])]
    pub must_read: Vec<String>,
    /// Vital signs.
    #[uniffi(default = [])]
    pub vitals: Vec<Vitals>,
    /// Pressure-ulcer assessments.
    #[uniffi(default = [])]
    pub wounds: Vec<Wound>,
    /// Files from `Device.attach_file`.
    #[uniffi(default = [])]
    pub attachments: Vec<Attachment>,
}

/// A row of a room's report list.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ReportRow {
    /// Report id.
    pub id: String,
    /// 投稿 No., once the relay has numbered it.
    pub post_no: Option<u64>,
    /// Author's name.
    pub author_name: String,
    /// Author's profession in Japanese.
    pub author_profession_ja: String,
    /// Author's id.
    pub author_id: String,
    /// 実施日時.
    pub care_time_ms: i64,
    /// 投稿日時.
    pub post_time_ms: i64,
    /// ☆ count.
    pub importance: u8,
    /// The start of the text.
    pub snippet: String,
    /// How many have read it.
    pub read_count: u32,
    /// Whether this professional has read it (always true for their own reports).
    pub read_by_me: bool,
    /// Replies.
    pub comment_count: u32,
    /// Attachments.
    pub attachment_count: u32,
    /// Shared with some members only.
    pub restricted: bool,
    /// Withdrawn by its author.
    pub withdrawn: bool,
    /// Names this professional as must-read.
    pub must_read_me: bool,
}

/// A reply comment.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Comment {
    /// Comment id.
    pub id: String,
    /// Author's name.
    pub author_name: String,
    /// Author's id.
    pub author_id: String,
    /// When.
    pub at_ms: i64,
    /// The text.
    pub text: String,
}

/// A read receipt (既読).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Receipt {
    /// Who read it.
    pub professional_id: String,
    /// Their name, when they are a member of the room.
    pub name: Option<String>,
    /// When they opened it.
    pub read_at_ms: i64,
}

/// A whole report.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct ReportDetail {
    /// The row (numbers, author, counts).
    pub row: ReportRow,
    /// What the author wrote (attachments carry `available`).
    pub content: ReportDraft,
    /// The author's organisation.
    pub author_organisation: String,
    /// When the relay received it.
    pub received_at_ms: Option<i64>,
    /// Replies, oldest first.
    pub comments: Vec<Comment>,
    /// Who read it, when.
    pub receipts: Vec<Receipt>,
    /// How many times its author edited it.
    pub edit_count: u32,
    /// The reason it was withdrawn, if it was.
    pub withdrawn_reason: Option<String>,
}

/// Where sync stands.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum SyncPhase {
    /// Not syncing; the last sync (if any) succeeded.
    Idle,
    /// A sync is running.
    Syncing,
    /// The relay could not be reached; changes wait on the device.
    Offline,
    /// The device was revoked; `wipe` asks the app to erase local data.
    Revoked {
        /// Erase local data now.
        wipe: bool,
    },
    /// Not enrolled yet (or wiped).
    NotEnrolled,
}

/// Progress of the attachment being uploaded.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct UploadProgress {
    /// The attachment's hash.
    pub hash: String,
    /// Bytes the relay holds (or that are on their way).
    pub sent: u64,
    /// The attachment's size.
    pub total: u64,
}

/// The sync indicator's state.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncState {
    /// Phase.
    pub phase: SyncPhase,
    /// When the last sync completed.
    pub last_synced_ms: Option<i64>,
    /// Local changes not yet acknowledged by the relay, over all rooms.
    pub pending_changes: u32,
    /// Attachments waiting for upload.
    pub pending_uploads: u32,
    /// The upload in progress, if any.
    pub upload: Option<UploadProgress>,
}

/// What one `sync_now` did.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncSummary {
    /// Rooms that received or sent changes.
    pub updated: Vec<String>,
    /// Rooms new on this device.
    pub added: Vec<String>,
    /// Rooms this device may no longer see (deleted here).
    pub removed: Vec<String>,
    /// Rooms whose changes the relay refused.
    pub refused: Vec<String>,
    /// Attachments still waiting for upload.
    pub pending_uploads: u32,
}

/// Filters of a search; leave a filter empty or `null` to not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, uniffi::Record)]
pub struct SearchFilter {
    /// Keywords separated by spaces (all must match). Empty: filters only.
    pub text: String,
    /// Care time at or after.
    #[uniffi(default = None)]
    pub from_ms: Option<i64>,
    /// Care time before.
    #[uniffi(default = None)]
    pub to_ms: Option<i64>,
    /// Only these rooms.
    #[uniffi(default = [])]
    pub rooms: Vec<String>,
    /// Only reports by these professionals.
    #[uniffi(default = [])]
    pub authors: Vec<String>,
    /// Only reports of at least this many stars.
    #[uniffi(default = None)]
    pub min_importance: Option<u8>,
    /// Only reports asking this device's professional to read them.
    #[uniffi(default = false)]
    pub must_read_me: bool,
    /// Leave out patient profiles.
    #[uniffi(default = false)]
    pub reports_only: bool,
    /// Leave out withdrawn reports.
    #[uniffi(default = false)]
    pub hide_withdrawn: bool,
    /// Results to skip.
    #[uniffi(default = 0)]
    pub offset: u32,
    /// Results to return (0: 50).
    #[uniffi(default = 0)]
    pub limit: u32,
}

/// One search result.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SearchHit {
    /// The patient room.
    pub room_id: String,
    /// The report, for report hits (none for profile hits).
    pub report_id: Option<String>,
    /// Care time (profile: its last edit).
    pub care_time_ms: i64,
    /// Post number.
    pub post_no: Option<u64>,
    /// Author's name.
    pub author_name: String,
    /// Where it matched (`s`, `o`, `comment`, `caption`, `profile.medical.diagnoses`…).
    pub field: String,
    /// Text around the match.
    pub snippet: String,
    /// The match within the snippet, as a character range start.
    pub highlight_start: Option<u32>,
    /// End of that range.
    pub highlight_end: Option<u32>,
}

/// A page of search results.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SearchPage {
    /// Newest first.
    pub hits: Vec<SearchHit>,
    /// Whether more follow.
    pub more: bool,
}

/// A care-plan file as the app picked it.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct CarePlanFileInput {
    /// The file's name (the standard's names carry the table and the insured person).
    pub name: String,
    /// Its bytes (Shift-JIS CSV).
    pub bytes: Vec<u8>,
}

/// What a care-plan import did.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct CarePlanImported {
    /// Import id.
    pub id: String,
    /// Each file's name.
    pub files: Vec<String>,
    /// Rows per file, in the same order.
    pub rows: Vec<u32>,
}
