//! Inhabitants' pages (ID-1, ID-2): sign-up, e-mail verification, forgotten
//! password, "Mon compte", the identity sheet, password change.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kernel::AppState;
use kernel::clock;
use kernel::web::{Msg, PageContext, Scope, SignedIn};
use serde::Deserialize;

use crate::domain::EmailAddress;
use crate::domain::password;
use crate::domain::sheet::{Field, Source};
use crate::store::{self, SheetValue};
use crate::{Error, session};

#[derive(Template, WebTemplate)]
#[template(path = "signup.html")]
pub struct SignUpPage {
    ctx: PageContext,
    email: String,
    error: Option<Msg>,
}

pub async fn signup_form(ctx: PageContext) -> SignUpPage {
    SignUpPage {
        ctx,
        email: String::new(),
        error: None,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SignUpForm {
    email: String,
    password: String,
    confirmation: String,
}

fn weak(w: password::Weakness) -> Msg {
    Msg::new(w.fr(), w.en())
}

/// ID-1: creates the account, sends the verification e-mail, and logs the
/// person in (some services need a verified address; the page says so).
pub async fn signup(
    State(app): State<AppState>,
    ctx: PageContext,
    Form(f): Form<SignUpForm>,
) -> Result<Response, Error> {
    let again = |ctx, email: String, error: Msg| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            SignUpPage {
                ctx,
                email,
                error: Some(error),
            },
        )
            .into_response()
    };
    let Ok(email) = EmailAddress::parse(&f.email) else {
        return Ok(again(
            ctx,
            f.email,
            Msg::new(
                "Saisissez une adresse e-mail valide, par exemple prenom.nom@exemple.fr.",
                "Enter a valid e-mail address, e.g. first.last@example.fr.",
            ),
        ));
    };
    if let Err(w) = password::check(&f.password, email.as_str()) {
        return Ok(again(ctx, email.to_string(), weak(w)));
    }
    if f.password != f.confirmation {
        return Ok(again(
            ctx,
            email.to_string(),
            Msg::new(
                crate::domain::password::MISMATCH.0,
                crate::domain::password::MISMATCH.1,
            ),
        ));
    }
    let hash = app.hasher.hash(f.password).await;
    match store::sign_up(&app.db, &email, &hash, &app.site.public_url).await? {
        Some(id) => {
            let token = store::open_session(&app.db, id).await?;
            let mut response = Redirect::to("/compte?bienvenue=1").into_response();
            response
                .headers_mut()
                .append(session::SET_COOKIE, session::set_cookie(&app, &token));
            Ok(response)
        }
        // The same words as for a new address would leak which addresses
        // have accounts only if we said more; we invite to log in instead.
        None => Ok(again(
            ctx,
            email.to_string(),
            Msg::new(
                "Un compte existe déjà avec cette adresse : connectez-vous, ou utilisez « Mot de passe oublié ».",
                "An account already exists with this address: sign in, or use “Forgotten password”.",
            ),
        )),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenQuery {
    jeton: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "verify.html")]
pub struct VerifyPage {
    ctx: PageContext,
    token: String,
    done: Option<bool>,
}

/// The link in the e-mail shows a button: a mail scanner that opens links
/// does not consume the token.
pub async fn verify_form(ctx: PageContext, Query(q): Query<TokenQuery>) -> VerifyPage {
    VerifyPage {
        ctx,
        token: q.jeton,
        done: None,
    }
}

pub async fn verify(
    State(app): State<AppState>,
    ctx: PageContext,
    Form(f): Form<TokenQuery>,
) -> Result<Response, Error> {
    let done = store::verify_email(&app.db, &f.jeton).await?.is_some();
    let status = if done {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok((
        status,
        VerifyPage {
            ctx,
            token: String::new(),
            done: Some(done),
        },
    )
        .into_response())
}

pub async fn resend(
    State(app): State<AppState>,
    SignedIn(viewer): SignedIn,
) -> Result<Response, Error> {
    store::resend_verification(&app.db, viewer.account_id, &app.site.public_url).await?;
    Ok(Redirect::to("/compte?envoye=1").into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "forgot.html")]
pub struct ForgotPage {
    ctx: PageContext,
    sent: bool,
    error: Option<Msg>,
}

pub async fn forgot_form(ctx: PageContext) -> ForgotPage {
    ForgotPage {
        ctx,
        sent: false,
        error: None,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ForgotForm {
    email: String,
}

/// ID-1: the same answer whether or not the address has an account.
pub async fn forgot(
    State(app): State<AppState>,
    ctx: PageContext,
    Form(f): Form<ForgotForm>,
) -> Result<Response, Error> {
    let Ok(email) = EmailAddress::parse(&f.email) else {
        let error = Msg::new(
            "Saisissez une adresse e-mail valide.",
            "Enter a valid e-mail address.",
        );
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            ForgotPage {
                ctx,
                sent: false,
                error: Some(error),
            },
        )
            .into_response());
    };
    store::request_password_reset(&app.db, &email, &app.site.public_url).await?;
    Ok(ForgotPage {
        ctx,
        sent: true,
        error: None,
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "reset.html")]
pub struct ResetPage {
    ctx: PageContext,
    token: String,
    error: Option<Msg>,
}

pub async fn reset_form(ctx: PageContext, Query(q): Query<TokenQuery>) -> ResetPage {
    ResetPage {
        ctx,
        token: q.jeton,
        error: None,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ResetForm {
    jeton: String,
    password: String,
    confirmation: String,
}

pub async fn reset(
    State(app): State<AppState>,
    ctx: PageContext,
    Form(f): Form<ResetForm>,
) -> Result<Response, Error> {
    let again = |ctx, token: String, error: Msg| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            ResetPage {
                ctx,
                token,
                error: Some(error),
            },
        )
            .into_response()
    };
    // The policy's e-mail rule needs the account; checked after the token.
    if f.password != f.confirmation {
        return Ok(again(
            ctx,
            f.jeton,
            Msg::new(
                crate::domain::password::MISMATCH.0,
                crate::domain::password::MISMATCH.1,
            ),
        ));
    }
    if let Err(w) = password::check(&f.password, "") {
        return Ok(again(ctx, f.jeton, weak(w)));
    }
    let hash = app.hasher.hash(f.password).await;
    match store::reset_password(&app.db, &f.jeton, &hash).await? {
        Some(_) => Ok(Redirect::to("/connexion?reinitialise=1").into_response()),
        None => Ok(again(
            ctx,
            String::new(),
            Msg::new(
                "Ce lien n'est plus valable (il sert une fois et dure une heure) : demandez-en un nouveau.",
                "This link is no longer valid (it works once and lasts an hour): ask for a new one.",
            ),
        )),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "account_home.html")]
pub struct AccountPage {
    ctx: PageContext,
    email: String,
    verified: bool,
    welcome: bool,
    sent: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AccountQuery {
    bienvenue: Option<String>,
    envoye: Option<String>,
    franceconnect: Option<String>,
}

pub async fn account(
    State(app): State<AppState>,
    SignedIn(viewer): SignedIn,
    ctx: PageContext,
    Query(q): Query<AccountQuery>,
) -> Result<AccountPage, Error> {
    let verified = store::email_verified(&app.db, viewer.account_id).await?;
    Ok(AccountPage {
        ctx,
        email: viewer.email,
        verified,
        welcome: q.bienvenue.is_some(),
        sent: q.envoye.is_some(),
    })
}

/// A field of the sheet as the page shows it.
pub struct SheetRow {
    pub field: Field,
    pub value: String,
    pub source: Option<Source>,
    pub set_at: Option<String>,
}

impl SheetRow {
    pub fn certified(&self) -> bool {
        self.source == Some(Source::FranceConnect)
    }

    /// The name of a birth place or country, from its INSEE code (ID-6).
    pub fn place_name(&self) -> Option<&'static str> {
        match self.field {
            Field::Birthplace => crate::domain::places::commune_name(&self.value),
            Field::Birthcountry => crate::domain::places::country_name(&self.value),
            _ => None,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "identity.html")]
pub struct IdentityPage {
    ctx: PageContext,
    email: String,
    rows: Vec<SheetRow>,
    communes: Vec<(String, String)>,
    errors: Vec<Msg>,
    saved: bool,
    franceconnect: Option<FranceConnectSection>,
}

/// ID-5 on the identity sheet: the link to FranceConnect and what can be
/// done about it (shown when FranceConnect is configured).
pub struct FranceConnectSection {
    /// When linked: the date of the last certification (`YYYY-MM-DD`).
    certified_on: Option<String>,
    /// Unlinking an account without a password sets one in the same step.
    has_password: bool,
    /// `relie` or `delie` after the action.
    notice: Option<String>,
}

async fn franceconnect_section(
    app: &AppState,
    account_id: i64,
    notice: Option<String>,
) -> Result<Option<FranceConnectSection>, Error> {
    if super::franceconnect::configured(app).is_none() {
        return Ok(None);
    }
    let link = crate::store::franceconnect::link_of(&app.db, account_id).await?;
    let has_password = store::account_by_id(&app.db, account_id)
        .await?
        .is_some_and(|a| a.password_hash.is_some());
    Ok(Some(FranceConnectSection {
        certified_on: link.map(|l| clock::format_ms(l.certified_at)[..10].to_string()),
        has_password,
        notice: notice.filter(|n| n == "relie" || n == "delie"),
    }))
}

impl IdentityPage {
    fn label(&self, f: &Field) -> &'static str {
        if self.ctx.lang.code() == "fr" {
            f.label_fr()
        } else {
            f.label_en()
        }
    }
}

fn rows(values: &[SheetValue], edited: Option<&[(String, String)]>) -> Vec<SheetRow> {
    Field::ALL
        .into_iter()
        .map(|field| {
            let stored = values.iter().find(|v| v.field == field);
            let typed = edited.and_then(|e| {
                e.iter()
                    .find(|(k, _)| k == field.code())
                    .map(|(_, v)| v.clone())
            });
            SheetRow {
                field,
                value: typed
                    .or(stored.map(|v| v.value.clone()))
                    .unwrap_or_default(),
                source: stored.map(|v| v.source),
                set_at: stored.map(|v| clock::format_ms(v.set_at)[..10].to_string()),
            }
        })
        .collect()
}

async fn communes(app: &AppState) -> Result<Vec<(String, String)>, Error> {
    let list =
        agreements::store::list_communes(&app.db, &Scope::All, &clock::today().to_string()).await?;
    Ok(list
        .into_iter()
        .filter_map(|c| Some((c.organisation.insee_code?, c.organisation.name)))
        .collect())
}

pub async fn identity(
    State(app): State<AppState>,
    SignedIn(viewer): SignedIn,
    ctx: PageContext,
    Query(q): Query<AccountQuery>,
) -> Result<Response, Error> {
    let values = store::sheet(&app.db, viewer.account_id).await?;
    let mut response = IdentityPage {
        ctx,
        email: viewer.email,
        rows: rows(&values, None),
        communes: communes(&app).await?,
        errors: vec![],
        saved: q.envoye.is_some(),
        franceconnect: franceconnect_section(&app, viewer.account_id, q.franceconnect).await?,
    }
    .into_response();
    super::franceconnect::allow_form_to_franceconnect(&app, &mut response);
    Ok(response)
}

/// ID-2: every field checked; nothing is saved unless all are valid.
pub async fn save_identity(
    State(app): State<AppState>,
    SignedIn(viewer): SignedIn,
    ctx: PageContext,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let today = clock::today();
    let values = store::sheet(&app.db, viewer.account_id).await?;
    let known: Vec<(String, String)> = communes(&app).await?;
    let mut changes = Vec::new();
    let mut errors = Vec::new();
    for field in Field::ALL {
        let Some((_, raw)) = fields.iter().find(|(k, _)| k == field.code()) else {
            continue;
        };
        if values
            .iter()
            .any(|v| v.field == field && v.source == Source::FranceConnect)
        {
            continue;
        }
        if raw.trim().is_empty() {
            changes.push((field, None));
            continue;
        }
        match field.check(raw, today) {
            Ok(v)
                if field == Field::Commune
                    && v != "hors"
                    && !known.iter().any(|(code, _)| *code == v) =>
            {
                errors.push(Msg::new(
                    "Commune de résidence : choisissez une commune de la liste.",
                    "Commune of residence: choose a commune from the list.",
                ));
            }
            Ok(v) => changes.push((field, Some(v))),
            Err((fr, en)) => errors.push(Msg::new(
                format!("{} : saisissez {fr}.", field.label_fr()),
                format!("{}: enter {en}.", field.label_en()),
            )),
        }
    }
    if !errors.is_empty() {
        let page = IdentityPage {
            ctx,
            email: viewer.email,
            rows: rows(&values, Some(&fields)),
            communes: known,
            errors,
            saved: false,
            franceconnect: franceconnect_section(&app, viewer.account_id, None).await?,
        };
        let mut response = (StatusCode::UNPROCESSABLE_ENTITY, page).into_response();
        super::franceconnect::allow_form_to_franceconnect(&app, &mut response);
        return Ok(response);
    }
    store::update_sheet(&app.db, viewer.account_id, &changes).await?;
    Ok(Redirect::to("/compte/identite?envoye=1").into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "password.html")]
pub struct PasswordPage {
    ctx: PageContext,
    error: Option<Msg>,
    done: bool,
}

pub async fn password_form(
    _user: SignedIn,
    ctx: PageContext,
    Query(q): Query<AccountQuery>,
) -> PasswordPage {
    PasswordPage {
        ctx,
        error: None,
        done: q.envoye.is_some(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    current: String,
    password: String,
    confirmation: String,
}

/// ID-1: the current password first; then the policy; other sessions end.
pub async fn change_password(
    State(app): State<AppState>,
    SignedIn(viewer): SignedIn,
    ctx: PageContext,
    Form(f): Form<PasswordForm>,
) -> Result<Response, Error> {
    let again = |ctx, error: Msg| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            PasswordPage {
                ctx,
                error: Some(error),
                done: false,
            },
        )
            .into_response()
    };
    let account = store::account_by_id(&app.db, viewer.account_id)
        .await?
        .ok_or(Error::NotFound)?;
    if !app
        .hasher
        .verify(f.current, account.password_hash.clone())
        .await
    {
        return Ok(again(
            ctx,
            Msg::new(
                "Le mot de passe actuel est incorrect.",
                "The current password is wrong.",
            ),
        ));
    }
    if f.password != f.confirmation {
        return Ok(again(
            ctx,
            Msg::new(
                crate::domain::password::MISMATCH.0,
                crate::domain::password::MISMATCH.1,
            ),
        ));
    }
    if let Err(w) = password::check(&f.password, &account.email) {
        return Ok(again(ctx, weak(w)));
    }
    let hash = app.hasher.hash(f.password).await;
    store::change_password(&app.db, account.id, &hash).await?;
    // Every session ended, this one too: open a fresh one.
    let token = store::open_session(&app.db, account.id).await?;
    let mut response = Redirect::to("/compte/mot-de-passe?envoye=1").into_response();
    response
        .headers_mut()
        .append(session::SET_COOKIE, session::set_cookie(&app, &token));
    Ok(response)
}
