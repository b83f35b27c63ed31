//! Identity: who the relay's users are and what they may see. The relay's CA and device
//! certificates ([`pki`]), the directory's storage ([`directory`]) and its in-memory cache
//! ([`directory_cache`]), and the rules over it: enrollment by one-time code
//! ([`enrollment`]), professionals, their devices and revocation ([`professionals`]), rooms,
//! memberships and direct conversations ([`rooms`]), and who a request comes from
//! ([`authed`]), with the enrollment rate limit in [`rate_limit`]. The device-facing routes
//! are in [`routes`]. Certificates renew themselves: the relay's own TLS certificate
//! ([`server_cert`]) and, when a device asks over mTLS, its device certificate ([`renewal`]),
//! both by the relay's [`clock`]. The CAs themselves rotate with an overlap period
//! ([`authorities`], its rules in [`rotation`]).

pub mod authed;
pub mod authorities;
pub mod clock;
pub mod directory;
pub mod directory_cache;
pub mod enrollment;
pub mod pki;
pub mod professionals;
pub mod rate_limit;
pub mod renewal;
pub mod rooms;
pub mod rotation;
pub mod routes;
pub mod server_cert;

pub use authed::{Admin, Authed};
pub use professionals::{NewProfessional, device_view};
pub use rooms::NewRoom;
