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

/// How `kizuna serve` is watched and kept (`--metrics-listen`, `--min-free-mb`,
/// `--audit-rotate-mb`).
#[derive(Clone, Debug)]
pub struct Watch {
    /// The loopback address of the plain-HTTP `/metrics` listener, if any.
    pub metrics_listen: Option<SocketAddr>,
    /// The free space the relay keeps on its data directory's filesystem.
    pub min_free_bytes: u64,
    /// The size at which the audit log's live file becomes a closed segment (0: never).
    pub audit_rotate_bytes: u64,
}

impl Default for Watch {
    fn default() -> Self {
        Watch {
            metrics_listen: None,
            min_free_bytes: crate::watch::disk::DEFAULT_MIN_FREE_BYTES,
            audit_rotate_bytes: crate::audit::DEFAULT_ROTATE_BYTES,
        }
    }
}

/// Binds the `/metrics` listener: loopback addresses only, since it is plain HTTP without a
/// certificate (a remote Prometheus scrapes through an SSH tunnel or a local agent).
async fn bind_metrics(addr: SocketAddr) -> Result<tokio::net::TcpListener, startup::StartError> {
    if !addr.ip().is_loopback() {
        return Err(format!(
            "--metrics-listen {addr}: /metrics is plain HTTP and is served on a loopback \
             address only (127.0.0.1 or ::1)"
        )
        .into());
    }
    Ok(tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen for /metrics on {addr}: {e}"))?)
}

/// Runs the relay on `listen` with its data in `data_dir` (with the demo city if `is_demo`),
/// once `checks` found the directory new or complete: a refused start has created nothing,
/// not even bound its port.
pub async fn run_relay(
    data_dir: PathBuf,
    listen: SocketAddr,
    hostname: Option<String>,
    is_demo: bool,
    watch: Watch,
    checks: preflight::Checks,
) -> Result<(), startup::StartError> {
    if preflight::check(&data_dir, &checks)? == preflight::Found::New && data_dir.is_dir() {
        startup::make_private(&data_dir)?;
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    let metrics_listener = match watch.metrics_listen {
        Some(a) => Some(bind_metrics(a).await?),
        None => None,
    };
    let config = RelayConfig {
        min_free_bytes: watch.min_free_bytes,
        audit_rotate_bytes: watch.audit_rotate_bytes,
        ..RelayConfig::default()
    };
    let prepared = startup::prepare(&data_dir, addr, hostname.as_deref(), config)?;
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
    let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(l) = metrics_listener {
        let at = l.local_addr()?;
        println!("Metrics on http://{at}/metrics");
        tracing::info!(listen = %at, "metrics listening");
        let app = crate::watch::routes::metrics_router(relay.clone());
        tokio::spawn(async move {
            let stopped = async {
                let _ = metrics_stopped.await;
            };
            if let Err(e) = axum::serve(l, app).with_graceful_shutdown(stopped).await {
                tracing::warn!(error = %e, "the metrics listener stopped");
            }
        });
    }
    let events = relay.clone();
    let shutdown = async move {
        shutdown_signal().await;
        // Long polls would otherwise hold the shutdown for the whole grace period.
        let long_polls = events.events().close();
        tracing::info!(long_polls, "answered the waiting long polls");
    };
    crate::http::serve(
        listener,
        prepared.tls,
        crate::router(relay.clone()),
        shutdown,
    )
    .await?;
    let _ = metrics_stop.send(());
    relay.directory().flush()?;
    Ok(())
}
