//! ID-7: staff enrol a TOTP second factor (QR code and manual key) before
//! any staff page, then confirm it at each session; recovery codes.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kernel::AppState;
use kernel::web::{PageContext, SignedIn};
use serde::Deserialize;

use crate::domain::throttle::retry_in;
use crate::domain::{safe_return_path, totp};
use crate::store::second_factor::{self, Enrolment};
use crate::{Error, session, store};

#[derive(Template, WebTemplate)]
#[template(path = "second_factor.html")]
pub struct SecondFactorPage {
    ctx: PageContext,
    retour: String,
    /// Enrolling: the QR code (SVG) and the key to type by hand.
    qr_svg: Option<String>,
    manual_key: Option<String>,
    recovery_codes: Vec<String>,
    error: Option<Problem>,
}

pub enum Problem {
    WrongCode,
    /// When to try again, in French and in English.
    Throttled((String, String)),
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Back {
    retour: Option<String>,
}

fn qr(uri: &str) -> String {
    qrcode::QrCode::new(uri.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color>()
                .min_dimensions(200, 200)
                .dark_color(qrcode::render::svg::Color("#000000"))
                .light_color(qrcode::render::svg::Color("#ffffff"))
                .build()
        })
        .unwrap_or_default()
}

async fn page(
    app: &AppState,
    ctx: PageContext,
    account_id: i64,
    email: &str,
    retour: String,
    error: Option<Problem>,
) -> Result<SecondFactorPage, Error> {
    let secret = match second_factor::enrolment(&app.db, &app.master_key, account_id).await? {
        Enrolment::Enrolled => None,
        Enrolment::Pending(s) => Some(s),
        Enrolment::None => Some(second_factor::start(&app.db, &app.master_key, account_id).await?),
    };
    Ok(SecondFactorPage {
        ctx,
        retour,
        qr_svg: secret.as_ref().map(|s| qr(&totp::otpauth_uri(s, email))),
        manual_key: secret.as_ref().map(|s| grouped(&totp::base32(s))),
        recovery_codes: vec![],
        error,
    })
}

/// The key in groups of four, easier to type.
fn grouped(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn form(
    State(app): State<AppState>,
    SignedIn(viewer): SignedIn,
    ctx: PageContext,
    Query(q): Query<Back>,
) -> Result<Response, Error> {
    let retour = safe_return_path(q.retour.as_deref().or(Some("/gestion")));
    if viewer.second_factor {
        return Ok(Redirect::to(&retour).into_response());
    }
    let page = page(&app, ctx, viewer.account_id, &viewer.email, retour, None).await?;
    Ok(page.into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CodeForm {
    code: String,
    retour: Option<String>,
}

/// Confirms enrolment (first code) or verifies a code or recovery code.
/// Wrong codes count in the same back-off as passwords (ID-1): a million
/// codes cannot be tried.
pub async fn submit(
    State(app): State<AppState>,
    SignedIn(viewer): SignedIn,
    headers: HeaderMap,
    ctx: PageContext,
    Form(f): Form<CodeForm>,
) -> Result<Response, Error> {
    let retour = safe_return_path(f.retour.as_deref().or(Some("/gestion")));
    let keys = [format!("2fa:{}", viewer.account_id)];
    let throttle = store::throttle(&app.db, &keys).await?;
    let wait = throttle.wait_ms;
    if wait > 0 {
        let when = (retry_in(wait, true), retry_in(wait, false));
        let page = page(
            &app,
            ctx,
            viewer.account_id,
            &viewer.email,
            retour,
            Some(Problem::Throttled(when)),
        )
        .await?;
        return Ok(super::too_many_attempts(wait, page));
    }
    let token = session::token(&headers).unwrap_or_default();
    let enrolment = second_factor::enrolment(&app.db, &app.master_key, viewer.account_id).await?;
    if enrolment == Enrolment::Enrolled {
        if second_factor::verify(&app.db, &app.master_key, viewer.account_id, &f.code).await? {
            if throttle.recorded {
                store::clear_failures(&app.db, &keys).await?;
            }
            second_factor::mark_session(&app.db, &token).await?;
            return Ok(Redirect::to(&retour).into_response());
        }
    } else if let Some(codes) =
        second_factor::confirm(&app.db, &app.master_key, viewer.account_id, &f.code).await?
    {
        if throttle.recorded {
            store::clear_failures(&app.db, &keys).await?;
        }
        second_factor::mark_session(&app.db, &token).await?;
        let page = SecondFactorPage {
            ctx,
            retour,
            qr_svg: None,
            manual_key: None,
            recovery_codes: codes,
            error: None,
        };
        return Ok(page.into_response());
    }
    store::record_failure(&app.db, &keys).await?;
    let page = page(
        &app,
        ctx,
        viewer.account_id,
        &viewer.email,
        retour,
        Some(Problem::WrongCode),
    )
    .await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}
