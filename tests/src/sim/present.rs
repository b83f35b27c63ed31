//! What one phone's store holds, in the terms of the phones' `saved` lines: the checker's view
//! of a store, read after a kill and at the end.

use super::{Fallible, err};
use crate::sim_device::Token;
use kizuna_core::{ContentHash, ProfessionalId, ReportId, RoomId, RoomStore};
use std::collections::{BTreeMap, BTreeSet};

/// What one store holds, in the terms of the phones' `saved` lines.
#[derive(Default)]
pub(super) struct Present {
    /// Report body text → (copies, room).
    pub(super) reports: BTreeMap<String, (u32, RoomId)>,
    comments: BTreeSet<String>,
    receipts: BTreeSet<(ReportId, ProfessionalId)>,
    medications: BTreeSet<String>,
    /// Every attachment a report points to: hash, document, author.
    pub(super) attachments: Vec<(ContentHash, RoomId, ProfessionalId)>,
    /// Post numbers per room (`None`: not numbered).
    pub(super) numbers: BTreeMap<RoomId, Vec<Option<u64>>>,
}

impl Present {
    pub(super) fn read(store: &RoomStore, rooms: &[RoomId]) -> Fallible<Present> {
        let mut p = Present::default();
        for room in rooms {
            let h = store.open_room(*room).map_err(err)?;
            h.read(|r| {
                let numbers = p.numbers.entry(*room).or_default();
                for id in r.report_ids()? {
                    let rep = r.report(id)?;
                    let text = match &rep.content.body {
                        kizuna_core::model::ReportBody::Free { text } => text.clone(),
                        kizuna_core::model::ReportBody::Soap { s, .. } => s.clone(),
                    };
                    p.reports.entry(text).or_insert((0, *room)).0 += 1;
                    numbers.push(rep.post_no);
                    for a in &rep.content.attachments {
                        p.attachments.push((a.hash, *room, rep.author.professional));
                    }
                    p.comments.extend(rep.comments.into_iter().map(|c| c.text));
                    p.receipts
                        .extend(rep.receipts.into_keys().map(|who| (id, who)));
                }
                p.medications
                    .extend(r.profile()?.medications.into_values().map(|m| m.name));
                Ok(())
            })
            .map_err(err)?;
        }
        Ok(p)
    }

    pub(super) fn has(&self, t: &Token, who: ProfessionalId) -> bool {
        match t {
            Token::Report(text) | Token::Photo(text, _) => self.reports.contains_key(text),
            Token::Comment(text) => self.comments.contains(text),
            Token::Receipt(id) => self.receipts.contains(&(*id, who)),
            Token::Profile(name) => self.medications.contains(name),
        }
    }
}
