//! A relay in-process on 127.0.0.1:0 with real TLS, real certificates and a real sled store
//! in a temporary directory, plus clients acting as devices.

use kizuna_contract::directory::ProfessionalView as Professional;
use kizuna_contract::enrollment::{EnrollRequest, EnrollResponse};
use kizuna_core::{Organisation, Profession};
use kizuna_server::cli::client::Client;
use kizuna_server::identity::NewProfessional;
use kizuna_server::identity::pki;
use kizuna_server::startup;
use kizuna_server::state::{Relay, RelayConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A running relay; stops when dropped.
pub struct TestRelay {
    pub dir: tempfile::TempDir,
    pub relay: Arc<Relay>,
    pub addr: SocketAddr,
    pub url: String,
    pub ca_pem: String,
    pub admin_crt: String,
    pub admin_key: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A device's identity: certificate and key in PEM, and what enrollment answered.
pub struct DeviceKeys {
    pub crt: String,
    pub key: String,
    pub enrolled: EnrollResponse,
}

pub fn generous() -> RelayConfig {
    RelayConfig {
        enroll_attempts: 1000,
        enroll_window: Duration::from_secs(60),
        ..RelayConfig::default()
    }
}

impl TestRelay {
    pub async fn start() -> TestRelay {
        Self::start_with(generous()).await
    }

    pub async fn start_with(config: RelayConfig) -> TestRelay {
        Self::start_routed(config, |_, app| app).await
    }

    /// A relay serving `wrap(relay, router)`: tests add routes the relay does not have.
    pub async fn start_routed(
        config: RelayConfig,
        wrap: impl FnOnce(Arc<Relay>, axum::Router) -> axum::Router,
    ) -> TestRelay {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let prepared = startup::prepare(dir.path(), addr, None, config).unwrap();
        startup::ensure_admin(
            &prepared.relay,
            &dir.path().join("admin"),
            "管理者",
            "かんりしゃ",
            "テスト市 介護支援課",
        )
        .unwrap();
        let url = startup::public_url(addr, None);
        startup::write_relay_info(dir.path(), &url).unwrap();
        let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap();
        let ca_pem = read("ca.crt");
        let admin_crt = read("admin/admin.crt");
        let admin_key = read("admin/admin.key");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = wrap(
            prepared.relay.clone(),
            kizuna_server::router(prepared.relay.clone()),
        );
        tokio::spawn(kizuna_server::serve(listener, prepared.tls, app, async {
            let _ = stopped.await;
        }));
        TestRelay {
            dir,
            relay: prepared.relay,
            addr,
            url,
            ca_pem,
            admin_crt,
            admin_key,
            stop: Some(stop),
        }
    }

    pub fn admin(&self) -> Client {
        Client::new(
            &self.url,
            &self.ca_pem,
            Some((&self.admin_crt, &self.admin_key)),
        )
        .unwrap()
    }

    pub fn anonymous(&self) -> Client {
        Client::new(&self.url, &self.ca_pem, None).unwrap()
    }

    pub fn device(&self, keys: &DeviceKeys) -> Client {
        Client::new(&self.url, &self.ca_pem, Some((&keys.crt, &keys.key))).unwrap()
    }

    /// A plain reqwest client trusting the relay's CA, for looking at raw responses.
    pub fn raw(&self, identity: Option<(&str, &str)>) -> reqwest::Client {
        let tls = pki::client_config(&self.ca_pem, identity).unwrap();
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .unwrap()
    }

    pub async fn add(&self, name: &str, profession: Profession) -> Professional {
        self.admin()
            .add_professional(&NewProfessional {
                name: name.to_string(),
                kana: "てすと".to_string(),
                profession,
                organisation: Organisation {
                    name: "テスト事業所".to_string(),
                    office_number: None,
                },
            })
            .await
            .unwrap()
    }

    /// Enrolls a new device for `who` over HTTP the way a phone does.
    pub async fn enroll(&self, who: uuid::Uuid) -> DeviceKeys {
        let code = self.admin().enroll_code(who, None).await.unwrap();
        let (key, csr) = pki::new_device_key_and_csr().unwrap();
        let enrolled = self
            .anonymous()
            .enroll(&EnrollRequest {
                code: code.code,
                csr_pem: csr,
                label: Some("test phone".into()),
            })
            .await
            .unwrap();
        DeviceKeys {
            crt: enrolled.certificate_pem.clone(),
            key: key.serialize_pem(),
            enrolled,
        }
    }

    /// A professional with one enrolled device.
    pub async fn member(&self, name: &str, profession: Profession) -> (Professional, DeviceKeys) {
        let p = self.add(name, profession).await;
        let keys = self.enroll(p.id).await;
        (p, keys)
    }
}
