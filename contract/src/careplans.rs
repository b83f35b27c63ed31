//! Care-plan imports: the care manager's standard CSV files (ケアプランデータ連携) uploaded into
//! a patient room by an administrator (`/v1/admin/rooms/{id}/care-plans`).

use crate::people::Millis;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most files in one care-plan import (the standard has five kinds).
pub const MAX_CARE_PLAN_FILES: usize = 10;

/// Largest care-plan request body in bytes (base64 inside JSON).
pub const MAX_CARE_PLAN_BODY: usize = 6 * 1024 * 1024;

/// One file of a care-plan import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CarePlanUpload {
    /// The file's name as the care manager's system wrote it (`UPPLAN_…CSV`).
    pub name: String,
    /// Its bytes (Shift-JIS CSV), base64.
    #[cfg_attr(feature = "openapi", schema(content_encoding = "base64"))]
    pub data_base64: String,
}

/// `POST /v1/admin/rooms/{id}/care-plans`: the files of one import (all or nothing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CarePlanUploadRequest {
    /// The files, at most [`MAX_CARE_PLAN_FILES`].
    pub files: Vec<CarePlanUpload>,
}

/// The five kinds of care-plan file, by their file-name prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CarePlanFileKind {
    /// 第1表 居宅サービス計画書(1).
    #[serde(rename = "UP1KYO")]
    Table1,
    /// 第2表 居宅サービス計画書(2).
    #[serde(rename = "UP2KYO")]
    Table2,
    /// 第6表 サービス利用票 (plan).
    #[serde(rename = "UPPLAN")]
    Plan,
    /// 第6表 (actuals, 実績).
    #[serde(rename = "UPJSK")]
    Actuals,
    /// 利用者補足情報.
    #[serde(rename = "UPHOSOKU")]
    Supplement,
}

/// What an import did: the answer of `POST /v1/admin/rooms/{id}/care-plans`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportSummary {
    /// The import's id.
    pub id: Uuid,
    /// Each file as `[name, kind, rows]`.
    pub files: Vec<(String, CarePlanFileKind, u64)>,
    /// The insured person's number the files are for.
    pub insured_number: String,
}

/// One past import without its rows (which are care data): `GET
/// /v1/admin/rooms/{id}/care-plans`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CarePlanImportView {
    /// Import id.
    pub id: Uuid,
    /// When.
    pub imported_at: Millis,
    /// By whom (name).
    pub imported_by: String,
    /// Each file as `[name, rows]`.
    pub files: Vec<(String, u64)>,
}
