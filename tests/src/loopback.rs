//! A real relay in-process on 127.0.0.1 (TLS 1.3, client certificates, sled stores on disk)
//! and phones that enroll with one-time codes and sync through the default HTTPS transport
//! and sync client of `kizuna-client` (what the apps ship), as the end-to-end tests and the
//! benchmarks use them.
//!
//! The relay runs on its own tokio runtime; phone calls block (as the mobile bindings do on
//! their background thread), so tests are plain `#[test]` functions.

use kizuna_client::{HttpsTransport, SyncClient, SyncError, Transport};
use kizuna_contract::directory::ProfessionalView as Professional;
use kizuna_contract::enrollment::EnrollRequest;
use kizuna_core::model::{Consent, ReportContent, ShareScope};
use kizuna_core::sync::device::SyncReport;
use kizuna_core::{
    Author, Date, Organisation, Profession, ProfessionalId, ReportId, Role, RoomId, RoomKind,
    RoomStore, Timestamp,
};
use kizuna_server::cli::client::{AnyId, Client};
use kizuna_server::identity::{NewProfessional, NewRoom};
use kizuna_server::state::{Relay, RelayConfig};
use kizuna_server::{identity::pki, startup};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Any failure of the harness, as text (tests unwrap it).
pub type Fallible<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A running relay on loopback; stops when dropped or with [`LoopRelay::stop`].
pub struct LoopRelay {
    data: PathBuf,
    /// The relay itself, for looking inside in tests.
    pub relay: Arc<Relay>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// `https://127.0.0.1:port`.
    pub url: String,
    /// The CA certificate devices trust.
    pub ca_pem: String,
    admin_crt: String,
    admin_key: String,
    rt: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

impl LoopRelay {
    /// Starts a relay on `data` (new or existing) on a free port, or on `addr` when given (a
    /// restart on the same address, so phones keep their URL).
    pub fn start(data: &Path, addr: Option<SocketAddr>) -> Fallible<LoopRelay> {
        Self::start_with(data, addr, kizuna_server::http::ServeOptions::default())
    }

    /// [`LoopRelay::start`] with the accept loop's limits given (short timeouts in tests).
    pub fn start_with(
        data: &Path,
        addr: Option<SocketAddr>,
        limits: kizuna_server::http::ServeOptions,
    ) -> Fallible<LoopRelay> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(err)?;
        let bind = addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = rt.block_on(bind_retry(bind))?;
        let addr = listener.local_addr().map_err(err)?;
        let config = RelayConfig {
            enroll_attempts: 100_000,
            ..RelayConfig::default()
        };
        let prepared = startup::prepare(data, addr, None, config).map_err(err)?;
        startup::ensure_admin(
            &prepared.relay,
            &data.join("admin"),
            "管理者",
            "かんりしゃ",
            "テスト市 介護支援課",
        )
        .map_err(err)?;
        let url = startup::public_url(addr, None);
        startup::write_relay_info(data, &url).map_err(err)?;
        let read = |p: &str| std::fs::read_to_string(data.join(p)).map_err(err);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = kizuna_server::router(prepared.relay.clone());
        let served = rt.spawn(async move {
            let _ = kizuna_server::http::serve_with(
                listener,
                prepared.tls,
                app,
                async {
                    let _ = stopped.await;
                },
                limits,
            )
            .await;
        });
        Ok(LoopRelay {
            data: data.to_path_buf(),
            relay: prepared.relay,
            addr,
            url,
            ca_pem: read("ca.crt")?,
            admin_crt: read("admin/admin.crt")?,
            admin_key: read("admin/admin.key")?,
            rt,
            stop: Some(stop),
            served: Some(served),
        })
    }

    /// Stops serving and releases the stores (so the same directory can be opened again).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.served.take() {
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(15), h).await });
        }
    }

    /// The data directory.
    pub fn data(&self) -> &Path {
        &self.data
    }

    fn admin(&self) -> Fallible<Client> {
        Client::new(
            &self.url,
            &self.ca_pem,
            Some((&self.admin_crt, &self.admin_key)),
        )
        .map_err(err)
    }

    /// Runs an admin API call on the relay's runtime.
    pub fn with_admin<T>(
        &self,
        f: impl AsyncFnOnce(Client) -> Result<T, kizuna_server::cli::client::ClientError>,
    ) -> Fallible<T> {
        let admin = self.admin()?;
        self.rt.block_on(f(admin)).map_err(err)
    }

    /// Registers a professional.
    pub fn add(&self, name: &str, profession: Profession) -> Fallible<Professional> {
        let new = NewProfessional {
            name: name.to_string(),
            kana: "てすと".to_string(),
            profession,
            organisation: Organisation {
                name: "テスト事業所".to_string(),
                office_number: None,
            },
        };
        self.with_admin(async move |c| c.add_professional(&new).await)
    }

    /// Opens a patient room with consent.
    pub fn patient_room(&self, name: &str) -> Fallible<RoomId> {
        let new = consented_room(name)?;
        self.with_admin(async move |c| c.create_room(&new).await)
            .map(|r| RoomId(r.id))
    }

    /// Adds a member (`who`: a core id or a view's UUID).
    pub fn invite(&self, room: RoomId, who: impl AnyId, role: Role) -> Fallible<()> {
        let who = ProfessionalId(who.uuid());
        self.with_admin(async move |c| c.invite(room, who, role).await.map(|_| ()))
    }

    /// Removes a member (`who`: a core id or a view's UUID).
    pub fn remove(&self, room: RoomId, who: impl AnyId) -> Fallible<()> {
        let who = ProfessionalId(who.uuid());
        self.with_admin(async move |c| c.remove_member(room, who).await)
    }

    /// Enrolls a new phone for `p` the way the app does (one-time code, key made on the
    /// device, CSR), with its store in `dir`.
    pub fn enroll(&self, p: &Professional, dir: &Path) -> Fallible<Phone> {
        enroll(&self.rt, &self.admin()?, &self.url, &self.ca_pem, p, dir)
    }
}

/// Enrolls a new phone for `p` with the relay at `url` (administered through `admin`), with
/// its store in `dir`.
pub fn enroll(
    rt: &tokio::runtime::Runtime,
    admin: &Client,
    url: &str,
    ca_pem: &str,
    p: &Professional,
    dir: &Path,
) -> Fallible<Phone> {
    let code = rt.block_on(admin.enroll_code(p.id, None)).map_err(err)?;
    let (key, csr) = pki::new_device_key_and_csr().map_err(err)?;
    let anon = Client::new(url, ca_pem, None).map_err(err)?;
    let enrolled = rt
        .block_on(anon.enroll(&EnrollRequest {
            code: code.code,
            csr_pem: csr,
            label: Some("loopback phone".into()),
        }))
        .map_err(err)?;
    let identity = Identity {
        url: url.to_string(),
        ca_pem: enrolled.ca_pem.clone(),
        crt_pem: enrolled.certificate_pem.clone(),
        key_pem: key.serialize_pem(),
    };
    let author = Author {
        professional: ProfessionalId(p.id),
        device: kizuna_core::DeviceId(enrolled.device),
        display_name: p.name.clone(),
        profession: p.profession.into(),
        organisation: p.organisation.name.clone(),
    };
    Phone::open(dir, author, identity)
}

/// A patient room named `name` with the patient's own consent, as tests and benchmarks open
/// them.
pub fn consented_room(name: &str) -> Fallible<NewRoom> {
    Ok(NewRoom {
        kind: RoomKind::Patient,
        display_name: name.to_string(),
        consent: Some(Consent {
            given_by: "本人".into(),
            relation: "本人".into(),
            date: Date::new(2026, 4, 1).map_err(err)?,
            obtained_by: "市 介護支援課".into(),
            obtained_by_id: None,
            form: None,
        }),
    })
}

async fn bind_retry(addr: SocketAddr) -> Fallible<tokio::net::TcpListener> {
    let mut last = String::new();
    for _ in 0..50 {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("cannot listen on {addr}: {last}"))
}

impl Drop for LoopRelay {
    fn drop(&mut self) {
        self.shutdown();
    }
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
        Ok(Phone {
            author,
            identity,
            dir: dir.to_path_buf(),
            client: SyncClient::new(store, transport),
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
        kind: kizuna_core::model::AttachmentKind,
        media_type: &str,
    ) -> Fallible<(ReportId, kizuna_core::model::AttachmentRef)> {
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
                        kizuna_core::model::ReportBody::Free { text } => text.clone(),
                        kizuna_core::model::ReportBody::Soap { s, .. } => s.clone(),
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
