//! Reading an enrollment QR code (`kizuna://enroll?v=1&relay=…&ca=sha256:…&code=…`) for Rust
//! callers of the bindings; enrolling itself is `Device.enroll`, done by the session.

use super::error::KizunaError;
pub use kizuna_client::enroll::EnrollPayload;

/// Parses the text of an enrollment QR code.
pub fn parse_payload(qr: &str) -> Result<EnrollPayload, KizunaError> {
    Ok(kizuna_client::enroll::parse_payload(qr)?)
}
