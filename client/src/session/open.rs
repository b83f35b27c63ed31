//! The device's store once open, and its enrolment once known: what every session call
//! starts from. A wiped device has neither; an open, unenrolled one only the store.

use super::observed::{Observed, ProgressFn};
use super::record::Record;
use crate::enroll::Enrolled;
use crate::error::{ClientError, parse_id};
use crate::sync_client::SyncClient;
use crate::transport::HttpsTransport;
use kizuna_core::search::SearchIndex;
use kizuna_core::{Author, ProfessionalId, ReportId, RoomHandle, RoomId, RoomStore};
use std::path::Path;
use std::sync::{Arc, RwLock};

/// An enrolled device: who writes from it and how it reaches the relay.
pub(crate) struct Enrolment {
    pub(crate) record: Record,
    pub(crate) author: Author,
    pub(crate) https: Arc<HttpsTransport>,
    pub(crate) client: SyncClient,
}

/// The open store, its search index and the enrolment (replaced as the record changes).
pub(crate) struct Open {
    pub(crate) store: RoomStore,
    pub(crate) search: SearchIndex,
    pub(crate) enrolment: RwLock<Option<Arc<Enrolment>>>,
}

/// Opens (or creates) the store in `dir` with the 32-byte `key`.
pub(crate) fn open_store(dir: &Path, key: &[u8]) -> Result<Open, ClientError> {
    if key.len() != 32 {
        return Err(ClientError::KeyUnavailable {
            detail: "the store key must be 32 bytes".into(),
        });
    }
    std::fs::create_dir_all(dir)
        .map_err(|_| crate::error::storage("cannot create the data folder"))?;
    let store = RoomStore::open(&dir.join("store"), key)?;
    let search = SearchIndex::open(&store)?;
    Ok(Open {
        store,
        search,
        enrolment: RwLock::new(None),
    })
}

/// The HTTPS transport of an enrolled device.
pub(crate) fn https_of(e: &Enrolled) -> Result<Arc<HttpsTransport>, ClientError> {
    Ok(Arc::new(HttpsTransport::new(
        &e.relay,
        &e.ca_pem,
        &e.cert_pem,
        &e.key_pem,
    )?))
}

/// The enrolment for `record`, syncing through `https` with uploads reported to
/// `on_progress`.
pub(crate) fn make_enrolment(
    store: &RoomStore,
    record: Record,
    https: Arc<HttpsTransport>,
    on_progress: ProgressFn,
) -> Result<Enrolment, ClientError> {
    let professional: ProfessionalId = parse_id("professional", &record.enrolled.professional)?;
    let device = parse_id("device", &record.enrolled.device)?;
    let author = Author {
        professional,
        device,
        display_name: record.name.clone(),
        profession: record.profession,
        organisation: record.organisation.clone(),
    };
    let transport = Arc::new(Observed {
        inner: https.clone(),
        on_progress,
    });
    let client = SyncClient::new(store.clone(), transport).for_device(device);
    Ok(Enrolment {
        record,
        author,
        https,
        client,
    })
}

impl Open {
    /// The room's document and its restricted documents held here.
    pub(crate) fn docs_of(&self, room: RoomId) -> Result<Vec<RoomHandle>, ClientError> {
        let mut out = vec![self.store.open_room(room).map_err(|e| match e {
            kizuna_core::CoreError::NotFound(_) => ClientError::NotFound {
                what: "room".into(),
            },
            other => other.into(),
        })?];
        for d in self.store.scoped_docs(room)? {
            out.push(self.store.open_room(d)?);
        }
        Ok(out)
    }

    /// The room's own document (the profile, care plans).
    pub(crate) fn main_doc(&self, room: RoomId) -> Result<RoomHandle, ClientError> {
        Ok(self.docs_of(room)?.remove(0))
    }

    /// The document holding a report.
    pub(crate) fn doc_of_report(
        &self,
        room: RoomId,
        report: ReportId,
    ) -> Result<RoomHandle, ClientError> {
        for h in self.docs_of(room)? {
            if h.summaries()?.iter().any(|s| s.id == report) {
                return Ok(h);
            }
        }
        Err(ClientError::NotFound {
            what: "report".into(),
        })
    }
}
