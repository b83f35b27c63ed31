//! The professionals and their devices: registering (into the city rooms), editing, removing
//! (every device revoked and told to wipe), revoking one device, when each device last
//! synced, and the directory as administrators see it.

use crate::error::RelayError;
use crate::identity::directory::{Device, Professional};
use crate::state::Relay;
use kizuna_contract::directory::{DeviceView, DirectoryView, ProfessionalView};
use kizuna_core::fields::check_text;
use kizuna_core::{DeviceId, Organisation, Profession, ProfessionalId, Role, Timestamp};

/// Who a professional is, as registering or editing takes it (the rule's input; the admin
/// routes read the contract's `NewProfessional` and convert it).
#[derive(Clone, Debug)]
pub struct NewProfessional {
    /// Full name.
    pub name: String,
    /// Name in kana.
    pub kana: String,
    /// Profession.
    pub profession: Profession,
    /// Organisation (事業所).
    pub organisation: Organisation,
}

impl From<kizuna_contract::directory::NewProfessional> for NewProfessional {
    fn from(p: kizuna_contract::directory::NewProfessional) -> NewProfessional {
        NewProfessional {
            name: p.name,
            kana: p.kana,
            profession: p.profession.into(),
            organisation: p.organisation.into(),
        }
    }
}

impl From<&NewProfessional> for kizuna_contract::directory::NewProfessional {
    fn from(p: &NewProfessional) -> kizuna_contract::directory::NewProfessional {
        kizuna_contract::directory::NewProfessional {
            name: p.name.clone(),
            kana: p.kana.clone(),
            profession: p.profession.into(),
            organisation: p.organisation.clone().into(),
        }
    }
}

/// The stored professional as administrators see it (the record is never the body).
impl From<&Professional> for ProfessionalView {
    fn from(p: &Professional) -> ProfessionalView {
        ProfessionalView {
            id: p.id.0,
            name: p.name.clone(),
            kana: p.kana.clone(),
            profession: p.profession.into(),
            organisation: p.organisation.clone().into(),
            registered_at: p.registered_at.into(),
            removed_at: p.removed_at.map(Into::into),
        }
    }
}

/// The stored device as administrators see it at `now` (by the relay's clock), its
/// certificate's expiry filled in by `Relay::devices`.
pub fn device_view(d: &Device, now: Timestamp) -> DeviceView {
    let expires = d.cert_not_after.unwrap_or(d.enrolled_at);
    DeviceView {
        id: d.id.0,
        professional: d.professional.0,
        label: d.label.clone(),
        enrolled_at: d.enrolled_at.into(),
        cert_fingerprint: d.cert_fingerprint.clone(),
        cert_expires_at: Some(expires.into()),
        cert_days_left: Some(expires.0.saturating_sub(now.0).div_euclid(86_400_000)),
        revoked_at: d.revoked_at.map(Into::into),
        wipe: d.wipe,
        last_seen: d.last_seen.map(Into::into),
    }
}

/// Prefix of the last-sync time of each device (`seen:<device id>` → ms, big-endian).
const META_SEEN: &str = "seen:";

impl Relay {
    pub(crate) fn active_professional(
        &self,
        id: ProfessionalId,
    ) -> Result<Professional, RelayError> {
        match self.dir.professional(id)? {
            Some(p) if p.is_active() => Ok(p),
            _ => Err(RelayError::NotFound("professional")),
        }
    }

    /// Registers a professional and invites them to the city rooms: every professional reads
    /// the notices, care providers also read the alerts, administrators write both.
    pub fn add_professional(&self, new: NewProfessional) -> Result<Professional, RelayError> {
        self.add_professional_as(ProfessionalId::new(), new)
    }

    /// [`Relay::add_professional`] with the new professional's id chosen by the caller: the
    /// administrative act writes its audit record, naming the id, before the act.
    pub fn add_professional_as(
        &self,
        id: ProfessionalId,
        new: NewProfessional,
    ) -> Result<Professional, RelayError> {
        check_text("name", &new.name, 1, 100)?;
        check_text("kana", &new.kana, 1, 100)?;
        check_text("organisation.name", &new.organisation.name, 1, 100)?;
        check_office_number(&new.organisation)?;
        let p = Professional {
            id,
            name: new.name,
            kana: new.kana,
            profession: new.profession,
            organisation: new.organisation,
            registered_at: Timestamp::now(),
            removed_at: None,
        };
        self.dir.put_professional(&p)?;
        let city_role = if p.is_admin() {
            Role::Writer
        } else {
            Role::Reader
        };
        self.dir
            .set_membership(self.notices_room()?, p.id, city_role)?;
        if p.is_admin() || p.profession.is_care_provider() {
            self.dir
                .set_membership(self.alerts_room()?, p.id, city_role)?;
        }
        self.dir.flush()?;
        self.membership_changed(self.notices_room()?, p.id)?;
        if p.is_admin() || p.profession.is_care_provider() {
            self.membership_changed(self.alerts_room()?, p.id)?;
        }
        tracing::info!(professional = %p.id, profession = p.profession.key(), "professional added");
        Ok(p)
    }

    /// Every professional still registered.
    pub fn professionals(&self) -> Result<Vec<Professional>, RelayError> {
        let mut v: Vec<_> = self
            .dir
            .professionals()?
            .into_iter()
            .filter(|p| p.is_active())
            .collect();
        v.sort_by(|a, b| a.kana.cmp(&b.kana));
        Ok(v)
    }

    /// Removes a professional: they leave every room, every device of theirs is revoked and
    /// told to wipe (someone who left must not keep patient data).
    pub fn remove_professional(&self, id: ProfessionalId) -> Result<(), RelayError> {
        let mut p = self.active_professional(id)?;
        if p.is_admin() {
            return Err(RelayError::Conflict(
                "administrators cannot be removed through the API".into(),
            ));
        }
        let rooms = self.dir.memberships_of(id)?;
        for (room, _) in &rooms {
            self.dir.remove_membership(*room, id)?;
        }
        for mut d in self.dir.devices()? {
            if d.professional == id && d.revoked_at.is_none() {
                d.revoked_at = Some(Timestamp::now());
                d.wipe = true;
                self.dir.put_device(&d)?;
            }
        }
        p.removed_at = Some(Timestamp::now());
        self.dir.put_professional(&p)?;
        self.dir.flush()?;
        for (room, _) in rooms {
            self.membership_changed(room, id)?;
        }
        tracing::info!(professional = %id, "professional removed");
        Ok(())
    }

    /// Changes a professional's name, kana, profession or organisation. The member lists
    /// mirrored into their rooms' documents follow. Administrators keep their profession
    /// (it is what makes them administrators), and nobody becomes one this way.
    pub fn update_professional(
        &self,
        id: ProfessionalId,
        new: NewProfessional,
    ) -> Result<Professional, RelayError> {
        let mut p = self.active_professional(id)?;
        check_text("name", &new.name, 1, 100)?;
        check_text("kana", &new.kana, 1, 100)?;
        check_text("organisation.name", &new.organisation.name, 1, 100)?;
        check_office_number(&new.organisation)?;
        if p.is_admin() != (new.profession == Profession::CityAdministrator) {
            return Err(RelayError::Invalid(
                "profession: administrators are made at first start, not by editing".into(),
            ));
        }
        let provider_before = p.profession.is_care_provider();
        p.name = new.name;
        p.kana = new.kana;
        p.profession = new.profession;
        p.organisation = new.organisation;
        self.dir.put_professional(&p)?;
        // A care provider reads the alerts room; someone who no longer provides care does
        // not (administrators always write it).
        if !p.is_admin() && provider_before != p.profession.is_care_provider() {
            let alerts = self.alerts_room()?;
            if p.profession.is_care_provider() {
                self.dir.set_membership(alerts, p.id, Role::Reader)?;
            } else {
                self.dir.remove_membership(alerts, p.id)?;
                self.membership_changed(alerts, p.id)?;
            }
        }
        self.dir.flush()?;
        for (room, _) in self.dir.memberships_of(id)? {
            self.membership_changed(room, id)?;
        }
        tracing::info!(professional = %id, profession = p.profession.key(), "professional updated");
        Ok(p)
    }

    /// Revokes a device; with `wipe` it is also told to erase its local data.
    pub fn revoke_device(&self, id: DeviceId, wipe: bool) -> Result<(), RelayError> {
        let mut d = self.dir.device(id)?.ok_or(RelayError::NotFound("device"))?;
        if d.revoked_at.is_none() {
            d.revoked_at = Some(Timestamp::now());
        }
        d.wipe = d.wipe || wipe;
        self.dir.put_device(&d)?;
        self.dir.flush()?;
        tracing::info!(device = %id, wipe = d.wipe, "device revoked");
        Ok(())
    }

    /// Every device, newest first, with when each last synced and its newest certificate.
    pub fn devices(&self) -> Result<Vec<Device>, RelayError> {
        let mut v = Vec::new();
        for d in self.dir.devices()? {
            let mut d = self.with_current_cert(d)?;
            d.last_seen = self.last_seen(d.id)?;
            v.push(d);
        }
        v.sort_by_key(|d| std::cmp::Reverse(d.enrolled_at));
        Ok(v)
    }

    /// When a device last synced, if ever.
    pub fn last_seen(&self, device: DeviceId) -> Result<Option<Timestamp>, RelayError> {
        Ok(self
            .dir
            .meta(&format!("{META_SEEN}{device}"))?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(|b| Timestamp(i64::from_be_bytes(b))))
    }

    /// Records that a device synced now. Written at most once a minute per device, as its
    /// own record (never by rewriting the device, which would race with a revocation), and
    /// not flushed: losing the last minute of it in a crash costs nothing.
    pub fn note_seen(&self, device: DeviceId) -> Result<(), RelayError> {
        let now = Timestamp::now();
        if self
            .last_seen(device)?
            .is_some_and(|t| now.0.saturating_sub(t.0) < 60_000)
        {
            return Ok(());
        }
        self.dir
            .set_meta(&format!("{META_SEEN}{device}"), &now.0.to_be_bytes())?;
        Ok(())
    }

    /// Everyone and every device, for the admin console.
    pub fn directory_view(&self) -> Result<DirectoryView, RelayError> {
        let professionals = self.professionals()?;
        let mut organisations: Vec<Organisation> = Vec::new();
        for p in &professionals {
            if !organisations.contains(&p.organisation) {
                organisations.push(p.organisation.clone());
            }
        }
        organisations.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(DirectoryView {
            professionals: professionals.iter().map(ProfessionalView::from).collect(),
            devices: {
                let now = self.clock().now();
                self.devices()?
                    .iter()
                    .map(|d| device_view(d, now))
                    .collect()
            },
            organisations: organisations.into_iter().map(Into::into).collect(),
        })
    }

    /// Registered administrators (used at first start to know whether one must be made).
    pub fn administrators(&self) -> Result<Vec<Professional>, RelayError> {
        Ok(self
            .professionals()?
            .into_iter()
            .filter(|p| p.profession == Profession::CityAdministrator)
            .collect())
    }
}

fn check_office_number(org: &Organisation) -> Result<(), RelayError> {
    if let Some(no) = &org.office_number
        && (no.len() != 10 || !no.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(RelayError::Invalid(
            "organisation.office_number: must be 10 digits".into(),
        ));
    }
    Ok(())
}
