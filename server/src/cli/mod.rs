//! The `kizuna` command line: the clap tree and its dispatch ([`main`]); `serve` and `demo`
//! run the relay and print what to do next ([`serve`], [`demo`]), `serve` with its settings
//! from flags, environment and a TOML file ([`config`]); `admin …` drives a running relay's
//! admin API and prints the answers (`admin`), through the HTTPS client in [`client`] that
//! the tests use too. How a failure ends — exit status, and with `--json` a JSON line on
//! stderr — is in [`failure`].

mod admin;
pub mod client;
pub mod config;
pub mod demo;
pub mod failure;
pub mod serve;

use clap::{Args, Parser, Subcommand, ValueEnum};
use failure::{Failure, Usage};
use kizuna_contract::notices::CityRoom;
use kizuna_core::Timestamp;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// The exit statuses, shown by `kizuna --help` (and in docs/operations.md).
const EXIT_STATUSES: &str = "Exit status: 0 done; 1 the act failed (the relay's error, a file \
that cannot be read, a broken audit chain); 2 usage (a wrong flag, value or config file); \
3 the relay cannot be reached; 4 the relay refused the request (not found, invalid, \
conflict, forbidden); 5 the relay refused to start on its data directory (a missing key or \
audit log, or permissions too open).";

#[derive(Parser, Debug)]
#[command(
    name = "kizuna",
    version,
    about = "Kizuna relay: mTLS identity, enrollment, directory and admin CLI",
    after_help = EXIT_STATUSES
)]
struct Cli {
    /// The relay's data directory (also KIZUNA_DATA); before or after the subcommand.
    /// `demo` uses ./kizuna-demo without it.
    #[arg(long, global = true, env = "KIZUNA_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    /// Print JSON for scripts: answers on stdout, and errors on stderr as
    /// {"error": KIND, "message": TEXT}.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Start a relay with a demo city (created on first start, reused afterwards).
    Demo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
    },
    /// Run the relay (creates the CA and the administrator's identity on first start).
    Serve(ServeArgs),
    /// Manage the directory of a running relay as its administrator.
    Admin(AdminArgs),
    /// Print the current one-time code of a TOTP secret (for people without an
    /// authenticator app, e.g. trying the demo's console).
    Totp {
        /// The base32 secret.
        secret: String,
    },
}

/// `kizuna serve`'s flags. Each setting comes from its flag, else its environment variable,
/// else the `--config` file, else its default ([`config::resolve`]).
#[derive(Args, Debug)]
struct ServeArgs {
    /// A TOML file with the settings below (keys `data`, `listen`, `hostname`).
    #[arg(long, env = "KIZUNA_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 0.0.0.0:8443].
    #[arg(long, env = "KIZUNA_LISTEN")]
    listen: Option<SocketAddr>,
    /// Host name devices use to reach the relay (added to the server certificate).
    #[arg(long, env = "KIZUNA_HOSTNAME")]
    hostname: Option<String>,
    /// Make a new CA on a directory whose ca.crt, ca.key and admin/admin.* were moved aside
    /// (the CA rotation procedure; every phone enrolls again). Command line only.
    #[arg(long)]
    new_ca: bool,
    /// Issue a new administrator identity when admin/admin.* is missing (a lost key).
    /// Command line only.
    #[arg(long)]
    reissue_admin: bool,
    /// Log format on stderr: `text` for people, `json` (one object per line) for log
    /// shippers [default: text].
    #[arg(long, value_enum, env = "KIZUNA_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    /// Serve `/metrics` (Prometheus text format), `/readyz` and `/healthz` over plain HTTP on
    /// this loopback address (e.g. 127.0.0.1:9464); not served when absent.
    #[arg(long, env = "KIZUNA_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Free space (MiB) kept on the data directory's filesystem: below it the relay refuses
    /// acts and writing syncs (`storage-full`) and `/readyz` fails [default: 256].
    #[arg(long, env = "KIZUNA_MIN_FREE_MB")]
    min_free_mb: Option<u64>,
    /// Close the audit log's live file as a segment (audit/log-000001.jsonl, …) when it
    /// holds this many MiB; fractions allowed, 0 never rotates [default: 64].
    #[arg(long, env = "KIZUNA_AUDIT_ROTATE_MB", value_name = "MIB")]
    audit_rotate_mb: Option<config::Mebibytes>,
}

/// The format of the relay's log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Args, Debug)]
struct AdminArgs {
    /// Relay URL, if not the one in DIR/relay.json.
    #[arg(long)]
    relay: Option<String>,
    #[command(subcommand)]
    cmd: AdminCmd,
}

#[derive(Subcommand, Debug)]
enum AdminCmd {
    /// Register, list or remove professionals.
    #[command(subcommand)]
    Professional(ProfessionalCmd),
    /// Make a one-time enrollment code (and its QR code) for a professional's new device.
    EnrollCode {
        /// The professional's id.
        professional_id: String,
        /// Hours until the code expires (1–168).
        #[arg(long)]
        valid_hours: Option<u32>,
    },
    /// Create rooms and manage members.
    #[command(subcommand)]
    Room(RoomCmd),
    /// List or revoke devices.
    #[command(subcommand)]
    Device(DeviceCmd),
    /// Check or export the audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Take a consistent backup of the running relay into FILE (keys and patient data in
    /// the clear: encrypt it before it leaves the host).
    Backup {
        /// Where to write the backup (must not exist yet).
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup into the data directory, with the relay stopped. Nothing is deleted:
    /// what the directory held is moved to DIR/before-restore-<time>/. Revocations and other
    /// directory changes made after the backup are kept; phones bring back their newer work.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// Restore a backup older than the ledger of stored changes still covers (older than
        /// 180 days and the newest backup before them): what was acknowledged between it and
        /// the ledger's start comes back only as far as the write rules accept it.
        #[arg(long)]
        older_than_ledger: bool,
    },
    /// Rotate the relay's CA with an overlap period: phones move to the new CA as they sync,
    /// without enrolling again (docs/operations.md, "Rotate the CA").
    #[command(subcommand)]
    Ca(CaCmd),
    /// Renew this administrator's own certificate now (new key, same device). Every other
    /// admin command does it by itself when fewer than 30 days remain or during a CA
    /// rotation.
    Renew,
    /// Post or list city notices and disaster/infection alerts.
    #[command(subcommand)]
    Notice(NoticeCmd),
    /// Import care-plan files into a patient room.
    #[command(subcommand)]
    Careplan(CareplanCmd),
    /// Set your console login and password and get a new TOTP secret (the browser console
    /// at https://HOST:PORT/console/ asks for both factors).
    ConsoleSetup {
        /// Login name for the console.
        #[arg(long, default_value = "admin")]
        login: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        /// No password: log in with this administrator certificate plus the TOTP code only.
        #[arg(long, conflicts_with = "password_stdin")]
        no_password: bool,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum CityRoomArg {
    Notices,
    Alerts,
}

impl CityRoomArg {
    fn room(self) -> CityRoom {
        match self {
            CityRoomArg::Notices => CityRoom::Notices,
            CityRoomArg::Alerts => CityRoom::Alerts,
        }
    }
}

#[derive(Subcommand, Debug)]
enum CaCmd {
    /// Show the CAs (issuing, retiring, retired) and the devices still on a retiring CA.
    Status,
    /// Make a new CA and start the overlap period: both CAs trusted, the new one issuing.
    Rotate,
    /// End the overlap period: the old CA's certificates are refused from now on. Refused
    /// while devices are still on it, unless --force.
    RetireOld {
        /// Retire although devices are still on the old CA (they must enroll again).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
enum NoticeCmd {
    /// Post a notice (to every professional) or an alert (to care providers).
    Post {
        /// Where: notices or alerts.
        #[arg(long, value_enum)]
        room: CityRoomArg,
        /// Headline.
        #[arg(long)]
        title: String,
        /// Text.
        #[arg(long)]
        body: String,
        /// 1 to 3 (☆ to ☆☆☆).
        #[arg(long, default_value_t = 2)]
        importance: u8,
        /// Hours until it shows as expired.
        #[arg(long)]
        expires_hours: Option<u32>,
    },
    /// List notices and alerts with how many have read each.
    List {
        /// Only notices or only alerts.
        #[arg(long, value_enum)]
        room: Option<CityRoomArg>,
    },
}

#[derive(Subcommand, Debug)]
enum CareplanCmd {
    /// Import the files (UPPLAN_…CSV, UP1KYO_…, UP2KYO_…, UPJSK_…, UPHOSOKU_…) as one change.
    Import {
        /// Room id.
        room_id: String,
        /// The CSV files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCmd {
    /// Check the hash chain across every file of the log: prints "intact" or the first
    /// broken record and the file it is in (exit status 1).
    Verify,
    /// Close the live file (audit/log.jsonl) as the next segment now, e.g. before archiving
    /// the segments (docs/operations.md).
    Rotate,
    /// Print records as JSON lines, oldest first, at most --limit of them. When it stops
    /// at the limit it says so on stderr, with the --after that continues.
    Export {
        /// Only this room (or restricted document).
        #[arg(long)]
        room: Option<String>,
        /// Only this professional.
        #[arg(long)]
        professional: Option<String>,
        /// Only records at or after this time (RFC 3339, or milliseconds since 1970).
        #[arg(long)]
        since: Option<String>,
        /// Only records before this time.
        #[arg(long)]
        until: Option<String>,
        /// Only records after this position (the `seq` of the last record of an export
        /// that stopped at its limit).
        #[arg(long, value_name = "SEQ")]
        after: Option<u64>,
        /// Records at most (1 to 999,999).
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..1_000_000))]
        limit: u64,
    },
}

#[derive(Subcommand, Debug)]
enum ProfessionalCmd {
    /// Register a professional.
    Add {
        /// Full name, e.g. "佐藤 美咲".
        #[arg(long)]
        name: String,
        /// Name in kana.
        #[arg(long)]
        kana: String,
        /// Profession: a key (nurse, care_manager, doctor, …) or the Japanese name
        /// (訪問看護師, ケアマネジャー or 介護支援専門員, 医師, …).
        #[arg(long)]
        profession: String,
        /// Organisation (事業所) name.
        #[arg(long)]
        org: String,
        /// The organisation's 10-digit office number.
        #[arg(long)]
        office_number: Option<String>,
    },
    /// List registered professionals.
    List,
    /// Remove a professional: leaves all rooms, devices revoked and told to wipe.
    Remove {
        /// The professional's id.
        id: String,
    },
    /// Change a professional's name, kana, profession or organisation.
    Edit {
        /// The professional's id.
        id: String,
        /// New full name.
        #[arg(long)]
        name: Option<String>,
        /// New kana.
        #[arg(long)]
        kana: Option<String>,
        /// New profession.
        #[arg(long)]
        profession: Option<String>,
        /// New organisation name.
        #[arg(long)]
        org: Option<String>,
        /// New 10-digit office number ("" to clear).
        #[arg(long)]
        office_number: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum KindArg {
    Patient,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RoleArg {
    Writer,
    Reader,
}

#[derive(Subcommand, Debug)]
enum RoomCmd {
    /// Create a patient room with its consent record.
    Create {
        /// Room kind (only patient rooms are created by hand).
        #[arg(long, value_enum, default_value = "patient")]
        kind: KindArg,
        /// The patient's name.
        #[arg(long)]
        patient_name: String,
        /// Who gave consent (the patient or a family member).
        #[arg(long)]
        consent_by: String,
        /// Date consent was given, YYYY-MM-DD.
        #[arg(long)]
        consent_date: String,
        /// Relation of the consenting person to the patient.
        #[arg(long, default_value = "本人")]
        consent_relation: String,
        /// Who obtained consent (defaults to the administrator).
        #[arg(long)]
        consent_obtained_by: Option<String>,
    },
    /// List rooms with their members.
    List,
    /// Invite a professional into a room.
    Invite {
        /// Room id.
        room_id: String,
        /// Professional id.
        professional_id: String,
        /// Role in the room.
        #[arg(long, value_enum, default_value = "writer")]
        role: RoleArg,
    },
    /// Remove a professional from a room.
    Remove {
        /// Room id.
        room_id: String,
        /// Professional id.
        professional_id: String,
    },
    /// Archive a patient room (no device syncs it any more), or restore it.
    Archive {
        /// Room id.
        room_id: String,
        /// Restore instead of archiving.
        #[arg(long)]
        restore: bool,
    },
    /// Attach the scanned consent form (a PDF, JPEG or PNG file) to a patient room.
    ConsentForm {
        /// Room id.
        room_id: String,
        /// The scan.
        file: PathBuf,
    },
    /// A patient room's activity: reports this week, unread must-reads (counts only).
    Activity {
        /// Room id.
        room_id: String,
    },
}

#[derive(Subcommand, Debug)]
enum DeviceCmd {
    /// List devices.
    List,
    /// Revoke a device: refused from its next request on.
    Revoke {
        /// Device id.
        device_id: String,
        /// Also tell the device to erase its local data.
        #[arg(long)]
        wipe: bool,
    },
}

fn init_tracing(default: &str) {
    init_tracing_as(default, LogFormat::Text);
}

fn init_tracing_as(default: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KIZUNA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => fmt.json().with_current_span(true).init(),
    }
}
/// Runs the `kizuna` command line: parses it, starts the runtime and dispatches to the
/// subcommand. The binary's `main` is only this call, so the whole CLI lives here. Failures
/// end with the exit status of their kind ([`Failure`]); with `--json` they are a JSON line
/// on stderr.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return failure::clap_error(e),
    };
    let json = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => Failure::from(e).report(json),
    }
}

fn run(cli: Cli) -> Result<(), crate::startup::StartError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Panic messages can quote patient data: log where a panic happened, not what it said.
    crate::http::install_panic_hook();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    match cli.cmd {
        Cmd::Demo { listen } => {
            let data = cli.data.unwrap_or_else(|| PathBuf::from("kizuna-demo"));
            // A directory `kizuna serve` made keeps its administrator in admin/.
            let admin_dir = if data.join("admin").exists() {
                data.join("admin")
            } else {
                data.join("demo")
            };
            let checks = crate::startup::preflight::Checks {
                permissions: true,
                admin_dir: Some(admin_dir),
                ..Default::default()
            };
            init_tracing("info");
            rt.block_on(serve::run_relay(
                data,
                listen,
                None,
                true,
                serve::Watch::default(),
                checks,
            ))
        }
        Cmd::Serve(args) => {
            let s = config::resolve(cli.data, &args)?;
            let checks = crate::startup::preflight::Checks {
                permissions: true,
                admin_dir: Some(s.data.join("admin")),
                new_ca: args.new_ca,
                reissue_admin: args.reissue_admin,
                ..Default::default()
            };
            init_tracing_as("info", s.log_format);
            let w = serve::Watch {
                metrics_listen: s.metrics_listen,
                min_free_bytes: s.min_free_mb.saturating_mul(1024 * 1024),
                audit_rotate_bytes: s.audit_rotate.0,
            };
            rt.block_on(serve::run_relay(
                s.data, s.listen, s.hostname, false, w, checks,
            ))
        }
        Cmd::Admin(args) => {
            let data = cli
                .data
                .ok_or_else(|| Usage("kizuna admin needs --data DIR (or KIZUNA_DATA)".into()))?;
            init_tracing("warn");
            rt.block_on(admin::run_admin(data, cli.json, args))
        }
        Cmd::Totp { secret } => match crate::admin::console::totp::decode_secret(&secret) {
            Some(s) => {
                let now = u64::try_from(Timestamp::now().0 / 1000).unwrap_or(0);
                println!("{}", crate::admin::console::totp::code_at(&s, now));
                Ok(())
            }
            None => Err(Usage("the secret is not base32".into()).into()),
        },
    }
}
