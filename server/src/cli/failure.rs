//! How a `kizuna` command ends when it fails: one exit status per kind of failure, so scripts
//! and systemd can tell a typo from an unreachable relay from a refusal, and with `--json`
//! the error as one JSON object on stderr (`{"error": KIND, "message": TEXT, …}`).
//!
//! | status | `error`         | meaning                                                    |
//! |--------|-----------------|------------------------------------------------------------|
//! | 1      | `failed`        | the act failed (relay's 5xx, unreadable file, broken chain) |
//! | 2      | `usage`         | a wrong flag, value or config file                         |
//! | 3      | `unreachable`   | the relay cannot be reached (connection or TLS)            |
//! | 4      | `refused`       | the relay refused the request (a 4xx problem)              |
//! | 5      | `start_refused` | the relay will not start on its data directory             |

use super::client::ClientError;
use crate::startup::StartError;
use crate::startup::preflight::Refusal;
use kizuna_contract::problem::PROBLEM_TYPE_PREFIX;
use std::process::ExitCode;

/// A mistake on the command line found by `kizuna` itself (a malformed id, an unknown
/// profession, a bad config file): exit status 2, like clap's own usage errors.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// A failed command, sorted by what the caller can do about it.
#[derive(Debug)]
pub enum Failure {
    /// Exit 1: the act was tried and failed.
    Failed {
        /// The problem kind when the relay answered with one (a 5xx).
        problem: Option<(String, u16)>,
        /// What happened.
        message: String,
    },
    /// Exit 2: the command line (or config file) is wrong.
    Usage(String),
    /// Exit 3: no answer from the relay.
    Unreachable(String),
    /// Exit 4: the relay answered with a 4xx problem.
    Refused {
        /// The problem kind (`not-found`, `invalid`, `conflict`…).
        problem: String,
        /// Its HTTP status.
        status: u16,
        /// The relay's explanation.
        message: String,
    },
    /// Exit 5: the data directory is not safe to start on (every problem is in the message).
    StartRefused(String),
}

fn problem_kind(type_uri: &str) -> String {
    type_uri
        .strip_prefix(PROBLEM_TYPE_PREFIX)
        .unwrap_or(type_uri)
        .to_string()
}

impl From<StartError> for Failure {
    fn from(e: StartError) -> Failure {
        let message = e.to_string();
        if e.downcast_ref::<Usage>().is_some() {
            return Failure::Usage(message);
        }
        if e.downcast_ref::<Refusal>().is_some() {
            return Failure::StartRefused(message);
        }
        match e.downcast_ref::<ClientError>() {
            Some(ClientError::Connect(_)) => Failure::Unreachable(message),
            Some(ClientError::Problem(p)) if (400..500).contains(&p.status) => Failure::Refused {
                problem: problem_kind(&p.type_uri),
                status: p.status,
                message,
            },
            Some(ClientError::Problem(p)) => Failure::Failed {
                problem: Some((problem_kind(&p.type_uri), p.status)),
                message,
            },
            _ => Failure::Failed {
                problem: None,
                message,
            },
        }
    }
}

impl Failure {
    /// The exit status of this kind of failure.
    pub fn status(&self) -> u8 {
        match self {
            Failure::Failed { .. } => 1,
            Failure::Usage(_) => 2,
            Failure::Unreachable(_) => 3,
            Failure::Refused { .. } => 4,
            Failure::StartRefused(_) => 5,
        }
    }

    /// The `error` field of the JSON form.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Failed { .. } => "failed",
            Failure::Usage(_) => "usage",
            Failure::Unreachable(_) => "unreachable",
            Failure::Refused { .. } => "refused",
            Failure::StartRefused(_) => "start_refused",
        }
    }

    fn message(&self) -> &str {
        match self {
            Failure::Failed { message, .. }
            | Failure::Usage(message)
            | Failure::Unreachable(message)
            | Failure::Refused { message, .. }
            | Failure::StartRefused(message) => message,
        }
    }

    /// The JSON form: `{"error": kind, "message": text}`, plus `problem` and `status` when
    /// the relay answered with a problem.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({ "error": self.kind(), "message": self.message() });
        let problem = match self {
            Failure::Refused {
                problem, status, ..
            } => Some((problem.clone(), *status)),
            Failure::Failed { problem, .. } => problem.clone(),
            _ => None,
        };
        if let Some((kind, status)) = problem {
            v["problem"] = kind.into();
            v["status"] = status.into();
        }
        v
    }

    /// Prints the failure on stderr (text, or one JSON line with `json`) and returns its exit
    /// status.
    pub fn report(self, json: bool) -> ExitCode {
        if json {
            eprintln!("{}", self.to_json());
        } else {
            eprintln!("error: {}", self.message());
        }
        ExitCode::from(self.status())
    }
}

/// Ends a command line clap could not parse: help and version as clap prints them; a usage
/// error as clap prints it (status 2), or with `--json` anywhere on the line as the JSON form.
pub fn clap_error(e: clap::Error) -> ExitCode {
    let json = std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    if json && e.use_stderr() {
        let message = e.render().to_string();
        return Failure::Usage(message.trim_end().to_string()).report(true);
    }
    let _ = e.print();
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}
