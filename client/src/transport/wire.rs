//! Reading the relay's JSON answers as the contract's types (`kizuna_contract`): the body of a
//! success, or the `application/problem+json` body of a refusal. The types are the relay's
//! own, so a renamed field is a compile error here rather than a silent break on phones; a
//! relay that answers something else is a clear error naming at most a field, never a value
//! (values can be patient data, and errors reach logs).

use super::{LiveEvents, TransportError};
use kizuna_contract::events::Changed;
use kizuna_contract::{Problem, ProblemKind};
use kizuna_core::RoomId;
use serde::de::DeserializeOwned;

/// The error for a refusal (`status` outside 2xx): `device-revoked` becomes
/// [`TransportError::Revoked`] with its `wipe`, anything else [`TransportError::Rejected`] with
/// the relay's explanation.
pub(crate) fn problem(status: u16, body: &[u8]) -> TransportError {
    match serde_json::from_slice::<Problem>(body) {
        Ok(p) if p.kind() == Some(ProblemKind::DeviceRevoked) => TransportError::Revoked {
            wipe: p.wipe.unwrap_or(false),
        },
        Ok(p) => TransportError::Rejected {
            status,
            detail: p.detail.unwrap_or(p.title),
        },
        Err(_) => TransportError::Rejected {
            status,
            detail: "no explanation".into(),
        },
    }
}

/// The answer to `what` (`GET /v1/me`…) as the contract type `T`, or the refusal it carries.
pub(crate) fn decode<T: DeserializeOwned>(
    what: &str,
    status: u16,
    body: &[u8],
) -> Result<T, TransportError> {
    if !(200..300).contains(&status) {
        return Err(problem(status, body));
    }
    serde_json::from_slice(body).map_err(|e| TransportError::Rejected {
        status,
        detail: format!("unreadable answer to {what}: {}", unreadable(&e)),
    })
}

/// Why a JSON body could not be read, naming at most a field of the contract: serde's own
/// message may quote the offending value.
pub(crate) fn unreadable(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("line {}, column {}", e.line(), e.column());
    match e.classify() {
        Category::Data => {
            let msg = e.to_string();
            match msg
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split_once('`'))
            {
                Some((field, _)) => format!("the field `{field}` is missing ({at})"),
                None => format!("a value has the wrong type or is unknown ({at})"),
            }
        }
        Category::Syntax | Category::Eof => format!("it is not JSON ({at})"),
        Category::Io => "it could not be read".into(),
    }
}

impl From<Changed> for LiveEvents {
    fn from(c: Changed) -> LiveEvents {
        LiveEvents {
            cursor: c.cursor,
            docs: c.docs.into_iter().map(RoomId).collect(),
            resync: c.resync,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kizuna_contract::blobs;

    #[test]
    fn device_revoked_is_recognised_by_its_kind_with_wipe() {
        for wipe in [true, false] {
            let body = serde_json::to_vec(&Problem::revoked(wipe)).unwrap();
            assert_eq!(problem(403, &body), TransportError::Revoked { wipe });
        }
        // Another 403 is a refusal, with the relay's detail (or its title).
        let body = serde_json::to_vec(&Problem::new(ProblemKind::Forbidden, None)).unwrap();
        assert_eq!(
            problem(403, &body),
            TransportError::Rejected {
                status: 403,
                detail: ProblemKind::Forbidden.title().into()
            }
        );
        assert_eq!(
            problem(502, b"<html>bad gateway</html>"),
            TransportError::Rejected {
                status: 502,
                detail: "no explanation".into()
            }
        );
    }

    #[test]
    fn the_live_channel_and_upload_status_read_the_contract_types() {
        let doc = RoomId::new();
        let body = serde_json::to_vec(&Changed {
            cursor: 7,
            docs: vec![doc.0],
            resync: true,
        })
        .unwrap();
        let live: LiveEvents = decode::<Changed>("GET /v1/events", 200, &body)
            .unwrap()
            .into();
        assert_eq!(
            live,
            LiveEvents {
                cursor: 7,
                docs: vec![doc],
                resync: true
            }
        );
        let body = serde_json::to_vec(&blobs::UploadStatus {
            offset: 42,
            complete: false,
        })
        .unwrap();
        let status: kizuna_core::blobs::UploadStatus =
            decode::<blobs::UploadStatus>("the upload status", 200, &body)
                .unwrap()
                .into();
        assert_eq!((status.offset, status.complete), (42, false));
    }

    #[test]
    fn an_unreadable_answer_names_the_field_never_the_value() {
        let err = decode::<Changed>("GET /v1/events", 200, br#"{"docs":[]}"#).unwrap_err();
        let TransportError::Rejected { status, detail } = err else {
            panic!("{err:?}")
        };
        assert_eq!(status, 200);
        assert!(detail.contains("`cursor` is missing"), "{detail}");
        let err = decode::<Changed>("GET /v1/events", 200, br#"{"cursor":"secret","docs":[]}"#)
            .unwrap_err();
        assert!(!format!("{err}").contains("secret"), "{err}");
        assert!(matches!(
            decode::<Changed>("GET /v1/events", 200, b"not json"),
            Err(TransportError::Rejected { .. })
        ));
    }
}
