//! One simulated phone as its own process (`kizuna-sim device`), so the simulator can kill it
//! with SIGKILL in the middle of a write or a sync and start it again from its store.
//!
//! The phone does random legal work on its encrypted store (reports, comments, read receipts,
//! profile edits, photos), goes offline for a while now and then, and syncs through a
//! transport that — by a seeded schedule — sends a request twice (a retry after a lost
//! answer), replays an old request later, and sends an upload twice. It tells the parent on
//! stdout, one line per fact, only what it was told: a `saved` line after the store returned
//! from a write (flushed to disk), `synced` after the relay answered a sync without refusals
//! (so everything saved before is on the relay's disk), `uploaded` after the relay held a
//! whole attachment. The tokens in those lines are synthetic (`sim-s7-d2-i3-n41`), never
//! patient data.

use kizuna_client::{BlobSource, HttpsTransport, Transport, TransportError, TransportLayer};
use kizuna_core::blobs::UploadStatus;
use kizuna_core::model::AttachmentKind;
use kizuna_core::model::profile::Medication;
use kizuna_core::{Author, ContentHash, EntryId, ReportId, RoomId, Timestamp};
use kizuna_testkit::{Fallible, Identity, Phone};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a device process needs to start: written by the parent after enrollment, beside the
/// store.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeviceFile {
    /// The phone's number in the simulation.
    pub index: usize,
    /// Who writes from it.
    pub author: Author,
    /// The relay's URL (the fault proxy's).
    pub url: String,
    /// The relay's CA.
    pub ca_pem: String,
    /// The device certificate.
    pub crt_pem: String,
    /// The device key.
    pub key_pem: String,
    /// The patient rooms it works in.
    pub rooms: Vec<RoomId>,
}

impl DeviceFile {
    fn path(dir: &Path) -> PathBuf {
        dir.join("sim-device.json")
    }

    /// Writes the file into the phone's folder `dir`.
    pub fn save(&self, dir: &Path) -> Fallible<()> {
        let json = serde_json::to_vec(self).map_err(|e| e.to_string())?;
        std::fs::write(Self::path(dir), json).map_err(|e| e.to_string())
    }

    /// Reads the file from the phone's folder `dir`.
    pub fn load(dir: &Path) -> Fallible<DeviceFile> {
        let bytes = std::fs::read(Self::path(dir)).map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    }

    /// The identity the phone's transport uses.
    pub fn identity(&self) -> Identity {
        Identity {
            url: self.url.clone(),
            ca_pem: self.ca_pem.clone(),
            crt_pem: self.crt_pem.clone(),
            key_pem: self.key_pem.clone(),
        }
    }
}

/// A change a device was told it saved, as it names it on its `saved` line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Token {
    /// A report with this body text.
    Report(String),
    /// A comment with this text.
    Comment(String),
    /// The device's professional read this report.
    Receipt(ReportId),
    /// A medication with this name in the room's profile.
    Profile(String),
    /// A report with this body text and a photo with this hash.
    Photo(String, ContentHash),
}

impl Token {
    /// The kind, for figures and problems.
    pub fn kind(&self) -> &'static str {
        match self {
            Token::Report(_) => "report",
            Token::Comment(_) => "comment",
            Token::Receipt(_) => "receipt",
            Token::Profile(_) => "profile edit",
            Token::Photo(..) => "photo",
        }
    }
}

/// One line from a device process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// The store is open and work begins.
    Ready,
    /// A write returned: the change is on the phone's disk.
    Saved(Token),
    /// A sync completed without refusals: everything saved before is on the relay's disk.
    Synced,
    /// A sync failed (offline, cut, relay down) or was partly refused.
    SyncFailed,
    /// The relay holds this whole attachment.
    Uploaded(ContentHash),
    /// The phone went offline for a while.
    Offline,
    /// The transport sent a request (or an upload) twice and both reached the relay.
    Duplicate,
    /// The transport replayed an old request.
    Replay,
    /// The phone kills itself at a crash point inside an operation (between two writes).
    Crash,
}

impl Line {
    /// The line's text (no newline).
    pub fn format(&self) -> String {
        match self {
            Line::Ready => "ready".into(),
            Line::Saved(Token::Report(t)) => format!("saved report {t}"),
            Line::Saved(Token::Comment(t)) => format!("saved comment {t}"),
            Line::Saved(Token::Receipt(id)) => format!("saved receipt {id}"),
            Line::Saved(Token::Profile(t)) => format!("saved profile {t}"),
            Line::Saved(Token::Photo(t, h)) => format!("saved photo {t} {h}"),
            Line::Synced => "synced".into(),
            Line::SyncFailed => "sync-failed".into(),
            Line::Uploaded(h) => format!("uploaded {h}"),
            Line::Offline => "offline".into(),
            Line::Duplicate => "fault duplicate".into(),
            Line::Replay => "fault replay".into(),
            Line::Crash => "crash".into(),
        }
    }

    /// Reads a line written by [`Line::format`].
    pub fn parse(s: &str) -> Option<Line> {
        let w: Vec<&str> = s.split(' ').collect();
        Some(match w.as_slice() {
            ["ready"] => Line::Ready,
            ["saved", "report", t] => Line::Saved(Token::Report((*t).into())),
            ["saved", "comment", t] => Line::Saved(Token::Comment((*t).into())),
            ["saved", "receipt", id] => Line::Saved(Token::Receipt(id.parse().ok()?)),
            ["saved", "profile", t] => Line::Saved(Token::Profile((*t).into())),
            ["saved", "photo", t, h] => Line::Saved(Token::Photo((*t).into(), h.parse().ok()?)),
            ["synced"] => Line::Synced,
            ["sync-failed"] => Line::SyncFailed,
            ["uploaded", h] => Line::Uploaded(h.parse().ok()?),
            ["offline"] => Line::Offline,
            ["fault", "duplicate"] => Line::Duplicate,
            ["fault", "replay"] => Line::Replay,
            ["crash"] => Line::Crash,
            _ => return None,
        })
    }
}

/// Writes one line to the parent and flushes it (a line is on the pipe before the next
/// operation starts, so a kill never loses a fact already stated). Exits when the parent is
/// gone.
fn say(line: &Line) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{}", line.format())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// A transport that sends some requests twice and replays old ones, by a seeded schedule
/// (the other calls pass through).
struct Faulty {
    inner: HttpsTransport,
    rng: Mutex<ChaCha8Rng>,
    old: Mutex<Option<Vec<u8>>>,
}

impl Faulty {
    fn roll(&self, p: f64) -> bool {
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .random_bool(p)
    }
}

impl TransportLayer for Faulty {
    fn inner(&self) -> &dyn Transport {
        &self.inner
    }

    fn exchange(&self, request: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let (replay, keep, twice) = (self.roll(0.2), self.roll(0.3), self.roll(0.08));
        if replay {
            let old = self.old.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(old) = old {
                // An old request arriving late: its answer goes nowhere.
                if self.inner.exchange(old).is_ok() {
                    say(&Line::Replay);
                }
            }
        }
        {
            let mut old = self.old.lock().unwrap_or_else(|e| e.into_inner());
            if keep || old.is_none() {
                *old = Some(request.clone());
            }
        }
        if twice && self.inner.exchange(request.clone()).is_ok() {
            // The answer was "lost": the phone sends the same request again.
            say(&Line::Duplicate);
        }
        self.inner.exchange(request)
    }

    fn upload(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        offset: u64,
        size: u64,
        source: Arc<dyn BlobSource>,
    ) -> Result<UploadStatus, TransportError> {
        if self.roll(0.3)
            && self
                .inner
                .upload(hash, doc, offset, size, source.clone())
                .is_ok()
        {
            say(&Line::Duplicate);
        }
        self.inner.upload(hash, doc, offset, size, source)
    }
}

/// Now and then (by the seed) the process dies right here by SIGKILL: no destructor runs,
/// nothing more is written.
fn crash_point(rng: &mut ChaCha8Rng) {
    if rng.random_bool(0.15) {
        say(&Line::Crash);
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .status();
        std::process::abort();
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A report from the newest twenty of `room`, if any.
fn some_report(phone: &Phone, room: RoomId, rng: &mut ChaCha8Rng) -> Fallible<Option<ReportId>> {
    let list = phone.store().room_reports(room, 20).map_err(err)?;
    if list.is_empty() {
        return Ok(None);
    }
    Ok(Some(list[rng.random_range(0..list.len())].id))
}

/// Runs the phone in `dir` until the parent closes its stdin (or kills it). `incarnation`
/// counts restarts, so tokens stay unique; `pace_ms` is the mean pause between operations.
pub fn run_device(dir: &Path, seed: u64, incarnation: u64, pace_ms: u64) -> Fallible<()> {
    let file = DeviceFile::load(dir)?;
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed ^ ((file.index as u64) << 24) ^ (incarnation << 44) ^ 0x6465_7669_6365,
    );
    let inner =
        HttpsTransport::new(&file.url, &file.ca_pem, &file.crt_pem, &file.key_pem).map_err(err)?;
    let transport = Faulty {
        inner,
        rng: Mutex::new(ChaCha8Rng::seed_from_u64(rng.random())),
        old: Mutex::new(None),
    };
    let phone = Phone::with_transport(
        dir,
        file.author.clone(),
        file.identity(),
        Arc::new(transport),
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // The parent closes stdin to end the run.
            for _ in std::io::stdin().lock().lines() {}
            stop.store(true, Ordering::SeqCst);
        });
    }
    say(&Line::Ready);
    let camera = dir.join("camera.png");
    let mut offline = 0u32;
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let pause = rng.random_range(pace_ms / 2..=pace_ms.max(1) * 3 / 2);
        let until = std::time::Instant::now() + Duration::from_millis(pause);
        while std::time::Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
        n += 1;
        let token = format!("s{seed}-d{}-i{incarnation}-n{n}", file.index);
        let room = file.rooms[rng.random_range(0..file.rooms.len())];
        let roll: f64 = rng.random();
        if roll < 0.42 {
            let text = format!("sim-{token}");
            phone.post(room, &Phone::text(&text, None))?;
            say(&Line::Saved(Token::Report(text)));
        } else if roll < 0.56 {
            if let Some(report) = some_report(&phone, room, &mut rng)? {
                let text = format!("了解-{token}");
                let h = phone.store().open_room(room).map_err(err)?;
                h.write(|r| r.add_comment(&phone.author, Timestamp::now(), report, &text))
                    .map_err(err)?;
                say(&Line::Saved(Token::Comment(text)));
            }
        } else if roll < 0.64 {
            if let Some(report) = some_report(&phone, room, &mut rng)? {
                let h = phone.store().open_room(room).map_err(err)?;
                let first = h
                    .write(|r| r.mark_read(&phone.author, Timestamp::now(), report))
                    .map_err(err)?;
                if first {
                    say(&Line::Saved(Token::Receipt(report)));
                }
            }
        } else if roll < 0.69 {
            let name = format!("薬-{token}");
            let h = phone.store().open_room(room).map_err(err)?;
            h.write(|r| {
                r.edit_profile(&phone.author, Timestamp::now(), |p| {
                    p.medications.insert(
                        EntryId::new(),
                        Medication {
                            name: name.clone(),
                            dose: Some("1錠".into()),
                            timing: Some("朝食後".into()),
                            since: None,
                            prescribed_by: None,
                            notes: None,
                            stopped: None,
                        },
                    );
                })
            })
            .map_err(err)?;
            say(&Line::Saved(Token::Profile(name)));
        } else if roll < 0.72 {
            let text = format!("sim-{token}");
            let (w, hgt) = (rng.random_range(48..160u32), rng.random_range(48..120u32));
            let pixels: Vec<u8> = (0..w * hgt * 3).map(|_| rng.random()).collect();
            let img = image::RgbImage::from_raw(w, hgt, pixels).ok_or("bad image size")?;
            img.save(&camera).map_err(err)?;
            // As the app posts a report with a photo (`Device::post_report`): the photo into
            // the blob store, then into the upload queue, then the report into its document —
            // and now and then the process dies between two of those steps.
            let blobs = phone.client().blobs();
            let att = kizuna_core::blobs::attach_file(
                blobs,
                &camera,
                AttachmentKind::Photo,
                "image/png",
                Some("仙骨部".into()),
                Some(Timestamp::now()),
                None,
            )
            .map_err(err)?;
            let mut content = Phone::text(&text, None);
            content.attachments.push(att.clone());
            let doc = phone
                .store()
                .doc_for_report(room, phone.author.professional, &content.scope)
                .map_err(err)?;
            let now = Timestamp::now();
            crash_point(&mut rng);
            blobs.queue_report(doc.id(), &content, now).map_err(err)?;
            crash_point(&mut rng);
            doc.write(|r| r.post_report(&phone.author, now, &content))
                .map_err(err)?;
            say(&Line::Saved(Token::Photo(text, att.hash)));
        } else if offline > 0 {
            offline -= 1;
        } else if rng.random_bool(0.05) {
            offline = rng.random_range(3..15);
            say(&Line::Offline);
        } else {
            match phone.client().sync_documents() {
                Ok(r) if r.refused.is_empty() => {
                    say(&Line::Synced);
                    if let Ok(done) = phone.client().upload_attachments(&|_, _, _| {}) {
                        for h in done {
                            say(&Line::Uploaded(h));
                        }
                    }
                }
                _ => say(&Line::SyncFailed),
            }
        }
    }
    Ok(())
}
