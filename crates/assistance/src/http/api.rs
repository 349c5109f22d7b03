//! SAU-7 (and SAU-1, SAU-6 for the widget): the help API. Public calls
//! (a service's details, its FAQ, opening a request with an e-mail) need no
//! credential and carry none: any origin may make them (CORS `*`, never
//! cookies). A service authenticates with an access token from
//! `client_credentials` to open a request on behalf of a person (their
//! `sub`) and to read the requests of its service. Documented in the
//! OpenAPI spec served at `/api/v1/openapi.json`, generated from these
//! handlers.

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use identity::domain::sheet::Field;
use kernel::AppState;
use kernel::clock;
use kernel::web::{Msg, Scope};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::submission::{self, Choices, HelpForm, Problem};
use super::upload::{self, Submitted};
use crate::Error;
use crate::store::{self, Request as HelpRequest};

/// The assistance API's part of the platform's OpenAPI spec (served, with
/// the other areas', at `/api/v1/openapi.json`).
#[derive(OpenApi)]
#[openapi(
    paths(service, faq, faq_feedback, create, show),
    modifiers(&ServiceToken),
    tags((name = "assistance", description = "Help requests, FAQ"))
)]
pub struct ApiDoc;

struct ServiceToken;

impl Modify for ServiceToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "service_token",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .description(Some(
                            "An access token of the service's OpenID Connect client, from the token endpoint with grant_type=client_credentials.",
                        ))
                        .build(),
                ),
            );
        }
    }
}

/// A problem, for people in French and English.
#[derive(Serialize, ToSchema)]
pub struct ProblemJson {
    /// The field concerned, if one is.
    field: Option<String>,
    message: String,
    message_en: String,
}

/// Every error answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorJson {
    /// `invalid`, `not_found`, `forbidden`, `unauthorized`, `conflict`, `internal`.
    error: String,
    message: String,
    message_en: String,
    /// For `invalid`: each problem.
    errors: Vec<ProblemJson>,
}

fn error_json(status: StatusCode, error: &str, msg: Msg, problems: Vec<Problem>) -> Response {
    let body = ErrorJson {
        error: error.to_string(),
        message: msg.fr.to_string(),
        message_en: msg.en.to_string(),
        errors: problems
            .into_iter()
            .map(|p| ProblemJson {
                field: p.field.map(str::to_string),
                message: p.msg.fr.to_string(),
                message_en: p.msg.en.to_string(),
            })
            .collect(),
    };
    (status, Json(body)).into_response()
}

fn invalid(problems: Vec<Problem>) -> Response {
    error_json(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Msg::new(
            "La demande n'a pas été enregistrée : corrigez les points signalés.",
            "The request was not recorded: correct the problems listed.",
        ),
        problems,
    )
}

fn not_found() -> Response {
    error_json(
        StatusCode::NOT_FOUND,
        "not_found",
        Msg::new(
            "Introuvable : vérifiez la référence, le code du service ou le secret du lien de suivi.",
            "Not found: check the reference, the service's code or the tracking link's secret.",
        ),
        vec![],
    )
}

fn forbidden(msg: Msg) -> Response {
    error_json(StatusCode::FORBIDDEN, "forbidden", msg, vec![])
}

impl Error {
    fn into_json(self) -> Response {
        match self {
            Error::NotFound => not_found(),
            Error::Forbidden => forbidden(Msg::new(
                "Accès refusé : ce jeton ne donne pas droit à cette demande.",
                "Access refused: this token gives no right to this request.",
            )),
            Error::Invalid(msg) => invalid(vec![Problem { field: None, msg }]),
            Error::NotAllowed(_) => error_json(
                StatusCode::CONFLICT,
                "conflict",
                Msg::new(
                    "Impossible dans l'état actuel de la demande : lisez son état, puis recommencez.",
                    "Not possible in the request's current status: read its status, then try again.",
                ),
                vec![],
            ),
            Error::Database(e) => {
                tracing::error!(error = %e, "help API");
                error_json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    Msg::new("Erreur interne ; réessayez.", "Internal error; try again."),
                    vec![],
                )
            }
        }
    }
}

/// A service's help details, for the widget.
#[derive(Serialize, ToSchema)]
pub struct ServiceJson {
    code: String,
    name: String,
    categories: Vec<CategoryJson>,
    /// The member communes a person can say they live in.
    communes: Vec<CommuneJson>,
}

#[derive(Serialize, ToSchema)]
pub struct CategoryJson {
    code: String,
    label: String,
}

#[derive(Serialize, ToSchema)]
pub struct CommuneJson {
    insee_code: String,
    name: String,
}

/// A service's categories and the communes (SAU-1).
#[utoipa::path(
    get, path = "/api/v1/help/services/{code}", tag = "assistance",
    params(("code" = String, Path, description = "The service's code, e.g. toodego")),
    responses(
        (status = 200, body = ServiceJson),
        (status = 404, body = ErrorJson),
    )
)]
pub async fn service(State(app): State<AppState>, Path(code): Path<String>) -> Response {
    let choices = match Choices::load(&app).await {
        Ok(c) => c,
        Err(e) => return e.into_json(),
    };
    let Some(service) = choices.services.into_iter().find(|s| s.code == code) else {
        return not_found();
    };
    Json(ServiceJson {
        code: service.code,
        name: service.name,
        categories: service
            .categories
            .into_iter()
            .map(|c| CategoryJson {
                code: c.code,
                label: c.label,
            })
            .collect(),
        communes: choices
            .communes
            .into_iter()
            .map(|(insee_code, name)| CommuneJson { insee_code, name })
            .collect(),
    })
    .into_response()
}

#[derive(Deserialize)]
pub struct FaqQuery {
    service: String,
    #[serde(default)]
    q: String,
}

#[derive(Serialize, ToSchema)]
pub struct FaqJson {
    entries: Vec<FaqEntryJson>,
}

#[derive(Serialize, ToSchema)]
pub struct FaqEntryJson {
    id: i64,
    question: String,
    answer: String,
}

/// A service's FAQ, searched in French full text (SAU-6); five entries at
/// most.
#[utoipa::path(
    get, path = "/api/v1/help/faq", tag = "assistance",
    params(
        ("service" = String, Query, description = "The service's code"),
        ("q" = Option<String>, Query, description = "Words to search"),
    ),
    responses((status = 200, body = FaqJson))
)]
pub async fn faq(State(app): State<AppState>, Query(q): Query<FaqQuery>) -> Response {
    match store::faq(&app.db, &q.service, &q.q, 5).await {
        Ok(entries) => Json(FaqJson {
            entries: entries
                .into_iter()
                .map(|e| FaqEntryJson {
                    id: e.id,
                    question: e.question,
                    answer: e.answer,
                })
                .collect(),
        })
        .into_response(),
        Err(e) => e.into_json(),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct Feedback {
    /// `true` when the answer helped.
    helpful: bool,
}

/// "Cette réponse vous a-t-elle aidé ?" (SAU-6), counted per entry.
#[utoipa::path(
    post, path = "/api/v1/help/faq/{id}/feedback", tag = "assistance",
    params(("id" = i64, Path, description = "The entry")),
    request_body(content = Feedback, content_type = "application/x-www-form-urlencoded"),
    responses((status = 204), (status = 404, body = ErrorJson), (status = 422, body = ErrorJson))
)]
pub async fn faq_feedback(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    form: Result<axum::Form<Feedback>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(f)) = form else {
        return invalid(vec![Problem {
            field: Some("helpful"),
            msg: Msg::new(
                "« helpful » vaut true ou false.",
                "\"helpful\" is true or false.",
            ),
        }]);
    };
    match store::faq_feedback(&app.db, id, f.helpful).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_json(),
    }
}

/// A help request as a service or the widget sends it.
#[derive(Deserialize, ToSchema, Default)]
#[serde(default)]
pub struct NewHelpRequest {
    /// The service's code.
    service: String,
    /// A category of the service's competence matrix.
    category: String,
    subject: String,
    message: String,
    /// Where the answer goes; with a service token and `sub`, the person's
    /// address by default.
    email: Option<String>,
    /// INSEE code of the person's commune; with `sub`, from their identity
    /// sheet by default.
    commune: Option<String>,
    /// The service's page the person was on.
    page: Option<String>,
    /// With a service token: the person's subject as issued to the service.
    sub: Option<String>,
}

/// Where a request is (SAU-2).
#[derive(Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoutedTo {
    Commune { insee_code: String },
    Metropolis,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedJson {
    /// `SAU-YYYY-NNNNNN`.
    reference: String,
    /// The requester's secret tracking link.
    tracking_url: String,
    routed_to: RoutedTo,
}

/// The service behind a bearer token, and the person it names if any.
struct Caller {
    service: String,
    sector: String,
    account: Option<i64>,
}

/// `Ok(None)` without an `Authorization` header; a token that is present
/// must be valid and belong to a service's client.
async fn caller(app: &AppState, headers: &HeaderMap) -> Result<Option<Caller>, Response> {
    if !headers.contains_key(header::AUTHORIZATION) {
        return Ok(None);
    }
    let (_, token) = identity::oidc::token::bearer(app, headers, None).await?;
    let linked = store::service_of_client(&app.db, &token.client_id)
        .await
        .map_err(Error::into_json)?;
    let client = identity::oidc::clients::get(&app.db, &token.client_id)
        .await
        .map_err(|e| Error::Database(e).into_json())?;
    match (linked, client) {
        (Some(service), Some(client)) => Ok(Some(Caller {
            service,
            sector: client.sector,
            account: token.account_id,
        })),
        _ => Err(forbidden(Msg::new(
            "Ce client n'est relié à aucun service : voyez la page « Intégration des services » de l'assistance.",
            "This client is linked to no service: see the assistance's \"Services integration\" page.",
        ))),
    }
}

/// Opens a help request (SAU-1, SAU-2, SAU-7): anonymously with an e-mail
/// (the widget; `multipart/form-data` with files named `attachments`, or
/// JSON), or for a person with a service token and their `sub`.
#[utoipa::path(
    post, path = "/api/v1/help-requests", tag = "assistance",
    request_body(content(
        (NewHelpRequest = "application/json"),
        (NewHelpRequest = "multipart/form-data"),
    )),
    responses(
        (status = 201, body = CreatedJson),
        (status = 401, description = "The token is not valid"),
        (status = 403, body = ErrorJson, description = "The token's client is not linked to this service"),
        (status = 422, body = ErrorJson),
    ),
    security((), ("service_token" = []))
)]
pub async fn create(State(app): State<AppState>, request: Request) -> Response {
    match open(&app, request).await {
        Ok(r) | Err(r) => r,
    }
}

async fn open(app: &AppState, request: Request) -> Result<Response, Response> {
    let caller = caller(app, request.headers()).await?;
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let (sent, body) = if json {
        let Json(body) = axum::RequestExt::extract::<Json<NewHelpRequest>, _>(request)
            .await
            .map_err(|e| {
                invalid(vec![Problem {
                    field: None,
                    msg: Msg::new(
                        format!("Le JSON envoyé n'est pas lisible : {}", e.body_text()),
                        format!("The JSON sent cannot be read: {}", e.body_text()),
                    ),
                }])
            })?;
        (Submitted::default(), body)
    } else {
        let sent = upload::read(request).await.map_err(Error::into_json)?;
        let body = sent.form::<NewHelpRequest>().map_err(Error::into_json)?;
        (sent, body)
    };
    if body
        .sub
        .as_deref()
        .is_some_and(|s| s.is_empty() || s.len() > 255 || kernel::web::csrf::has_control(s))
    {
        return Err(invalid(vec![Problem {
            field: Some("sub"),
            msg: Msg::new(
                "« sub » : le sujet que la plateforme a donné au service pour cette personne.",
                "\"sub\": the subject the platform issued to the service for this person.",
            ),
        }]));
    }
    let mut email = body.email.clone().unwrap_or_default();
    let mut commune = body.commune.clone().unwrap_or_default();
    let account = match (&caller, &body.sub) {
        (None, Some(_)) => {
            return Err(forbidden(Msg::new(
                "Un « sub » ne peut être donné qu'avec le jeton d'un service.",
                "A \"sub\" can only be given with a service's token.",
            )));
        }
        (Some(c), _) if c.service != body.service => {
            return Err(forbidden(Msg::new(
                "Un service n'ouvre de demandes que pour lui-même.",
                "A service opens requests for itself only.",
            )));
        }
        (Some(c), Some(sub)) => Some(
            identity::oidc::store::account_of_subject(&app.db, &c.sector, sub)
                .await
                .map_err(|e| Error::Database(e).into_json())?
                .ok_or_else(|| {
                    invalid(vec![Problem {
                        field: Some("sub"),
                        msg: Msg::new(
                            "Ce « sub » ne désigne aucune personne connue de ce service.",
                            "This \"sub\" names no person known to this service.",
                        ),
                    }])
                })?,
        ),
        (Some(c), None) => c.account,
        (None, None) => None,
    };
    if let Some(account) = account {
        if email.is_empty() {
            email = identity::store::account_by_id(&app.db, account)
                .await
                .map_err(|e| Error::Database(e).into_json())?
                .map(|a| a.email)
                .unwrap_or_default();
        }
        if commune.is_empty() {
            commune = identity::store::sheet(&app.db, account)
                .await
                .map_err(|e| Error::Database(e).into_json())?
                .into_iter()
                .find(|v| v.field == Field::Commune)
                .map(|v| v.value)
                .unwrap_or_default();
        }
    }
    let form = HelpForm {
        topic: format!("{}/{}", body.service, body.category),
        subject: body.subject,
        message: body.message,
        email,
        commune,
        page: body.page.unwrap_or_default(),
    };
    let created = submission::open(app, &form, &sent, account)
        .await
        .map_err(Error::into_json)?
        .map_err(invalid)?;
    let routed_to = match created.decision.destination {
        crate::domain::routing::Destination::Commune(insee_code) => {
            RoutedTo::Commune { insee_code }
        }
        crate::domain::routing::Destination::Metropolis => RoutedTo::Metropolis,
    };
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v1/help-requests/{}", created.reference),
        )],
        Json(CreatedJson {
            tracking_url: store::tracking_link(
                &app.site.public_url,
                &created.reference,
                &created.tracking_token,
            ),
            reference: created.reference,
            routed_to,
        }),
    )
        .into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ShowQuery {
    /// The secret of the tracking link.
    token: String,
}

/// A request's state, for its requester or its service.
#[derive(Serialize, ToSchema)]
pub struct RequestJson {
    reference: String,
    service: String,
    category: String,
    subject: String,
    /// `new`, `in_progress`, `waiting_for_user`, `resolved`, `closed`.
    status: String,
    page_url: Option<String>,
    routed_to: RoutedTo,
    created_at: String,
    updated_at: String,
}

/// A request's status (SAU-4, SAU-7): with the tracking link's secret, or
/// with the token of the request's service.
#[utoipa::path(
    get, path = "/api/v1/help-requests/{reference}", tag = "assistance",
    params(
        ("reference" = String, Path, description = "SAU-YYYY-NNNNNN"),
        ("token" = Option<String>, Query, description = "The tracking link's secret"),
    ),
    responses((status = 200, body = RequestJson), (status = 404, body = ErrorJson)),
    security((), ("service_token" = []))
)]
pub async fn show(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(reference): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let found = async {
        let caller = caller(&app, &headers).await?;
        let request = if !q.token.is_empty() {
            store::by_tracking(&app.db, &reference, &q.token).await
        } else if let Some(c) = &caller {
            store::for_scope(&app.db, &Scope::All, &reference)
                .await
                .map(|r| r.filter(|r| r.service_code == c.service))
        } else {
            Ok(None)
        }
        .map_err(Error::into_json)?
        .ok_or_else(not_found)?;
        let (kind, insee) = store::organisation_kind(&app.db, request.organisation_id)
            .await
            .map_err(Error::into_json)?;
        Ok::<(HelpRequest, RoutedTo), Response>((
            request,
            match (kind.as_str(), insee) {
                ("commune", Some(insee_code)) => RoutedTo::Commune { insee_code },
                _ => RoutedTo::Metropolis,
            },
        ))
    }
    .await;
    match found {
        Ok((r, routed_to)) => Json(RequestJson {
            reference: r.reference,
            service: r.service_code,
            category: r.category,
            subject: r.subject,
            status: r.status.code().to_string(),
            page_url: r.page_url,
            routed_to,
            created_at: clock::format_ms(r.created_at),
            updated_at: clock::format_ms(r.updated_at),
        })
        .into_response(),
        Err(r) => r,
    }
}
