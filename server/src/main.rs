//! The `kizuna` relay binary: `demo`, `serve` and `admin …`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use kizuna_core::model::Consent;
use kizuna_core::{
    Date, DeviceId, Organisation, Profession, ProfessionalId, Role, RoomId, RoomKind, Timestamp,
};
use kizuna_server::admin_api::NewNotice;
use kizuna_server::admin_docs::CityRoom;
use kizuna_server::client::Client;
use kizuna_server::console::auth::CredentialsRequest;
use kizuna_server::relay::RelayConfig;
use kizuna_server::wire::{NewProfessional, NewRoom, RoomView};
use kizuna_server::{data, demo, net, router};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "kizuna",
    version,
    about = "Kizuna relay: mTLS identity, enrollment, directory and admin CLI"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Start a relay with a demo city (created on first start, reused afterwards).
    Demo {
        /// Data directory.
        #[arg(long, default_value = "kizuna-demo")]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
    },
    /// Run the relay (creates the CA and the administrator's identity on first start).
    Serve {
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0:8443")]
        listen: SocketAddr,
        /// Host name devices use to reach the relay (added to the server certificate).
        #[arg(long)]
        hostname: Option<String>,
    },
    /// Manage the directory of a running relay as its administrator.
    Admin(AdminArgs),
    /// Print the current one-time code of a TOTP secret (for people without an
    /// authenticator app, e.g. trying the demo's console).
    Totp {
        /// The base32 secret.
        secret: String,
    },
}

#[derive(Args, Debug)]
struct AdminArgs {
    /// The relay's data directory (for ca.crt, the admin identity and relay.json).
    #[arg(long)]
    data: PathBuf,
    /// Relay URL, if not the one in DIR/relay.json.
    #[arg(long)]
    relay: Option<String>,
    /// Print JSON for scripts instead of text for people.
    #[arg(long, global = true)]
    json: bool,
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
    /// Check the hash chain: prints "intact" or the first broken record (exit status 1).
    Verify,
    /// Print records as JSON lines, oldest first.
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
        /// Profession: a key (nurse, care_manager, doctor, …) or the Japanese name.
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
    let filter = tracing_subscriber::EnvFilter::try_from_env("KIZUNA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// jemalloc returns freed memory to the system (within seconds), so the relay shrinks back
/// after a busy morning once idle rooms are unloaded.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Panic messages can quote patient data: log where a panic happened, not what it said.
    kizuna_server::net::install_panic_hook();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.cmd {
        Cmd::Demo { data, listen } => {
            init_tracing("info");
            rt.block_on(run_relay(data, listen, None, true))
        }
        Cmd::Serve {
            data,
            listen,
            hostname,
        } => {
            init_tracing("info");
            rt.block_on(run_relay(data, listen, hostname, false))
        }
        Cmd::Admin(args) => {
            init_tracing("warn");
            rt.block_on(run_admin(args))
        }
        Cmd::Totp { secret } => match kizuna_server::console::totp::decode_secret(&secret) {
            Some(s) => {
                let now = u64::try_from(Timestamp::now().0 / 1000).unwrap_or(0);
                println!("{}", kizuna_server::console::totp::code_at(&s, now));
                Ok(())
            }
            None => Err("the secret is not base32".into()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}

async fn run_relay(
    data_dir: PathBuf,
    listen: SocketAddr,
    hostname: Option<String>,
    is_demo: bool,
) -> Result<(), data::StartError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    let prepared = data::prepare(&data_dir, addr, hostname.as_deref(), RelayConfig::default())?;
    let relay = prepared.relay.clone();
    let local_url = data::public_url(addr, None);
    if is_demo {
        let fresh = demo::seed(&relay, &data_dir)?;
        if fresh {
            println!("Created a demo city in {}/", data_dir.display());
        } else {
            println!("Reusing the demo city in {}/", data_dir.display());
        }
    } else {
        match data::ensure_admin(
            &relay,
            &data_dir.join("admin"),
            "管理者",
            "かんりしゃ",
            "介護支援課",
        )? {
            data::AdminSetup::Created(admin) => println!(
                "First start: created the CA ({0}/ca.crt) and the administrator's identity ({0}/admin/admin.crt, professional id {1}).\nFor the browser console, set a password and TOTP: kizuna admin --data {0} console-setup",
                data_dir.display(),
                admin.id
            ),
            data::AdminSetup::Reissued(admin) => println!(
                "Issued a new administrator identity ({}/admin/admin.crt) for professional {}; revoke the old admin device with `kizuna admin device list/revoke`.",
                data_dir.display(),
                admin.id
            ),
            data::AdminSetup::Existing => {}
        }
    }
    data::write_relay_info(&data_dir, &local_url)?;
    if is_demo {
        let console = demo::ensure_console(&relay, &data_dir)?;
        println!(
            "{}",
            demo::guide(&relay, &data_dir, &local_url, Some(&console))?
        );
    } else {
        println!(
            "Kizuna relay on {} (devices use {}), CA fingerprint sha256:{}",
            addr,
            relay.public_url(),
            relay.ca().fingerprint()
        );
    }
    tracing::info!(listen = %addr, "relay listening");
    net::serve(
        listener,
        prepared.tls,
        router(relay.clone()),
        shutdown_signal(),
    )
    .await?;
    relay.directory().flush()?;
    Ok(())
}

/// `text` as a QR code drawn with block characters, for scanning off the terminal.
fn terminal_qr(text: &[u8]) -> Result<String, String> {
    use qrcode::render::unicode::Dense1x2;
    let qr = qrcode::QrCode::new(text).map_err(|e| format!("cannot draw the QR code: {e}"))?;
    Ok(qr
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

fn parse<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("{what} {s:?} is not valid"))
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), data::StartError> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn ts(t: Timestamp) -> String {
    t.to_string()
}

fn print_room(r: &RoomView) {
    println!("{}  {}  {}", r.id, r.kind.key(), r.display_name);
    if let Some(c) = &r.consent {
        println!(
            "    consent: {} ({}) on {}, obtained by {}",
            c.given_by, c.relation, c.date, c.obtained_by
        );
    }
    for m in &r.members {
        let role = match m.role {
            Role::Writer => "writer",
            Role::Reader => "reader",
        };
        println!(
            "    {:<6} {}  {} ({})",
            role,
            m.professional,
            m.name,
            m.profession.label_ja()
        );
    }
}

async fn run_admin(args: AdminArgs) -> Result<(), data::StartError> {
    let client = Client::admin_from_data_dir(&args.data, args.relay.as_deref())?;
    let json = args.json;
    match args.cmd {
        AdminCmd::Professional(ProfessionalCmd::Add {
            name,
            kana,
            profession,
            org,
            office_number,
        }) => {
            let profession: Profession = profession.parse().map_err(|_| {
                let keys: Vec<_> = Profession::ALL.iter().map(|p| p.key()).collect();
                format!(
                    "unknown profession {profession:?}; use one of {}",
                    keys.join(", ")
                )
            })?;
            let p = client
                .add_professional(&NewProfessional {
                    name,
                    kana,
                    profession,
                    organisation: Organisation {
                        name: org,
                        office_number,
                    },
                })
                .await?;
            if json {
                print_json(&p)?;
            } else {
                println!(
                    "registered {} {} ({}, {})",
                    p.id,
                    p.name,
                    p.profession.label_ja(),
                    p.organisation.name
                );
            }
        }
        AdminCmd::Professional(ProfessionalCmd::List) => {
            let d = client.directory().await?;
            if json {
                print_json(&d.professionals)?;
            } else {
                for p in &d.professionals {
                    let devices = d
                        .devices
                        .iter()
                        .filter(|x| x.professional == p.id && x.revoked_at.is_none())
                        .count();
                    println!(
                        "{}  {}（{}）  {}  {}  devices: {}",
                        p.id,
                        p.name,
                        p.kana,
                        p.profession.label_ja(),
                        p.organisation.name,
                        devices
                    );
                }
            }
        }
        AdminCmd::Professional(ProfessionalCmd::Remove { id }) => {
            let id: ProfessionalId = parse(&id, "professional id")?;
            client.remove_professional(id).await?;
            if json {
                print_json(&serde_json::json!({"removed": id}))?;
            } else {
                println!("removed {id}; their devices are revoked and told to wipe");
            }
        }
        AdminCmd::EnrollCode {
            professional_id,
            valid_hours,
        } => {
            let id: ProfessionalId = parse(&professional_id, "professional id")?;
            let c = client.enroll_code(id, valid_hours).await?;
            if json {
                print_json(&c)?;
            } else {
                let drawing = terminal_qr(c.qr_payload.as_bytes())?;
                println!("{drawing}");
                println!("Scan with the Kizuna app, or type:");
                println!("  relay: {}", c.relay_url);
                println!("  code:  {}", c.code);
                println!("  CA:    {}", c.ca_fingerprint);
                println!("The code works once and expires at {}.", ts(c.expires_at));
            }
        }
        AdminCmd::Room(RoomCmd::Create {
            kind: KindArg::Patient,
            patient_name,
            consent_by,
            consent_date,
            consent_relation,
            consent_obtained_by,
        }) => {
            let date: Date = consent_date
                .parse()
                .map_err(|e: kizuna_core::ValidationError| format!("--consent-date: {e}"))?;
            let (obtained_by, obtained_by_id) = match consent_obtained_by {
                Some(n) => (n, None),
                None => {
                    let me = client.me().await?;
                    (me.professional.name, Some(me.professional.id))
                }
            };
            let r = client
                .create_room(&NewRoom {
                    kind: RoomKind::Patient,
                    display_name: patient_name,
                    consent: Some(Consent {
                        given_by: consent_by,
                        relation: consent_relation,
                        date,
                        obtained_by,
                        obtained_by_id,
                        form: None,
                    }),
                })
                .await?;
            if json {
                print_json(&r)?;
            } else {
                println!("created patient room");
                print_room(&r);
            }
        }
        AdminCmd::Room(RoomCmd::List) => {
            let rooms = client.rooms().await?;
            if json {
                print_json(&rooms)?;
            } else {
                for r in &rooms {
                    print_room(r);
                }
            }
        }
        AdminCmd::Room(RoomCmd::Invite {
            room_id,
            professional_id,
            role,
        }) => {
            let room: RoomId = parse(&room_id, "room id")?;
            let p: ProfessionalId = parse(&professional_id, "professional id")?;
            let role = match role {
                RoleArg::Writer => Role::Writer,
                RoleArg::Reader => Role::Reader,
            };
            let r = client.invite(room, p, role).await?;
            if json {
                print_json(&r)?;
            } else {
                println!("invited");
                print_room(&r);
            }
        }
        AdminCmd::Room(RoomCmd::Remove {
            room_id,
            professional_id,
        }) => {
            let room: RoomId = parse(&room_id, "room id")?;
            let p: ProfessionalId = parse(&professional_id, "professional id")?;
            client.remove_member(room, p).await?;
            if json {
                print_json(&serde_json::json!({"room": room, "removed": p}))?;
            } else {
                println!("removed {p} from {room}");
            }
        }
        AdminCmd::Device(DeviceCmd::List) => {
            let devices = client.devices().await?;
            if json {
                print_json(&devices)?;
            } else {
                let names = client
                    .directory()
                    .await?
                    .professionals
                    .into_iter()
                    .map(|p| (p.id, p.name))
                    .collect::<std::collections::HashMap<_, _>>();
                for d in &devices {
                    let state = match (d.revoked_at, d.wipe) {
                        (None, _) => "active".to_string(),
                        (Some(t), true) => format!("revoked {} (wipe)", ts(t)),
                        (Some(t), false) => format!("revoked {}", ts(t)),
                    };
                    println!(
                        "{}  {}  {}  enrolled {}  {}",
                        d.id,
                        names
                            .get(&d.professional)
                            .map(String::as_str)
                            .unwrap_or("(removed)"),
                        d.label,
                        ts(d.enrolled_at),
                        state
                    );
                }
            }
        }
        AdminCmd::Audit(AuditCmd::Verify) => {
            let v = client.audit_verify().await?;
            if json {
                print_json(&v)?;
            } else if v.intact {
                println!("intact: {} records, chain unbroken", v.records);
            } else {
                println!(
                    "BROKEN at record {}: {}",
                    v.first_broken.unwrap_or(0),
                    v.problem.as_deref().unwrap_or("unknown")
                );
            }
            if !v.intact {
                return Err("the audit log is not intact".into());
            }
        }
        AdminCmd::Audit(AuditCmd::Export {
            room,
            professional,
            since,
            until,
        }) => {
            if let Some(r) = &room {
                parse::<RoomId>(r, "room id")?;
            }
            if let Some(p) = &professional {
                parse::<ProfessionalId>(p, "professional id")?;
            }
            let mut q = Vec::new();
            for (k, v) in [
                ("room", room),
                ("professional", professional),
                ("since", since),
                ("until", until),
            ] {
                if let Some(v) = v {
                    q.push((k, v));
                }
            }
            print!("{}", client.audit_export(&q).await?);
        }
        AdminCmd::Professional(ProfessionalCmd::Edit {
            id,
            name,
            kana,
            profession,
            org,
            office_number,
        }) => {
            let id: ProfessionalId = parse(&id, "professional id")?;
            let current = client
                .directory()
                .await?
                .professionals
                .into_iter()
                .find(|p| p.id == id)
                .ok_or("no such professional")?;
            let profession = match profession {
                Some(p) => p
                    .parse::<Profession>()
                    .map_err(|_| format!("unknown profession {p:?}"))?,
                None => current.profession,
            };
            let p = client
                .update_professional(
                    id,
                    &NewProfessional {
                        name: name.unwrap_or(current.name),
                        kana: kana.unwrap_or(current.kana),
                        profession,
                        organisation: Organisation {
                            name: org.unwrap_or(current.organisation.name),
                            office_number: match office_number {
                                Some(n) if n.is_empty() => None,
                                Some(n) => Some(n),
                                None => current.organisation.office_number,
                            },
                        },
                    },
                )
                .await?;
            if json {
                print_json(&p)?;
            } else {
                println!(
                    "updated {} {} ({}, {})",
                    p.id,
                    p.name,
                    p.profession.label_ja(),
                    p.organisation.name
                );
            }
        }
        AdminCmd::Room(RoomCmd::Archive { room_id, restore }) => {
            let room: RoomId = parse(&room_id, "room id")?;
            let r = client.set_archived(room, !restore).await?;
            if json {
                print_json(&r)?;
            } else if restore {
                println!("restored {room}; members' devices sync it again");
            } else {
                println!("archived {room}; members' devices delete their copies at next sync");
            }
        }
        AdminCmd::Room(RoomCmd::ConsentForm { room_id, file }) => {
            let room: RoomId = parse(&room_id, "room id")?;
            let ext = file
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .unwrap_or_default();
            let media = match ext.as_str() {
                "pdf" => "application/pdf",
                "jpg" | "jpeg" => "image/jpeg",
                "png" => "image/png",
                _ => return Err("the scan must be a .pdf, .jpg or .png file".into()),
            };
            let bytes = std::fs::read(&file)
                .map_err(|e| format!("cannot read the scan: {:?}", e.kind()))?;
            let r = client.consent_form(room, media, bytes).await?;
            if json {
                print_json(&r)?;
            } else {
                let form = r
                    .consent
                    .as_ref()
                    .and_then(|c| c.form)
                    .map(|h| h.to_hex())
                    .unwrap_or_default();
                println!("consent form attached to {room} (sha256 {form})");
            }
        }
        AdminCmd::Room(RoomCmd::Activity { room_id }) => {
            let room: RoomId = parse(&room_id, "room id")?;
            let a = client.room_activity(room).await?;
            if json {
                print_json(&a)?;
            } else {
                println!(
                    "reports: {} (this week {}), unread must-reads: {}, newest post: {}",
                    a.reports,
                    a.reports_this_week,
                    a.unread_must_reads,
                    a.last_post.map_or_else(|| "-".to_string(), ts)
                );
            }
        }
        AdminCmd::Notice(NoticeCmd::Post {
            room,
            title,
            body,
            importance,
            expires_hours,
        }) => {
            let importance = kizuna_core::model::Importance::try_from(importance)
                .map_err(|e| format!("--importance: {e}"))?;
            let expires_at =
                expires_hours.map(|h| Timestamp::now().plus_millis(i64::from(h) * 3_600_000));
            let posted = client
                .post_notice(&NewNotice {
                    room: room.room(),
                    title,
                    body,
                    importance,
                    expires_at,
                })
                .await?;
            if json {
                print_json(&posted)?;
            } else {
                println!("posted notice {} in room {}", posted.id, posted.room);
            }
        }
        AdminCmd::Notice(NoticeCmd::List { room }) => {
            let notices = client.notices(room.map(CityRoomArg::room)).await?;
            if json {
                print_json(&notices)?;
            } else {
                for n in &notices {
                    println!(
                        "{}  {}  {}  {}  read {}/{}{}",
                        n.notice.id,
                        n.room.key(),
                        "☆".repeat(usize::from(n.notice.content.importance.stars())),
                        n.notice.content.title,
                        n.read_by.len(),
                        n.audience,
                        if n.expired { "  (expired)" } else { "" }
                    );
                }
            }
        }
        AdminCmd::Careplan(CareplanCmd::Import { room_id, files }) => {
            let room: RoomId = parse(&room_id, "room id")?;
            let mut loaded = Vec::new();
            for f in &files {
                let name = f
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or_else(|| format!("{}: not a file name", f.display()))?
                    .to_string();
                let bytes =
                    std::fs::read(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
                loaded.push((name, bytes));
            }
            let s = client.import_care_plan(room, &loaded).await?;
            if json {
                print_json(&s)?;
            } else {
                println!("imported {} into {room}:", s.id);
                for (name, kind, rows) in &s.files {
                    println!("  {name}  {kind:?}  {rows} rows");
                }
            }
        }
        AdminCmd::ConsoleSetup {
            login,
            password_stdin,
            no_password,
        } => {
            let password = if no_password {
                None
            } else if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                Some(kizuna_server::console::password::random_password())
            };
            let setup = client
                .console_credentials(&CredentialsRequest {
                    login,
                    password: password.clone(),
                })
                .await?;
            if json {
                print_json(&serde_json::json!({
                    "setup": setup,
                    "password": if password_stdin { None } else { password.clone() },
                }))?;
            } else {
                let drawing = terminal_qr(setup.otpauth_uri.as_bytes())?;
                println!("{drawing}");
                println!("Scan this with an authenticator app, or enter the setup key by hand.");
                println!("  console login: {}", setup.login);
                match (&password, password_stdin) {
                    (Some(p), false) => {
                        println!("  password:      {p}   (shown once; keep it safe)")
                    }
                    (Some(_), true) => println!("  password:      (the one you typed)"),
                    (None, _) => println!("  password:      none (certificate + TOTP only)"),
                }
                println!("  TOTP setup key: {}", setup.totp_secret);
                println!("Earlier console sessions of yours end at their next request.");
            }
        }
        AdminCmd::Device(DeviceCmd::Revoke { device_id, wipe }) => {
            let id: DeviceId = parse(&device_id, "device id")?;
            client.revoke(id, wipe).await?;
            if json {
                print_json(&serde_json::json!({"revoked": id, "wipe": wipe}))?;
            } else if wipe {
                println!("revoked {id}; it is refused from its next request and told to wipe");
            } else {
                println!("revoked {id}; it is refused from its next request");
            }
        }
    }
    Ok(())
}
