//! Bodies of the fuzz targets that exercise the relay (`tests/fuzz/`), kept here as ordinary
//! code so that the stable test suite replays the committed corpus and every crasher ever
//! found (`tests/tests/e2e/fuzz_regressions.rs`) without nightly or libFuzzer. The core's targets
//! are in `kizuna_core::fuzzing`.
//!
//! - [`enrollment_csr`]: the CSR of `POST /v1/enroll`, checked and, when accepted, signed.
//! - [`upload_headers`]: what a blob upload or download carries besides its bytes (the hash
//!   in the path, `doc`, `size`, `type` and `offset` in the query, the `Range` header),
//!   parsed by the handlers' own functions and then applied to a real blob store.
//!
//! Returning is success: a panic is a bug, and so is a broken invariant (`assert!`).

use crate::blobs::routes::{parse_hash, parse_range};
use crate::blobs::{BlobLimits, Blobs};
use crate::http::extract::parse_id;
use crate::identity::pki::{Ca, DeviceIdentity, check_csr, identity_from_cert, pem_fingerprint};
use kizuna_contract::blobs::BlobQuery;
use kizuna_contract::enrollment::EnrollRequest;
use kizuna_core::{ContentHash, DeviceId, ProfessionalId, RoomId};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;
use std::sync::OnceLock;

fn ca() -> &'static Ca {
    static CA: OnceLock<Ca> = OnceLock::new();
    CA.get_or_init(|| match Ca::create("Kizuna fuzzing CA") {
        Ok(ca) => ca,
        Err(e) => panic!("the fuzzing CA could not be made: {e}"),
    })
}

/// Input modes of [`enrollment_csr`] (the first byte).
pub mod csr_layout {
    /// The rest is the `csr_pem` text itself.
    pub const PEM: u8 = 0;
    /// The rest is DER, wrapped into PEM here (so mutations reach the ASN.1 parser).
    pub const DER: u8 = 1;
    /// The rest is the JSON body of `POST /v1/enroll`.
    pub const JSON: u8 = 2;
}

/// Wraps DER bytes as a PEM certificate request.
pub fn der_to_pem(der: &[u8]) -> String {
    let b64 = data_encoding::BASE64.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE REQUEST-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE REQUEST-----\n");
    pem
}

/// Target `enrollment_csr`: the CSR a phone sends to enroll. `check_csr` (run before the code
/// is used up) never panics; a CSR it accepts can always be signed (else the phone would get
/// a 500 after its code was spent), and the certificate names exactly the relay's ids.
pub fn enrollment_csr(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let pem = match mode % 3 {
        csr_layout::PEM => String::from_utf8_lossy(rest).into_owned(),
        csr_layout::DER => der_to_pem(rest),
        _ => match serde_json::from_slice::<EnrollRequest>(rest) {
            Ok(req) => {
                let _ = kizuna_core::fields::check_text(
                    "label",
                    req.label.as_deref().unwrap_or("device"),
                    1,
                    64,
                );
                req.csr_pem
            }
            Err(_) => return,
        },
    };
    if check_csr(&pem).is_err() {
        return;
    }
    let id = DeviceIdentity {
        professional: ProfessionalId(uuid::Uuid::from_u128(1)),
        device: DeviceId(uuid::Uuid::from_u128(2)),
    };
    let cert = ca().issue_device_cert(&pem, id, "佐藤 美咲", "みどり訪問看護ステーション");
    let Ok(cert) = cert else {
        panic!("a CSR that passed check_csr could not be signed");
    };
    assert!(
        pem_fingerprint(&cert).is_some(),
        "the certificate is not PEM"
    );
    let der = CertificateDer::from_pem_slice(cert.as_bytes());
    let Ok(der) = der else {
        panic!("the certificate does not parse");
    };
    assert_eq!(
        identity_from_cert(&der),
        Some(id),
        "the certificate names other ids"
    );
}

fn blobs() -> &'static Blobs {
    static B: OnceLock<Blobs> = OnceLock::new();
    B.get_or_init(|| {
        // Memory-backed when the machine has it: the store syncs every append to disk.
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        // One store per process; those of processes that are gone are removed.
        if let Ok(entries) = std::fs::read_dir(&base) {
            for e in entries.filter_map(Result::ok) {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("kizuna-fuzz-blobs-")
                    && !Path::new("/proc").join(pid).exists()
                {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = base.join(format!("kizuna-fuzz-blobs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        match Blobs::open(&dir, &[7u8; 32], BlobLimits::default()) {
            Ok(b) => b,
            Err(e) => panic!("the fuzzing blob store could not be opened: {e}"),
        }
    })
}

/// Flags of [`upload_headers`] (the first byte).
pub mod upload_layout {
    /// Name the blob by the SHA-256 of the body instead of the path (so uploads complete).
    pub const REAL_HASH: u8 = 0x01;
    /// Declare the body's length as the size instead of the query's `size`.
    pub const REAL_SIZE: u8 = 0x02;
    /// Send the body in two requests, the second resuming where the first stopped.
    pub const RESUME: u8 = 0x04;
}

/// Target `upload_headers`: the first byte holds [`upload_layout`] flags; the rest is four
/// lines and a body: the path segment naming the blob, the query string, the `Range` header
/// of a later download, the `Content-Type`, then the bytes. The path and query are parsed
/// exactly as `GET /v1/blobs/{hash}/upload` and `PUT /v1/blobs/{hash}` parse them; what
/// parses is applied to a real relay blob store (begin, resumable writes, the hash check) and
/// read back with the range. Invariants: stored bytes never exceed the declared size, a
/// complete blob matches its name, and a satisfiable range returns exactly its bytes.
pub fn upload_headers(data: &[u8]) {
    use axum::extract::Query;
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(5, |b| *b == b'\n');
    let path = parts.next().unwrap_or_default();
    let query = parts.next().unwrap_or_default();
    let range = parts.next().unwrap_or_default();
    let media = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let (Ok(path), Ok(query)) = (std::str::from_utf8(path), std::str::from_utf8(query)) else {
        return;
    };
    // What hyper accepts as a request target; anything else never reaches a handler.
    let Ok(uri) = format!("/v1/blobs/{path}?{query}").parse::<axum::http::Uri>() else {
        return;
    };
    let Ok(Query(q)) = Query::<BlobQuery>::try_from_uri(&uri) else {
        return;
    };
    let named = parse_hash(path);
    let doc = parse_id::<RoomId>(&q.doc, "doc");
    let hash = if flags & upload_layout::REAL_HASH != 0 {
        let d = ring::digest::digest(&ring::digest::SHA256, body);
        let mut h = [0u8; 32];
        h.copy_from_slice(d.as_ref());
        ContentHash(h)
    } else {
        match named {
            Ok(h) => h,
            Err(_) => return,
        }
    };
    let Ok(doc) = doc else {
        return;
    };
    let size = if flags & upload_layout::REAL_SIZE != 0 {
        body.len() as u64
    } else {
        match q.size {
            Some(s) => s,
            None => return,
        }
    };
    let blobs = blobs();
    if size > blobs.limits().max_size {
        return;
    }
    let media = axum::http::HeaderValue::from_bytes(media)
        .ok()
        .and_then(|v| v.to_str().ok().map(str::to_string))
        .or(q.media_type)
        .unwrap_or_else(|| "application/octet-stream".into());
    let store = blobs.store();
    let device = DeviceId(uuid::Uuid::from_u128(2));
    let Ok(start) = store.begin(hash, size, &media, Some(device), Some(doc)) else {
        let _ = store.delete(&hash);
        return;
    };
    let offset = q.offset.unwrap_or(start);
    let pieces: Vec<&[u8]> = if flags & upload_layout::RESUME != 0 {
        let cut = body.len() / 2;
        vec![&body[..cut], &body[cut..]]
    } else {
        vec![body]
    };
    let mut at = offset;
    let mut streamed = (offset == 0).then(|| ring::digest::Context::new(&ring::digest::SHA256));
    for piece in pieces {
        let Ok(mut w) = store.writer(&hash, at) else {
            break;
        };
        let wrote = w.write(piece);
        if let Some(ctx) = streamed.as_mut() {
            ctx.update(piece);
        }
        match w.commit() {
            Ok(n) => at = n,
            Err(_) => break,
        }
        if wrote.is_err() {
            streamed = None;
            break;
        }
    }
    let Ok(Some(meta)) = store.meta(&hash) else {
        let _ = store.delete(&hash);
        return;
    };
    assert!(meta.stored <= meta.size, "more bytes stored than declared");
    if meta.stored == meta.size {
        let digest = streamed.map(kizuna_core::blobs::digest);
        if store.finish_checked(&hash, digest).is_ok() {
            let all = store.read_at(&hash, 0, usize::try_from(meta.size).unwrap_or(usize::MAX));
            if let Ok(all) = all {
                let d = ring::digest::digest(&ring::digest::SHA256, &all);
                assert!(
                    d.as_ref() == hash.0,
                    "a blob became visible under another hash"
                );
            }
        }
    }
    if let Ok(Some(meta)) = store.meta(&hash)
        && let Ok(range) = axum::http::HeaderValue::from_bytes(range)
        && let Ok(range) = range.to_str()
        && let Some((a, b)) = parse_range(range, meta.stored)
    {
        assert!(a <= b && b < meta.stored, "a range outside the blob");
        let want = usize::try_from(b - a + 1).unwrap_or(usize::MAX);
        let got = store.read_at(&hash, a, want);
        if let Ok(got) = got {
            assert_eq!(got.len(), want, "a range read returned another length");
            if offset == 0 && meta.stored as usize == body.len() {
                assert_eq!(
                    got,
                    body[a as usize..=b as usize],
                    "a range read other bytes"
                );
            }
        }
    }
    let _ = store.delete(&hash);
}

/// Valid inputs for [`enrollment_csr`] and [`upload_headers`]: a real CSR (as PEM, as DER and
/// inside an enrollment body), and real upload and download requests. Named for the corpus.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok((_, csr)) = crate::identity::pki::new_device_key_and_csr() {
        let mut d = vec![csr_layout::PEM];
        d.extend_from_slice(csr.as_bytes());
        out.push(("enrollment_csr", "pem".to_string(), d));
        if let Ok(der) =
            rustls::pki_types::CertificateSigningRequestDer::from_pem_slice(csr.as_bytes())
        {
            let mut d = vec![csr_layout::DER];
            d.extend_from_slice(der.as_ref());
            out.push(("enrollment_csr", "der".to_string(), d));
        }
        let body =
            serde_json::json!({"code": "ABCD-EFGH-JKLM", "csr_pem": csr, "label": "iPhone 15"});
        let mut d = vec![csr_layout::JSON];
        d.extend_from_slice(body.to_string().as_bytes());
        out.push(("enrollment_csr", "json".to_string(), d));
    }
    let body = b"\xff\xd8\xff\xe0 a small JPEG-like body for the fuzzer".to_vec();
    let hash = {
        let d = ring::digest::digest(&ring::digest::SHA256, &body);
        d.as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let doc = "4b697a75-6e61-0000-0000-000000000001";
    let n = body.len();
    let cases: Vec<(&str, u8, String, String)> = vec![
        (
            "whole",
            0,
            format!("doc={doc}&size={n}&type=image%2Fjpeg&offset=0"),
            "bytes=0-9".into(),
        ),
        (
            "resume",
            upload_layout::RESUME,
            format!("doc={doc}&size={n}&type=image%2Fjpeg"),
            "bytes=-5".into(),
        ),
        (
            "open-range",
            0,
            format!("doc={doc}&size={n}"),
            "bytes=3-".into(),
        ),
        (
            "short",
            0,
            format!("doc={doc}&size={}&offset=0", n + 10),
            "bytes=0-".into(),
        ),
        (
            "real-size",
            upload_layout::REAL_SIZE | upload_layout::REAL_HASH,
            format!("doc={doc}"),
            "bytes=1-2".into(),
        ),
    ];
    for (name, flags, query, range) in cases {
        let mut d = vec![flags];
        d.extend_from_slice(hash.as_bytes());
        d.push(b'\n');
        d.extend_from_slice(query.as_bytes());
        d.push(b'\n');
        d.extend_from_slice(range.as_bytes());
        d.push(b'\n');
        d.extend_from_slice(b"image/jpeg\n");
        d.extend_from_slice(&body);
        out.push(("upload_headers", name.to_string(), d));
    }
    out
}
