//! The end of a run: every phone opened once more in this process and synced until nothing
//! moves, then the checker's verdict on the state they hold and on the relay's audit log.

use super::fleet::Fleet;
use super::present::Present;
use super::{Fallible, Phone, Verdict, err};
use crate::sim_device::{DeviceFile, Token};
use crate::w2::ChildRelay;
use kizuna_core::ProfessionalId;
use kizuna_server::cli::client::Client;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::runtime::Runtime;

/// Starts every phone once more in this process (its store must hold everything it said it
/// saved), then syncs them all until nothing moves.
pub(super) fn reopen_and_sync(fleet: &mut Fleet) -> Fallible<Vec<Phone>> {
    let mut phones = Vec::new();
    for i in 0..fleet.devs.len() {
        let file = DeviceFile::load(&fleet.devs[i].dir)?;
        let phone = Phone::open(&fleet.devs[i].dir, file.author.clone(), file.identity())?;
        let present = Present::read(phone.store(), &fleet.rooms)?;
        fleet.check_durable(i, &present, "at the end of the run");
        phones.push(phone);
    }
    for _round in 0..3 {
        for phone in &phones {
            for _ in 0..20 {
                match phone.sync() {
                    Ok(r) if !r.again && r.updated.is_empty() && r.added.is_empty() => break,
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        }
    }
    Ok(phones)
}

/// Asks the relay to verify its audit chain, with a fresh client: the old one's connections
/// died with the killed relay.
pub(super) fn audit(rt: &Runtime, relay: &ChildRelay, v: &mut Verdict) -> Fallible<()> {
    let mut audit = None;
    for _ in 0..20 {
        let admin = Client::admin_from_data_dir(&relay.data, None).map_err(err)?;
        if let Ok(a) = rt.block_on(admin.audit_verify()) {
            audit = Some(a);
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let audit = audit.ok_or("the relay does not answer the audit check")?;
    if !audit.intact {
        v.fail(format!("audit log broken at {:?}", audit.first_broken));
    }
    Ok(())
}

/// The end state: identical rooms, dense post numbers, no doubled report, every saved or
/// acknowledged change on every phone, every photo on the relay.
pub(super) fn end_state(fleet: &mut Fleet, phones: &[Phone]) -> Fallible<()> {
    fleet.v.converged = true;
    let rooms = fleet.rooms.clone();
    let first = &phones[0];
    for room in &rooms {
        let want = first
            .store()
            .open_room(*room)
            .map_err(err)?
            .meta()
            .saved_heads();
        for (i, phone) in phones.iter().enumerate() {
            let meta = phone.store().open_room(*room).map_err(err)?.meta();
            if meta.saved_heads() != want || meta.relay_heads() != want {
                if std::env::var_os("KIZUNA_SIM_TRACE").is_some() {
                    trace_lagging(phone, *room);
                }
                fleet.v.fail(format!(
                    "room {room} differs between phone {i}, phone 0 or the relay \
                     (same as phone 0: {}; relay heads as saved: {}; refusal: {:?})",
                    meta.saved_heads() == want,
                    meta.relay_heads() == meta.saved_heads(),
                    meta.refusal()
                ));
            }
        }
    }
    let mut presents = Vec::new();
    for (i, phone) in phones.iter().enumerate() {
        let p = Present::read(phone.store(), &rooms)?;
        for (room, numbers) in &p.numbers {
            let mut got: Vec<u64> = numbers.iter().flatten().copied().collect();
            got.sort_unstable();
            let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
            if got != expected {
                fleet.v.fail(format!(
                    "post numbers in room {room} on phone {i} are not 1..={} ({} numbered)",
                    numbers.len(),
                    got.len()
                ));
            }
        }
        if p.reports.values().any(|(copies, _)| *copies > 1) {
            fleet.v.fail(format!("a report is doubled on phone {i}"));
        }
        let pending = phone.client().blobs().pending_uploads().map_err(err)?;
        if !pending.is_empty() {
            fleet.v.fail(format!(
                "phone {i} still has {} uploads queued",
                pending.len()
            ));
        }
        presents.push(p);
    }
    let mut acknowledged = 0;
    for d in 0..fleet.devs.len() {
        for k in 0..fleet.devs[d].saved.len() {
            let t = fleet.devs[d].saved[k].clone();
            let acked = fleet.devs[d].acked[k];
            fleet.v.saved += 1;
            if acked {
                acknowledged += 1;
            }
            for (i, p) in presents.iter().enumerate() {
                if !p.has(&t, fleet.devs[d].professional) && fleet.lost.insert((d, k)) {
                    let what = if acked { "acknowledged" } else { "saved" };
                    fleet.v.fail(format!(
                        "an {what} {} of phone {d} is missing on phone {i}",
                        t.kind()
                    ));
                }
            }
            if let Token::Photo(_, hash) = &t
                && fleet.uploaded.contains(hash)
            {
                acknowledged += 1;
            }
        }
    }
    // Every photo any report points to can be fetched from the relay by another phone (the
    // hash is checked on arrival) — also photos of reports whose phone died before it said
    // "saved".
    let author_of: BTreeMap<ProfessionalId, usize> = fleet
        .devs
        .iter()
        .enumerate()
        .map(|(i, d)| (d.professional, i))
        .collect();
    for (hash, room, author) in presents[0].attachments.clone() {
        let d = author_of.get(&author).copied().unwrap_or(0);
        let other = &phones[(d + 1) % phones.len()];
        let fetched = if phones.len() > 1 {
            other
                .client()
                .fetch_attachment(&hash, room, "image/png", u64::MAX, &|_, _, _| {})
                .is_ok()
        } else {
            other
                .client()
                .transport()
                .upload_status(&hash, room, 0, "image/png")
                .is_ok_and(|s| s.complete)
        };
        if !fetched {
            fleet.lost_blobs += 1;
            fleet.v.fail(format!(
                "a photo in a report of phone {d} cannot be fetched from the relay"
            ));
        }
    }
    fleet.v.acknowledged = acknowledged;
    fleet.v.lost = fleet.lost.len() as u64 + fleet.lost_blobs;
    Ok(())
}

/// With `KIZUNA_SIM_TRACE` set: what a phone whose room lags would send for it and what the
/// relay answers (counts and kinds only, never content), to find why it does not converge.
fn trace_lagging(phone: &Phone, room: kizuna_core::RoomId) {
    use kizuna_core::sync::device::build_request;
    use kizuna_core::sync::protocol::{Outcome, SyncResponse};
    let Ok(h) = phone.store().open_room(room) else {
        return;
    };
    let meta = h.meta();
    let missing_relay_heads = h
        .read(|r| {
            Ok(meta
                .relay_heads()
                .iter()
                .filter(|x| automerge::ReadDoc::get_change_by_hash(r.doc(), x).is_none())
                .count())
        })
        .unwrap_or(usize::MAX);
    eprintln!(
        "trace: room {room}: saved heads {}, relay heads {} ({} unknown here), pending {}, \
         relay has {}, fallback state {}, outgoing {}",
        meta.saved_heads().len(),
        meta.relay_heads().len(),
        missing_relay_heads,
        meta.pending(),
        meta.relay_has(),
        meta.sync_state().is_some(),
        meta.outgoing().is_some()
    );
    let Ok(req) = build_request(phone.store(), false) else {
        return;
    };
    for d in req.docs.iter().filter(|d| d.doc == room) {
        eprintln!(
            "trace: request: known heads {}, changes {}, sync message {}, create {}",
            d.known_heads.len(),
            d.changes.len(),
            d.sync_message.is_some(),
            d.create.is_some()
        );
    }
    let answer = phone.client().transport().exchange(req.encode());
    match answer.map(|b| SyncResponse::decode(&b)) {
        Ok(Ok(resp)) => {
            let mine: Vec<_> = resp.docs.iter().filter(|d| d.doc == room).collect();
            if mine.is_empty() {
                eprintln!("trace: answer: nothing for this room");
            }
            for d in mine {
                let what = match &d.outcome {
                    Outcome::Unchanged => "unchanged".to_string(),
                    Outcome::Updated {
                        accepted,
                        changes,
                        heads,
                    } => format!(
                        "updated: accepted {accepted}, changes {}, heads {}",
                        changes.len(),
                        heads.len()
                    ),
                    Outcome::New { .. } => "new".into(),
                    Outcome::Refused { reason, .. } => format!("refused: {reason}"),
                    Outcome::Gone => "gone".into(),
                    Outcome::SyncMessage { message } => {
                        match automerge::sync::Message::decode(message) {
                            Ok(m) => {
                                let head = format!(
                                    "sync message: heads {}, need {}, have {}, changes {}",
                                    m.heads.len(),
                                    m.need.len(),
                                    m.have.len(),
                                    m.changes.len()
                                );
                                format!("{head}; {}", replay_on_copy(&h, &meta, m))
                            }
                            Err(_) => "sync message (undecodable)".into(),
                        }
                    }
                };
                eprintln!("trace: answer: {what}");
            }
        }
        Ok(Err(e)) => eprintln!("trace: answer undecodable: {e}"),
        Err(e) => eprintln!("trace: exchange failed: {e}"),
    }
}

/// What the phone would do with the relay's sync message `m`, on a copy of its document.
fn replay_on_copy(
    h: &kizuna_core::RoomHandle,
    meta: &kizuna_core::store::RoomMeta,
    m: automerge::sync::Message,
) -> String {
    use automerge::sync::{State, SyncDoc};
    let mut state = meta
        .sync_state()
        .and_then(|b| State::decode(b).ok())
        .unwrap_or_default();
    let persisted_shared = state.shared_heads.clone();
    let last_sync: Vec<_> = m.have.iter().flat_map(|x| x.last_sync.clone()).collect();
    let relay_heads = m.heads.clone();
    h.read(|room| {
        let mut doc = room.doc().clone();
        let probe = doc.clone();
        let known =
            |x: &automerge::ChangeHash| automerge::ReadDoc::get_change_by_hash(&probe, x).is_some();
        let facts = format!(
            "relay heads known here {}, relay heads == phone's relay heads {}, last_sync {} \
             (known here {}, == phone heads {}), persisted shared heads {} (known here {})",
            relay_heads.iter().all(known),
            relay_heads == meta.relay_heads(),
            last_sync.len(),
            last_sync.iter().all(known),
            last_sync == doc.get_heads(),
            persisted_shared.len(),
            persisted_shared.iter().all(known),
        );
        let _ = doc.sync().receive_sync_message(&mut state, m);
        let reply = doc.sync().generate_sync_message(&mut state);
        Ok(format!(
            "{facts}; phone's reply: {}",
            match reply {
                Some(r) => format!(
                    "heads {}, need {}, have {}, changes {}",
                    r.heads.len(),
                    r.need.len(),
                    r.have.len(),
                    r.changes.len()
                ),
                None => "none".into(),
            }
        ))
    })
    .unwrap_or_else(|e| format!("copy failed: {e}"))
}
