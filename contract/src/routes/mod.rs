//! Every route of the relay's API as data: method, path, who may call it, what it takes and
//! answers, and the problems it can send besides the common ones. [`openapi()`](crate::openapi)
//! is generated from this table, and the relay can test its router against [`ROUTES`] so a
//! route added on one side only is caught.

use crate::ProblemKind as P;
use std::borrow::Cow;

/// A schema's component name, taken from the type itself so a renamed type cannot leave a
/// dangling reference.
pub type SchemaName = fn() -> Cow<'static, str>;

/// The HTTP methods the API uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
}

impl Method {
    /// The method as HTTP spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Anyone who reaches the relay over TLS (no client certificate needed).
    Open,
    /// An enrolled, non-revoked device (its client certificate, checked on every request).
    Device,
    /// An administrator's device.
    Admin,
}

/// The query a route reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query {
    /// None.
    None,
    /// [`crate::events::EventsQuery`].
    Events,
    /// [`crate::audit::AuditQuery`].
    Audit,
    /// `room`: `notices` or `alerts` (absent: both).
    Notices,
    /// `doc`, `size`, `type` of [`crate::blobs::BlobQuery`].
    BlobStatus,
    /// `doc`, `offset` of [`crate::blobs::BlobQuery`].
    BlobUpload,
    /// `doc` of [`crate::blobs::BlobQuery`] (and the `Range` header).
    BlobDownload,
}

/// What a request carries.
#[derive(Clone, Copy, Debug)]
pub enum Body {
    /// Nothing (a state-changing admin route still sends `Content-Type: application/json`).
    None,
    /// A JSON body of this type.
    Json(SchemaName),
    /// A JSON body of this type, or an empty body meaning its defaults.
    OptionalJson(SchemaName),
    /// Raw bytes of one of these media types.
    Bytes(&'static [&'static str], &'static str),
}

/// What a successful answer carries.
#[derive(Clone, Copy, Debug)]
pub enum Reply {
    /// Nothing (`204`).
    Empty,
    /// A JSON body of this type.
    Json(SchemaName),
    /// A JSON array of this type.
    JsonList(SchemaName),
    /// Newline-delimited JSON, one value of this type per line.
    NdJson(SchemaName),
    /// Raw bytes of this media type (`*/*`: the stored type), described.
    Bytes(&'static str, &'static str),
    /// The OpenAPI document itself.
    OpenApi,
}

/// One route of the API.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// Method.
    pub method: Method,
    /// Path template as axum writes it (`/v1/admin/rooms/{id}`).
    pub path: &'static str,
    /// A stable name for generated clients.
    pub operation_id: &'static str,
    /// The capability it belongs to (the OpenAPI tag).
    pub tag: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Its query.
    pub query: Query,
    /// Its request body.
    pub body: Body,
    /// Status of a successful answer.
    pub status: u16,
    /// Its successful answer.
    pub reply: Reply,
    /// Problems it can send besides those every route of its kind can (see
    /// [`Route::problems`]).
    pub problems: &'static [ProblemKind],
}

use crate::ProblemKind;

impl Route {
    /// Every problem this route can answer: its own, plus those of its access (certificate,
    /// revocation, administrator), of a JSON body (invalid, too large, wrong type), of any
    /// `/v1/` route (cross-origin) and of every route (internal).
    pub fn problems(&self) -> Vec<ProblemKind> {
        let mut out: Vec<ProblemKind> = Vec::new();
        let mut add = |k: ProblemKind| {
            if !out.contains(&k) {
                out.push(k);
            }
        };
        for k in self.problems {
            add(*k);
        }
        if matches!(self.body, Body::Json(_) | Body::OptionalJson(_)) {
            add(P::Invalid);
            add(P::TooLarge);
            add(P::UnsupportedMediaType);
        }
        if matches!(self.access, Access::Device | Access::Admin) {
            add(P::ClientCertificateRequired);
            add(P::DeviceRevoked);
        }
        if self.access == Access::Admin {
            add(P::Forbidden);
        }
        if self.path.starts_with("/v1/") {
            add(P::CrossOrigin);
        }
        // Whatever writes (an act, a sync, an audited read) can meet a full or failing disk.
        if matches!(self.access, Access::Device | Access::Admin) || self.method != Method::Get {
            add(P::StorageFull);
            add(P::StorageFailed);
        }
        add(P::Internal);
        out.sort_by_key(|k| (k.status(), k.slug()));
        out
    }
}

fn name<T: utoipa::ToSchema>() -> Cow<'static, str> {
    T::name()
}

const fn route(
    method: Method,
    path: &'static str,
    operation_id: &'static str,
    tag: &'static str,
    summary: &'static str,
    access: Access,
) -> Route {
    Route {
        method,
        path,
        operation_id,
        tag,
        summary,
        access,
        query: Query::None,
        body: Body::None,
        status: 200,
        reply: Reply::Empty,
        problems: &[],
    }
}

mod table;
pub use table::ROUTES;
