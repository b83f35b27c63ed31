//! The HTTP plumbing under every capability's routes: problem+json errors ([`problem`]),
//! extractors for the TLS peer and JSON bodies ([`extract`]), who a client certificate names
//! ([`peer`]), the middleware around every route ([`middleware`]) and TLS serving with its
//! accept loop ([`serve`]). It imports no capability, so any capability can build on it.

pub mod extract;
pub mod middleware;
pub mod peer;
pub mod problem;
pub mod serve;

pub use serve::{ServeOptions, install_panic_hook, serve, serve_with};
