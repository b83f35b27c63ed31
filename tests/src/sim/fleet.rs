//! The phones as child processes: starting them, reading what each says on stdout, killing one
//! and checking its store before it starts again, and stopping them all at the end.

use super::present::Present;
use super::{Fallible, PHONE_KEY, SimConfig, Verdict};
use crate::sim_device::{Line, Token};
use kizuna_core::{ContentHash, ProfessionalId, RoomId, RoomStore};
use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A message from a device process's stdout reader.
pub(super) enum Msg {
    Line(usize, String),
    Eof(usize, u64),
}

/// One simulated phone: its folder, its process, and what it said.
pub(super) struct Dev {
    pub(super) dir: PathBuf,
    pub(super) professional: ProfessionalId,
    pub(super) child: Option<Child>,
    pub(super) incarnation: u64,
    /// Its reader has not reached the end of the current process's output.
    pub(super) running: bool,
    /// We killed the current process (or asked it to stop).
    pub(super) ending: bool,
    /// The current process said it dies at a crash point.
    pub(super) crashing: bool,
    /// Every change it said it saved, in order.
    pub(super) saved: Vec<Token>,
    /// Which of those the relay acknowledged.
    pub(super) acked: Vec<bool>,
    /// Indices of saved changes not yet acknowledged.
    pub(super) pending: Vec<usize>,
}

/// The phones and the bookkeeping of their lines.
pub(super) struct Fleet {
    pub(super) devs: Vec<Dev>,
    pub(super) rooms: Vec<RoomId>,
    pub(super) exe: PathBuf,
    pub(super) cfg: SimConfig,
    pub(super) tx: mpsc::Sender<Msg>,
    pub(super) rx: mpsc::Receiver<Msg>,
    pub(super) uploaded: BTreeSet<ContentHash>,
    /// (phone, index of the saved change) missing somewhere.
    pub(super) lost: BTreeSet<(usize, usize)>,
    /// Photos that reports point to but the relay cannot give.
    pub(super) lost_blobs: u64,
    pub(super) v: Verdict,
}

impl Dev {
    /// A phone enrolled in `dir`, not started yet.
    pub(super) fn new(dir: PathBuf, professional: ProfessionalId) -> Dev {
        Dev {
            dir,
            professional,
            child: None,
            incarnation: 0,
            running: false,
            ending: false,
            crashing: false,
            saved: Vec::new(),
            acked: Vec::new(),
            pending: Vec::new(),
        }
    }
}

impl Fleet {
    /// No phones yet; they will share `rooms` and run as `exe device`.
    pub(super) fn new(rooms: Vec<RoomId>, exe: &Path, cfg: &SimConfig) -> Fleet {
        let (tx, rx) = mpsc::channel();
        Fleet {
            devs: Vec::new(),
            rooms,
            exe: exe.to_path_buf(),
            cfg: cfg.clone(),
            tx,
            rx,
            uploaded: BTreeSet::new(),
            lost: BTreeSet::new(),
            lost_blobs: 0,
            v: Verdict::default(),
        }
    }

    pub(super) fn spawn(&mut self, i: usize) -> Fallible<()> {
        let dev = &mut self.devs[i];
        dev.incarnation += 1;
        let mut child = Command::new(&self.exe)
            .arg("device")
            .arg("--dir")
            .arg(&dev.dir)
            .args([
                "--seed",
                &self.cfg.seed.to_string(),
                "--incarnation",
                &dev.incarnation.to_string(),
                "--pace-ms",
                &self.cfg.pace_ms.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start a device process: {e}"))?;
        let out = child
            .stdout
            .take()
            .ok_or("no stdout of the device process")?;
        let tx = self.tx.clone();
        let inc = dev.incarnation;
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(Msg::Line(i, line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Msg::Eof(i, inc));
        });
        dev.child = Some(child);
        dev.running = true;
        dev.ending = false;
        dev.crashing = false;
        Ok(())
    }

    pub(super) fn handle(&mut self, msg: Msg) -> Fallible<()> {
        match msg {
            Msg::Line(i, text) => {
                let dev = &mut self.devs[i];
                match Line::parse(&text) {
                    Some(Line::Saved(t)) => {
                        self.v.operations += 1;
                        dev.pending.push(dev.saved.len());
                        dev.saved.push(t);
                        dev.acked.push(false);
                    }
                    Some(Line::Synced) => {
                        self.v.operations += 1;
                        for p in dev.pending.drain(..) {
                            dev.acked[p] = true;
                        }
                    }
                    Some(Line::SyncFailed) => self.v.operations += 1,
                    Some(Line::Uploaded(h)) => {
                        self.uploaded.insert(h);
                    }
                    Some(Line::Duplicate) => self.v.duplicates += 1,
                    Some(Line::Replay) => self.v.replays += 1,
                    Some(Line::Crash) => {
                        dev.crashing = true;
                        self.v.crash_points += 1;
                    }
                    Some(Line::Ready | Line::Offline) => {}
                    None => self
                        .v
                        .fail(format!("phone {i} wrote a line the simulator cannot read")),
                }
            }
            Msg::Eof(i, inc) => {
                let dev = &mut self.devs[i];
                if inc == dev.incarnation {
                    dev.running = false;
                    if !dev.ending && dev.crashing {
                        dev.ending = true;
                        self.after_death(i)?;
                    } else if !dev.ending {
                        let status = dev
                            .child
                            .as_mut()
                            .and_then(|c| c.wait().ok())
                            .map(|s| s.to_string())
                            .unwrap_or_default();
                        dev.child = None;
                        self.v
                            .fail(format!("phone {i} stopped on its own ({status})"));
                        // Keep the fleet complete; the verdict already failed.
                        self.spawn(i)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Handles messages until phone `i`'s current process has said everything.
    pub(super) fn drain(&mut self, i: usize) -> Fallible<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.devs[i].running {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("phone {i}'s output did not end"));
            }
            match self.rx.recv_timeout(left) {
                Ok(m) => self.handle(m)?,
                Err(_) => return Err(format!("phone {i}'s output did not end")),
            }
        }
        Ok(())
    }

    /// SIGKILLs phone `i`, checks its store holds everything it said it saved, starts it again
    /// (unless it is already dying at a crash point of its own).
    pub(super) fn kill(&mut self, i: usize) -> Fallible<()> {
        let dev = &mut self.devs[i];
        dev.ending = true;
        if let Some(mut c) = dev.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.drain(i)?;
        self.after_death(i)
    }

    /// Phone `i`'s process is dead and has said everything: checks its store holds every
    /// change it said it saved, starts it again.
    pub(super) fn after_death(&mut self, i: usize) -> Fallible<()> {
        if let Some(mut c) = self.devs[i].child.take() {
            let _ = c.wait();
        }
        self.v.device_kills += 1;
        let store = open_store(&self.devs[i].dir)?;
        let present = Present::read(&store, &self.rooms)?;
        drop(store);
        self.check_durable(i, &present, "after its kill");
        self.spawn(i)
    }

    /// Records every change phone `i` said it saved that its own store does not hold.
    pub(super) fn check_durable(&mut self, i: usize, present: &Present, when: &str) {
        let dev = &self.devs[i];
        for (k, t) in dev.saved.iter().enumerate() {
            if !present.has(t, dev.professional) && self.lost.insert((i, k)) {
                let problem = format!("phone {i} lost a saved {} {when}", t.kind());
                self.v.fail(problem);
            }
        }
    }
    /// Asks every phone to stop (its stdin closes) and waits for each to say everything,
    /// failing the verdict for a phone that does not stop or ends with an error other than
    /// its own crash point.
    pub(super) fn stop_all(&mut self) -> Fallible<()> {
        for dev in &mut self.devs {
            dev.ending = true;
            if let Some(c) = dev.child.as_mut() {
                drop(c.stdin.take());
            }
        }
        for i in 0..self.devs.len() {
            let stopped = Instant::now() + Duration::from_secs(60);
            let mut ended = None;
            while let Some(c) = self.devs[i].child.as_mut() {
                match c.try_wait() {
                    Ok(Some(status)) => {
                        ended = Some(status);
                        break;
                    }
                    _ if Instant::now() > stopped => {
                        let _ = c.kill();
                        let _ = c.wait();
                        self.v.fail(format!("phone {i} did not stop when asked"));
                        break;
                    }
                    _ => std::thread::sleep(Duration::from_millis(50)),
                }
            }
            self.drain(i)?;
            // A phone dying at its own crash point just then is one more kill, checked when
            // it is opened once more (`check::reopen_and_sync`).
            if let Some(status) = ended.filter(|s| !s.success() && !self.devs[i].crashing) {
                self.v
                    .fail(format!("phone {i} ended with an error ({status})"));
            }
        }
        Ok(())
    }
}

/// Opens a phone's store (retrying while the lock of a process just killed is released).
pub(super) fn open_store(dir: &Path) -> Fallible<RoomStore> {
    let mut tries = 0;
    loop {
        match RoomStore::open(dir, &PHONE_KEY) {
            Ok(s) => return Ok(s),
            Err(e) if tries < 100 && e.to_string().contains("lock") => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(format!("a phone's store does not open: {e}")),
        }
    }
}
