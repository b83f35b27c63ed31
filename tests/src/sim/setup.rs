//! Before the random phase: the relay as a child process, the fault-injecting proxy in front of
//! it, the shared patient rooms, and every phone enrolled, synced once and written down
//! (`DeviceFile`) for its process to start from.

use super::fleet::{Dev, Fleet};
use super::{Fallible, SimConfig, consented_room, enroll, err};
use crate::proxy::CutProxy;
use crate::sim_device::DeviceFile;
use crate::w2::ChildRelay;
use kizuna_core::{Profession, ProfessionalId, Role, RoomId};
use kizuna_server::cli::client::Client;
use kizuna_server::identity::NewProfessional;
use std::net::SocketAddr;
use std::path::Path;
use tokio::runtime::Runtime;

/// Everything the random phase runs on.
pub(super) struct Field {
    /// The relay (killed and restarted on its data by the faults).
    pub(super) relay: ChildRelay,
    /// Runs the admin client's calls.
    pub(super) rt: Runtime,
    /// Between the phones and the relay.
    pub(super) proxy: CutProxy,
    /// The enrolled phones, not started yet.
    pub(super) fleet: Fleet,
}

/// Starts the relay and the proxy, creates `cfg.rooms` rooms and enrolls `cfg.devices` phones
/// in `work`, each a member of every room.
pub(super) fn set_up(work: &Path, exe: &Path, cfg: &SimConfig) -> Fallible<Field> {
    let mut relay = ChildRelay::start(&work.join("relay"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(err)?;
    let admin = Client::admin_from_data_dir(&relay.data, None).map_err(err)?;
    let ca_pem = std::fs::read_to_string(relay.data.join("ca.crt")).map_err(err)?;
    let relay_addr: SocketAddr = relay
        .url
        .trim_start_matches("https://")
        .parse()
        .map_err(err)?;
    let proxy = CutProxy::start(relay_addr)?;
    let mut rooms = Vec::new();
    for i in 0..cfg.rooms {
        let r = rt
            .block_on(admin.create_room(&consented_room(&format!("患者 {i}"))?))
            .map_err(err)?;
        rooms.push(RoomId(r.id));
    }
    let mut fleet = Fleet::new(rooms.clone(), exe, cfg);
    let mut admin = admin;
    for d in 0..cfg.devices {
        if d > 0 && d % 9 == 0 {
            // The relay allows ten enrollments per source address per window and every phone
            // here comes from 127.0.0.1; the limiter lives in memory, so a restart resets it
            // (a city's phones come from many addresses).
            relay.kill_and_restart()?;
            admin = Client::admin_from_data_dir(&relay.data, None).map_err(err)?;
        }
        let p = rt
            .block_on(admin.add_professional(&NewProfessional {
                name: format!("看護師 {d}"),
                kana: "かんごし".into(),
                profession: Profession::Nurse,
                organisation: kizuna_core::Organisation {
                    name: "みどり訪問看護ステーション".into(),
                    office_number: None,
                },
            }))
            .map_err(err)?;
        for r in &rooms {
            rt.block_on(admin.invite(*r, p.id, Role::Writer))
                .map_err(err)?;
        }
        let dir = work.join(format!("d{d}"));
        let phone = enroll(&rt, &admin, &relay.url, &ca_pem, &p, &dir)?.with_url(&proxy.url())?;
        phone.client().sync_documents().map_err(err)?;
        DeviceFile {
            index: d,
            author: phone.author.clone(),
            url: proxy.url(),
            ca_pem: phone.identity.ca_pem.clone(),
            crt_pem: phone.identity.crt_pem.clone(),
            key_pem: phone.identity.key_pem.clone(),
            rooms: rooms.clone(),
        }
        .save(&dir)?;
        drop(phone);
        fleet.devs.push(Dev::new(dir, ProfessionalId(p.id)));
    }
    Ok(Field {
        relay,
        rt,
        proxy,
        fleet,
    })
}
