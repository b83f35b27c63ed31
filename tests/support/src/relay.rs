//! A real relay in-process on 127.0.0.1: TLS 1.3, client certificates issued by its own CA, its
//! sled stores on disk, and the administrator identity a fresh relay writes. Nothing is turned
//! off, so what a test sees is what a phone sees.
//!
//! One type for both kinds of test. [`LoopbackRelay::start`] (and `start_with`,
//! `start_routed`, [`LoopbackRelay::launch`]) serve on the runtime of the calling
//! `#[tokio::test]`; [`LoopbackRelay::start_blocking`] and [`LoopbackRelay::launch_blocking`]
//! make the relay its own runtime and run the same `launch` on it, for plain `#[test]`s,
//! the simulated phones (whose calls block, as the mobile bindings' do) and the benchmarks.
//! The administrator's acts are async; their `blocking_*` twins run them on the relay's own
//! runtime.

use crate::phone::{DeviceKeys, Phone, enroll_device};
use crate::{Fallible, err};
use kizuna_contract::directory::ProfessionalView as Professional;
use kizuna_core::model::Consent;
use kizuna_core::{Date, Organisation, Profession, ProfessionalId, Role, RoomId, RoomKind};
use kizuna_server::cli::client::{AnyId, Client, ClientError};
use kizuna_server::http::ServeOptions;
use kizuna_server::identity::{NewProfessional, NewRoom, pki};
use kizuna_server::startup;
use kizuna_server::state::{Relay, RelayConfig};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Routes a test adds around the relay's router (given the relay), e.g. a handler that panics.
pub type Wrap = Box<dyn FnOnce(Arc<Relay>, axum::Router) -> axum::Router + Send>;

/// Limits loose enough that tests enrolling many phones never meet the enrollment rate limit
/// (a test of that limit sets its own).
pub fn generous() -> RelayConfig {
    RelayConfig {
        enroll_attempts: 100_000,
        enroll_window: Duration::from_secs(60),
        ..RelayConfig::default()
    }
}

/// How to start a [`LoopbackRelay`]. `Default`: a fresh temporary directory, a free port,
/// [`generous`] limits, the relay's own accept-loop limits and router.
pub struct RelayOptions {
    /// The data directory (new or existing, so a relay can be restarted on its data); `None`
    /// makes a temporary one that lives as long as the relay.
    pub data: Option<PathBuf>,
    /// Where to listen; `None` is a free port on 127.0.0.1. A restart passes the old address
    /// so phones keep their URL.
    pub addr: Option<SocketAddr>,
    /// The relay's configuration.
    pub config: RelayConfig,
    /// The accept loop's limits (tests of slow clients shorten its timeouts).
    pub limits: ServeOptions,
    /// Routes added around the relay's router.
    pub wrap: Option<Wrap>,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            data: None,
            addr: None,
            config: generous(),
            limits: ServeOptions::default(),
            wrap: None,
        }
    }
}

/// A running relay on loopback, with its administrator's identity at hand. Stops when dropped
/// or with [`LoopbackRelay::stop`].
pub struct LoopbackRelay {
    /// The relay's shared state, for looking inside (audit log, documents, blobs).
    pub relay: Arc<Relay>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// `https://127.0.0.1:port`.
    pub url: String,
    /// The CA certificate devices trust.
    pub ca_pem: String,
    /// The administrator's certificate (PEM), as the relay wrote it at first start.
    pub admin_crt: String,
    /// The administrator's key (PEM).
    pub admin_key: String,
    data: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
    /// The relay's own runtime in the blocking flavour; `None` when it serves on the caller's.
    runtime: Option<tokio::runtime::Runtime>,
    /// The temporary data directory, when the relay made it (dropped last).
    _dir: Option<tempfile::TempDir>,
}

impl LoopbackRelay {
    /// A relay with [`generous`] limits in a fresh directory, served on the calling test's
    /// runtime. Panics if it cannot start (a broken environment, not a test outcome).
    pub async fn start() -> LoopbackRelay {
        Self::start_with(generous()).await
    }

    /// [`LoopbackRelay::start`] with the relay's configuration given.
    pub async fn start_with(config: RelayConfig) -> LoopbackRelay {
        Self::start_routed(config, |_, app| app).await
    }

    /// A relay serving `wrap(relay, router)`: tests add routes the relay does not have.
    pub async fn start_routed(
        config: RelayConfig,
        wrap: impl FnOnce(Arc<Relay>, axum::Router) -> axum::Router + Send + 'static,
    ) -> LoopbackRelay {
        let options = RelayOptions {
            config,
            wrap: Some(Box::new(wrap)),
            ..RelayOptions::default()
        };
        match Self::launch(options).await {
            Ok(relay) => relay,
            Err(e) => panic!("the loopback relay did not start: {e}"),
        }
    }

    /// Starts a relay as `options` say, served on the current tokio runtime. Every other
    /// constructor ends here.
    pub async fn launch(options: RelayOptions) -> Fallible<LoopbackRelay> {
        let RelayOptions {
            data,
            addr,
            config,
            limits,
            wrap,
        } = options;
        let (dir, data) = match data {
            Some(data) => (None, data),
            None => {
                let dir = tempfile::tempdir().map_err(err)?;
                let data = dir.path().to_path_buf();
                (Some(dir), data)
            }
        };
        let bind = addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = bind_retry(bind).await?;
        let addr = listener.local_addr().map_err(err)?;
        let prepared = startup::prepare(&data, addr, None, config).map_err(err)?;
        startup::ensure_admin(
            &prepared.relay,
            &data.join("admin"),
            "管理者",
            "かんりしゃ",
            "テスト市 介護支援課",
        )
        .map_err(err)?;
        let url = startup::public_url(addr, None);
        startup::write_relay_info(&data, &url).map_err(err)?;
        let read = |p: &str| std::fs::read_to_string(data.join(p)).map_err(err);
        let (ca_pem, admin_crt, admin_key) = (
            read("ca.crt")?,
            read("admin/admin.crt")?,
            read("admin/admin.key")?,
        );
        let mut app = kizuna_server::router(prepared.relay.clone());
        if let Some(wrap) = wrap {
            app = wrap(prepared.relay.clone(), app);
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(async move {
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
        Ok(LoopbackRelay {
            relay: prepared.relay,
            addr,
            url,
            ca_pem,
            admin_crt,
            admin_key,
            data,
            stop: Some(stop),
            served: Some(served),
            runtime: None,
            _dir: dir,
        })
    }

    /// A relay on `data` (new or existing) on its own runtime, for code that is not async: on
    /// a free port, or on `addr` when given (a restart on the same address).
    pub fn start_blocking(data: &Path, addr: Option<SocketAddr>) -> Fallible<LoopbackRelay> {
        Self::launch_blocking(RelayOptions {
            data: Some(data.to_path_buf()),
            addr,
            ..RelayOptions::default()
        })
    }

    /// [`LoopbackRelay::launch`] on a runtime of the relay's own (two worker threads), which
    /// then also runs the `blocking_*` acts.
    pub fn launch_blocking(options: RelayOptions) -> Fallible<LoopbackRelay> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(err)?;
        let mut relay = runtime.block_on(Self::launch(options))?;
        relay.runtime = Some(runtime);
        Ok(relay)
    }

    /// Stops serving. On its own runtime it also waits (up to 15 s) for open connections to
    /// end and the stores to be released, so the same directory can be opened again.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let (Some(runtime), Some(served)) = (&self.runtime, self.served.take()) {
            let _ = runtime
                .block_on(async { tokio::time::timeout(Duration::from_secs(15), served).await });
        }
    }

    /// The data directory.
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// The administrator's client (the admin CLI's HTTPS client with the admin certificate).
    pub fn admin(&self) -> Client {
        self.client(Some((&self.admin_crt, &self.admin_key)))
    }

    /// A client without a certificate, as a phone is before enrollment.
    pub fn anonymous(&self) -> Client {
        self.client(None)
    }

    /// A client presenting an enrolled device's certificate.
    pub fn device(&self, keys: &DeviceKeys) -> Client {
        self.client(Some((&keys.crt, &keys.key)))
    }

    fn client(&self, identity: Option<(&str, &str)>) -> Client {
        match Client::new(&self.url, &self.ca_pem, identity) {
            Ok(c) => c,
            Err(e) => panic!("a client of the loopback relay: {e}"),
        }
    }

    /// A plain reqwest client trusting the relay's CA, for looking at raw responses.
    pub fn raw(&self, identity: Option<(&str, &str)>) -> reqwest::Client {
        let built = pki::client_config(&self.ca_pem, identity)
            .map_err(err)
            .and_then(|tls| {
                reqwest::Client::builder()
                    .use_preconfigured_tls(tls)
                    .build()
                    .map_err(err)
            });
        match built {
            Ok(c) => c,
            Err(e) => panic!("a raw client of the loopback relay: {e}"),
        }
    }

    /// Registers a professional of a test office.
    pub async fn add(&self, name: &str, profession: Profession) -> Fallible<Professional> {
        let new = NewProfessional {
            name: name.to_string(),
            kana: "てすと".to_string(),
            profession,
            organisation: Organisation {
                name: "テスト事業所".to_string(),
                office_number: None,
            },
        };
        self.admin().add_professional(&new).await.map_err(err)
    }

    /// Opens a patient room with the patient's consent ([`consented_room`]).
    pub async fn patient_room(&self, name: &str) -> Fallible<RoomId> {
        let new = consented_room(name)?;
        let room = self.admin().create_room(&new).await.map_err(err)?;
        Ok(RoomId(room.id))
    }

    /// Adds a member (`who`: a core id or a view's UUID).
    pub async fn invite(&self, room: RoomId, who: impl AnyId, role: Role) -> Fallible<()> {
        let who = ProfessionalId(who.uuid());
        self.admin()
            .invite(room, who, role)
            .await
            .map(|_| ())
            .map_err(err)
    }

    /// Removes a member (`who`: a core id or a view's UUID).
    pub async fn remove(&self, room: RoomId, who: impl AnyId) -> Fallible<()> {
        let who = ProfessionalId(who.uuid());
        self.admin().remove_member(room, who).await.map_err(err)
    }

    /// Enrolls a new device for `who` over HTTPS the way a phone does: a one-time code from
    /// the administrator, a key made on the device, a CSR.
    pub async fn enroll(&self, who: impl AnyId) -> Fallible<DeviceKeys> {
        enroll_device(&self.admin(), &self.url, &self.ca_pem, who.uuid()).await
    }

    /// A professional with one enrolled device.
    pub async fn member(
        &self,
        name: &str,
        profession: Profession,
    ) -> Fallible<(Professional, DeviceKeys)> {
        let p = self.add(name, profession).await?;
        let keys = self.enroll(p.id).await?;
        Ok((p, keys))
    }

    /// Runs `act` to its end on the relay's own runtime (the blocking flavour only: inside a
    /// runtime, await the act instead).
    fn block_on<T>(&self, act: impl Future<Output = Fallible<T>>) -> Fallible<T> {
        match &self.runtime {
            Some(runtime) => runtime.block_on(act),
            None => Err("this relay serves on the caller's runtime: await the act instead".into()),
        }
    }

    /// [`LoopbackRelay::add`], blocking.
    pub fn blocking_add(&self, name: &str, profession: Profession) -> Fallible<Professional> {
        self.block_on(self.add(name, profession))
    }

    /// [`LoopbackRelay::patient_room`], blocking.
    pub fn blocking_patient_room(&self, name: &str) -> Fallible<RoomId> {
        self.block_on(self.patient_room(name))
    }

    /// [`LoopbackRelay::invite`], blocking.
    pub fn blocking_invite(&self, room: RoomId, who: impl AnyId, role: Role) -> Fallible<()> {
        self.block_on(self.invite(room, who, role))
    }

    /// [`LoopbackRelay::remove`], blocking.
    pub fn blocking_remove(&self, room: RoomId, who: impl AnyId) -> Fallible<()> {
        self.block_on(self.remove(room, who))
    }

    /// Runs any administrator API call on the relay's own runtime, blocking.
    pub fn with_admin<T>(
        &self,
        f: impl AsyncFnOnce(Client) -> Result<T, ClientError>,
    ) -> Fallible<T> {
        let admin = self.admin();
        self.block_on(async move { f(admin).await.map_err(err) })
    }

    /// Enrolls a new phone for `p` the way the app does, with its store in `dir`, blocking
    /// (the phone's own calls block too).
    pub fn enroll_phone(&self, p: &Professional, dir: &Path) -> Fallible<Phone> {
        let keys = self.block_on(self.enroll(p.id))?;
        Phone::enrolled(dir, p, &self.url, keys)
    }
}

impl Drop for LoopbackRelay {
    fn drop(&mut self) {
        self.shutdown();
    }
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

/// Binds `addr`, retrying for five seconds: a relay restarted on its old port may find it
/// still held for a moment.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A relay serving on the test's runtime cannot block on it: its `blocking_*` acts say so
    /// instead of panicking inside the runtime, and the async acts work.
    #[tokio::test]
    async fn blocking_acts_need_the_relays_own_runtime() {
        let t = LoopbackRelay::start().await;
        let refused = t.blocking_add("看護師", Profession::Nurse).unwrap_err();
        assert!(refused.contains("await"), "{refused}");
        let (p, keys) = t.member("看護師", Profession::Nurse).await.unwrap();
        let me = t.device(&keys).me().await.unwrap();
        assert_eq!(me.professional.id, p.id);
    }

    /// The blocking flavour: stopped, it releases the stores, and a relay started again on
    /// the same data and address still knows who was registered.
    #[test]
    fn a_blocking_relay_restarts_on_its_data() {
        let tmp = tempfile::tempdir().unwrap();
        let relay = LoopbackRelay::start_blocking(tmp.path(), None).unwrap();
        let addr = relay.addr;
        let p = relay.blocking_add("看護師", Profession::Nurse).unwrap();
        relay.stop();
        let relay = LoopbackRelay::start_blocking(tmp.path(), Some(addr)).unwrap();
        assert_eq!(relay.addr, addr);
        let known = relay.with_admin(async |c| c.directory().await).unwrap();
        assert!(known.professionals.iter().any(|k| k.id == p.id));
    }
}
