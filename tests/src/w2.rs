//! W2 — the nurse reconnects after a day offline (`docs/workloads.md`).
//!
//! The relay runs as its own process (the real `kizuna serve`), so its CPU time is read from
//! `/proc`. A history phone fills 30 patient rooms with a year of reports each; the nurse's
//! phone and a colleague's sync everything; then the nurse works offline for a day (5 reports,
//! 8 reads, 3 comments) while the colleague posts 20 reports; then the nurse reconnects
//! through a transport that counts every body byte and every exchange. The same two states
//! (relay and device documents) then go through samod for comparison.

use crate::samod_w2::{SamodFigures, samod_reconnect};
use crate::workload::report_content;
use kizuna_client::{BlobSource, Transport, TransportError, TransportLayer};
use kizuna_core::ContentHash;
use kizuna_core::blobs::UploadStatus;
use kizuna_core::{Profession, ReportId, Role, RoomId, Timestamp};
use kizuna_server::cli::client::Client;
use kizuna_server::identity::NewProfessional;
use kizuna_testkit::phone::enroll;
use kizuna_testkit::{Fallible, Identity, Phone, consented_room};
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The shape of the workload (the standard one is [`W2Shape::standard`]).
#[derive(Clone, Debug)]
pub struct W2Shape {
    /// Patient rooms.
    pub rooms: usize,
    /// Reports of history in each.
    pub history: usize,
    /// Reports the nurse writes offline.
    pub own_reports: usize,
    /// Reports the nurse marks read.
    pub reads: usize,
    /// Comments the nurse adds.
    pub comments: usize,
    /// Reports colleagues post meanwhile.
    pub others: usize,
}

impl W2Shape {
    /// The standard W2: 30 rooms × 365 reports; 5 reports, 8 reads, 3 comments; 20 others.
    pub fn standard() -> W2Shape {
        W2Shape {
            rooms: 30,
            history: 365,
            own_reports: 5,
            reads: 8,
            comments: 3,
            others: 20,
        }
    }
}

/// What one W2 run measured.
#[derive(Clone, Debug)]
pub struct W2Figures {
    /// Request plus response body bytes of the reconnect.
    pub doc_bytes: u64,
    /// Request body bytes.
    pub up_bytes: u64,
    /// Response body bytes.
    pub down_bytes: u64,
    /// The new changes themselves: Σ `save_after(yesterday's heads)` over the rooms.
    pub floor_bytes: u64,
    /// HTTP exchanges.
    pub round_trips: u64,
    /// Until the device holds the relay's heads for every room (documents only).
    pub wall_ms: f64,
    /// Attachment bytes sent (two 3 MB photos and their thumbnails, if any).
    pub blob_bytes: u64,
    /// Uploading them, after the documents.
    pub blob_ms: f64,
    /// Relay process CPU time during the reconnect.
    pub relay_cpu_ms: f64,
    /// samod on the same two states.
    pub samod: SamodFigures,
}

/// Counts the bytes and exchanges of a transport (the other calls pass through).
pub struct Counting {
    inner: Arc<dyn Transport>,
    /// Request bytes.
    pub up: AtomicU64,
    /// Response bytes.
    pub down: AtomicU64,
    /// Exchanges.
    pub exchanges: AtomicU64,
    /// Attachment bytes sent (the upload bodies).
    pub blob_up: AtomicU64,
}

impl Counting {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Transport>) -> Counting {
        Counting {
            inner,
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
            exchanges: AtomicU64::new(0),
            blob_up: AtomicU64::new(0),
        }
    }

    /// Zeroes the counters.
    pub fn reset(&self) {
        self.up.store(0, Ordering::SeqCst);
        self.down.store(0, Ordering::SeqCst);
        self.exchanges.store(0, Ordering::SeqCst);
        self.blob_up.store(0, Ordering::SeqCst);
    }
}

impl TransportLayer for Counting {
    fn inner(&self) -> &dyn Transport {
        self.inner.as_ref()
    }

    fn exchange(&self, request: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        self.up.fetch_add(request.len() as u64, Ordering::SeqCst);
        self.exchanges.fetch_add(1, Ordering::SeqCst);
        let r = self.inner.exchange(request)?;
        self.down.fetch_add(r.len() as u64, Ordering::SeqCst);
        Ok(r)
    }

    fn upload(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        offset: u64,
        size: u64,
        source: Arc<dyn BlobSource>,
    ) -> Result<UploadStatus, TransportError> {
        self.blob_up.fetch_add(size - offset, Ordering::SeqCst);
        self.inner.upload(hash, doc, offset, size, source)
    }
}

/// The relay as a child process (`kizuna serve`), killed when dropped.
pub struct ChildRelay {
    child: Child,
    /// Its data directory.
    pub data: PathBuf,
    /// Its URL.
    pub url: String,
}

impl ChildRelay {
    /// Starts `kizuna` (found next to the running executable) on a free loopback port.
    pub fn start(data: &Path) -> Fallible<ChildRelay> {
        Self::start_on(data, free_port()?)
    }

    /// Kills the relay with SIGKILL (no chance to flush or say goodbye) and starts it again on
    /// the same data and port.
    pub fn kill_and_restart(&mut self) -> Fallible<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.start_again()
    }

    /// Takes an online backup of the running relay into `to` with `kizuna admin backup`.
    pub fn backup_to(&self, to: &Path) -> Fallible<()> {
        self.admin(&["backup", "--to"], to)
    }

    /// Kills the relay, restores the backup `from` into its data directory with
    /// `kizuna admin restore`, and starts it again on the same port.
    pub fn kill_and_restore(&mut self, from: &Path) -> Fallible<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.admin(&["restore", "--from"], from)?;
        self.start_again()
    }

    fn admin(&self, args: &[&str], path: &Path) -> Fallible<()> {
        let out = Command::new(kizuna_bin()?)
            .arg("admin")
            .arg("--data")
            .arg(&self.data)
            .args(args)
            .arg(path)
            .output()
            .map_err(|e| format!("cannot run kizuna admin: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "kizuna admin {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    /// Starts the relay again on its data and port (retrying while the port is released).
    fn start_again(&mut self) -> Fallible<()> {
        let port: u16 = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or("the relay URL has no port")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match Self::start_on(&self.data, port) {
                Ok(fresh) => {
                    // Take over the new child; the old value's Drop must not kill it.
                    let old = std::mem::replace(self, fresh);
                    std::mem::forget(old);
                    return Ok(());
                }
                Err(e) if Instant::now() < deadline => {
                    pause_before_retry(&e);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts `kizuna serve` on `port`.
    pub fn start_on(data: &Path, port: u16) -> Fallible<ChildRelay> {
        let mut child = Command::new(kizuna_bin()?)
            .args(["serve", "--data"])
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("KIZUNA_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start kizuna: {e}"))?;
        let url = format!("https://127.0.0.1:{port}");
        // Ready when it accepts TCP on its port and has written the administrator's identity
        // (key, then certificate) and `relay.json` — it binds first and writes those after, so
        // on a busy machine the port answers before an admin client could be made.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("the relay exited at start ({status})"));
            }
            if data.join("admin/admin.crt").exists()
                && data.join("relay.json").exists()
                && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("the relay did not start within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(ChildRelay {
            child,
            data: data.to_path_buf(),
            url,
        })
    }

    /// The relay's process id (for its memory figures).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) the relay process has used, in milliseconds.
    pub fn cpu_ms(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let rest = stat.rsplit_once(')').map_or("", |x| x.1);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the ')'.
        (ticks(11) + ticks(12)) * 10.0
    }
}

/// The `kizuna` binary built next to the running executable.
fn kizuna_bin() -> Fallible<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    exe.parent()
        .map(|d| d.join("kizuna"))
        .filter(|p| p.exists())
        .ok_or_else(|| {
            "the kizuna binary is not built next to kizuna-bench (cargo build --release -p kizuna-server)"
                .to_string()
        })
}

impl Drop for ChildRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits a little before trying again (the port of a killed relay can take a moment).
fn pause_before_retry(_why: &str) {
    std::thread::sleep(Duration::from_millis(200));
}

fn free_port() -> Fallible<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn syncs_until_quiet(p: &Phone) -> Fallible<()> {
    for _ in 0..50 {
        let r = p.sync().map_err(err)?;
        if !r.again && r.updated.is_empty() && r.added.is_empty() {
            return Ok(());
        }
    }
    Err("sync did not settle".into())
}

/// Runs W2 once in `work` (a fresh directory).
pub fn run(work: &Path, shape: &W2Shape, seed: u64) -> Fallible<W2Figures> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let relay = ChildRelay::start(&work.join("relay"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(err)?;
    let admin = Client::admin_from_data_dir(&relay.data, None).map_err(err)?;
    let ca_pem = std::fs::read_to_string(relay.data.join("ca.crt")).map_err(err)?;
    let mut wait = 0;
    while rt.block_on(admin.health()).is_err() {
        wait += 1;
        if wait > 200 {
            return Err("the relay does not answer".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let person = |name: &str, profession| NewProfessional {
        name: name.into(),
        kana: "かんごし".into(),
        profession,
        organisation: kizuna_core::Organisation {
            name: "みどり訪問看護ステーション".into(),
            office_number: None,
        },
    };
    let add = |n: NewProfessional| rt.block_on(admin.add_professional(&n)).map_err(err);
    let nurse = add(person("佐藤 美咲", Profession::Nurse))?;
    let history = add(person("高橋 一郎", Profession::Nurse))?;
    let colleague = add(person("田中 医師", Profession::Doctor))?;
    let mut rooms: Vec<RoomId> = Vec::new();
    for i in 0..shape.rooms {
        let r = rt
            .block_on(admin.create_room(&consented_room(&format!("患者 {i}"))?))
            .map_err(err)?;
        for p in [&nurse, &history, &colleague] {
            rt.block_on(admin.invite(r.id, p.id, Role::Writer))
                .map_err(err)?;
        }
        rooms.push(RoomId(r.id));
    }
    let hist = enroll(
        &rt,
        &admin,
        &relay.url,
        &ca_pem,
        &history,
        &work.join("history"),
    )?;
    syncs_until_quiet(&hist)?;
    let year_ago = Timestamp::now().plus_millis(-365 * 86_400_000);
    for room in &rooms {
        // A year of visits in one stored write (building it is not what W2 measures).
        let contents: Vec<_> = (0..shape.history)
            .map(|d| {
                let t = year_ago.plus_millis(i64::try_from(d).unwrap_or(0) * 86_400_000);
                (t, report_content(&mut rng, t))
            })
            .collect();
        let h = hist.store().open_room(*room).map_err(err)?;
        h.write(|r| {
            for (t, c) in &contents {
                r.post_report(&hist.author, *t, c)?;
            }
            Ok(())
        })
        .map_err(err)?;
    }
    syncs_until_quiet(&hist)?;
    drop(hist);

    // The nurse's phone, with a counting transport.
    let plain = enroll(
        &rt,
        &admin,
        &relay.url,
        &ca_pem,
        &nurse,
        &work.join("nurse-enroll"),
    )?;
    let identity: Identity = plain.identity.clone();
    let author = plain.author.clone();
    drop(plain);
    let https = kizuna_client::HttpsTransport::new(
        &identity.url,
        &identity.ca_pem,
        &identity.crt_pem,
        &identity.key_pem,
    )
    .map_err(err)?;
    let counting = Arc::new(Counting::new(Arc::new(https)));
    let phone = Phone::with_transport(&work.join("nurse"), author, identity, counting.clone())?;
    syncs_until_quiet(&phone)?;
    let other = enroll(
        &rt,
        &admin,
        &relay.url,
        &ca_pem,
        &colleague,
        &work.join("colleague"),
    )?;
    syncs_until_quiet(&other)?;

    let base: Vec<Vec<automerge::ChangeHash>> = rooms
        .iter()
        .map(|r| {
            phone
                .store()
                .open_room(*r)
                .and_then(|h| h.read(|room| Ok(room.heads())))
        })
        .collect::<Result<_, _>>()
        .map_err(err)?;

    // A day offline.
    let now = Timestamp::now();
    for i in 0..shape.own_reports {
        let room = rooms[rng.random_range(0..rooms.len())];
        let mut c = report_content(&mut rng, now);
        c.attachments.clear();
        if i < 2 {
            // A 3 MB photo of the wound, stored encrypted on the phone and queued.
            let photo = work.join(format!("photo-{i}.jpg"));
            let mut bytes = vec![0u8; 3_000_000];
            rand::RngCore::fill_bytes(&mut rng, &mut bytes);
            std::fs::write(&photo, &bytes).map_err(err)?;
            let att = kizuna_core::blobs::attach_file(
                phone.client().blobs(),
                &photo,
                kizuna_core::model::AttachmentKind::Photo,
                "image/jpeg",
                Some("仙骨部".into()),
                Some(now),
                None,
            )
            .map_err(err)?;
            c.attachments.push(att);
        }
        let doc = phone
            .store()
            .doc_for_report(room, phone.author.professional, &c.scope)
            .map_err(err)?;
        doc.write(|r| r.post_report(&phone.author, now, &c))
            .map_err(err)?;
        phone
            .client()
            .blobs()
            .queue_report(doc.id(), &c, now)
            .map_err(err)?;
    }
    let pick = |rng: &mut rand_chacha::ChaCha8Rng| -> Fallible<(RoomId, ReportId)> {
        let room = rooms[rng.random_range(0..rooms.len())];
        let list = phone.store().room_reports(room, 50).map_err(err)?;
        let r = list
            .get(rng.random_range(0..list.len().max(1)))
            .ok_or("empty room")?;
        Ok((room, r.id))
    };
    for _ in 0..shape.reads {
        let (room, report) = pick(&mut rng)?;
        let h = phone.store().open_room(room).map_err(err)?;
        h.write(|r| r.mark_read(&phone.author, Timestamp::now(), report))
            .map_err(err)?;
    }
    for i in 0..shape.comments {
        let (room, report) = pick(&mut rng)?;
        let h = phone.store().open_room(room).map_err(err)?;
        h.write(|r| {
            r.add_comment(
                &phone.author,
                Timestamp::now(),
                report,
                &format!("了解しました。次回訪問時に確認します。({i})"),
            )
        })
        .map_err(err)?;
    }
    for _ in 0..shape.others {
        let room = rooms[rng.random_range(0..rooms.len())];
        let mut c = report_content(&mut rng, now);
        c.attachments.clear();
        other.post(room, &c)?;
    }
    syncs_until_quiet(&other)?;

    // The two states samod starts from, saved before the reconnect.
    let save = |p: &Phone| -> Fallible<Vec<Vec<u8>>> {
        rooms
            .iter()
            .map(|r| {
                p.store()
                    .open_room(*r)
                    .and_then(|h| h.read(|room| Ok(room.save())))
                    .map_err(err)
            })
            .collect()
    };
    let relay_docs = save(&other)?;
    let device_docs = save(&phone)?;

    // Reconnect: exchanges until the device holds the relay's heads for every room.
    counting.reset();
    let cpu0 = relay.cpu_ms();
    let t0 = Instant::now();
    let converged = |p: &Phone| -> Fallible<bool> {
        for r in &rooms {
            let meta = p.store().open_room(*r).map_err(err)?.meta();
            if meta.saved_heads() != meta.relay_heads() || meta.pending() > 0 {
                return Ok(false);
            }
        }
        Ok(true)
    };
    let mut tries = 0;
    loop {
        let report = phone.client().sync_documents().map_err(err)?;
        tries += 1;
        if !report.again && converged(&phone)? {
            break;
        }
        if tries > 20 {
            return Err("the reconnect did not converge".into());
        }
    }
    let wall_ms = t0.elapsed().as_secs_f64() * 1000.0;
    // Then the photos, after the reports that reference them.
    let t1 = Instant::now();
    phone
        .client()
        .upload_attachments(&|_, _, _| {})
        .map_err(err)?;
    let blob_ms = t1.elapsed().as_secs_f64() * 1000.0;
    if !phone
        .client()
        .blobs()
        .pending_uploads()
        .map_err(err)?
        .is_empty()
    {
        return Err("the photos were not uploaded".into());
    }
    let blob_bytes = counting.blob_up.load(Ordering::SeqCst);
    let relay_cpu_ms = relay.cpu_ms() - cpu0;
    let mut floor = 0u64;
    for (r, b) in rooms.iter().zip(&base) {
        let h = phone.store().open_room(*r).map_err(err)?;
        floor += h
            .read(|room| Ok(room.save_after(b).len() as u64))
            .map_err(err)?;
    }
    let exchanges = counting.exchanges.load(Ordering::SeqCst);
    let samod = samod_reconnect(relay_docs, device_docs)?;
    Ok(W2Figures {
        doc_bytes: counting.up.load(Ordering::SeqCst) + counting.down.load(Ordering::SeqCst),
        up_bytes: counting.up.load(Ordering::SeqCst),
        down_bytes: counting.down.load(Ordering::SeqCst),
        floor_bytes: floor,
        round_trips: exchanges,
        wall_ms,
        blob_bytes,
        blob_ms,
        relay_cpu_ms,
        samod,
    })
}
