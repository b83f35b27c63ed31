//! The relay's log captured in memory, so a test can prove what never reaches it (patient
//! names, panic messages).

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

/// Everything the log subscriber wrote so far; clones share the one buffer.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => panic!("the log is not UTF-8: {e}"),
        }
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs a plain-text `tracing` subscriber at `max_level` as the process-wide default and
/// returns what it writes. Process-wide, because a thread-local subscriber misses events whose
/// callsite interest another test thread cached first; so one per test binary (panics if the
/// process already has one), and other tests' lines land in the buffer too: search for a
/// marker only the capturing test uses.
pub fn capture_global(max_level: tracing::Level) -> Captured {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(max_level)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    if let Err(e) = tracing::subscriber::set_global_default(subscriber) {
        panic!("a log subscriber is already installed in this process: {e}");
    }
    out
}
