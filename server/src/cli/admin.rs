//! `kizuna admin …`: each subcommand calls the relay's admin API through [`super::client`]
//! and prints the answer for people (or JSON with `--json`).

use super::client::{self, Client};
use super::failure::Usage;
use super::{
    AdminArgs, AdminCmd, AuditCmd, CaCmd, CareplanCmd, CityRoomArg, DeviceCmd, KindArg, NoticeCmd,
    ProfessionalCmd, RoleArg, RoomCmd,
};
use crate::identity::{NewProfessional, NewRoom};
use crate::startup::StartError;
use kizuna_contract::console::CredentialsRequest;
use kizuna_contract::notices::NewNotice;
use kizuna_contract::rooms::RoomView;
use kizuna_core::model::Consent;
use kizuna_core::{
    Date, DeviceId, Organisation, Profession, ProfessionalId, Role, RoomId, RoomKind, Timestamp,
};
use std::path::PathBuf;

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

fn parse<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, Usage> {
    s.parse()
        .map_err(|_| Usage(format!("{what} {s:?} is not valid")))
}

/// A profession from its key or Japanese name; an unknown one is a usage error listing both.
fn profession(s: &str) -> Result<Profession, Usage> {
    s.parse().map_err(|_| {
        let names: Vec<_> = Profession::ALL
            .iter()
            .filter(|p| **p != Profession::CityAdministrator)
            .map(|p| format!("{} ({})", p.key(), p.label_ja()))
            .collect();
        Usage(format!(
            "unknown profession {s:?}; use one of: {} (care_manager is also 介護支援専門員)",
            names.join(", ")
        ))
    })
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), StartError> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// A profession's Japanese name, from the contract's spelling of it.
fn ja(p: kizuna_contract::Profession) -> &'static str {
    Profession::from(p).label_ja()
}

fn ts(t: impl Into<Timestamp>) -> String {
    t.into().to_string()
}

fn print_room(r: &RoomView) {
    println!(
        "{}  {}  {}",
        r.id,
        RoomKind::from(r.kind).key(),
        r.display_name
    );
    if let Some(c) = &r.consent {
        println!(
            "    consent: {} ({}) on {}, obtained by {}",
            c.given_by, c.relation, c.date, c.obtained_by
        );
    }
    for m in &r.members {
        let role = match Role::from(m.role) {
            Role::Writer => "writer",
            Role::Reader => "reader",
        };
        println!(
            "    {:<6} {}  {} ({})",
            role,
            m.professional,
            m.name,
            ja(m.profession)
        );
    }
}

/// Renews the administrator's certificate when [`client::admin_renewal_due`] says so, telling
/// the operator on stderr; a failure is told too, and the command goes on with the current
/// certificate.
async fn renew_admin_if_due(data: &std::path::Path, relay: Option<&str>) {
    let now = Timestamp::now().0 / 1000;
    let Some(why) = client::admin_renewal_due(data, now) else {
        return;
    };
    match client::renew_admin_identity(data, relay).await {
        Ok(r) => eprintln!(
            "administrator certificate renewed ({why}); it expires {}",
            ts(r.expires_at)
        ),
        Err(e) => eprintln!("administrator certificate not renewed ({why}): {e}"),
    }
}

fn print_ca_status(s: &kizuna_contract::enrollment::CaStatus) {
    let line = |role: &str, c: &kizuna_contract::enrollment::CaView| {
        println!(
            "{role:<9} {}  {}  expires {}",
            c.name,
            c.fingerprint,
            ts(c.expires_at)
        );
    };
    line("issuing", &s.issuing);
    if let Some(r) = &s.retiring {
        line("retiring", r);
    }
    for r in &s.retired {
        line("retired", r);
    }
    match &s.retiring {
        None => println!("no CA rotation in progress"),
        Some(_) if s.devices_on_retiring.is_empty() => {
            println!("no device is on the retiring CA: kizuna admin ca retire-old ends the overlap")
        }
        Some(_) => {
            println!(
                "{} device(s) still on the retiring CA (each moves at its next sync):",
                s.devices_on_retiring.len()
            );
            for d in &s.devices_on_retiring {
                let synced = d.last_seen.map_or_else(
                    || "never synced".to_string(),
                    |t| format!("last sync {}", ts(t)),
                );
                println!(
                    "  {}  {}  professional {}  {synced}",
                    d.id, d.label, d.professional
                );
            }
        }
    }
}

/// Runs one `kizuna admin` subcommand against the relay named by the data directory `data`,
/// printing JSON with `json`.
pub(super) async fn run_admin(
    data: PathBuf,
    json: bool,
    args: AdminArgs,
) -> Result<(), StartError> {
    if let AdminCmd::Restore {
        from,
        older_than_ledger,
    } = &args.cmd
    {
        // With the relay stopped: no client, the data directory itself.
        let s = crate::recovery::restore::restore(&data, from, *older_than_ledger)?;
        if json {
            print_json(&serde_json::json!({
                "backup_taken_at": s.backup_taken_at.to_string(),
                "moved_aside": s.moved_aside.display().to_string(),
                "replayed_directory_changes": s.replayed,
                "documents": s.documents,
                "attachments": s.blobs,
                "audit_log_from_backup": s.audit_from_backup,
            }))?;
        } else {
            println!(
                "restored the backup of {}: {} documents, {} attachments; {} directory \
                 changes made after it replayed (revocations stay revoked)",
                s.backup_taken_at, s.documents, s.blobs, s.replayed
            );
            println!(
                "what the directory held before is in {}",
                s.moved_aside.display()
            );
            if s.audit_from_backup {
                println!("the audit log came from the backup (the directory had none)");
            }
            println!("start the relay: phones bring back what it acknowledged after the backup");
        }
        return Ok(());
    }
    let relay = args.relay.as_deref();
    if matches!(args.cmd, AdminCmd::Renew) {
        let r = client::renew_admin_identity(&data, relay).await?;
        if json {
            print_json(&serde_json::json!({ "renewed": true, "expires_at": r.expires_at }))?;
        } else {
            println!(
                "administrator certificate renewed; it expires {}",
                ts(r.expires_at)
            );
        }
        return Ok(());
    }
    renew_admin_if_due(&data, relay).await;
    let client = Client::admin_from_data_dir(&data, relay)?;
    match args.cmd {
        AdminCmd::Restore { .. } | AdminCmd::Renew => {}
        AdminCmd::Ca(cmd) => {
            let status = match cmd {
                CaCmd::Status => client.ca_status().await?,
                CaCmd::Rotate => client.ca_rotate().await?,
                CaCmd::RetireOld { force } => client.ca_retire_old(force).await?,
            };
            // The administrator's own identity moves at once during an overlap.
            if status.retiring.is_some() {
                renew_admin_if_due(&data, relay).await;
            }
            if json {
                print_json(&status)?;
            } else {
                print_ca_status(&status);
            }
        }
        AdminCmd::Backup { to } => {
            let bytes = client.backup_to(&to).await?;
            if json {
                print_json(
                    &serde_json::json!({ "file": to.display().to_string(), "bytes": bytes }),
                )?;
            } else {
                println!(
                    "backup written to {} ({bytes} bytes); encrypt it before it leaves this host",
                    to.display()
                );
            }
        }
        AdminCmd::Professional(ProfessionalCmd::Add {
            name,
            kana,
            profession,
            org,
            office_number,
        }) => {
            let profession = self::profession(&profession)?;
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
                    ja(p.profession),
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
                        ja(p.profession),
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
                .map_err(|e: kizuna_core::ValidationError| Usage(format!("--consent-date: {e}")))?;
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
                        obtained_by_id: obtained_by_id.map(ProfessionalId),
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
                    let expiry = match (d.cert_expires_at, d.cert_days_left) {
                        (Some(at), Some(left)) if left < 0 => {
                            format!("certificate expired {}", ts(at))
                        }
                        (Some(at), Some(left)) => {
                            format!("certificate expires {} ({left} days left)", ts(at))
                        }
                        _ => "certificate expiry unknown (older relay)".to_string(),
                    };
                    let synced = d.last_seen.map_or_else(
                        || "never synced".to_string(),
                        |t| format!("last sync {}", ts(t)),
                    );
                    println!(
                        "{}  {}  {}  enrolled {}  {}  {}  {}",
                        d.id,
                        names
                            .get(&d.professional)
                            .map(String::as_str)
                            .unwrap_or("(removed)"),
                        d.label,
                        ts(d.enrolled_at),
                        expiry,
                        synced,
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
                match v.first_kept {
                    Some(first) => println!(
                        "intact: {} records in {} files, chain unbroken from record {first} \
                         (the segments before it were archived)",
                        v.records,
                        v.files.unwrap_or(1)
                    ),
                    None => println!(
                        "intact: {} records in {} files, chain unbroken",
                        v.records,
                        v.files.unwrap_or(1)
                    ),
                }
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
        AdminCmd::Audit(AuditCmd::Rotate) => {
            let r = client.audit_rotate().await?;
            if json {
                print_json(&r)?;
            } else {
                match &r.segment {
                    Some(s) => println!("the live audit file was closed as audit/{s}"),
                    None => println!("the live audit file held no record; nothing closed"),
                }
            }
        }
        AdminCmd::Audit(AuditCmd::Export {
            room,
            professional,
            since,
            until,
            after,
            limit,
        }) => {
            if let Some(r) = &room {
                parse::<RoomId>(r, "room id")?;
            }
            if let Some(p) = &professional {
                parse::<ProfessionalId>(p, "professional id")?;
            }
            let limit = usize::try_from(limit).map_err(|_| Usage("--limit is too large".into()))?;
            let mut q = Vec::new();
            for (k, v) in [
                ("room", room),
                ("professional", professional),
                ("since", since),
                ("until", until),
                ("after", after.map(|a| a.to_string())),
                // One more than asked: whether it comes is whether the export stopped short.
                ("limit", Some((limit + 1).to_string())),
            ] {
                if let Some(v) = v {
                    q.push((k, v));
                }
            }
            let body = client.audit_export(&q).await?;
            let lines: Vec<&str> = body.lines().collect();
            let shown = &lines[..lines.len().min(limit)];
            for line in shown {
                println!("{line}");
            }
            if lines.len() > limit {
                let last = shown
                    .last()
                    .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .and_then(|v| v["seq"].as_u64())
                    .ok_or("the relay's export has no readable last record")?;
                if json {
                    eprintln!(
                        "{}",
                        serde_json::json!({
                            "truncated": true,
                            "limit": limit,
                            "last_seq": last,
                            "continue_with": format!("--after {last}"),
                        })
                    );
                } else {
                    eprintln!(
                        "audit export stopped at its limit of {limit} records; more match. The \
                         last record printed is seq {last}: run the same command with \
                         --after {last} for the next ones."
                    );
                }
            }
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
                .find(|p| p.id == id.0)
                .ok_or("no such professional")?;
            let profession = match profession {
                Some(p) => self::profession(&p)?,
                None => current.profession.into(),
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
                    ja(p.profession),
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
                _ => return Err(Usage("the scan must be a .pdf, .jpg or .png file".into()).into()),
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
                    .and_then(|c| c.form.clone())
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
            let importance = kizuna_contract::notices::Importance::try_from(importance)
                .map_err(|e| Usage(format!("--importance: {e}")))?;
            let expires_at = expires_hours.map(|h| {
                Timestamp::now()
                    .plus_millis(i64::from(h) * 3_600_000)
                    .into()
            });
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
                Some(crate::admin::console::password::random_password())
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
