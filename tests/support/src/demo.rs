//! `kizuna demo` as a user runs it: a child process on 127.0.0.1:0 whose printed guide the test
//! reads (and whose curl lines it may run as printed).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// The last line of the demo's guide: the relay is seeded and serving once it is printed.
const GUIDE_END: &str = "Ctrl-C stops the relay";

/// The line that names the demo relay's URL.
const URL_LINE: &str = "Kizuna demo relay on ";

/// A running `kizuna demo`; killed and reaped when dropped, also when an assertion fails.
pub struct Demo {
    child: Child,
    guide: String,
}

impl Demo {
    /// Starts `exe demo --listen 127.0.0.1:0` with `args` after it, in `cwd`, logging warnings
    /// only, and waits (up to 60 s) until it has printed its guide. `exe` is the `kizuna`
    /// binary: `env!("CARGO_BIN_EXE_kizuna")` in kizuna-server's tests. Panics with what it
    /// printed if the guide never ends.
    pub fn start(exe: &Path, cwd: &Path, args: &[&OsStr]) -> Demo {
        let spawned = Command::new(exe)
            .args(["demo", "--listen", "127.0.0.1:0"])
            .args(args)
            .current_dir(cwd)
            .env("KIZUNA_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut demo = match spawned {
            Ok(child) => Demo {
                child,
                guide: String::new(),
            },
            Err(e) => panic!("cannot start {}: {e}", exe.display()),
        };
        let Some(stdout) = demo.child.stdout.take() else {
            panic!("the demo's stdout is not piped");
        };
        let (tx, rx) = channel();
        // Reads to the end, also once nobody listens: a closed pipe would fail the demo's
        // next line.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    demo.guide.push_str(&line);
                    demo.guide.push('\n');
                    if line.contains(GUIDE_END) {
                        return demo;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let out = std::mem::take(&mut demo.guide);
        drop(demo);
        panic!("the demo did not print its guide:\n{out}");
    }

    /// What the demo printed, up to the end of its guide.
    pub fn guide(&self) -> &str {
        &self.guide
    }

    /// The relay's URL, as the guide prints it.
    pub fn url(&self) -> Option<&str> {
        self.guide
            .lines()
            .find_map(|l| l.strip_prefix(URL_LINE))
            .and_then(|rest| rest.split_whitespace().next())
    }

    /// Stops the demo (kills and reaps it).
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
