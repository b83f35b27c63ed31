//! The check a start makes before it creates or changes anything in the data directory: a
//! relay whose CA key, store key, audit log or administrator identity has gone missing must
//! not quietly make new ones (a new CA locks every phone out; a new store key reads nothing;
//! a new audit log hides what happened). Such a start is refused, naming each file and the
//! fix, and so is a directory or key file other users can read.
//!
//! A directory that does not exist, or holds none of the relay's files, is new: the start
//! initialises it as always (and makes it owner-only, mode 0700).

use std::fmt;
use std::path::{Path, PathBuf};

/// The files and folders that show a relay has run on a directory before.
const PRIOR_STATE: [&str; 10] = [
    "directory",
    "ca.crt",
    "ca.key",
    "store.key",
    "rooms",
    "audit",
    "blobs",
    "admin",
    "demo",
    "relay.json",
];

/// What a start expects of the data directory beyond the relay's own files.
#[derive(Clone, Debug, Default)]
pub struct Checks {
    /// Refuse a data directory, or key files, readable by group or others.
    pub permissions: bool,
    /// Where the administrator's identity must be (`DIR/admin` for `serve`, `DIR/demo` for
    /// the demo); `None` when the caller sees to it itself (the library's `prepare`).
    pub admin_dir: Option<PathBuf>,
    /// The operator asked for a new CA (`kizuna serve --new-ca`, the rotation procedure):
    /// `ca.crt` and `ca.key` must both have been moved aside, and the administrator's
    /// identity, made by the old CA, too.
    pub new_ca: bool,
    /// The operator asked for a new administrator identity (`--reissue-admin`, after a lost
    /// key): `admin/admin.*` may be missing.
    pub reissue_admin: bool,
    /// A missing CA pair on a used directory is not this check's business (the library's
    /// `prepare`, whose callers decided already); a half pair always is.
    pub allow_missing_ca_pair: bool,
}

/// What the data directory holds, when the start may go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// Nothing of a relay (or no directory at all): the start initialises it.
    New,
    /// A relay's data with everything the start needs.
    Existing,
}

/// One reason a start is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file or folder concerned.
    pub path: PathBuf,
    /// What is wrong and how to fix it, for the operator.
    pub message: String,
}

/// Why the start was refused: every problem found, each naming its file and the fix. Nothing
/// was created or changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The data directory.
    pub data: PathBuf,
    /// What is wrong, in the order found.
    pub problems: Vec<Problem>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refusing to start on {}; nothing was created or changed:",
            self.data.display()
        )?;
        for p in &self.problems {
            write!(f, "\n  - {}", p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Refusal {}

fn mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

/// Whether `path` can be opened for reading (a file) by this process.
fn readable(path: &Path) -> Result<(), String> {
    std::fs::File::open(path)
        .map(|_| ())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        })
}

/// Checks `data` as `checks` asks, touching nothing. `Ok` says whether the directory is new;
/// `Err` lists every problem found.
pub fn check(data: &Path, checks: &Checks) -> Result<Found, Refusal> {
    let mut problems = Vec::new();
    let mut refuse = |path: PathBuf, message: String| problems.push(Problem { path, message });
    let d = data.display();
    if !data.exists() {
        return Ok(Found::New);
    }
    if !data.is_dir() {
        refuse(
            data.to_path_buf(),
            format!("{d} is not a directory; give --data a directory"),
        );
        return Err(Refusal {
            data: data.to_path_buf(),
            problems,
        });
    }
    let used = PRIOR_STATE.iter().any(|n| data.join(n).exists());
    if !used {
        // A new directory, even one made by hand with the usual mode 755, is the start's to
        // initialise: `kizuna serve` makes it 0700 before it writes a key there.
        return Ok(Found::New);
    }
    if checks.permissions
        && let Some(m) = mode(data)
        && m & 0o077 != 0
    {
        refuse(
            data.to_path_buf(),
            format!(
                "{d} can be opened by group or others (mode {m:o}); it holds keys and patient \
                 data. Fix: chmod 700 {d}"
            ),
        );
    }
    let restore = "restore it from the backup (docs/operations.md, \"Back up and restore\")";
    let (crt, key) = (data.join("ca.crt"), data.join("ca.key"));
    match (crt.exists(), key.exists()) {
        (true, true) if checks.new_ca => refuse(
            crt.clone(),
            format!(
                "--new-ca asks for a new CA, but {} and {} are still there; move both aside \
                 first (docs/operations.md, \"Rotate the CA\")",
                crt.display(),
                key.display()
            ),
        ),
        (true, true) => {}
        (true, false) => refuse(
            key.clone(),
            format!(
                "{} is missing (ca.crt is there): {restore}. Without it no phone or \
                 administrator can connect. For a deliberate new CA, move ca.crt aside too and \
                 follow \"Rotate the CA\" in docs/operations.md (kizuna serve --new-ca)",
                key.display()
            ),
        ),
        (false, true) => refuse(
            crt.clone(),
            format!("{} is missing (ca.key is there): {restore}", crt.display()),
        ),
        (false, false) if checks.new_ca || checks.allow_missing_ca_pair => {}
        (false, false) => refuse(
            key.clone(),
            format!(
                "{} and {} are missing although {d} holds a relay's data: {restore}. For a \
                 deliberate new CA (every phone enrolls again) follow \"Rotate the CA\" in \
                 docs/operations.md: start once with kizuna serve --new-ca",
                crt.display(),
                key.display()
            ),
        ),
    }
    // A CA rotation's overlap (`kizuna admin ca rotate`): its certificate is written last, so
    // with it the key and the cross-signed certificate must be there.
    let next_crt = data.join("ca-next.crt");
    if next_crt.exists() {
        for f in ["ca-next.key", "ca-next.cross.crt"] {
            let f = data.join(f);
            if !f.exists() {
                refuse(
                    f.clone(),
                    format!(
                        "{} is missing although {} is there (a CA rotation's overlap): {restore}",
                        f.display(),
                        next_crt.display()
                    ),
                );
            }
        }
    }
    let store_key = data.join("store.key");
    if !store_key.exists() {
        refuse(
            store_key.clone(),
            format!(
                "{} is missing: without it the room documents, attachments and the \
                 directory cannot be read, and a new key would read none of them. Put back \
                 the copy kept apart from the backups (a backup does not hold it; \
                 docs/operations.md, \"Back up and restore\")",
                store_key.display()
            ),
        );
    }
    let audit = data.join("audit");
    for f in crate::audit::AuditLog::files_needed(&audit) {
        if !f.exists() {
            refuse(
                f.clone(),
                format!(
                    "{} is missing: the relay does not start without its audit log (a new, \
                     empty one would hide what happened). Restore the folder {} from the backup",
                    f.display(),
                    audit.display()
                ),
            );
        }
    }
    let mut keys = vec![key.clone(), store_key.clone(), data.join("ca-next.key")];
    if let Some(admin) = &checks.admin_dir {
        let (acrt, akey) = (admin.join("admin.crt"), admin.join("admin.key"));
        let present = acrt.exists() && akey.exists();
        if checks.new_ca && (acrt.exists() || akey.exists()) {
            refuse(
                akey.clone(),
                format!(
                    "--new-ca: the administrator's identity in {} was made by the old CA; move \
                     admin.crt and admin.key aside too (docs/operations.md, \"Rotate the CA\")",
                    admin.display()
                ),
            );
        } else if !present && !checks.new_ca && !checks.reissue_admin {
            let missing = if acrt.exists() { &akey } else { &acrt };
            refuse(
                missing.clone(),
                format!(
                    "{} is missing: {restore}. If the administrator's key is lost, start once \
                     with --reissue-admin to issue a new administrator identity, then revoke \
                     the old one (kizuna admin device list / device revoke)",
                    missing.display()
                ),
            );
        }
        keys.push(akey);
    }
    for k in keys.iter().filter(|k| k.exists()) {
        if let Err(why) = readable(k) {
            refuse(
                k.clone(),
                format!(
                    "{} cannot be read ({why}): run kizuna as the user that owns the data \
                     directory, or {restore}",
                    k.display()
                ),
            );
        } else if checks.permissions
            && let Some(m) = mode(k)
            && m & 0o077 != 0
        {
            refuse(
                k.clone(),
                format!(
                    "{} can be read by group or others (mode {m:o}). Fix: chmod 600 {}",
                    k.display(),
                    k.display()
                ),
            );
        }
    }
    for f in crate::audit::AuditLog::files_needed(&audit) {
        if f.is_file()
            && let Err(why) = readable(&f)
        {
            refuse(
                f.clone(),
                format!("{} cannot be read ({why}): {restore}", f.display()),
            );
        }
    }
    if problems.is_empty() {
        Ok(Found::Existing)
    } else {
        Err(Refusal {
            data: data.to_path_buf(),
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn used_dir() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
        for f in ["ca.crt", "ca.key", "store.key"] {
            std::fs::write(d.join(f), "x").unwrap();
            std::fs::set_permissions(d.join(f), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::create_dir(d.join("directory")).unwrap();
        std::fs::create_dir(d.join("audit")).unwrap();
        std::fs::write(d.join("audit/log.jsonl"), "").unwrap();
        std::fs::write(d.join("audit/head"), "").unwrap();
        std::fs::create_dir(d.join("admin")).unwrap();
        std::fs::write(d.join("admin/admin.crt"), "x").unwrap();
        std::fs::write(d.join("admin/admin.key"), "x").unwrap();
        std::fs::set_permissions(
            d.join("admin/admin.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        t
    }

    fn serve(d: &Path) -> Checks {
        Checks {
            permissions: true,
            admin_dir: Some(d.join("admin")),
            ..Checks::default()
        }
    }

    #[test]
    fn a_new_or_missing_directory_is_new() {
        let t = tempfile::tempdir().unwrap();
        // Even with the mode of a directory made by hand: the start makes it 0700.
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(check(t.path(), &serve(t.path())), Ok(Found::New));
        let gone = t.path().join("not-yet");
        assert_eq!(check(&gone, &serve(&gone)), Ok(Found::New));
    }

    #[test]
    fn a_complete_directory_passes() {
        let t = used_dir();
        assert_eq!(check(t.path(), &serve(t.path())), Ok(Found::Existing));
    }

    #[test]
    fn each_missing_file_is_named() {
        for f in [
            "ca.key",
            "ca.crt",
            "store.key",
            "audit/log.jsonl",
            "audit/head",
            "admin/admin.key",
        ] {
            let t = used_dir();
            std::fs::remove_file(t.path().join(f)).unwrap();
            let r = check(t.path(), &serve(t.path())).unwrap_err();
            assert_eq!(r.problems.len(), 1, "{f}: {r}");
            assert_eq!(r.problems[0].path, t.path().join(f), "{r}");
            assert!(r.to_string().contains(f), "{r}");
        }
    }

    #[test]
    fn the_audit_segments_are_known() {
        let t = used_dir();
        let audit = t.path().join("audit");
        std::fs::write(audit.join("log-000001.jsonl"), "").unwrap();
        assert_eq!(check(t.path(), &serve(t.path())), Ok(Found::Existing));
        // A rotation a crash cut short (the live file closed, the next one not yet in its
        // place) is finished by the start, not refused.
        std::fs::rename(audit.join("log.jsonl"), audit.join("log-000002.jsonl")).unwrap();
        std::fs::write(audit.join("log.jsonl.next"), "").unwrap();
        assert_eq!(check(t.path(), &serve(t.path())), Ok(Found::Existing));
        // Without the next file the live one is lost: refused, named.
        std::fs::remove_file(audit.join("log.jsonl.next")).unwrap();
        let r = check(t.path(), &serve(t.path())).unwrap_err();
        assert_eq!(r.problems.len(), 1, "{r}");
        assert_eq!(r.problems[0].path, audit.join("log.jsonl"), "{r}");
    }

    #[test]
    fn new_ca_needs_the_old_pair_and_admin_identity_moved_aside() {
        let t = used_dir();
        let mut c = serve(t.path());
        c.new_ca = true;
        let r = check(t.path(), &c).unwrap_err();
        assert_eq!(r.problems.len(), 2, "{r}");
        for f in ["ca.crt", "ca.key", "admin/admin.crt", "admin/admin.key"] {
            std::fs::remove_file(t.path().join(f)).unwrap();
        }
        assert_eq!(check(t.path(), &c), Ok(Found::Existing));
        // Without the flag the same directory is refused.
        let r = check(t.path(), &serve(t.path())).unwrap_err();
        assert!(r.to_string().contains("--new-ca"), "{r}");
    }

    #[test]
    fn a_rotation_without_its_new_key_is_refused() {
        let t = used_dir();
        std::fs::write(t.path().join("ca-next.crt"), "x").unwrap();
        std::fs::write(t.path().join("ca-next.cross.crt"), "x").unwrap();
        let r = check(t.path(), &serve(t.path())).unwrap_err();
        assert_eq!(r.problems.len(), 1, "{r}");
        assert_eq!(r.problems[0].path, t.path().join("ca-next.key"));
    }

    #[test]
    fn open_permissions_are_refused_with_the_chmod() {
        let t = used_dir();
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(
            t.path().join("store.key"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        let r = check(t.path(), &serve(t.path())).unwrap_err();
        let s = r.to_string();
        assert!(
            s.contains(&format!("chmod 700 {}", t.path().display())),
            "{s}"
        );
        assert!(
            s.contains(&format!(
                "chmod 600 {}",
                t.path().join("store.key").display()
            )),
            "{s}"
        );
        // The library's own check leaves permissions to the command line.
        let lib = Checks {
            allow_missing_ca_pair: true,
            ..Checks::default()
        };
        assert_eq!(check(t.path(), &lib), Ok(Found::Existing));
    }
}
