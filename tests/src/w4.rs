//! W4 — a video over a flaky link (`docs/workloads.md`).
//!
//! A real relay on loopback and two phones. A video is uploaded once without cuts (timed)
//! and once through a proxy that cuts the connection every 5 MB (bytes counted); the doctor's
//! phone downloads it the same two ways. In the same run, a plain HTTPS server with the same
//! TLS (1.3, client certificate) takes and serves the same bytes from memory with nothing
//! else to do but write uploads to a file flushed to disk before answering (the durability
//! every upload needs): the throughput yardstick.

use crate::proxy::CutProxy;
use axum::Router;
use axum::routing::get;
use kizuna_core::model::AttachmentKind;
use kizuna_core::{Profession, Role};
use kizuna_testkit::{Fallible, LoopbackRelay, Phone};
use rand::{RngCore, SeedableRng};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// What one W4 run measured.
#[derive(Clone, Debug)]
pub struct W4Figures {
    /// File size.
    pub size: u64,
    /// Bytes the phone sent through the cutting proxy ÷ file size.
    pub upload_sent_ratio: f64,
    /// Bytes the phone received through the cutting proxy ÷ file size.
    pub download_sent_ratio: f64,
    /// Cuts made during the upload and the download.
    pub cuts: (u64, u64),
    /// Uncut upload throughput, MB/s.
    pub upload_mb_s: f64,
    /// Plain HTTPS upload throughput, MB/s.
    pub plain_upload_mb_s: f64,
    /// Uncut download throughput, MB/s.
    pub download_mb_s: f64,
    /// Plain HTTPS download throughput, MB/s.
    pub plain_download_mb_s: f64,
    /// Storing the file in the phone's encrypted store (hash, seal, thumbnail), ms.
    pub import_ms: f64,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn write_video(path: &Path, size: usize, seed: u64) -> Fallible<()> {
    use std::io::Write;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut f = std::fs::File::create(path).map_err(err)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        rng.fill_bytes(&mut buf);
        let n = left.min(buf.len());
        f.write_all(&buf[..n]).map_err(err)?;
        left -= n;
    }
    Ok(())
}

/// The yardstick: an HTTPS server with the relay's TLS settings that discards uploads and
/// serves `payload` from memory.
struct Plain {
    url: String,
    _rt: tokio::runtime::Runtime,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn plain_server(relay_data: &Path, payload: Arc<Vec<u8>>) -> Fallible<Plain> {
    use kizuna_server::identity::pki;
    let sink = Arc::new(relay_data.join("plain-upload.bin"));
    let ca = pki::Ca::load_or_create(relay_data).map_err(err)?;
    let (cert, key) = ca
        .issue_server_cert(&["127.0.0.1".to_string()])
        .map_err(err)?;
    let tls = pki::server_config(&ca, cert, key).map_err(err)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(err)?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    let app = Router::new()
        .route(
            "/plain",
            get(move || {
                let p = payload.clone();
                async move { axum::body::Bytes::from(p.as_ref().clone()) }
            })
            .put(move |body: axum::body::Body| {
                let sink = sink.clone();
                async move {
                    use futures::StreamExt;
                    use std::io::Write;
                    // Like any server that takes a file: write it, flushed to disk before
                    // answering (the relay's durability rule), nothing else.
                    let mut f = std::fs::File::create(&*sink).map_err(|e| e.to_string())?;
                    let mut s = body.into_data_stream();
                    let mut n = 0usize;
                    while let Some(Ok(b)) = s.next().await {
                        n += b.len();
                        f.write_all(&b).map_err(|e| e.to_string())?;
                    }
                    f.sync_data().map_err(|e| e.to_string())?;
                    Ok::<_, String>(n.to_string())
                }
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::disable());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(kizuna_server::serve(listener, tls, app, async {
        let _ = stopped.await;
    }));
    Ok(Plain {
        url: format!("https://127.0.0.1:{}/plain", addr.port()),
        _rt: rt,
        _stop: stop,
    })
}

/// Writes dirty pages back (the `sync` command) so a timed transfer starts from a quiet disk.
fn settle_disk() {
    let _ = std::process::Command::new("sync").status();
}

/// Times a plain upload and download of the file at `path` with the phone's identity.
fn plain_transfers(relay_data: &Path, phone: &Phone, path: &Path) -> Fallible<(f64, f64)> {
    let payload = Arc::new(std::fs::read(path).map_err(err)?);
    let plain = plain_server(relay_data, payload.clone())?;
    let tls = kizuna_server::identity::pki::client_config(
        &phone.identity.ca_pem,
        Some((&phone.identity.crt_pem, &phone.identity.key_pem)),
    )
    .map_err(err)?;
    let mut tls1 = tls.clone();
    tls1.alpn_protocols = vec![b"http/1.1".to_vec()];
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls1)
        .http1_only()
        .build()
        .map_err(err)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(err)?;
    rt.block_on(async {
        let body = payload.as_ref().clone();
        settle_disk();
        let t = Instant::now();
        let r = http.put(&plain.url).body(body).send().await.map_err(err)?;
        r.bytes().await.map_err(err)?;
        let up = t.elapsed().as_secs_f64();
        settle_disk();
        let t = Instant::now();
        let r = http.get(&plain.url).send().await.map_err(err)?;
        let got = r.bytes().await.map_err(err)?;
        let down = t.elapsed().as_secs_f64();
        if got.len() != payload.len() {
            return Err("the plain download was short".to_string());
        }
        Ok::<_, String>((up, down))
    })
}

fn mb_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs.max(1e-9)
}

/// Runs W4 once in `work` with a video of `size` bytes and a cut every `cut_every` bytes (at
/// most `max_cuts`).
pub fn run(work: &Path, size: usize, cut_every: u64, max_cuts: u64) -> Fallible<W4Figures> {
    let relay = LoopbackRelay::start_blocking(&work.join("relay"), None)?;
    let room = relay.blocking_patient_room("山田 花子")?;
    let nurse_p = relay.blocking_add("看護師", Profession::Nurse)?;
    let doctor_p = relay.blocking_add("医師", Profession::Doctor)?;
    relay.blocking_invite(room, nurse_p.id, Role::Writer)?;
    relay.blocking_invite(room, doctor_p.id, Role::Writer)?;
    let nurse = relay.enroll_phone(&nurse_p, &work.join("nurse"))?;
    let doctor = relay.enroll_phone(&doctor_p, &work.join("doctor"))?;
    nurse.sync().map_err(err)?;
    doctor.sync().map_err(err)?;

    // Two different videos: one uploaded uncut (timed), one through the cuts (counted).
    let plain_video = work.join("uncut.mp4");
    let cut_video = work.join("cut.mp4");
    write_video(&plain_video, size, 1)?;
    write_video(&cut_video, size, 2)?;
    let t = Instant::now();
    let (_, uncut) = nurse.post_with_file(
        room,
        "動画(切断なし)",
        &plain_video,
        AttachmentKind::Video,
        "video/mp4",
    )?;
    let import_ms = t.elapsed().as_secs_f64() * 1000.0;
    nurse.client().sync_documents().map_err(err)?;
    // The yardstick first, in the same conditions: dirty pages written back before each
    // timed transfer so one does not pay for the other's disk writes.
    let (plain_up, plain_down) = plain_transfers(relay.data(), &nurse, &plain_video)?;
    settle_disk();
    let t = Instant::now();
    nurse
        .client()
        .upload_attachments(&|_, _, _| {})
        .map_err(err)?;
    let upload_secs = t.elapsed().as_secs_f64();

    let proxy = CutProxy::start(relay.addr)?;
    let nurse = nurse.with_url(&proxy.url())?;
    let (_, cut) = nurse.post_with_file(
        room,
        "動画(切断あり)",
        &cut_video,
        AttachmentKind::Video,
        "video/mp4",
    )?;
    nurse.client().sync_documents().map_err(err)?;
    proxy.state.reset();
    proxy.state.cut_up_every.store(cut_every, Ordering::SeqCst);
    proxy.state.max_cuts.store(max_cuts, Ordering::SeqCst);
    let mut tries = 0;
    while !nurse
        .client()
        .blobs()
        .pending_uploads()
        .map_err(err)?
        .is_empty()
    {
        tries += 1;
        if tries > 10 * max_cuts + 10 {
            return Err("the cut upload never finished".into());
        }
        let _ = nurse.client().upload_attachments(&|_, _, _| {});
    }
    let up_cuts = proxy.state.cuts.load(Ordering::SeqCst);
    let upload_sent_ratio = proxy.state.up_bytes.load(Ordering::SeqCst) as f64 / cut.size as f64;

    // Downloads on the doctor's phone: uncut (timed), then through the cuts (counted).
    doctor.sync().map_err(err)?;
    settle_disk();
    let t = Instant::now();
    doctor
        .client()
        .fetch_attachment(&uncut.hash, room, "video/mp4", u64::MAX, &|_, _, _| {})
        .map_err(err)?;
    let download_secs = t.elapsed().as_secs_f64();
    let doctor = doctor.with_url(&proxy.url())?;
    proxy.state.reset();
    proxy.state.cut_up_every.store(0, Ordering::SeqCst);
    proxy
        .state
        .cut_down_every
        .store(cut_every, Ordering::SeqCst);
    proxy.state.max_cuts.store(max_cuts, Ordering::SeqCst);
    let mut tries = 0;
    loop {
        let r =
            doctor
                .client()
                .fetch_attachment(&cut.hash, room, "video/mp4", u64::MAX, &|_, _, _| {});
        if r.is_ok() {
            break;
        }
        tries += 1;
        if tries > 10 * max_cuts + 10 {
            return Err(format!("the cut download never finished: {r:?}"));
        }
    }
    let down_cuts = proxy.state.cuts.load(Ordering::SeqCst);
    let download_sent_ratio =
        proxy.state.down_bytes.load(Ordering::SeqCst) as f64 / cut.size as f64;

    let size = size as u64;
    Ok(W4Figures {
        size,
        upload_sent_ratio,
        download_sent_ratio,
        cuts: (up_cuts, down_cuts),
        upload_mb_s: mb_s(size, upload_secs),
        plain_upload_mb_s: mb_s(size, plain_up),
        download_mb_s: mb_s(size, download_secs),
        plain_download_mb_s: mb_s(size, plain_down),
        import_ms,
    })
}
