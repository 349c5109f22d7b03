//! Composition: the areas' routers behind the shared middleware, the job
//! runner, and a running node that stops gracefully.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::middleware::{from_fn, from_fn_with_state};
use kernel::AppState;
use kernel::mail::MailConfig;
use kernel::outbox::Deliverer;
use kernel::web::{self, Site, csrf::CsrfConfig};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::pages;

/// The platform's API spec, one document of each area's part (SAU-7,
/// DATA-1), generated from the handlers so that it cannot drift.
async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    use utoipa::OpenApi;
    let mut doc = assistance::http::api::ApiDoc::openapi();
    doc.merge(usage::http::ApiDoc::openapi());
    doc.info.title = "Mutualis".into();
    doc.info.description = Some(
        "The shared services' API: help requests (SPEC.md SAU-1 to SAU-8) and usage events (DATA-1, DATA-2). \
         Messages for people are in French (`message`) and English (`message_en`)."
            .into(),
    );
    axum::Json(doc)
}

/// Largest request body accepted by default (forms); areas that take files
/// raise it on their own routes.
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Clone, Copy, Default)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        kernel::random::token(12).parse().ok().map(RequestId::new)
    }
}

/// Every route of the platform with its middleware.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let csrf = CsrfConfig {
        site: state.site.clone(),
        // Called by services with their own credentials, never with cookies
        // (the staff API only reads).
        // Scripts that services' pages load set no cookie either, nor do
        // the open-data files that portals harvest (DATA-4).
        exempt_prefixes: [
            &[
                "/api/",
                "/usage.js",
                "/aide/widget.js",
                "/aide/widget.css",
                "/opendata/",
            ],
            identity::oidc::SERVICE_ENDPOINTS,
        ]
        .concat(),
        max_form_bytes: BODY_LIMIT,
    };
    Router::new()
        .route("/api/v1/openapi.json", axum::routing::get(openapi))
        .merge(pages::router())
        .merge(identity::http::router())
        .merge(agreements::http::router())
        .merge(assistance::http::router())
        .merge(usage::http::router())
        .fallback(pages::not_found)
        .route_layer(from_fn(web::metrics::layer))
        .layer(from_fn(web::error::render_errors))
        .layer(from_fn_with_state(csrf, web::csrf::layer))
        .layer(from_fn_with_state(state.clone(), identity::session::layer))
        .layer(from_fn(web::lang::layer))
        .layer(from_fn_with_state(state.site.clone(), web::headers::layer))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
            })
            // One line per request at INFO, carrying the span's request id.
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, RandomRequestId))
        .with_state(state)
}

/// The areas' shares of personal data, for the identity area's export and
/// deletion (ID-8). Idempotent.
pub fn register_personal_data() {
    kernel::personal_data::register(assistance::store::PERSONAL_DATA);
    kernel::personal_data::register(usage::store::PERSONAL_DATA);
}

/// What each area keeps in the state: the identity area's signing keys
/// (created at first start) and its cache of OpenID Connect clients; the
/// assistance area's writer of new help requests; the usage area's salt of
/// the day (DATA-2) and its open data as last computed (DATA-4).
pub async fn compose(mut state: AppState) -> anyhow::Result<AppState> {
    register_personal_data();
    let keys = identity::oidc::keys::KeyStore::open(&state.db, &state.master_key).await?;
    let extensions = std::sync::Arc::make_mut(&mut state.extensions);
    extensions.insert(keys);
    extensions.insert(identity::oidc::clients::ClientCache::default());
    extensions.insert(assistance::store::Creations::start(state.db.clone()));
    extensions.insert(usage::store::Salts::start());
    extensions.insert(usage::http::OpenDataCache::default());
    Ok(state)
}

/// Every area's daily jobs (run once a day across nodes).
pub fn daily_jobs() -> Vec<kernel::jobs::DailyJob> {
    vec![
        (agreements::jobs::JOB, agreements::jobs::daily_job),
        (agreements::billing::JOB, agreements::billing::june_job),
        (
            identity::store::rights::JOB,
            identity::store::rights::daily_job,
        ),
        (assistance::store::JOB, assistance::daily_job),
        (usage::store::JOB, usage::daily_job),
    ]
}

/// A node: HTTP server and job runner, until [`Node::stop`].
pub struct Node {
    pub addr: SocketAddr,
    stop: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    jobs: Option<JoinHandle<()>>,
}

pub struct NodeConfig {
    pub state: AppState,
    pub mail: MailConfig,
    /// Run the background work on this node: outbox, daily jobs, usage
    /// aggregates.
    pub jobs: bool,
}

impl Node {
    pub async fn start(listener: TcpListener, config: NodeConfig) -> anyhow::Result<Node> {
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let jobs = config.jobs.then(|| {
            let deliverer = Deliverer::new(config.state.db.clone(), config.mail.clone());
            let outbox = tokio::spawn(kernel::jobs::run_outbox(deliverer, stop.clone()));
            let daily = tokio::spawn(kernel::jobs::run_daily(
                config.state.db.clone(),
                daily_jobs(),
                stop.clone(),
            ));
            let aggregates = tokio::spawn(usage::store::run_refresh(
                config.state.db.clone(),
                stop.clone(),
            ));
            tokio::spawn(async move {
                let _ = outbox.await;
                let _ = daily.await;
                let _ = aggregates.await;
            })
        });
        let app = router(config.state);
        let server_stop = stop.clone();
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move { server_stop.cancelled().await })
            .await
        });
        Ok(Node {
            addr,
            stop,
            server,
            jobs,
        })
    }

    /// A handle that stops the node when cancelled (signal handlers).
    pub fn stopper(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Waits until the node was stopped and both halves finished: in-flight
    /// requests complete, the job runner ends its current pass.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.server.await??;
        self.stop.cancel();
        if let Some(jobs) = self.jobs {
            jobs.await?;
        }
        Ok(())
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.wait().await
    }
}

/// The public URL when none is configured: `http://` + the bind address.
pub fn default_public_url(bind: &SocketAddr) -> String {
    format!("http://{bind}")
}

pub fn site(public_url: &str) -> Site {
    Site::new(public_url)
}
