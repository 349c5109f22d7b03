//! DATA-1 from a service's pages: `usage.js` and the beacon it sends. The
//! beacon needs no token (a page holds no secret): the service is named,
//! the visitor hints are the request's own (peer address, User-Agent), and
//! a request with `DNT: 1` or `Sec-GPC: 1` is dropped.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kernel::AppState;
use kernel::web::{ClientAddress, Msg};
use serde::Deserialize;

use super::api;
use crate::domain::event::{Incoming, Received};
use crate::store;

const SCRIPT: &str = include_str!("../../static/usage.js");

pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            // Pages with Cross-Origin-Embedder-Policy may load it.
            (
                header::HeaderName::from_static("cross-origin-resource-policy"),
                "cross-origin",
            ),
        ],
        SCRIPT,
    )
        .into_response()
}

/// One event from a page.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UsageBeacon)]
struct Beacon {
    /// The service's code, from the script's `data-service`.
    service: String,
    /// As in the API's events: `page` gives `page`, other types `feature`.
    #[serde(rename = "type")]
    kind: String,
    page: Option<String>,
    feature: Option<String>,
    commune: Option<String>,
}

/// Pages of every service's origin send beacons.
fn any_origin() -> [(header::HeaderName, &'static str); 1] {
    [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")]
}

fn opted_out(headers: &HeaderMap) -> bool {
    ["dnt", "sec-gpc"]
        .iter()
        .any(|h| headers.get(*h).is_some_and(|v| v.as_bytes() == b"1"))
}

/// 204 when kept or dropped by the browser's wish; 422 with the reason
/// otherwise (for the service's developers: `sendBeacon` reads nothing).
#[utoipa::path(
    post, path = "/api/v1/usage/beacon", tag = "usage",
    request_body(
        content = Beacon, content_type = "text/plain",
        description = "One event as JSON, sent as text (no CORS preflight) by usage.js, without credentials; the address and user agent are the request's own"
    ),
    responses(
        (status = 204, description = "Kept, or dropped because the request carries DNT: 1 or Sec-GPC: 1"),
        (status = 422, description = "Refused, with the reason", body = api::ErrorJson),
    )
)]
pub async fn beacon(
    State(app): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if opted_out(&headers) {
        return (StatusCode::NO_CONTENT, any_origin()).into_response();
    }
    let refused = |msg: Msg| {
        (
            any_origin(),
            api::error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", msg),
        )
            .into_response()
    };
    let beacon: Beacon = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return refused(Msg::new(
                format!("Événement mal formé : {e}."),
                format!("Malformed event: {e}."),
            ));
        }
    };
    let service_id = match agreements::store::service_id(&app.db, &beacon.service).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            return refused(Msg::new(
                "Ce service n'est pas connu de la plateforme : vérifiez l'attribut data-service.",
                "This service is not known to the platform: check the data-service attribute.",
            ));
        }
        Err(e) => return crate::Error::from(e).into_response(),
    };
    let time = kernel::clock::format_ms(kernel::clock::now_ms());
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let event = Received::Event(Incoming {
        kind: Some(beacon.kind.into()),
        time: Some(time.into()),
        page: beacon.page.map(Into::into),
        feature: beacon.feature.map(Into::into),
        commune: beacon.commune.map(Into::into),
        user_agent: Some(user_agent.into()),
        client_address: (address != "unknown").then_some(address.into()),
        sub: None,
    });
    match store::ingest(&app.db, &super::salts(&app), service_id, None, vec![event]).await {
        Ok(report) => match report.rejected.into_iter().next() {
            None => (StatusCode::NO_CONTENT, any_origin()).into_response(),
            Some((_, refusal)) => refused(refusal.msg),
        },
        Err(e) => e.into_response(),
    }
}
