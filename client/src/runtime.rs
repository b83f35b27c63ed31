//! The one tokio runtime of the app process. The session and the transports share it, so an
//! app never runs two thread pools; it starts on first use.

use std::sync::{Arc, OnceLock};
use tokio::runtime::{Builder, Runtime};

static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();

/// The process's runtime (two worker threads: phones have few cores and sync is I/O-bound).
pub fn get() -> Arc<Runtime> {
    RUNTIME
        .get_or_init(|| {
            let rt = Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("kizuna")
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("the async runtime could not start: {e}"));
            Arc::new(rt)
        })
        .clone()
}
