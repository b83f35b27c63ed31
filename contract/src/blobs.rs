//! Attachments (photos, PDFs, videos) move outside the sync body, by content hash, resumably:
//! `GET /v1/blobs/{hash}/upload` says how much the relay holds, `PUT /v1/blobs/{hash}` sends
//! the rest (raw bytes), `GET /v1/blobs/{hash}` downloads (with `Range`). Only the upload
//! status is JSON; the queries are the same on every blob route.

use serde::{Deserialize, Serialize};

/// Where an upload stands on the relay: the answer of the status request and of each upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadStatus {
    /// Bytes the relay holds; send from here.
    pub offset: u64,
    /// The relay holds the whole blob and has checked its hash.
    pub complete: bool,
}

/// The query of the blob routes (`?doc=…&size=…&type=…&offset=…`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct BlobQuery {
    /// The document whose content references the blob (membership is checked there).
    #[cfg_attr(feature = "openapi", param(value_type = uuid::Uuid))]
    pub doc: String,
    /// Upload status: the blob's full size in bytes (required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Upload status: the MIME type (default `application/octet-stream`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(rename = "type"))]
    pub media_type: Option<String>,
    /// Upload: where these bytes start (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// The blob's id in the path: lower-case hex SHA-256 of its bytes.
pub const BLOB_HASH_PATTERN: &str = "^[0-9a-f]{64}$";
