//! The administrator's console credentials, set through the JSON API (`kizuna admin
//! console-credentials`) because the console itself needs them to sign in.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `PUT /v1/admin/console/credentials`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CredentialsRequest {
    /// Login name (3–32 of a–z, 0–9, `.`, `_`, `-`).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 3, max_length = 32, pattern = "^[a-z0-9._-]{3,32}$")
    )]
    pub login: String,
    /// The new password (12–200 characters); absent: certificate + TOTP only.
    #[serde(default)]
    pub password: Option<String>,
}

/// What setting credentials answers: the new TOTP secret, shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsoleSetup {
    /// The administrator.
    pub professional: Uuid,
    /// Login name.
    pub login: String,
    /// Base32 TOTP secret for the authenticator app.
    pub totp_secret: String,
    /// The same as an `otpauth://` URI (for a QR code).
    pub otpauth_uri: String,
}
