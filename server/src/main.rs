//! The `kizuna` relay binary: `demo`, `serve`, `admin …` and `totp`. Everything the command
//! line does is in `kizuna_server::cli`; this file only picks the allocator and hands over.

use std::process::ExitCode;

/// jemalloc returns freed memory to the system (within seconds), so the relay shrinks back
/// after a busy morning once idle rooms are unloaded.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    kizuna_server::cli::main()
}
