//! Replays of the seeds through the targets, with the outcome each must have.

use super::*;

fn outcome(name: &str) -> String {
    let seeds = seeds();
    let Some((_, _, data)) = seeds
        .iter()
        .find(|(t, n, _)| *t == "change_validation" && n == name)
    else {
        panic!("no seed {name}");
    };
    match serve_input(data).last() {
        Some(Outcome::Updated { accepted, .. }) => format!("accepted {accepted}"),
        Some(Outcome::Refused { reason, .. }) => format!("refused: {reason}"),
        Some(Outcome::SyncMessage { .. }) => "sync message".into(),
        other => format!("{other:?}"),
    }
}

/// The crashers found by fuzzing get a clear refusal now (`tests/fuzz/regressions/`).
#[test]
fn crashers_are_refused() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz/regressions");
    let read = |p: &str| std::fs::read(dir.join(p)).unwrap_or_default();
    let data = read("change_validation/apply-unknown-actor");
    match serve_input(&data).last() {
        // Refused now by the gate's checksum comparison, before Automerge sees it.
        Some(Outcome::Refused { reason, .. }) => {
            assert_eq!(reason, "a change's checksum does not match")
        }
        other => panic!("{other:?}"),
    }
    let data = read("sync_request/change-actor-index-overflow");
    let req = SyncRequest::decode(&data).ok();
    let doc = req.and_then(|r| r.docs.first().cloned());
    let Some(mut doc) = doc else {
        panic!("the crasher no longer decodes")
    };
    doc.doc = fixture().room;
    match serve_and_check(&doc, &writer(fixture(), 0), 1).last() {
        Some(Outcome::Refused { reason, .. }) => {
            assert_eq!(reason, "a change could not be decoded")
        }
        other => panic!("{other:?}"),
    }
}

/// The seeds reach what they are meant to: valid work is accepted, each broken rule is
/// refused by that rule (so the fuzzer starts from both sides of every check).
#[test]
fn seeds_reach_the_rules() {
    assert_eq!(outcome("new-report"), "accepted 1");
    assert_eq!(outcome("comment-receipt-edit"), "accepted 3");
    assert_eq!(
        outcome("new-report-as-reader"),
        "refused: readers may only mark what they read"
    );
    assert_eq!(
        outcome("edit-others-report"),
        "refused: only the author changes a report"
    );
    assert_eq!(
        outcome("set-post-number"),
        "refused: post numbers and received times are set by the relay only"
    );
    assert_eq!(
        outcome("write-consent"),
        "refused: only administrators write here"
    );
    assert_eq!(
        outcome("delete-report"),
        "refused: reports are never deleted or replaced"
    );
    assert_eq!(
        outcome("new-section"),
        "refused: the top-level sections of a room are fixed"
    );
    assert_eq!(outcome("text-in-profile"), "refused: unsupported operation");
    assert_eq!(
        outcome("other-actor"),
        "refused: a change claims another device's identity"
    );
    assert_eq!(
        outcome("whole-document"),
        "refused: a sync message may carry changes, not whole documents"
    );
    assert_eq!(outcome("sync-message-first"), "sync message");
}
