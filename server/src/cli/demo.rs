//! What `kizuna demo` prints once the demo city is up: the identities with their ids,
//! copy-paste commands, and how to log in to the console.

use crate::startup::StartError;
use crate::startup::demo_city::{ADMIN, DemoConsole, PEOPLE};
use crate::state::Relay;
use std::path::Path;

/// What to do next, printed after the demo starts: the identities with their ids, and
/// copy-paste commands.
pub fn guide(
    relay: &Relay,
    data: &Path,
    url: &str,
    console: Option<&DemoConsole>,
) -> Result<String, StartError> {
    let d = data.display();
    let professionals = relay.professionals()?;
    let devices = relay.devices()?;
    let mut s = String::new();
    s.push_str(&format!("\nKizuna demo relay on {url}  (data in {d}/)\n\n"));
    s.push_str("Demo identities (certificate and key in the demo folder):\n");
    s.push_str("  file       professional id                       device id                             name\n");
    let all = std::iter::once(ADMIN).chain(PEOPLE);
    for p in all {
        let prof = professionals.iter().find(|x| x.name == p.name);
        let pid = prof.map(|x| x.id.to_string()).unwrap_or_else(|| "-".into());
        let dev = prof
            .and_then(|x| {
                devices
                    .iter()
                    .find(|dv| dv.professional == x.id && dv.revoked_at.is_none())
            })
            .map(|dv| dv.id.to_string())
            .unwrap_or_else(|| "(none active)".into());
        s.push_str(&format!(
            "  {:<10} {pid}  {dev:<36}  {} {} {}\n",
            p.stem,
            p.name,
            p.profession.label_ja(),
            p.organisation
        ));
    }
    let curl = |who: &str, path: &str| {
        format!(
            "curl --cacert {d}/ca.crt --cert {d}/demo/{who}.crt --key {d}/demo/{who}.key {url}{path}"
        )
    };
    s.push_str("\nWho am I, and which rooms may this device sync:\n");
    s.push_str(&format!("  {}\n", curl("sato", "/v1/me")));
    s.push_str(&format!("  {}\n", curl("ito", "/v1/me")));
    s.push_str("\nAs the administrator (admin API over mTLS):\n");
    s.push_str(&format!("  {}\n", curl("admin", "/v1/admin/rooms")));
    s.push_str(&format!("  {}\n", curl("admin", "/v1/admin/devices")));
    s.push_str("\nWithout a client certificate only /healthz and enrollment answer:\n");
    s.push_str(&format!("  curl --cacert {d}/ca.crt {url}/healthz\n"));
    s.push_str(&format!("  curl --cacert {d}/ca.crt {url}/v1/me\n"));
    s.push_str("\nThe admin CLI (in another terminal):\n");
    s.push_str(&format!("  kizuna admin --data {d} professional list\n"));
    s.push_str(&format!("  kizuna admin --data {d} room list\n"));
    s.push_str(&format!("  kizuna admin --data {d} device list\n"));
    s.push_str(&format!(
        "  kizuna admin --data {d} enroll-code <PROFESSIONAL_ID>     (QR code for a phone)\n"
    ));
    s.push_str(&format!(
        "  kizuna admin --data {d} device revoke <DEVICE_ID> --wipe   (then the curl above fails)\n"
    ));
    s.push_str("  (with cargo: cargo run --release -p kizuna-server --bin kizuna -- admin …)\n");
    if let Some(c) = console {
        s.push('\n');
        s.push_str(&console_guide(c, data, url));
    }
    s.push_str("\nCtrl-C stops the relay; starting the demo again reuses this data.\n");
    Ok(s)
}

/// How to log in to the console, printed after the guide.
pub fn console_guide(c: &DemoConsole, data: &Path, url: &str) -> String {
    let d = data.display();
    format!(
        "Admin console in a browser: {url}/console/
  login: {}   password: {}
  second factor: a TOTP code; add this setup key to an authenticator app:
    {}
  or print the current code with: kizuna totp {}
  The browser does not know the demo's CA: import {d}/ca.crt as a trusted authority
  (or accept the warning for this local demo). Credentials are in {d}/demo/console.json.
",
        c.login, c.password, c.totp_secret, c.totp_secret
    )
}
