//! The relay's panic hook logs where a panic happened, never its message (which can quote
//! patient data). Its own test binary: the hook and the log subscriber are process-wide.
#![allow(clippy::unwrap_used, missing_docs)]

use kizuna_testkit::logs::capture_global;

#[test]
fn panic_messages_are_withheld_from_the_log() {
    // INFO: the fmt subscriber's default level.
    let out = capture_global(tracing::Level::INFO);
    kizuna_server::http::install_panic_hook();
    let caught = std::thread::Builder::new()
        .name("handler".into())
        .spawn(|| panic!("秘密野 花子 の褥瘡が悪化"))
        .unwrap()
        .join();
    assert!(caught.is_err());
    let log = out.text();
    assert!(
        log.contains("message withheld"),
        "the panic is logged: {log}"
    );
    assert!(log.contains("panic_hook.rs"), "with its location: {log}");
    assert!(log.contains("handler"), "and its thread: {log}");
    assert!(!log.contains("秘密野"), "the message leaked: {log}");
}
