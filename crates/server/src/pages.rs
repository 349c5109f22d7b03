//! The platform's own pages: home, the legal pages every page's footer links
//! to (OPS-6), the language switch, the style sheet, health probes (OPS-4).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use kernel::AppState;
use kernel::web::{ErrorPage, Lang, PageContext};
use serde::Deserialize;

/// Public pages reachable by GET without logging in.
pub const PUBLIC_PAGES: &[&str] = &[
    "/",
    "/connexion",
    "/accessibilite",
    "/mentions-legales",
    "/confidentialite",
];

/// Every page of the platform, for the browser accessibility test
/// (`mutualis pages`): `(path pattern, needs a staff login)`.
pub fn all_pages() -> Vec<(&'static str, bool)> {
    let public = PUBLIC_PAGES
        .iter()
        .chain(identity::http::PUBLIC_PAGES)
        .chain(assistance::http::PUBLIC_PAGES)
        .chain(usage::http::PUBLIC_PAGES)
        .map(|p| (*p, false));
    let staff = identity::http::ACCOUNT_PAGES
        .iter()
        .chain(assistance::http::ACCOUNT_PAGES)
        .chain(identity::http::STAFF_PAGES)
        .chain(agreements::http::STAFF_PAGES)
        .chain(assistance::http::STAFF_PAGES)
        .chain(usage::http::STAFF_PAGES)
        .map(|p| (*p, true));
    public.chain(staff).collect()
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/accessibilite", get(accessibility))
        .route("/mentions-legales", get(legal))
        .route("/confidentialite", get(privacy))
        .route("/langue/{code}", get(switch_language))
        .route("/static/site.css", get(stylesheet))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomePage {
    ctx: PageContext,
}

async fn home(ctx: PageContext) -> HomePage {
    HomePage { ctx }
}

#[derive(Template, WebTemplate)]
#[template(path = "accessibility.html")]
pub struct AccessibilityPage {
    ctx: PageContext,
}

async fn accessibility(ctx: PageContext) -> AccessibilityPage {
    AccessibilityPage { ctx }
}

#[derive(Template, WebTemplate)]
#[template(path = "legal.html")]
pub struct LegalPage {
    ctx: PageContext,
}

async fn legal(ctx: PageContext) -> LegalPage {
    LegalPage { ctx }
}

#[derive(Template, WebTemplate)]
#[template(path = "privacy.html")]
pub struct PrivacyPage {
    ctx: PageContext,
}

async fn privacy(ctx: PageContext) -> PrivacyPage {
    PrivacyPage { ctx }
}

#[derive(Deserialize)]
struct Back {
    retour: Option<String>,
}

/// Sets the language cookie and returns to the page the reader was on.
async fn switch_language(
    State(app): State<AppState>,
    Path(code): Path<String>,
    Query(back): Query<Back>,
) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return ErrorPage::not_found().into_response();
    };
    let target = identity::domain::safe_return_path(back.retour.as_deref());
    let secure = if app.site.secure() { "; Secure" } else { "" };
    let cookie = format!(
        "{}={}; Path=/; Max-Age=31536000; SameSite=Lax{secure}",
        kernel::web::lang::COOKIE,
        lang.code()
    );
    let mut response = Redirect::to(&target).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

const STYLESHEET: &str = include_str!("../../kernel/static/site.css");

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// OPS-4: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// OPS-4: the database answers.
async fn readyz(State(app): State<AppState>) -> Response {
    if app.db.ping().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
    }
}

pub async fn not_found() -> ErrorPage {
    ErrorPage::not_found()
}
