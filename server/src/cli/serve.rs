//! `kizuna serve` and `kizuna demo`: prepare the data directory (and the demo city), print how
//! to reach the relay, and serve until Ctrl-C or SIGTERM.

use crate::startup::{self, demo_city, preflight};
use crate::state::RelayConfig;
use std::net::SocketAddr;
use std::path::PathBuf;

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

/// Runs the relay on `listen` with its data in `data_dir` (with the demo city if `is_demo`),
/// once `checks` found the directory new or complete: a refused start has created nothing,
/// not even bound its port.
pub async fn run_relay(
    data_dir: PathBuf,
    listen: SocketAddr,
    hostname: Option<String>,
    is_demo: bool,
    checks: preflight::Checks,
) -> Result<(), startup::StartError> {
    if preflight::check(&data_dir, &checks)? == preflight::Found::New && data_dir.is_dir() {
        startup::make_private(&data_dir)?;
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    let prepared = startup::prepare(&data_dir, addr, hostname.as_deref(), RelayConfig::default())?;
    let relay = prepared.relay.clone();
    let local_url = startup::public_url(addr, None);
    if is_demo {
        let fresh = demo_city::seed(&relay, &data_dir)?;
        if fresh {
            println!("Created a demo city in {}/", data_dir.display());
        } else {
            println!("Reusing the demo city in {}/", data_dir.display());
        }
    } else {
        match startup::ensure_admin(
            &relay,
            &data_dir.join("admin"),
            "管理者",
            "かんりしゃ",
            "介護支援課",
        )? {
            startup::AdminSetup::Created(admin) => println!(
                "First start: created the CA ({0}/ca.crt) and the administrator's identity ({0}/admin/admin.crt, professional id {1}).\nFor the browser console, set a password and TOTP: kizuna admin --data {0} console-setup",
                data_dir.display(),
                admin.id
            ),
            startup::AdminSetup::Reissued(admin) => println!(
                "Issued a new administrator identity ({}/admin/admin.crt) for professional {}; revoke the old admin device with `kizuna admin device list/revoke`.",
                data_dir.display(),
                admin.id
            ),
            startup::AdminSetup::Existing => {}
        }
    }
    startup::write_relay_info(&data_dir, &local_url)?;
    if is_demo {
        let console = demo_city::ensure_console(&relay, &data_dir)?;
        println!(
            "{}",
            super::demo::guide(&relay, &data_dir, &local_url, Some(&console))?
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
    crate::http::serve(
        listener,
        prepared.tls,
        crate::router(relay.clone()),
        shutdown_signal(),
    )
    .await?;
    relay.directory().flush()?;
    Ok(())
}
