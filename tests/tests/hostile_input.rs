//! The bad-input campaign against a real relay on loopback: oversized bodies, deep nesting,
//! wrong content types, truncated TLS, slow-loris connections, thousands of idle connections.
//! Each time the relay answers with a clear error (or closes the connection) and keeps
//! serving a well-behaved phone, and its memory stays bounded.
//!
//! Its own test binary, not a module of `e2e`: it measures the resident memory and counts the
//! file descriptors of its whole process, which tests running beside it would disturb.
#![allow(clippy::unwrap_used, missing_docs)]

use kizuna_core::{Profession, Role};
use kizuna_server::http::ServeOptions;
use kizuna_testkit::{LoopbackRelay, Phone, RelayOptions};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn relay_with(limits: ServeOptions) -> (tempfile::TempDir, LoopbackRelay, Phone) {
    let tmp = tempfile::tempdir().unwrap();
    let relay = LoopbackRelay::launch_blocking(RelayOptions {
        data: Some(tmp.path().join("relay")),
        limits,
        ..RelayOptions::default()
    })
    .unwrap();
    let room = relay.blocking_patient_room("山田 花子").unwrap();
    let p = relay.blocking_add("看護師", Profession::Nurse).unwrap();
    relay.blocking_invite(room, p.id, Role::Writer).unwrap();
    let phone = relay.enroll_phone(&p, &tmp.path().join("phone")).unwrap();
    phone.sync().unwrap();
    (tmp, relay, phone)
}

/// A raw HTTPS request with the phone's identity: (status, body).
fn raw(phone: &Phone, method: &str, path: &str, ctype: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    phone.raw_request(method, path, ctype, body).unwrap()
}

fn still_serving(phone: &Phone) {
    phone
        .sync()
        .expect("the relay keeps serving a well-behaved phone");
}

fn rss_mb() -> f64 {
    kizuna_tests::measure::proc_status_mb("VmRSS")
}

#[test]
fn oversized_nested_and_mistyped_bodies_get_clear_errors() {
    let (_tmp, _relay, phone) = relay_with(ServeOptions::default());
    // A sync body over the 32 MiB limit.
    let (status, body) = raw(
        &phone,
        "POST",
        "/v1/sync",
        "application/x-kizuna-sync",
        vec![0u8; 33 * 1024 * 1024],
    );
    assert_eq!(status, 413);
    assert!(String::from_utf8_lossy(&body).contains("too-large"));
    // JSON nested far deeper than any parser stack should follow.
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let (status, body) = raw(
        &phone,
        "POST",
        "/v1/direct",
        "application/json",
        deep.into_bytes(),
    );
    assert!(status == 400 || status == 413, "{status}");
    assert!(String::from_utf8_lossy(&body).contains("urn:kizuna:problem:"));
    // Wrong content types.
    let (status, _) = raw(
        &phone,
        "POST",
        "/v1/sync",
        "application/json",
        b"{}".to_vec(),
    );
    assert_eq!(status, 415);
    let (status, _) = raw(&phone, "POST", "/v1/direct", "text/plain", b"{}".to_vec());
    assert_eq!(status, 415);
    // Garbage where a sync request belongs, and a body of only a length prefix.
    let (status, _) = raw(
        &phone,
        "POST",
        "/v1/sync",
        "application/x-kizuna-sync",
        vec![0xff; 64],
    );
    assert_eq!(status, 400);
    let (status, _) = raw(
        &phone,
        "POST",
        "/v1/sync",
        "application/x-kizuna-sync",
        vec![1, 0xff, 0xff, 0xff, 0x0f],
    );
    assert_eq!(status, 400);
    // A blob name that is not a hash, and a range past the end.
    let (status, _) = raw(&phone, "GET", "/v1/blobs/not-a-hash?doc=x", "", Vec::new());
    assert_eq!(status, 400);
    still_serving(&phone);
}

#[test]
fn truncated_tls_and_slow_loris_connections_do_not_stop_the_relay() {
    let limits = ServeOptions {
        handshake_timeout: Duration::from_millis(800),
        header_timeout: Duration::from_millis(800),
        ..ServeOptions::default()
    };
    let (_tmp, relay, phone) = relay_with(limits);
    // Truncated ClientHellos and random bytes, then hang up.
    for i in 0..200u32 {
        let mut s = TcpStream::connect(relay.addr).unwrap();
        let mut junk = vec![
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ];
        junk.extend((0..(i % 50)).map(|b| b as u8));
        let _ = s.write_all(&junk);
    }
    still_serving(&phone);
    // Slow-loris: connections that start a handshake and then say nothing.
    let mut slow: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = TcpStream::connect(relay.addr).unwrap();
            let _ = s.write_all(&[0x16, 0x03, 0x01]);
            s
        })
        .collect();
    still_serving(&phone);
    std::thread::sleep(Duration::from_millis(2500));
    // Past the handshake timeout the relay has closed them: reads see the end.
    let mut closed = 0;
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 64];
        if matches!(s.read(&mut buf), Ok(0) | Err(_)) {
            closed += 1;
        }
    }
    assert!(
        closed >= 290,
        "only {closed} of 300 stalled connections were closed"
    );
    still_serving(&phone);
}

/// How many file descriptors this process may open.
fn fd_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

#[test]
fn ten_thousand_idle_connections_keep_memory_bounded_and_others_served() {
    let limits = ServeOptions {
        handshake_timeout: Duration::from_secs(2),
        ..ServeOptions::default()
    };
    let (_tmp, relay, phone) = relay_with(limits);
    // The relay runs in this process: its accepted sockets count against our limit too.
    let n = 10_000.min(fd_limit().saturating_sub(4096 + 500));
    assert!(
        n >= 1000,
        "the file descriptor limit is too low for this test"
    );
    let before = rss_mb();
    let t0 = Instant::now();
    // Eight openers at once, as many phones would.
    let addr = relay.addr;
    let idle: Vec<TcpStream> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(move || {
                    (0..n / 8)
                        .filter_map(|_| TcpStream::connect(addr).ok())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    assert!(idle.len() >= n * 9 / 10);
    eprintln!("connected {} in {:?}", idle.len(), t0.elapsed());
    let during = rss_mb();
    // A phone gets through: at once if a slot is free, at the latest when stalled
    // handshakes time out and free theirs.
    let start = Instant::now();
    loop {
        if phone.sync().is_ok() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the relay stopped serving under idle connections"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("served after {:?}", start.elapsed());
    drop(idle);
    assert!(
        during - before < 256.0,
        "{n} idle connections cost {:.0} MB",
        during - before
    );
    still_serving(&phone);
}
