//! `GET /v1/admin/backup`: the running relay streams a backup (see [`super::backup`]) to an
//! administrator; `kizuna admin backup` writes it to a file. Written on a blocking thread into
//! a bounded channel, so a slow reader slows the backup down instead of filling memory.

use crate::error::RelayError;
use crate::http::problem::Problem;
use crate::identity::Admin;
use crate::state::AppState;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kizuna_contract::BACKUP_MEDIA_TYPE;

/// The backup route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/admin/backup", get(backup))
}

/// A `Write` that hands 1 MiB pieces to the response.
struct ToResponse {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
}

const PIECE: usize = 1024 * 1024;

impl ToResponse {
    fn send(&mut self) -> std::io::Result<()> {
        let piece = std::mem::replace(&mut self.buf, Vec::with_capacity(PIECE));
        self.tx
            .blocking_send(Ok(Bytes::from(piece)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the reader left"))
    }
}

impl std::io::Write for ToResponse {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= PIECE {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.send()?;
        }
        Ok(())
    }
}

async fn backup(State(relay): State<AppState>, admin: Admin) -> Result<Response, Problem> {
    let Some(recovery) = relay.recovery().cloned() else {
        return Err(RelayError::Internal(
            "this relay keeps no journal, so it cannot take a backup".into(),
        )
        .into());
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let (professional, device) = (admin.0.professional.id, admin.0.device.id);
    tokio::task::spawn_blocking(move || {
        let mut out = ToResponse {
            buf: Vec::with_capacity(PIECE),
            tx: tx.clone(),
        };
        match relay.write_backup(&recovery.data, &recovery, &mut out) {
            Ok(counts) => {
                tracing::info!(
                    documents = counts.documents,
                    blobs = counts.blobs,
                    "backup taken"
                );
                let _ = relay.audit().record(crate::audit::Entry {
                    professional: Some(professional),
                    device: Some(device),
                    action: "admin.backup",
                    ..crate::audit::Entry::default()
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "backup failed");
                // The file then lacks its end frame, and a restore refuses it.
                let _ = tx.blocking_send(Err(std::io::Error::other("the backup failed")));
            }
        }
    });
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Ok((
        [(axum::http::header::CONTENT_TYPE, BACKUP_MEDIA_TYPE)],
        Body::from_stream(stream),
    )
        .into_response())
}
