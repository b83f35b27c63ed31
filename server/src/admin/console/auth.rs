//! Administrator login to the console: two factors, always.
//!
//! - **First factor**: the administrator's client certificate (the connection presents an
//!   enrolled, unrevoked administrator device — checked exactly like the JSON API does,
//!   `Relay::authenticate`), **or** their console login name and password.
//! - **Second factor**: a TOTP code from their authenticator app (RFC 6238, [`super::totp`]);
//!   each code works once.
//!
//! Credentials live in the directory (`console:cred:<professional id>`, JSON with the PBKDF2
//! hash and the TOTP secret; `console:login:<name>` → professional id). They are set by
//! [`set_credentials`], which the JSON API (`PUT /v1/admin/console/credentials`, used by
//! `kizuna admin console-setup`) and the demo call.
//!
//! Brute force: every attempt counts against the source address (20 per 15 minutes) and
//! every failure against the account (5 per 15 minutes); over either limit even a right
//! answer is refused, and the page says only "login failed" whichever factor was wrong.
//! The account's count is reserved *before* the factors are checked ([`Throttle::reserve`])
//! so concurrent guesses cannot all slip in before the first failure is counted; unknown
//! login names get their own count, so the lock does not tell them apart from real ones.

use crate::admin::acts::{self as admin, Actor};
use crate::error::RelayError;
use crate::state::Relay;
use kizuna_contract::console::{ConsoleSetup, CredentialsRequest};
use kizuna_core::{ProfessionalId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{password, totp};

/// Attempts per source address per window.
pub const MAX_ATTEMPTS_PER_IP: u32 = 20;
/// Failures per account per window.
pub const MAX_FAILURES_PER_ACCOUNT: u32 = 5;
/// The window of both limits.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The issuer shown in authenticator apps.
pub const ISSUER: &str = "Kizuna";

/// What is stored per administrator.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Credentials {
    login: String,
    /// PBKDF2 hash (see `password`); absent: certificate + TOTP only.
    password: Option<String>,
    /// Base32 TOTP secret.
    totp_secret: String,
    /// The step of the last code accepted (a code works once).
    #[serde(default)]
    last_step: Option<u64>,
    updated_at: Timestamp,
}

fn cred_key(p: ProfessionalId) -> String {
    format!("console:cred:{p}")
}

fn login_key(login: &str) -> String {
    format!("console:login:{login}")
}

fn check_login(login: &str) -> Result<(), RelayError> {
    let ok = (3..=32).contains(&login.len())
        && login
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(RelayError::Invalid(
            "login: 3 to 32 of a-z, 0-9, '.', '_' and '-'".into(),
        ))
    }
}

fn load(relay: &Relay, p: ProfessionalId) -> Result<Option<Credentials>, RelayError> {
    match relay.directory().meta(&cred_key(p))? {
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|_| RelayError::Internal("console credentials unreadable".into())),
        None => Ok(None),
    }
}

fn store(relay: &Relay, p: ProfessionalId, c: &Credentials) -> Result<(), RelayError> {
    let bytes =
        serde_json::to_vec(c).map_err(|_| RelayError::Internal("credentials encode".into()))?;
    relay.directory().set_meta(&cred_key(p), &bytes)?;
    relay.directory().flush()?;
    Ok(())
}

/// Sets (or replaces) the acting administrator's console login, password and a fresh TOTP
/// secret. Audited as `admin.console.credentials`.
pub fn set_credentials(
    relay: &Relay,
    actor: &Actor,
    req: &CredentialsRequest,
) -> Result<ConsoleSetup, RelayError> {
    let me = &actor.professional;
    if !me.is_admin() {
        return Err(RelayError::Forbidden("only administrators use the console"));
    }
    check_login(&req.login)?;
    if let Some(pw) = &req.password {
        password::check_new(pw).map_err(RelayError::Invalid)?;
    }
    if let Some(owner) = relay.directory().meta(&login_key(&req.login))?
        && owner != me.id.as_bytes()
    {
        return Err(RelayError::Conflict(
            "login: another administrator uses this name".into(),
        ));
    }
    let hash = match &req.password {
        Some(pw) => {
            Some(password::hash(pw).map_err(|_| RelayError::Internal("no randomness".into()))?)
        }
        None => None,
    };
    let secret = totp::new_secret().map_err(|_| RelayError::Internal("no randomness".into()))?;
    let secret = totp::encode_secret(&secret);
    // Write-ahead: the record first, then the credentials.
    admin::act(
        relay,
        actor,
        "admin.console.credentials",
        None,
        Some(me.id.to_string()),
        || {
            let _spend = spend_lock();
            if let Some(old) = load(relay, me.id)?
                && old.login != req.login
            {
                relay.directory().set_meta(&login_key(&old.login), &[])?;
            }
            relay
                .directory()
                .set_meta(&login_key(&req.login), me.id.as_bytes())?;
            store(
                relay,
                me.id,
                &Credentials {
                    login: req.login.clone(),
                    password: hash,
                    totp_secret: secret.clone(),
                    last_step: None,
                    updated_at: Timestamp::now(),
                },
            )?;
            Ok(())
        },
    )?;
    Ok(ConsoleSetup {
        professional: me.id.0,
        login: req.login.clone(),
        otpauth_uri: totp::otpauth_uri(&secret, &req.login, ISSUER),
        totp_secret: secret,
    })
}

/// When an administrator's console credentials were last set (sessions opened before then
/// end: changing the password or TOTP secret signs every browser out).
pub fn credentials_changed_at(
    relay: &Relay,
    p: ProfessionalId,
) -> Result<Option<Timestamp>, RelayError> {
    Ok(load(relay, p)?.map(|c| c.updated_at))
}

/// Whether an administrator has console credentials (a TOTP secret) at all.
pub fn has_credentials(relay: &Relay, p: ProfessionalId) -> Result<bool, RelayError> {
    Ok(load(relay, p)?.is_some())
}

/// The administrator a login name belongs to.
pub fn lookup_login(relay: &Relay, login: &str) -> Result<Option<ProfessionalId>, RelayError> {
    let Some(b) = relay.directory().meta(&login_key(login))? else {
        return Ok(None);
    };
    Ok(uuid::Uuid::from_slice(&b).ok().map(ProfessionalId))
}

/// The outcome of [`check_factors`] (for the audit log: the page says only "login failed").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factors {
    /// Both factors right; the code is now spent.
    Ok,
    /// The administrator has no console credentials.
    NoCredentials,
    /// The password is wrong (or the account has none and one was given).
    WrongPassword,
    /// The code matches no step around now.
    WrongCode,
    /// The code is right but its step was already used.
    ReplayedCode,
}

impl Factors {
    /// The audit reason.
    pub fn reason(self) -> &'static str {
        match self {
            Factors::Ok => "ok",
            Factors::NoCredentials => "no-credentials",
            Factors::WrongPassword => "wrong-password",
            Factors::WrongCode => "wrong-code",
            Factors::ReplayedCode => "replayed-code",
        }
    }
}

/// Held while a TOTP code is checked and marked spent (and while credentials are replaced),
/// so two logins racing with the same code cannot both read "not used yet": one login per
/// code per time step per account, whatever the concurrency.
static SPEND: Mutex<()> = Mutex::new(());

fn spend_lock() -> std::sync::MutexGuard<'static, ()> {
    SPEND
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Checks the password (if `password` is given) and the TOTP code of administrator `p`,
/// and on success uses the code up. The slow password check runs outside any lock; the
/// code is checked against the last used step and marked used under one lock.
pub fn check_factors(
    relay: &Relay,
    p: ProfessionalId,
    password_given: Option<&str>,
    code: &str,
) -> Result<Factors, RelayError> {
    let Some(c) = load(relay, p)? else {
        return Ok(Factors::NoCredentials);
    };
    if let Some(pw) = password_given {
        let Some(hash) = &c.password else {
            return Ok(Factors::WrongPassword);
        };
        if !password::verify(pw, hash) {
            return Ok(Factors::WrongPassword);
        }
    }
    let _spend = spend_lock();
    // Read again under the lock: another login may have spent a code meanwhile, and the
    // credentials may have been replaced (then the password checked above is stale).
    let Some(mut now_c) = load(relay, p)? else {
        return Ok(Factors::NoCredentials);
    };
    if now_c.updated_at != c.updated_at {
        return Ok(Factors::WrongPassword);
    }
    let Some(secret) = totp::decode_secret(&now_c.totp_secret) else {
        return Ok(Factors::WrongCode);
    };
    let now = u64::try_from(Timestamp::now().0 / 1000).unwrap_or(0);
    let Some(step) = totp::verify(&secret, code, now, None) else {
        return Ok(Factors::WrongCode);
    };
    if now_c.last_step.is_some_and(|last| step <= last) {
        return Ok(Factors::ReplayedCode);
    }
    now_c.last_step = Some(step);
    store(relay, p, &now_c)?;
    Ok(Factors::Ok)
}

/// Counts in fixed windows, per key (a source address or an account).
#[derive(Debug, Default)]
pub struct Throttle {
    seen: Mutex<HashMap<String, (Instant, u32)>>,
}

impl Throttle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, u32)>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on `key`'s count in the current window, under the lock (old windows are
    /// dropped once the map grows large).
    fn with_count<T>(&self, key: &str, f: impl FnOnce(&mut u32) -> T) -> T {
        let now = Instant::now();
        let mut seen = self.lock();
        if seen.len() > 100_000 {
            seen.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let e = seen.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(e.0) >= WINDOW {
            *e = (now, 0);
        }
        f(&mut e.1)
    }

    /// Counts one for `key` and says whether it is still within `max`.
    pub fn hit(&self, key: &str, max: u32) -> bool {
        self.with_count(key, |n| {
            *n = n.saturating_add(1);
            *n <= max
        })
    }

    /// Reserves one of `max` attempts for `key` before the attempt is checked: under the
    /// lock, refuses once `max` are used (failures and checks still running), else counts
    /// one. A success gives its reservation back with [`Throttle::release`]; a failure keeps
    /// it. So at most `max` guesses are ever checked per window, however many arrive at once.
    pub fn reserve(&self, key: &str, max: u32) -> bool {
        self.with_count(key, |n| {
            if *n >= max {
                return false;
            }
            *n += 1;
            true
        })
    }

    /// Gives back a reservation of [`Throttle::reserve`] (the attempt succeeded).
    pub fn release(&self, key: &str) {
        if let Some(e) = self.lock().get_mut(key) {
            e.1 = e.1.saturating_sub(1);
        }
    }

    /// Whether `key` is over `max` now, without counting.
    pub fn over(&self, key: &str, max: u32) -> bool {
        let now = Instant::now();
        self.lock()
            .get(key)
            .is_some_and(|(start, n)| now.duration_since(*start) < WINDOW && *n >= max)
    }
}
