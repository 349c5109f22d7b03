use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kernel::AppState;
use kernel::audit::Actor;
use kernel::web::{Msg, PageContext, Role, Staff};
use serde::Deserialize;

use crate::Error;
use crate::domain::EmailAddress;
use crate::store::{self, StaffAccount};
use agreements::store::{self as orgs, Organisation};

#[derive(Template, WebTemplate)]
#[template(path = "staff_home.html")]
pub struct HomePage {
    ctx: PageContext,
    staff: Staff,
}

pub async fn home(staff: Staff, ctx: PageContext) -> HomePage {
    HomePage { ctx, staff }
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts.html")]
pub struct AccountsPage {
    ctx: PageContext,
    accounts: Vec<StaffAccount>,
    can_create: bool,
}

pub async fn list(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
) -> Result<AccountsPage, Error> {
    let accounts = store::staff_accounts(&app.db, &staff.scope).await?;
    let can_create =
        staff.viewer.has(Role::MetropolisAdmin) || staff.viewer.has(Role::CommuneAdmin);
    Ok(AccountsPage {
        ctx,
        accounts,
        can_create,
    })
}

/// An organisation and the roles this administrator may grant there.
pub struct GrantChoice {
    organisation: Organisation,
    roles: Vec<Role>,
}

async fn grant_choices(app: &AppState, staff: &Staff) -> Result<Vec<GrantChoice>, Error> {
    let organisations = orgs::organisations(&app.db, &staff.scope).await?;
    Ok(organisations
        .into_iter()
        .filter(|o| staff.administers(o.id))
        .map(|o| {
            let roles = Role::ALL
                .into_iter()
                .filter(|r| r.fits(o.metropolis))
                .collect();
            GrantChoice {
                organisation: o,
                roles,
            }
        })
        .collect())
}

#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
pub struct AccountPage {
    ctx: PageContext,
    staff: Staff,
    account: StaffAccount,
    choices: Vec<GrantChoice>,
}

pub async fn show(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Path(id): Path<i64>,
) -> Result<AccountPage, Error> {
    let account = store::staff_account(&app.db, &staff.scope, id)
        .await?
        .ok_or(Error::NotFound)?;
    let choices = grant_choices(&app, &staff).await?;
    Ok(AccountPage {
        ctx,
        staff,
        account,
        choices,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RoleForm {
    /// `<organisation id>:<role code>`, one select for both.
    grant: String,
}

/// Parses a grant choice and checks that `staff` may change it (OPS-7).
async fn checked_grant(app: &AppState, staff: &Staff, text: &str) -> Result<(i64, Role), Error> {
    let invalid = || {
        Error::Invalid(Msg::new(
            "Choisissez une organisation et un rôle dans la liste.",
            "Choose an organisation and a role from the list.",
        ))
    };
    let (org, role) = text.split_once(':').ok_or_else(invalid)?;
    let org: i64 = org.parse().map_err(|_| invalid())?;
    let role = Role::parse(role).ok_or_else(invalid)?;
    let organisation = orgs::organisation_by_id(&app.db, org)
        .await?
        .ok_or_else(invalid)?;
    if !staff.scope.allows(org) || !staff.administers(org) {
        return Err(Error::Forbidden);
    }
    if !role.fits(organisation.metropolis) {
        return Err(invalid());
    }
    Ok((org, role))
}

pub async fn grant(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<RoleForm>,
) -> Result<Response, Error> {
    change_role(&app, &staff, id, &f.grant, true).await
}

pub async fn revoke(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<RoleForm>,
) -> Result<Response, Error> {
    change_role(&app, &staff, id, &f.grant, false).await
}

/// Grants or revokes, after checking that the account and the role are
/// within what `staff` administers (OPS-7); journaled by the store.
async fn change_role(
    app: &AppState,
    staff: &Staff,
    id: i64,
    choice: &str,
    grant: bool,
) -> Result<Response, Error> {
    store::staff_account(&app.db, &staff.scope, id)
        .await?
        .ok_or(Error::NotFound)?;
    let (org, role) = checked_grant(app, staff, choice).await?;
    let actor = Actor::Account(staff.viewer.account_id);
    if grant {
        store::grant_role(&app.db, actor, id, org, role).await?;
    } else {
        store::revoke_role(&app.db, actor, id, org, role).await?;
    }
    Ok(Redirect::to(&format!("/gestion/comptes/{id}")).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "account_new.html")]
pub struct NewAccountPage {
    ctx: PageContext,
    choices: Vec<GrantChoice>,
    email: String,
    display_name: String,
    error: Option<Msg>,
    created: Option<(i64, String)>,
}

pub async fn new_form(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
) -> Result<NewAccountPage, Error> {
    let choices = grant_choices(&app, &staff).await?;
    if choices.is_empty() {
        return Err(Error::Forbidden);
    }
    Ok(NewAccountPage {
        ctx,
        choices,
        email: String::new(),
        display_name: String::new(),
        error: None,
        created: None,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewAccountForm {
    email: String,
    display_name: String,
    grant: String,
}

/// Creates a staff account with its first role; its password is generated
/// and shown once to the administrator, who hands it over.
pub async fn create(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Form(f): Form<NewAccountForm>,
) -> Result<Response, Error> {
    let choices = grant_choices(&app, &staff).await?;
    let (org, role) = checked_grant(&app, &staff, &f.grant).await?;
    let display_name = f.display_name.trim().to_string();
    let again = |ctx: PageContext, choices, error: Msg| {
        let page = NewAccountPage {
            ctx,
            choices,
            email: f.email.clone(),
            display_name: display_name.clone(),
            error: Some(error),
            created: None,
        };
        (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
    };
    let Ok(email) = EmailAddress::parse(&f.email) else {
        return Ok(again(
            ctx,
            choices,
            Msg::new(
                "Saisissez une adresse e-mail valide, par exemple prenom.nom@mairie.fr.",
                "Enter a valid e-mail address, e.g. first.last@town.fr.",
            ),
        ));
    };
    if display_name.chars().count() > 120 {
        return Ok(again(
            ctx,
            choices,
            Msg::new(
                "Le nom doit faire au plus 120 caractères.",
                "The name must be at most 120 characters.",
            ),
        ));
    }
    let password = kernel::random::token(15);
    let hash = app.hasher.hash(password.clone()).await;
    let actor = Actor::Account(staff.viewer.account_id);
    match store::create_account(
        &app.db,
        actor,
        &email,
        &display_name,
        Some(&hash),
        Some((role, org)),
    )
    .await?
    {
        Some(id) => {
            let page = NewAccountPage {
                ctx,
                choices,
                email: email.to_string(),
                display_name,
                error: None,
                created: Some((id, password)),
            };
            Ok((StatusCode::CREATED, page).into_response())
        }
        None => Ok(again(
            ctx,
            choices,
            Msg::new(
                "Un compte existe déjà avec cette adresse e-mail : ajoutez-lui un rôle depuis sa fiche.",
                "An account already exists with this e-mail: add a role from its page.",
            ),
        )),
    }
}
