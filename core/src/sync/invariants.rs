//! What must hold in a room after every merge on the relay, checked on the records the merge
//! wrote in: defence in depth behind the write rules ([`super::write_rules`]). If a rule has a
//! hole, this is where it shows: the merge is rolled back and the relay logs a security event.
//!
//! - Authors, ids, post times and comment times of records that existed are unchanged.
//! - Post numbers and received times change only where the relay numbered a new report now,
//!   to the number it handed out.
//! - Every report, notice and message written is readable by the relay's own reader, under
//!   its canonical id; so are the profile, its history, the care plans, consent and members
//!   when written in.

use super::write_rules::Touched;
use crate::ids::ReportId;
use crate::model::{Message, Notice};
use crate::room::Room;
use serde_json::Value as Json;

/// The fields that must not change, as they were before the merge.
#[derive(Debug, Default)]
pub struct Before {
    values: Vec<(Vec<String>, Option<Json>)>,
}

/// A broken invariant: what broke, never the content.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Violation(pub &'static str);

fn path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_string()).collect()
}

/// Reads the fixed fields of the records the batch touches, before it is merged.
pub fn snapshot(room: &Room, touched: &Touched) -> Before {
    let mut paths = Vec::new();
    for rid in &touched.reports {
        for f in ["id", "author", "post_time", "relay"] {
            paths.push(path(&["reports", rid, f]));
        }
    }
    for (rid, cid) in &touched.comments {
        for f in ["id", "author", "at"] {
            paths.push(path(&["reports", rid, "comments", cid, f]));
        }
    }
    for (section, id) in &touched.posts {
        for f in ["id", "author", "posted_at", "at"] {
            paths.push(path(&[section, id, f]));
        }
    }
    let values = paths
        .into_iter()
        .map(|p| {
            let keys: Vec<&str> = p.iter().map(String::as_str).collect();
            let v = room.read_path(&keys);
            (p, v)
        })
        .collect();
    Before { values }
}

/// Checks the room after the merge against `before`; `numbered` are the post numbers the relay
/// gave in this merge.
pub fn check(
    room: &Room,
    before: &Before,
    touched: &Touched,
    numbered: &[(ReportId, u64)],
) -> Result<(), Violation> {
    for (p, old) in &before.values {
        let keys: Vec<&str> = p.iter().map(String::as_str).collect();
        let now = room.read_path(&keys);
        let is_relay = keys.len() == 3 && keys[2] == "relay";
        if is_relay && old.is_none() {
            let given = numbered
                .iter()
                .find(|(id, _)| id.to_string() == keys[1])
                .map(|(_, n)| *n);
            let written = now.as_ref().and_then(|v| v["post_no"].as_u64());
            if written != given {
                return Err(Violation("a post number was not the one the relay gave"));
            }
            continue;
        }
        if old.is_some() && now != *old {
            return Err(Violation(
                "a record's author, id or time changed after it was written",
            ));
        }
    }
    for rid in &touched.reports {
        let id: ReportId = rid
            .parse()
            .map_err(|_| Violation("a report is kept under a malformed id"))?;
        if id.to_string() != *rid {
            return Err(Violation("a report is kept under a malformed id"));
        }
        room.report(id)
            .map_err(|_| Violation("a report cannot be read back"))?;
        if room
            .read_path(&["reports", rid, "id"])
            .as_ref()
            .and_then(Json::as_str)
            != Some(rid)
        {
            return Err(Violation("a report's id is not its key"));
        }
    }
    for section in &touched.sections {
        let readable = match section.as_str() {
            "profile" => room.profile().is_ok(),
            "profile_log" => room.profile_history().is_ok(),
            "care_plans" => crate::careplan::history(room).is_ok(),
            "consent" => room.consent().is_ok(),
            "members" => room.members().is_ok(),
            _ => false,
        };
        if !readable {
            return Err(Violation("a section of the room cannot be read back"));
        }
    }
    for (section, id) in &touched.posts {
        let Some(v) = room.read_path(&[section, id]) else {
            return Err(Violation("a post cannot be read back"));
        };
        let readable = match section.as_str() {
            "notices" => serde_json::from_value::<Notice>(v).is_ok_and(|n| n.id.to_string() == *id),
            _ => serde_json::from_value::<Message>(v).is_ok_and(|m| m.id.to_string() == *id),
        };
        if !readable {
            return Err(Violation("a post cannot be read back"));
        }
    }
    Ok(())
}
