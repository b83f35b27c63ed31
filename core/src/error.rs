//! Errors of the core. Messages name fields, rules and ids, never patient data: errors end up
//! in logs, crash reports and HTTP problem documents.

use thiserror::Error;

/// A piece of input broke a rule. `field` is a path such as `vitals[0].temperature_c`; the
/// message states the rule, never the offending value (which may be clinical data).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{field}: {problem}")]
pub struct ValidationError {
    /// Which field, as a path into the input.
    pub field: String,
    /// The rule that was broken.
    pub problem: String,
}

impl ValidationError {
    /// Makes an error for `field` breaking `problem`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// Prefixes the field path, so nested validators can report full paths.
    pub fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

/// A string was not a valid id of the named kind.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("not a valid {0}")]
pub struct InvalidId(pub &'static str);

/// Failures of the encrypted local store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The key given does not open this store (wrong key, or a different store's key).
    #[error("the store key does not open this store")]
    WrongKey,
    /// A record failed authentication: bytes on disk were changed or moved.
    #[error("a stored record failed its integrity check")]
    Tampered,
    /// A record decoded but did not have the expected shape.
    #[error("a stored record is corrupt: {0}")]
    Corrupt(&'static str),
    /// The backend (sled, disk) failed.
    #[error("storage backend failed: {0}")]
    Backend(String),
    /// The key was not 32 bytes, or the random generator failed.
    #[error("encryption setup failed: {0}")]
    Crypto(&'static str),
}

/// Everything that can go wrong in the core.
#[derive(Debug, Error)]
pub enum CoreError {
    /// Input broke a validation rule.
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationError),
    /// The thing asked for does not exist in this room or store.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The writer is not allowed to do this (not the author, not an administrator…).
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    /// The room document's structure is not what Kizuna writes (foreign or damaged document).
    #[error("room document is malformed: {0}")]
    Malformed(&'static str),
    /// Automerge refused bytes or an operation. The detail is Automerge's, which never
    /// includes document values.
    #[error("document error: {0}")]
    Document(String),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<automerge::AutomergeError> for CoreError {
    fn from(e: automerge::AutomergeError) -> Self {
        CoreError::Document(e.to_string())
    }
}

/// Result alias of the core.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;
