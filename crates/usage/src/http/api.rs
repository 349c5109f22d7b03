//! DATA-1: `POST /api/v1/usage/events`, for a service with a
//! `client_credentials` token of its linked client.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kernel::AppState;
use kernel::web::Msg;
use serde::{Deserialize, Serialize};

use crate::domain::event::Received;
use crate::store::{self, MAX_BATCH};

/// Each event is read straight into its fields, its texts borrowed from
/// the body; an event that cannot be read is kept as such, to be refused
/// alone with its index (DATA-1).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch<'a> {
    #[serde(borrow)]
    events: Vec<Received<'a>>,
}

#[derive(Serialize)]
struct Rejected {
    index: usize,
    field: &'static str,
    reason: String,
    reason_en: String,
}

#[derive(Serialize)]
struct Answer {
    accepted: usize,
    rejected: Vec<Rejected>,
}

/// The area's JSON error: a code, and what to do in French and English.
pub(super) fn error(status: StatusCode, code: &str, msg: Msg) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": code, "message": msg.fr, "message_en": msg.en })),
    )
        .into_response()
}

/// Checks each event, keeps the valid ones in one transaction and answers
/// with the index and reason of each refused one (DATA-1).
pub async fn ingest(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let token = match identity::oidc::token::bearer(&app, &headers, None).await {
        Ok((_, token)) => token,
        Err(response) => return response,
    };
    if token.account_id.is_some() {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            Msg::new(
                "Les événements d'usage viennent du service lui-même : utilisez un jeton client_credentials.",
                "Usage events come from the service itself: use a client_credentials token.",
            ),
        );
    }
    let service = match assistance::store::service_of_client(&app.db, &token.client_id).await {
        Ok(Some(code)) => agreements::store::service_id(&app.db, &code).await,
        Ok(None) => Ok(None),
        Err(e) => return e.into_response(),
    };
    let service_id = match service {
        Ok(Some(id)) => id,
        Ok(None) => {
            return error(
                StatusCode::FORBIDDEN,
                "forbidden",
                Msg::new(
                    "Ce client n'est relié à aucun service : voyez la page « Intégration des services ».",
                    "This client is linked to no service: see the \"Services integration\" page.",
                ),
            );
        }
        Err(e) => return crate::Error::from(e).into_response(),
    };
    let batch: Batch = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                Msg::new(
                    format!("Le lot doit être un objet JSON {{\"events\": […]}} : {e}."),
                    format!("The batch must be a JSON object {{\"events\": […]}}: {e}."),
                ),
            );
        }
    };
    if batch.events.len() > MAX_BATCH {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            Msg::new(
                format!(
                    "Au plus {MAX_BATCH} événements par lot ({} reçus) : découpez-le.",
                    batch.events.len()
                ),
                format!(
                    "At most {MAX_BATCH} events per batch ({} received): split it.",
                    batch.events.len()
                ),
            ),
        );
    }
    match store::ingest(
        &app.db,
        &super::salts(&app),
        service_id,
        Some(&token.client_id),
        batch.events,
    )
    .await
    {
        Ok(report) => Json(Answer {
            accepted: report.accepted,
            rejected: report
                .rejected
                .into_iter()
                .map(|(index, r)| Rejected {
                    index,
                    field: r.field,
                    reason: r.msg.fr,
                    reason_en: r.msg.en,
                })
                .collect(),
        })
        .into_response(),
        Err(e) => e.into_response(),
    }
}
