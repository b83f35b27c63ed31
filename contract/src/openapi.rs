//! The OpenAPI 3.1 document, generated from the contract's types ([`utoipa::ToSchema`]) and
//! the route table ([`crate::routes::ROUTES`]). `docs/openapi.json` is its committed copy
//! (`tests/openapi_doc.rs` checks they agree); the relay serves it at `GET /v1/openapi.json`.

use crate::routes::{Access, Body, Query, ROUTES, Reply, Route};
use crate::{ProblemKind, audit, blobs, careplans, console, directory, enrollment, events};
use crate::{me, notices, problem, rooms};
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, Parameter, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{Array, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    Content, Header, KnownFormat, OpenApi, Ref, RefOr, Required, ResponseBuilder,
};
use utoipa::{IntoParams, OpenApi as _};

/// The name of the client-certificate security scheme.
const MTLS: &str = "deviceCertificate";

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    crate::Health,
    crate::Readiness,
    problem::Problem,
    enrollment::EnrollCodeRequest,
    enrollment::EnrollCodeResponse,
    enrollment::EnrollRequest,
    enrollment::EnrollResponse,
    enrollment::RenewRequest,
    enrollment::RenewResponse,
    enrollment::CaView,
    enrollment::CaStatus,
    enrollment::RetireRequest,
    me::MeResponse,
    me::DirectRequest,
    directory::NewProfessional,
    directory::ProfessionalView,
    directory::DeviceView,
    directory::DirectoryView,
    directory::RevokeRequest,
    rooms::NewRoom,
    rooms::InviteRequest,
    rooms::ArchiveRequest,
    rooms::RoomView,
    rooms::RoomActivity,
    notices::NewNotice,
    notices::PostedNotice,
    notices::NoticeView,
    careplans::CarePlanUploadRequest,
    careplans::ImportSummary,
    careplans::CarePlanImportView,
    console::CredentialsRequest,
    console::ConsoleSetup,
    blobs::UploadStatus,
    events::Changed,
    audit::AuditRecord,
    audit::Verdict,
    audit::Rotated,
)))]
struct Schemas;

const DESCRIPTION: &str = "The Kizuna relay's HTTP API. Every request travels over TLS 1.3; \
devices and administrators present the client certificate issued at enrollment (mutual TLS), \
checked against the directory on every request. Ids are UUIDs, times milliseconds since 1970 \
(UTC). Every error is `application/problem+json` with `type` `urn:kizuna:problem:<kind>` and \
never echoes the request. State-changing JSON routes require `Content-Type: application/json` \
(even with an empty body), and any `/v1/` request with an `Origin` other than the relay's own \
is refused (`cross-origin`). Every answer carries an `x-request-id` header. The sync body is \
binary (postcard, docs/protocol.md). The browser console under `/console/` (HTML pages with a \
session) is not part of this contract.";

const TAGS: &[(&str, &str)] = &[
    ("health", "Liveness and this document."),
    ("enrollment", "One-time codes and device certificates."),
    (
        "me",
        "The calling device: identity, rooms, direct conversations.",
    ),
    ("directory", "Professionals and devices (administrators)."),
    ("rooms", "Patient rooms, members, consent (administrators)."),
    ("careplans", "Care-plan CSV imports (administrators)."),
    ("notices", "City notices and alerts (administrators)."),
    ("console", "Console credentials (administrators)."),
    ("audit", "The hash-chained audit log (administrators)."),
    (
        "backup",
        "Online backup of the running relay (administrators).",
    ),
    (
        "ca",
        "The relay's certificate authorities and their rotation (administrators).",
    ),
    ("sync", "Document sync (binary)."),
    ("events", "The live channel (long poll)."),
    ("blobs", "Attachments, resumable."),
];

/// The relay's API as an OpenAPI 3.1 document.
pub fn openapi() -> OpenApi {
    let mut doc = Schemas::openapi();
    doc.info.title = "Kizuna relay API".into();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.info.description = Some(DESCRIPTION.into());
    doc.info.license = None;
    doc.info.contact = None;
    if let Some(c) = doc.components.as_mut() {
        c.add_security_scheme(
            MTLS,
            SecurityScheme::MutualTls {
                description: Some(
                    "The device's client certificate, issued by the relay's CA at enrollment \
                     (POST /v1/enroll); administrators use an administrator's certificate."
                        .into(),
                ),
                extensions: None,
            },
        );
    }
    doc.security = Some(vec![SecurityRequirement::new(MTLS, Vec::<String>::new())]);
    doc.tags = Some(
        TAGS.iter()
            .map(|(n, d)| TagBuilder::new().name(*n).description(Some(*d)).build())
            .collect(),
    );
    for route in ROUTES {
        let (path, method, op) = operation(route);
        let item = PathItem::new(method, op);
        match doc.paths.paths.get_mut(path) {
            Some(existing) => existing.merge_operations(item),
            None => {
                doc.paths.paths.insert(path.to_string(), item);
            }
        }
    }
    doc
}

/// [`openapi()`] as pretty JSON with a final newline: the bytes of `docs/openapi.json` and of
/// `GET /v1/openapi.json`.
pub fn openapi_json() -> String {
    let mut s = openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| String::from("{}"));
    s.push('\n');
    s
}

fn schema_ref(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn http_method(m: crate::routes::Method) -> HttpMethod {
    use crate::routes::Method as M;
    match m {
        M::Get => HttpMethod::Get,
        M::Post => HttpMethod::Post,
        M::Put => HttpMethod::Put,
        M::Delete => HttpMethod::Delete,
    }
}

fn operation(route: &Route) -> (&'static str, HttpMethod, utoipa::openapi::path::Operation) {
    let access = match route.access {
        Access::Open => "Needs no client certificate.",
        Access::Device => "Needs an enrolled device's certificate.",
        Access::Admin => "Needs an administrator's device certificate.",
    };
    let mut op = OperationBuilder::new()
        .operation_id(Some(route.operation_id))
        .tag(route.tag)
        .summary(Some(route.summary))
        .description(Some(access));
    if route.access == Access::Open {
        op = op.security(SecurityRequirement::default());
    }
    for p in path_params(route.path)
        .into_iter()
        .chain(query_params(route.query))
    {
        op = op.parameter(p);
    }
    if let Some(body) = request_body(route.body) {
        op = op.request_body(Some(body));
    }
    op = op.response(route.status.to_string(), success(route));
    if route.query == Query::BlobDownload {
        op = op.response("206", partial_content());
    }
    for (status, kinds) in grouped(&route.problems()) {
        op = op.response(status.to_string(), problem_response(&kinds));
    }
    (route.path, http_method(route.method), op.build())
}

fn path_params(path: &str) -> Vec<Parameter> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let (schema, what) = if name == "hash" {
                let s = ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(blobs::BLOB_HASH_PATTERN))
                    .build();
                (s, "The attachment's SHA-256, lower-case hex.".to_string())
            } else {
                let s = ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                    .build();
                let what = match name {
                    "id" => "The id of the resource the path names.".to_string(),
                    other => format!("The {other}'s id."),
                };
                (s, what)
            };
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(what))
                .schema(Some(schema))
                .build()
        })
        .collect()
}

fn query_params(q: Query) -> Vec<Parameter> {
    let blob = |keep: &[&str], required: &[&str]| {
        blobs::BlobQuery::into_params(|| Some(ParameterIn::Query))
            .into_iter()
            .filter(|p| keep.contains(&p.name.as_str()))
            .map(|mut p| {
                if required.contains(&p.name.as_str()) {
                    p.required = Required::True;
                }
                p
            })
            .collect::<Vec<_>>()
    };
    match q {
        Query::None => Vec::new(),
        Query::Events => events::EventsQuery::into_params(|| Some(ParameterIn::Query)),
        Query::Audit => audit::AuditQuery::into_params(|| Some(ParameterIn::Query)),
        Query::Notices => vec![
            ParameterBuilder::new()
                .name("room")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some("`notices` or `alerts`; absent: both."))
                .schema(Some(schema_ref("CityRoom")))
                .build(),
        ],
        Query::BlobStatus => blob(&["doc", "size", "type"], &["doc", "size"]),
        Query::BlobUpload => blob(&["doc", "offset"], &["doc"]),
        Query::BlobDownload => {
            let mut v = blob(&["doc"], &["doc"]);
            v.push(
                ParameterBuilder::new()
                    .name("Range")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some("`bytes=a-b`, `bytes=a-` or `bytes=-n` (one range)."))
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String).build()))
                    .build(),
            );
            v
        }
    }
}

fn request_body(b: Body) -> Option<utoipa::openapi::request_body::RequestBody> {
    let json = |n: crate::routes::SchemaName, required: Required, what: &str| {
        RequestBodyBuilder::new()
            .required(Some(required))
            .description(Some(what.to_string()))
            .content("application/json", Content::new(Some(schema_ref(&n()))))
            .build()
    };
    match b {
        Body::None => None,
        Body::Json(n) => Some(json(n, Required::True, "JSON.")),
        Body::OptionalJson(n) => Some(json(
            n,
            Required::False,
            "JSON; an empty body (still declared application/json) means the defaults.",
        )),
        Body::Bytes(types, what) => {
            let mut rb = RequestBodyBuilder::new()
                .required(Some(Required::True))
                .description(Some(what));
            for t in types {
                rb = rb.content(*t, Content::new(None::<RefOr<Schema>>));
            }
            Some(rb.build())
        }
    }
}

fn success(route: &Route) -> utoipa::openapi::Response {
    let r = ResponseBuilder::new();
    let r = match route.reply {
        Reply::Empty => r.description("Done; no body."),
        Reply::Json(n) => r
            .description("OK.")
            .content("application/json", Content::new(Some(schema_ref(&n())))),
        Reply::JsonList(n) => r.description("OK.").content(
            "application/json",
            Content::new(Some(Array::new(schema_ref(&n())))),
        ),
        Reply::NdJson(n) => r
            .description("Newline-delimited JSON: one value of this schema per line.")
            .content(
                audit::AUDIT_EXPORT_MEDIA_TYPE,
                Content::new(Some(schema_ref(&n()))),
            ),
        Reply::Bytes(t, what) => r
            .description(what)
            .content(t, Content::new(None::<RefOr<Schema>>)),
        Reply::OpenApi => r.description("This OpenAPI 3.1 document.").content(
            "application/json",
            Content::new(Some(ObjectBuilder::new().schema_type(Type::Object).build())),
        ),
    };
    r.build()
}

fn partial_content() -> utoipa::openapi::Response {
    let text = || ObjectBuilder::new().schema_type(Type::String).build();
    let mut range = Header::new(text());
    range.description = Some("`bytes a-b/size`".into());
    ResponseBuilder::new()
        .description("The byte range asked for.")
        .header("Content-Range", range)
        .content("*/*", Content::new(None::<RefOr<Schema>>))
        .build()
}

/// Kinds grouped by status, in status order (the kinds come sorted).
fn grouped(kinds: &[ProblemKind]) -> Vec<(u16, Vec<ProblemKind>)> {
    let mut out: Vec<(u16, Vec<ProblemKind>)> = Vec::new();
    for k in kinds {
        match out.last_mut() {
            Some((s, v)) if *s == k.status() => v.push(*k),
            _ => out.push((k.status(), vec![*k])),
        }
    }
    out
}

fn problem_response(kinds: &[ProblemKind]) -> utoipa::openapi::Response {
    let names: Vec<String> = kinds.iter().map(|k| format!("`{}`", k.slug())).collect();
    let examples = kinds.iter().map(|k| {
        let mut p = problem::Problem::new(*k, None);
        if *k == ProblemKind::DeviceRevoked {
            p = problem::Problem::revoked(false);
        }
        let value = serde_json::to_value(&p).ok();
        (
            k.slug(),
            ExampleBuilder::new()
                .summary(k.title())
                .value(value)
                .build(),
        )
    });
    let content = utoipa::openapi::ContentBuilder::new()
        .schema(Some(schema_ref("Problem")))
        .examples_from_iter(examples)
        .build();
    ResponseBuilder::new()
        .description(format!("Problem: {}.", names.join(", ")))
        .content(problem::PROBLEM_MEDIA_TYPE, content)
        .build()
}
