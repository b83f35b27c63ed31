//! The room list as the app shows it: one row per room with the reports, unread counts and
//! pending changes of every document of the room this device holds.

use super::open::Open;
use crate::error::ClientError;
use kizuna_core::sync::device::SyncReport;
use kizuna_core::{ProfessionalId, RoomId, RoomKind, RoomStore};

/// One row of the room list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomInfo {
    /// Room id.
    pub id: RoomId,
    /// Kind.
    pub kind: RoomKind,
    /// Name shown (the patient's name for patient rooms), as the relay gave it.
    pub display_name: String,
    /// Reports (in every document of the room this device holds).
    pub report_count: u32,
    /// Reports by others this professional has not marked read.
    pub unread_count: u32,
    /// Of those, reports that name this professional as must-read.
    pub must_read_unread: u32,
    /// Local changes the relay has not acknowledged yet.
    pub pending_changes: u32,
    /// The relay's reason for refusing this room's changes, if it did.
    pub refusal: Option<String>,
    /// Care time of the newest report, if any.
    pub last_care_time_ms: Option<i64>,
}

/// Every room held here, patient rooms first, then by name.
pub(crate) fn room_list(open: &Open) -> Result<Vec<RoomInfo>, ClientError> {
    let enrolment = open
        .enrolment
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let me: Option<ProfessionalId> = enrolment.as_ref().map(|e| e.author.professional);
    let names = enrolment
        .as_ref()
        .map(|e| e.record.rooms.clone())
        .unwrap_or_default();
    let metas = open.store.rooms()?;
    let mut out = Vec::new();
    for m in metas.iter().filter(|m| m.scope.is_none()) {
        let docs = metas
            .iter()
            .filter(|d| d.id == m.id || d.scope.as_ref().is_some_and(|s| s.parent == m.id));
        let mut info = RoomInfo {
            id: m.id,
            kind: m.kind,
            display_name: names.get(&m.id).cloned().unwrap_or_default(),
            report_count: 0,
            unread_count: 0,
            must_read_unread: 0,
            pending_changes: 0,
            refusal: None,
            last_care_time_ms: None,
        };
        for d in docs {
            info.pending_changes += d.pending();
            if info.refusal.is_none() {
                info.refusal = d.refusal().map(str::to_string);
            }
            for s in open.store.open_room(d.id)?.summaries()? {
                info.report_count += 1;
                info.last_care_time_ms = info.last_care_time_ms.max(Some(s.care_time.0));
                let unread =
                    !s.withdrawn && me.is_some_and(|me| s.author != me && !s.readers.contains(&me));
                if unread {
                    info.unread_count += 1;
                    if me.is_some_and(|me| s.must_read.contains(&me)) {
                        info.must_read_unread += 1;
                    }
                }
            }
        }
        out.push(info);
    }
    // Ids compare as the app sees them (text), as the list always sorted.
    out.sort_by_cached_key(|r| {
        (
            r.kind != RoomKind::Patient,
            r.display_name.clone(),
            r.id.to_string(),
        )
    });
    Ok(out)
}

/// Patient rooms (not restricted document ids) touched by a sync, in id order.
pub(crate) fn changed_rooms(store: &RoomStore, report: &SyncReport) -> Vec<RoomId> {
    let metas = store.rooms().unwrap_or_default();
    let parent = |d: &RoomId| {
        metas
            .iter()
            .find(|m| m.id == *d)
            .and_then(|m| m.scope.as_ref().map(|s| s.parent))
            .unwrap_or(*d)
    };
    let mut out: Vec<RoomId> = report
        .updated
        .iter()
        .chain(&report.added)
        .chain(&report.removed)
        .map(parent)
        .collect();
    out.sort_by_cached_key(ToString::to_string);
    out.dedup();
    out
}
