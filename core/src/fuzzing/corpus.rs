//! The seed inputs the corpus of `change_validation` and `sync_request` starts from.

use super::{commit_as, fixture, join_changes, layout};
use crate::model::ReportContent;
use crate::room::Room;
use crate::sync::protocol::{DocSync, SyncRequest, to_wire};
use crate::time::Timestamp;
use crate::{CommentId, ReportId};
use automerge::sync::{State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ReadDoc, ScalarValue};
use uuid::Uuid;

/// Valid and near-valid inputs for [`change_validation`](super::change_validation) and
/// [`sync_request`](super::sync_request): the nurse's
/// new report, comment, receipt and edit, changes that break each kind of rule, a sync
/// message and a whole document. Named for the corpus files.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let f = fixture();
    let mut out: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut cv = |name: &str, flags: u8, payload: Vec<u8>| {
        let mut d = vec![flags];
        d.extend(payload);
        out.push(("change_validation", name.to_string(), d));
    };
    let t = Timestamp(1_790_000_050_000);
    // A new report by the nurse (typed API: what a real phone sends).
    let mut phone = f.device_copy(&f.nurse);
    let new_report = ReportId(Uuid::from_u128(0x7e_0003));
    let posted = phone.post_report_with_id(
        &f.nurse,
        t,
        new_report,
        &ReportContent::free_text(t, "訪問時、表情穏やか。"),
    );
    let changes = |phone: &mut Room| -> Vec<Vec<u8>> {
        phone
            .doc_mut()
            .get_changes(&f.heads)
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect()
    };
    if posted.is_ok() {
        let c = changes(&mut phone);
        cv("new-report", layout::CHANGES, join_changes(&c));
        cv(
            "new-report-as-reader",
            layout::CHANGES | layout::READER,
            join_changes(&c),
        );
        cv(
            "new-report-genesis-heads",
            layout::CHANGES | layout::GENESIS_HEADS,
            join_changes(&c),
        );
        // The same as a sync message (fallback protocol) and as a whole document.
        let mut state = State::new();
        if let Some(m) = phone.doc_mut().sync().generate_sync_message(&mut state) {
            cv(
                "sync-message-first",
                layout::SYNC_MESSAGE | layout::TWICE,
                m.encode(),
            );
        }
        cv("whole-document", layout::DOCUMENT, phone.save());
        cv(
            "changes-in-message",
            layout::CHANGES_IN_MESSAGE | layout::TWICE,
            join_changes(&c),
        );
    }
    // A comment and a receipt on the doctor's report; an edit of the nurse's own.
    let mut phone = f.device_copy(&f.nurse);
    if phone
        .add_comment_with_id(
            &f.nurse,
            t,
            f.other_report,
            CommentId(Uuid::from_u128(0xc0_0002)),
            "明日も訪問します。",
        )
        .is_ok()
        && phone.mark_read(&f.nurse, t, f.other_report).is_ok()
        && phone
            .edit_report(&f.nurse, t, f.own_report, |c| {
                c.body = crate::model::ReportBody::Free {
                    text: "追記: 発赤は縮小。".into(),
                }
            })
            .is_ok()
    {
        let c = changes(&mut phone);
        cv("comment-receipt-edit", layout::CHANGES, join_changes(&c));
        cv(
            "comment-receipt-edit-twice",
            layout::CHANGES | layout::TWICE,
            join_changes(&c),
        );
    }
    // Raw changes a modified app could send, each breaking one rule.
    type RawEdit<'a> = Box<dyn Fn(&mut AutoCommit) -> Option<()> + 'a>;
    let raw: Vec<(&str, RawEdit<'_>)> = vec![
        (
            "edit-others-report",
            Box::new(move |d: &mut AutoCommit| {
                let reports = d.get(automerge::ROOT, "reports").ok()??.1;
                let r = d.get(&reports, f.other_report.to_string()).ok()??.1;
                d.put(&r, "tampered", "x").ok()
            }),
        ),
        (
            "set-post-number",
            Box::new(move |d: &mut AutoCommit| {
                let reports = d.get(automerge::ROOT, "reports").ok()??.1;
                let r = d.get(&reports, f.own_report.to_string()).ok()??.1;
                let relay = d.get(&r, "relay").ok()??.1;
                d.put(&relay, "post_no", ScalarValue::Uint(99)).ok()
            }),
        ),
        (
            "write-consent",
            Box::new(|d: &mut AutoCommit| {
                let consent = d.get(automerge::ROOT, "consent").ok()??.1;
                d.put(&consent, "given_by", "誰か").ok()
            }),
        ),
        (
            "delete-report",
            Box::new(move |d: &mut AutoCommit| {
                let reports = d.get(automerge::ROOT, "reports").ok()??.1;
                d.delete(&reports, f.other_report.to_string()).ok()
            }),
        ),
        (
            "new-section",
            Box::new(|d: &mut AutoCommit| {
                let m = d.put_object(automerge::ROOT, "extra", ObjType::Map).ok()?;
                let l = d.put_object(&m, "list", ObjType::List).ok()?;
                d.insert(&l, 0, ScalarValue::Counter(1.into())).ok()?;
                d.increment(&l, 0, 2).ok()
            }),
        ),
        (
            "text-in-profile",
            Box::new(|d: &mut AutoCommit| {
                let p = d.get(automerge::ROOT, "profile").ok()??.1;
                let basic = d.get(&p, "basic").ok()??.1;
                let t = d.put_object(&basic, "note", ObjType::Text).ok()?;
                d.splice_text(&t, 0, 0, "左膝に人工関節").ok()?;
                d.mark(
                    &t,
                    automerge::marks::Mark::new("bold".into(), true, 0, 2),
                    automerge::marks::ExpandMark::After,
                )
                .ok()
            }),
        ),
    ];
    for (name, edit) in raw {
        let mut phone = f.device_copy(&f.nurse);
        if edit(phone.doc_mut()).is_some() {
            commit_as(phone.doc_mut(), &f.nurse);
            let c = changes(&mut phone);
            cv(name, layout::CHANGES, join_changes(&c));
        }
    }
    // A change made on the doctor's device but sent by the nurse.
    let mut phone = f.device_copy(&f.doctor);
    if phone.mark_read(&f.doctor, t, f.other_report).is_ok() {
        let c = changes(&mut phone);
        cv("other-actor", layout::CHANGES, join_changes(&c));
    }
    // Sync requests: an empty reconnect, and one carrying the nurse's new report.
    let mut phone = f.device_copy(&f.nurse);
    let posted = phone.post_report_with_id(
        &f.nurse,
        t,
        new_report,
        &ReportContent::free_text(t, "訪問時、表情穏やか。"),
    );
    let req = |changes: Vec<Vec<u8>>, discover: bool| SyncRequest {
        version: crate::sync::protocol::PROTOCOL_VERSION,
        docs: vec![DocSync {
            doc: f.room,
            known_heads: to_wire(&f.heads),
            changes,
            create: None,
            sync_message: None,
        }],
        discover,
    };
    out.push((
        "sync_request",
        "reconnect".into(),
        req(Vec::new(), true).encode(),
    ));
    if posted.is_ok() {
        let c = changes(&mut phone);
        out.push(("sync_request", "new-report".into(), req(c, false).encode()));
    }
    out
}
