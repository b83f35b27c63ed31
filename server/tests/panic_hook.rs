//! The relay's panic hook logs where a panic happened, never its message (which can quote
//! patient data). Its own test binary: the hook and the log subscriber are process-wide.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn panic_messages_are_withheld_from_the_log() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    kizuna_server::http::install_panic_hook();
    let caught = std::thread::Builder::new()
        .name("handler".into())
        .spawn(|| panic!("秘密野 花子 の褥瘡が悪化"))
        .unwrap()
        .join();
    assert!(caught.is_err());
    let log = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("message withheld"),
        "the panic is logged: {log}"
    );
    assert!(log.contains("panic_hook.rs"), "with its location: {log}");
    assert!(log.contains("handler"), "and its thread: {log}");
    assert!(!log.contains("秘密野"), "the message leaked: {log}");
}
