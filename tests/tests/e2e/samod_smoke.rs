//! The samod half of W2 on tiny rooms: it converges, and it counts bytes and round trips.

use automerge::transaction::Transactable as _;
use automerge::{Automerge, ROOT};
use kizuna_tests::samod_w2::{SamodFigures, samod_reconnect};

/// `rooms` rooms of `history` small changes each, then `new_each` new changes on each side:
/// (relay copies, device copies), as saved bytes.
fn forked_rooms(rooms: usize, history: usize, new_each: usize) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let write = |doc: &mut Automerge, who: &str, n: usize| {
        for k in 0..n {
            let mut tx = doc.transaction();
            let key = format!("{who}-{k}");
            tx.put(
                ROOT,
                key.as_str(),
                format!("{who} の記録 {k}：血圧 120/80、食事は全量摂取。"),
            )
            .expect("put");
            tx.commit();
        }
    };
    let mut relay_docs = Vec::new();
    let mut device_docs = Vec::new();
    for room in 0..rooms {
        let mut base = Automerge::new();
        write(&mut base, &format!("room{room}-history"), history);
        let mut relay = base.fork();
        let mut device = base.fork();
        write(&mut relay, "others", new_each);
        write(&mut device, "nurse", new_each);
        relay_docs.push(relay.save());
        device_docs.push(device.save());
    }
    (relay_docs, device_docs)
}

fn check(figures: &SamodFigures) {
    assert!(
        figures.up_bytes > 0 && figures.down_bytes > 0,
        "{figures:?}"
    );
    assert_eq!(figures.doc_bytes, figures.up_bytes + figures.down_bytes);
    // The handshake alone is one round trip; both sides had news, so at least one more.
    assert!(figures.round_trips >= 2, "{figures:?}");
    assert!(figures.wire_round_trips >= 2, "{figures:?}");
    assert!(figures.messages_up > 0 && figures.messages_down > 0);
    assert!(figures.wall_ms > 0.0);
}

#[test]
fn samod_reconnect_converges_on_three_tiny_rooms() {
    let (relay_docs, device_docs) = forked_rooms(3, 5, 2);
    // samod_reconnect itself waits until both sides of every room hold the heads of the
    // merge of the two copies, and fails otherwise.
    let figures = samod_reconnect(relay_docs, device_docs).expect("samod reconnect");
    eprintln!("{figures:?}");
    check(&figures);
}

#[test]
fn samod_reconnect_rejects_mismatched_inputs() {
    let (relay_docs, _) = forked_rooms(2, 1, 1);
    let (_, device_docs) = forked_rooms(1, 1, 1);
    assert!(samod_reconnect(relay_docs, device_docs).is_err());
}

/// The sample for the report: 30 rooms of 50 small changes, 5 new changes on each side.
/// `cargo test --release -p kizuna-tests --test e2e -- --ignored --exact
/// samod_smoke::samod_sample_thirty_rooms --nocapture`
#[test]
#[ignore = "a sample run, not a check"]
fn samod_sample_thirty_rooms() {
    for _ in 0..3 {
        let (relay_docs, device_docs) = forked_rooms(30, 50, 5);
        let figures = samod_reconnect(relay_docs, device_docs).expect("samod reconnect");
        println!("{figures:?}");
        check(&figures);
    }
}
