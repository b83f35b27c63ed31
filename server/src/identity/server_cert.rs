//! The relay's own TLS certificate, renewed while it serves.
//!
//! A server certificate is valid for [`SERVER_CERT_DAYS`] (90). Made once at start and kept,
//! it expired under a relay that ran longer, and every phone was refused at the handshake.
//! Instead rustls asks [`ServerCerts`] for the certificate at every handshake, and a
//! background thread ([`spawn_renewal`]) replaces it when fewer than
//! [`SERVER_CERT_RENEW_DAYS`] remain: at start, hourly, and whenever the relay's clock is
//! moved. Open connections keep the certificate they were made with; new ones get the new
//! one. Nothing is written to disk: a restart makes a fresh certificate anyway.

use super::authorities::Authorities;
use super::clock::Clock;
use super::pki::{self, PkiError, SERVER_CERT_DAYS, SERVER_CERT_RENEW_DAYS};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

/// How often the renewal looks at the certificate's expiry when nothing else wakes it.
pub const CHECK_EVERY: Duration = Duration::from_secs(3600);

/// The certificate the relay serves now, with its expiry, replaceable while serving.
pub struct ServerCerts {
    cas: Arc<Authorities>,
    names: Vec<String>,
    clock: Arc<Clock>,
    current: RwLock<Current>,
}

#[derive(Clone)]
struct Current {
    key: Arc<CertifiedKey>,
    /// The certificate's notAfter, in seconds since 1970.
    not_after: i64,
    /// The CAs' generation it was issued under: a rotation or retirement changes the
    /// issuing CA or the chain, and the next handshake gets a new certificate.
    generation: u64,
}

impl std::fmt::Debug for ServerCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCerts")
            .field("names", &self.names)
            .field("not_after", &self.not_after())
            .finish_non_exhaustive()
    }
}

impl ServerCerts {
    /// Issues a first certificate for `names` by `clock`'s time, from the CA `cas` issues
    /// with now.
    pub fn new(
        cas: Arc<Authorities>,
        names: Vec<String>,
        clock: Arc<Clock>,
    ) -> Result<Self, PkiError> {
        let current = issue(&cas, &names, &clock)?;
        Ok(ServerCerts {
            cas,
            names,
            clock,
            current: RwLock::new(current),
        })
    }

    /// When the served certificate expires (seconds since 1970).
    pub fn not_after(&self) -> i64 {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .not_after
    }

    /// Whole days the served certificate has left by the relay's clock (negative: expired).
    pub fn days_left(&self) -> i64 {
        let now = self.clock.now_utc().unix_timestamp();
        (self.not_after() - now).div_euclid(86_400)
    }

    /// Replaces the certificate if fewer than [`SERVER_CERT_RENEW_DAYS`] remain by the
    /// relay's clock; `true` if it did.
    pub fn renew_if_due(&self) -> Result<bool, PkiError> {
        let now = self.clock.now_utc().unix_timestamp();
        if self.not_after() - now >= SERVER_CERT_RENEW_DAYS * 86_400 {
            return Ok(false);
        }
        let next = issue(&self.cas, &self.names, &self.clock)?;
        let not_after = next.not_after;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = next;
        tracing::info!(not_after, "server certificate renewed");
        Ok(true)
    }
}

impl ServerCerts {
    /// Re-issues the certificate if the CAs changed since it was made (a rotation or a
    /// retirement while serving); a failure is logged and the old one served.
    fn follow_cas(&self) {
        let generation = self.cas.generation();
        let stale = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .generation
            != generation;
        if !stale {
            return;
        }
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if current.generation == self.cas.generation() {
            return;
        }
        match issue(&self.cas, &self.names, &self.clock) {
            Ok(next) => {
                *current = next;
                tracing::info!("server certificate re-issued by the new CA");
            }
            Err(e) => {
                tracing::warn!(error = %e, "server certificate not re-issued after a CA change")
            }
        }
    }
}

impl ResolvesServerCert for ServerCerts {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.follow_cas();
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .key
                .clone(),
        )
    }
}

fn issue(cas: &Authorities, names: &[String], clock: &Clock) -> Result<Current, PkiError> {
    // The generation first: a change racing this issue makes the next handshake look again.
    let generation = cas.generation();
    let set = cas.current();
    let now = clock.now_utc();
    let (cert, key) = set.issuing.issue_server_cert_at(names, now)?;
    let key = Arc::new(pki::certified_chain(cert, set.chain_tail(), key)?);
    // The same arithmetic as `pki::validity_at`, to the second (X.509 keeps seconds).
    let not_after = (now + time::Duration::days(SERVER_CERT_DAYS)).unix_timestamp();
    Ok(Current {
        key,
        not_after,
        generation,
    })
}

/// Starts the thread that keeps `certs` fresh: it looks at once, then every
/// [`CHECK_EVERY`] and whenever the relay's clock is moved, and ends when `certs` is dropped
/// (the relay stopped serving). A failed renewal is logged and tried again at the next look;
/// the old certificate is served meanwhile.
pub fn spawn_renewal(certs: &Arc<ServerCerts>) {
    let weak: Weak<ServerCerts> = Arc::downgrade(certs);
    let clock = certs.clock.clone();
    let _ = std::thread::Builder::new()
        .name("kizuna-server-cert".into())
        .spawn(move || {
            loop {
                let generation = clock.generation();
                let Some(certs) = weak.upgrade() else {
                    return;
                };
                if let Err(e) = certs.renew_if_due() {
                    tracing::warn!(error = %e, days_left = certs.days_left(), "server certificate renewal failed; will retry");
                }
                drop(certs);
                // Wake each second to end with the relay; look again after an hour or a
                // moved clock.
                let started = std::time::Instant::now();
                while started.elapsed() < CHECK_EVERY {
                    if clock.wait_change(generation, Duration::from_secs(1)) != generation {
                        break;
                    }
                    if weak.strong_count() == 0 {
                        return;
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renews_only_when_fewer_than_thirty_days_remain() {
        let ca = Arc::new(pki::Ca::create("test").unwrap());
        let cas = Arc::new(Authorities::single(ca).unwrap());
        let clock = Arc::new(Clock::system());
        let certs = ServerCerts::new(cas, vec!["localhost".into()], clock.clone()).unwrap();
        let first = certs.not_after();
        // Whole days of a 90-day certificate made this second (89 once a second has passed).
        assert!((SERVER_CERT_DAYS - 1..=SERVER_CERT_DAYS).contains(&certs.days_left()));
        assert!(!certs.renew_if_due().unwrap());
        clock.set_offset_days(SERVER_CERT_DAYS - SERVER_CERT_RENEW_DAYS - 1);
        assert!(!certs.renew_if_due().unwrap());
        clock.set_offset_days(SERVER_CERT_DAYS - SERVER_CERT_RENEW_DAYS + 1);
        assert!(certs.renew_if_due().unwrap());
        assert!(certs.not_after() > first + 50 * 86_400);
        // Whole days of a 90-day certificate made this second (89 once a second has passed).
        assert!((SERVER_CERT_DAYS - 1..=SERVER_CERT_DAYS).contains(&certs.days_left()));
    }
}
