//! The relay's integration tests: one binary, the relay in-process on 127.0.0.1:0 with real
//! TLS, real certificates and a real sled store; no verification is disabled anywhere.
#![allow(clippy::unwrap_used, missing_docs)]

mod admin_process;
mod at_rest;
mod audit_rotation;
mod ca_rotation;
mod certificates;
mod cli;
mod console;
mod cross_site;
mod demo;
mod deploy;
mod enrollment;
mod logs;
mod panics;
mod revocation;
mod rooms;
mod routes;
mod shutdown;
mod start_refusals;
mod tls;
mod watch;
