//! A simulated phone: the encrypted store and the sync client of `kizuna-client` (what the
//! apps ship) over its default HTTPS transport, enrolled the way the app enrolls. Its calls
//! block, as the mobile bindings' do on their background thread.

use crate::{Fallible, err};
use kizuna_client::{HttpsTransport, SyncClient, SyncError, Transport};
use kizuna_contract::directory::ProfessionalView as Professional;
use kizuna_contract::enrollment::{EnrollRequest, EnrollResponse};
use kizuna_core::model::{AttachmentKind, AttachmentRef, ReportBody, ReportContent, ShareScope};
use kizuna_core::sync::device::SyncReport;
use kizuna_core::{Author, DeviceId, ProfessionalId, ReportId, RoomId, RoomStore, Timestamp};
use kizuna_server::cli::client::Client;
use kizuna_server::identity::pki;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A device's identity as enrollment made it: certificate and key in PEM, and what the relay
/// answered (the device id, the CA).
pub struct DeviceKeys {
    /// The device certificate.
    pub crt: String,
    /// The device key, made on the device.
    pub key: String,
    /// The relay's answer.
    pub enrolled: EnrollResponse,
}

/// Enrolls a new device for `who` with the relay at `url` (trusting `ca_pem`), the way a
/// phone does: a one-time code from `admin`, a key made here, a CSR sent without a
/// certificate. Works for any relay, in-process or a child process.
pub async fn enroll_device(
    admin: &Client,
    url: &str,
    ca_pem: &str,
    who: uuid::Uuid,
) -> Fallible<DeviceKeys> {
    let code = admin.enroll_code(who, None).await.map_err(err)?;
    let (key, csr) = pki::new_device_key_and_csr().map_err(err)?;
    let anonymous = Client::new(url, ca_pem, None).map_err(err)?;
    let enrolled = anonymous
        .enroll(&EnrollRequest {
            code: code.code,
            csr_pem: csr,
            label: Some("test phone".into()),
        })
        .await
        .map_err(err)?;
    Ok(DeviceKeys {
        crt: enrolled.certificate_pem.clone(),
        key: key.serialize_pem(),
        enrolled,
    })
}

/// Enrolls a new phone for `p` with the relay at `url` (administered through `admin`, its
/// calls run on `rt`), with its store in `dir`: for relays that run as their own process.
pub fn enroll(
    rt: &tokio::runtime::Runtime,
    admin: &Client,
    url: &str,
    ca_pem: &str,
    p: &Professional,
    dir: &Path,
) -> Fallible<Phone> {
    let keys = rt.block_on(enroll_device(admin, url, ca_pem, p.id))?;
    Phone::enrolled(dir, p, url, keys)
}

/// What a phone needs to reach the relay.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The relay's URL.
    pub url: String,
    /// The relay's CA.
    pub ca_pem: String,
    /// The device certificate.
    pub crt_pem: String,
    /// The device key.
    pub key_pem: String,
}

/// The fixed store key of test phones (a real app gets it from the Keychain/Keystore).
pub const PHONE_KEY: [u8; 32] = [7; 32];

/// A phone: its encrypted store on disk and its sync client.
pub struct Phone {
    /// Who writes from this phone.
    pub author: Author,
    /// How it reaches the relay.
    pub identity: Identity,
    /// Where its store lives.
    pub dir: PathBuf,
    client: SyncClient,
}

impl Phone {
    /// Opens the store in `dir` of the phone `keys` enrolled for `p` with the relay at `url`.
    pub fn enrolled(dir: &Path, p: &Professional, url: &str, keys: DeviceKeys) -> Fallible<Phone> {
        let identity = Identity {
            url: url.to_string(),
            ca_pem: keys.enrolled.ca_pem.clone(),
            crt_pem: keys.crt,
            key_pem: keys.key,
        };
        let author = Author {
            professional: ProfessionalId(p.id),
            device: DeviceId(keys.enrolled.device),
            display_name: p.name.clone(),
            profession: p.profession.into(),
            organisation: p.organisation.name.clone(),
        };
        Phone::open(dir, author, identity)
    }

    /// Opens (or reopens after a "restart") a phone's store.
    pub fn open(dir: &Path, author: Author, identity: Identity) -> Fallible<Phone> {
        let transport = HttpsTransport::new(
            &identity.url,
            &identity.ca_pem,
            &identity.crt_pem,
            &identity.key_pem,
        )
        .map_err(err)?;
        Self::with_transport(dir, author, identity, Arc::new(transport))
    }

    /// Opens a phone's store with a transport of the caller's (a byte-counting one in the
    /// benchmarks).
    pub fn with_transport(
        dir: &Path,
        author: Author,
        identity: Identity,
        transport: Arc<dyn Transport>,
    ) -> Fallible<Phone> {
        // A request cut a moment ago may still hold the old store inside the HTTP client's
        // tasks for a few milliseconds (a real app restart ends the process instead).
        let mut tries = 0;
        let store = loop {
            match RoomStore::open(dir, &PHONE_KEY) {
                Ok(s) => break s,
                Err(e) if tries < 100 && e.to_string().contains("lock") => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(err(e)),
            }
        };
        let device = author.device;
        Ok(Phone {
            author,
            identity,
            dir: dir.to_path_buf(),
            client: SyncClient::new(store, transport).for_device(device),
        })
    }

    /// Closes the store and opens it again, as an app restart does.
    pub fn restart(self) -> Fallible<Phone> {
        let Phone {
            author,
            identity,
            dir,
            client,
        } = self;
        drop(client);
        Phone::open(&dir, author, identity)
    }

    /// The same phone reaching the relay at `url` from now on (through a proxy, say).
    pub fn with_url(self, url: &str) -> Fallible<Phone> {
        let Phone {
            author,
            mut identity,
            dir,
            client,
        } = self;
        drop(client);
        identity.url = url.to_string();
        Phone::open(&dir, author, identity)
    }

    /// The store.
    pub fn store(&self) -> &RoomStore {
        self.client.store()
    }

    /// The sync client.
    pub fn client(&self) -> &SyncClient {
        &self.client
    }

    /// One full sync.
    pub fn sync(&self) -> Result<SyncReport, SyncError> {
        self.client.sync_now()
    }

    /// Posts a report into `room` (into its restricted document when the scope says so),
    /// offline: it reaches the relay at the next sync.
    pub fn post(&self, room: RoomId, content: &ReportContent) -> Fallible<ReportId> {
        let doc = self
            .store()
            .doc_for_report(room, self.author.professional, &content.scope)
            .map_err(err)?;
        doc.write(|r| r.post_report(&self.author, Timestamp::now(), content))
            .map_err(err)
    }

    /// Posts a report with `text` and the file at `path` attached (thumbnail made here for
    /// photos), and queues the attachment for upload. Returns the report and the reference.
    pub fn post_with_file(
        &self,
        room: RoomId,
        text: &str,
        path: &Path,
        kind: AttachmentKind,
        media_type: &str,
    ) -> Fallible<(ReportId, AttachmentRef)> {
        let blobs = self.client.blobs();
        let att = kizuna_core::blobs::attach_file(
            blobs,
            path,
            kind,
            media_type,
            Some("仙骨部".into()),
            Some(Timestamp::now()),
            None,
        )
        .map_err(err)?;
        let mut content = Phone::text(text, None);
        content.attachments.push(att.clone());
        let doc = self
            .store()
            .doc_for_report(room, self.author.professional, &content.scope)
            .map_err(err)?;
        let now = Timestamp::now();
        // Queued before the report is saved, as the app does (`Device::post_report`).
        blobs.queue_report(doc.id(), &content, now).map_err(err)?;
        let id = doc
            .write(|r| r.post_report(&self.author, now, &content))
            .map_err(err)?;
        Ok((id, att))
    }

    /// A free-text report with `text`, shared with everyone or only `audience`.
    pub fn text(text: &str, audience: Option<Vec<ProfessionalId>>) -> ReportContent {
        let mut c = ReportContent::free_text(Timestamp::now(), text);
        if let Some(members) = audience {
            c.scope = ShareScope::Members { members };
        }
        c
    }

    /// Every report this phone holds for `room` (main and restricted documents), by body
    /// text, with post numbers.
    pub fn reports(&self, room: RoomId) -> Fallible<Vec<(ReportId, Option<u64>, String)>> {
        let mut out = Vec::new();
        let mut docs = vec![room];
        docs.extend(self.store().scoped_docs(room).map_err(err)?);
        for doc in docs {
            let Ok(h) = self.store().open_room(doc) else {
                continue;
            };
            h.read(|r| {
                for id in r.report_ids()? {
                    let rep = r.report(id)?;
                    let text = match &rep.content.body {
                        ReportBody::Free { text } => text.clone(),
                        ReportBody::Soap { s, .. } => s.clone(),
                    };
                    out.push((id, rep.post_no, text));
                }
                Ok(())
            })
            .map_err(err)?;
        }
        out.sort_by(|a, b| a.2.cmp(&b.2));
        Ok(out)
    }

    /// A request with this phone's certificate that bypasses the sync client: what a client
    /// ignoring our own code would send. Answers (status, body); a body the relay cut short
    /// reads as empty.
    pub fn raw_request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Fallible<(u16, Vec<u8>)> {
        let tls = pki::client_config(
            &self.identity.ca_pem,
            Some((&self.identity.crt_pem, &self.identity.key_pem)),
        )
        .map_err(err)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .map_err(err)?;
        let url = format!("{}{path}", self.identity.url);
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(err)?;
        let content_type = content_type.to_string();
        kizuna_client::runtime::get().block_on(async move {
            let r = http
                .request(method, url)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .map_err(err)?;
            let status = r.status().as_u16();
            Ok((status, r.bytes().await.unwrap_or_default().to_vec()))
        })
    }

    /// The heads of every document this phone holds, by id.
    pub fn heads(&self) -> Fallible<Vec<(RoomId, Vec<automerge::ChangeHash>)>> {
        let mut out = Vec::new();
        for m in self.store().rooms().map_err(err)? {
            out.push((m.id, m.saved_heads()));
        }
        out.sort_by_key(|x| x.0);
        Ok(out)
    }
}
