//! Errors: every failed request under `/v1/` and `/healthz` is answered with an
//! `application/problem+json` body (RFC 9457) whose `type` is `urn:kizuna:problem:<kind>`.
//! [`ProblemKind`] lists the kinds the relay sends, with their status and title, so the relay
//! builds problems and the clients recognise them from one list.

use serde::{Deserialize, Serialize};

/// The media type of every error answer.
pub const PROBLEM_MEDIA_TYPE: &str = "application/problem+json";

/// The prefix of every problem type URI.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:kizuna:problem:";

/// An `application/problem+json` body. Never carries internal detail or echoes the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:kizuna:problem:<kind>` (see [`ProblemKind`]).
    #[serde(rename = "type")]
    #[cfg_attr(
        feature = "openapi",
        schema(example = "urn:kizuna:problem:device-revoked")
    )]
    pub type_uri: String,
    /// Short human summary (English; the same for every problem of a kind).
    pub title: String,
    /// HTTP status, repeated.
    pub status: u16,
    /// What went wrong with this request (never internal detail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Only for `device-revoked`: erase local data now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wipe: Option<bool>,
}

impl Problem {
    /// A problem of `kind` with its usual status and title.
    pub fn new(kind: ProblemKind, detail: Option<String>) -> Problem {
        Problem {
            type_uri: kind.type_uri(),
            title: kind.title().to_string(),
            status: kind.status(),
            detail,
            wipe: None,
        }
    }

    /// The same problem answered with another status (the relay's catch-all turns any
    /// unexplained 4xx into `invalid` with the status it had).
    pub fn with_status(mut self, status: u16) -> Problem {
        self.status = status;
        self
    }

    /// `device-revoked`, telling the device whether to erase its data.
    pub fn revoked(wipe: bool) -> Problem {
        let mut p = Problem::new(
            ProblemKind::DeviceRevoked,
            Some("this device's access has been revoked by the administrator".into()),
        );
        p.wipe = Some(wipe);
        p
    }

    /// The kind, when the relay sent one this contract knows (a newer relay may send others:
    /// clients then fall back on the status).
    pub fn kind(&self) -> Option<ProblemKind> {
        ProblemKind::from_type_uri(&self.type_uri)
    }
}

/// The kinds of problem the relay sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// 400: the body, a path id or a query value is malformed or breaks a rule.
    Invalid,
    /// 400: the sync body names a protocol version this relay does not speak.
    ProtocolVersion,
    /// 400: the certificate signing request of an enrollment is unusable.
    InvalidCsr,
    /// 400: a blob upload's connection was cut; `detail` says how many bytes the relay holds.
    UploadCut,
    /// 401: the route needs the device certificate issued at enrollment.
    ClientCertificateRequired,
    /// 401: the device's certificate was issued by a CA the relay has retired (after a CA
    /// rotation's overlap ended): the device must enroll again with a new code.
    CertificateRetired,
    /// 403: the device was revoked; `wipe` says whether to erase local data.
    DeviceRevoked,
    /// 403: the caller may not do this (not an administrator, not a member…).
    Forbidden,
    /// 403: the enrollment code is unknown, used or expired.
    EnrollmentCodeInvalid,
    /// 403: the request came from a web page of another origin.
    CrossOrigin,
    /// 404: no such thing, or no such endpoint.
    NotFound,
    /// 405: the path exists but not with this method (`Allow` lists those it has).
    MethodNotAllowed,
    /// 409: the request conflicts with the current state (e.g. an upload offset).
    Conflict,
    /// 413: the body is over the route's limit.
    TooLarge,
    /// 415: the body's `Content-Type` is not the route's.
    UnsupportedMediaType,
    /// 416: the `Range` of a blob download lies outside the blob (`Content-Range: bytes */N`).
    Range,
    /// 429: too many enrollment attempts from this address.
    RateLimited,
    /// 500: something failed inside the relay (details only in its log).
    Internal,
    /// 503: the relay is at its limit of work in flight; send again shortly.
    Busy,
    /// 507: the relay's disk is full; the act was not done (and not audited). Send again once
    /// the operator has freed space.
    StorageFull,
    /// 500: the relay could not write to its disk (the cause is in its log); the act was not
    /// done.
    StorageFailed,
}

impl ProblemKind {
    /// Every kind, for tests and the OpenAPI document.
    pub const ALL: [ProblemKind; 21] = [
        ProblemKind::Invalid,
        ProblemKind::ProtocolVersion,
        ProblemKind::InvalidCsr,
        ProblemKind::UploadCut,
        ProblemKind::ClientCertificateRequired,
        ProblemKind::CertificateRetired,
        ProblemKind::DeviceRevoked,
        ProblemKind::Forbidden,
        ProblemKind::EnrollmentCodeInvalid,
        ProblemKind::CrossOrigin,
        ProblemKind::NotFound,
        ProblemKind::MethodNotAllowed,
        ProblemKind::Conflict,
        ProblemKind::TooLarge,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::Range,
        ProblemKind::RateLimited,
        ProblemKind::Internal,
        ProblemKind::Busy,
        ProblemKind::StorageFull,
        ProblemKind::StorageFailed,
    ];

    /// The last segment of the type URI (`device-revoked`).
    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::Invalid => "invalid",
            ProblemKind::ProtocolVersion => "protocol-version",
            ProblemKind::InvalidCsr => "invalid-csr",
            ProblemKind::UploadCut => "upload-cut",
            ProblemKind::ClientCertificateRequired => "client-certificate-required",
            ProblemKind::CertificateRetired => "certificate-retired",
            ProblemKind::DeviceRevoked => "device-revoked",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::EnrollmentCodeInvalid => "enrollment-code-invalid",
            ProblemKind::CrossOrigin => "cross-origin",
            ProblemKind::NotFound => "not-found",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::Conflict => "conflict",
            ProblemKind::TooLarge => "too-large",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::Range => "range",
            ProblemKind::RateLimited => "rate-limited",
            ProblemKind::Internal => "internal",
            ProblemKind::Busy => "busy",
            ProblemKind::StorageFull => "storage-full",
            ProblemKind::StorageFailed => "storage-failed",
        }
    }

    /// `urn:kizuna:problem:<slug>`.
    pub fn type_uri(self) -> String {
        format!("{PROBLEM_TYPE_PREFIX}{}", self.slug())
    }

    /// Parses a type URI the relay sent.
    pub fn from_type_uri(uri: &str) -> Option<ProblemKind> {
        let slug = uri.strip_prefix(PROBLEM_TYPE_PREFIX)?;
        ProblemKind::ALL.into_iter().find(|k| k.slug() == slug)
    }

    /// The HTTP status the relay answers this kind with.
    pub fn status(self) -> u16 {
        match self {
            ProblemKind::Invalid
            | ProblemKind::ProtocolVersion
            | ProblemKind::InvalidCsr
            | ProblemKind::UploadCut => 400,
            ProblemKind::ClientCertificateRequired | ProblemKind::CertificateRetired => 401,
            ProblemKind::DeviceRevoked
            | ProblemKind::Forbidden
            | ProblemKind::EnrollmentCodeInvalid
            | ProblemKind::CrossOrigin => 403,
            ProblemKind::NotFound => 404,
            ProblemKind::MethodNotAllowed => 405,
            ProblemKind::Conflict => 409,
            ProblemKind::TooLarge => 413,
            ProblemKind::UnsupportedMediaType => 415,
            ProblemKind::Range => 416,
            ProblemKind::RateLimited => 429,
            ProblemKind::Internal | ProblemKind::StorageFailed => 500,
            ProblemKind::Busy => 503,
            ProblemKind::StorageFull => 507,
        }
    }

    /// The `title` the relay sends with this kind.
    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::Invalid => "Invalid request",
            ProblemKind::ProtocolVersion => "Unsupported protocol version",
            ProblemKind::InvalidCsr => "Invalid certificate signing request",
            ProblemKind::UploadCut => "Upload cut",
            ProblemKind::ClientCertificateRequired => "Client certificate required",
            ProblemKind::CertificateRetired => "Certificate authority retired",
            ProblemKind::DeviceRevoked => "Device revoked",
            ProblemKind::Forbidden => "Forbidden",
            ProblemKind::EnrollmentCodeInvalid => "Enrollment code not accepted",
            ProblemKind::CrossOrigin => "Cross-origin request refused",
            ProblemKind::NotFound => "Not found",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::Conflict => "Conflict",
            ProblemKind::TooLarge => "Request too large",
            ProblemKind::UnsupportedMediaType => "Unsupported media type",
            ProblemKind::Range => "Range not satisfiable",
            ProblemKind::RateLimited => "Too many attempts",
            ProblemKind::Internal => "Internal error",
            ProblemKind::Busy => "Relay busy",
            ProblemKind::StorageFull => "Relay storage full",
            ProblemKind::StorageFailed => "Relay storage failed",
        }
    }
}
