//! The device session: one per app process, over the encrypted store in the app's data
//! folder. Everything a nurse's app does goes through it — enrolment, the room list, reports,
//! attachments, sync and live sync, search, care plans. It is thread-safe and every method
//! blocks (call it from a background thread, never the UI thread). The bindings are a thin
//! layer of type conversions over it.

mod attachments;
mod lifecycle;
mod listen;
mod live;
mod observed;
mod open;
mod record;
mod renew;
mod reports;
mod rooms;
mod search;
mod shared;
mod sync;

pub use lifecycle::{Identity, Session};
pub use listen::{Listener, Subscription};
pub use live::LiveSync;
pub use renew::RENEW_WITHIN_DAYS;
pub use reports::ReportView;
pub use rooms::RoomInfo;
