//! `kizuna serve`'s settings: each from its flag, else its environment variable (clap reads
//! both), else the TOML file named by `--config` / `KIZUNA_CONFIG`, else its default. A key
//! the file should not have is an error naming it, so a typo never falls back to a default
//! silently. `docs/kizuna.example.toml` is the file documented; a test parses it.
//!
//! The one-time acts (`--new-ca`, `--reissue-admin`) are flags only: a file that asked for a
//! new CA would do it again at every start.

use super::ServeArgs;
use super::failure::Usage;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The listen address when neither flag, environment nor file names one.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8443";

/// The config file: every `kizuna serve` setting, all optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeFile {
    /// The data directory; a relative path is taken from the file's own folder.
    pub data: Option<PathBuf>,
    /// Address to listen on.
    pub listen: Option<SocketAddr>,
    /// Host name devices use to reach the relay.
    pub hostname: Option<String>,
    /// Log format: "text" or "json".
    pub log_format: Option<super::LogFormat>,
    /// Loopback address of the plain-HTTP `/metrics` listener.
    pub metrics_listen: Option<SocketAddr>,
    /// Free space (MiB) kept on the data directory's filesystem.
    pub min_free_mb: Option<u64>,
    /// Size (MiB, fractions allowed) at which the audit log's live file becomes a segment.
    pub audit_rotate_mb: Option<Mebibytes>,
}

/// A size given in MiB, fractions allowed (`64`, `0.5`), kept in bytes: the audit log's
/// rotation size, which a test sets to a few KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mebibytes(pub u64);

impl Mebibytes {
    fn from_mib(mib: f64) -> Result<Mebibytes, String> {
        if !mib.is_finite() || !(0.0..=1e9).contains(&mib) {
            return Err(format!("{mib} is not a size in MiB (0 or more)"));
        }
        // In range after the check above: at most 1e9 MiB, about 2^50 bytes.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(Mebibytes((mib * 1024.0 * 1024.0).round() as u64))
    }
}

impl std::str::FromStr for Mebibytes {
    type Err = String;

    fn from_str(s: &str) -> Result<Mebibytes, String> {
        let mib: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a number of MiB"))?;
        Mebibytes::from_mib(mib)
    }
}

impl<'de> Deserialize<'de> for Mebibytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Mebibytes, D::Error> {
        // TOML gives 64 as an integer and 0.5 as a float; f64 takes both.
        let mib = f64::deserialize(d)?;
        Mebibytes::from_mib(mib).map_err(serde::de::Error::custom)
    }
}

impl ServeFile {
    /// Parses a config file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<ServeFile, Usage> {
        toml::from_str(text).map_err(|e| {
            Usage(format!(
                "config file {}: {}",
                origin.display(),
                e.to_string().trim_end()
            ))
        })
    }

    /// Reads and parses the file at `path`, making a relative `data` relative to its folder.
    pub fn load(path: &Path) -> Result<ServeFile, Usage> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Usage(format!("cannot read config file {}: {e}", path.display())))?;
        let mut file = ServeFile::parse(&text, path)?;
        if let Some(d) = &file.data
            && d.is_relative()
        {
            let base = path.parent().unwrap_or_else(|| Path::new("."));
            file.data = Some(base.join(d));
        }
        Ok(file)
    }
}

/// The settings `kizuna serve` runs with, once every source was consulted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeSettings {
    /// The data directory.
    pub data: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Host name devices use, if any.
    pub hostname: Option<String>,
    /// Log format.
    pub log_format: super::LogFormat,
    /// Loopback address of the `/metrics` listener, if any.
    pub metrics_listen: Option<SocketAddr>,
    /// Free space (MiB) kept on the data directory's filesystem.
    pub min_free_mb: u64,
    /// Size at which the audit log's live file becomes a closed segment (0: never).
    pub audit_rotate: Mebibytes,
}

/// Merges flag-or-environment values (`data` from the global `--data`) with the config
/// file's and the defaults.
pub(super) fn resolve(data: Option<PathBuf>, args: &ServeArgs) -> Result<ServeSettings, Usage> {
    let file = match &args.config {
        Some(path) => ServeFile::load(path)?,
        None => ServeFile::default(),
    };
    let data = data.or(file.data).ok_or_else(|| {
        Usage("kizuna serve needs a data directory: --data DIR, KIZUNA_DATA, or data = \"DIR\" in the --config file".into())
    })?;
    let listen = match args.listen.or(file.listen) {
        Some(l) => l,
        None => DEFAULT_LISTEN
            .parse()
            .map_err(|_| Usage("the default listen address does not parse".into()))?,
    };
    Ok(ServeSettings {
        data,
        listen,
        hostname: args.hostname.clone().or(file.hostname),
        log_format: args
            .log_format
            .or(file.log_format)
            .unwrap_or(super::LogFormat::Text),
        metrics_listen: args.metrics_listen.or(file.metrics_listen),
        min_free_mb: args
            .min_free_mb
            .or(file.min_free_mb)
            .unwrap_or(crate::watch::disk::DEFAULT_MIN_FREE_BYTES / (1024 * 1024)),
        audit_rotate: args
            .audit_rotate_mb
            .or(file.audit_rotate_mb)
            .unwrap_or(Mebibytes(crate::audit::DEFAULT_ROTATE_BYTES)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let text = include_str!("../../../docs/kizuna.example.toml");
        let f = ServeFile::parse(text, Path::new("docs/kizuna.example.toml")).unwrap();
        assert_eq!(f.data, Some(PathBuf::from("/var/lib/kizuna")));
        assert_eq!(f.listen, Some("0.0.0.0:8443".parse().unwrap()));
        assert_eq!(f.hostname.as_deref(), Some("kizuna.city.example.jp"));
        assert_eq!(f.log_format, Some(crate::cli::LogFormat::Json));
        assert_eq!(f.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(f.min_free_mb, Some(256));
        assert_eq!(f.audit_rotate_mb, Some(Mebibytes(64 * 1024 * 1024)));
    }

    #[test]
    fn the_rotation_size_takes_fractions_and_refuses_nonsense() {
        let f = ServeFile::parse("audit_rotate_mb = 0.5\n", Path::new("k.toml")).unwrap();
        assert_eq!(f.audit_rotate_mb, Some(Mebibytes(512 * 1024)));
        assert_eq!("0".parse::<Mebibytes>(), Ok(Mebibytes(0)));
        assert_eq!("0.004".parse::<Mebibytes>(), Ok(Mebibytes(4194)));
        assert!("-1".parse::<Mebibytes>().is_err());
        assert!("lots".parse::<Mebibytes>().is_err());
        let e = ServeFile::parse("audit_rotate_mb = -3\n", Path::new("k.toml")).unwrap_err();
        assert!(e.0.contains("MiB"), "{e}");
    }

    #[test]
    fn an_unknown_key_is_named() {
        let e = ServeFile::parse("lisen = \"0.0.0.0:1\"\n", Path::new("k.toml")).unwrap_err();
        assert!(e.0.contains("lisen") && e.0.contains("k.toml"), "{e}");
    }

    #[test]
    fn flags_and_environment_beat_the_file_which_beats_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        std::fs::write(
            &path,
            "data = \"state\"\nlisten = \"127.0.0.1:9000\"\nhostname = \"file.example\"\n",
        )
        .unwrap();
        let args = |listen: Option<&str>, hostname: Option<&str>| ServeArgs {
            config: Some(path.clone()),
            listen: listen.map(|l| l.parse().unwrap()),
            hostname: hostname.map(str::to_string),
            new_ca: false,
            reissue_admin: false,
            log_format: None,
            metrics_listen: None,
            min_free_mb: None,
            audit_rotate_mb: None,
        };
        let s = resolve(None, &args(None, None)).unwrap();
        assert_eq!(s.data, dir.path().join("state"));
        assert_eq!(s.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(s.hostname.as_deref(), Some("file.example"));
        let s = resolve(
            Some("/elsewhere".into()),
            &args(Some("127.0.0.1:9001"), Some("flag.example")),
        )
        .unwrap();
        assert_eq!(s.data, PathBuf::from("/elsewhere"));
        assert_eq!(s.listen, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(s.hostname.as_deref(), Some("flag.example"));
        let bare = ServeArgs {
            config: None,
            ..args(None, None)
        };
        let s = resolve(Some("/d".into()), &bare).unwrap();
        assert_eq!(s.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(s.hostname, None);
        assert_eq!(
            s.audit_rotate,
            Mebibytes(crate::audit::DEFAULT_ROTATE_BYTES)
        );
        assert!(resolve(None, &bare).is_err());
    }
}
