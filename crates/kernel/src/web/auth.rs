//! Who is asking, and what they may see (OPS-7). The identity area resolves
//! the session into a [`Viewer`]; staff pages and APIs take a [`Staff`]
//! extractor, the only way to obtain a [`Scope`], and every staff query is
//! filtered by that scope, so a commune's staff never reads another commune's
//! data.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use super::ErrorPage;

/// Roles per organisation (ID-7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    MetropolisAdmin,
    CommuneAdmin,
    Referent,
    HelpAgent,
    Finance,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::MetropolisAdmin,
        Role::CommuneAdmin,
        Role::Referent,
        Role::HelpAgent,
        Role::Finance,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::MetropolisAdmin => "metropolis_admin",
            Role::CommuneAdmin => "commune_admin",
            Role::Referent => "referent",
            Role::HelpAgent => "help_agent",
            Role::Finance => "finance",
        }
    }

    pub fn parse(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }

    pub fn label_fr(self) -> &'static str {
        match self {
            Role::MetropolisAdmin => "Administrateur de la métropole",
            Role::CommuneAdmin => "Administrateur de la commune",
            Role::Referent => "Référent",
            Role::HelpAgent => "Agent d'assistance",
            Role::Finance => "Finances",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Role::MetropolisAdmin => "Metropolis administrator",
            Role::CommuneAdmin => "Commune administrator",
            Role::Referent => "Referent",
            Role::HelpAgent => "Help agent",
            Role::Finance => "Finance",
        }
    }

    /// `metropolis_admin` only exists at the metropolis, `commune_admin` only
    /// at a commune; the other roles exist at both.
    pub fn fits(self, org_is_metropolis: bool) -> bool {
        match self {
            Role::MetropolisAdmin => org_is_metropolis,
            Role::CommuneAdmin => !org_is_metropolis,
            _ => true,
        }
    }
}

/// One role held at one organisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub organisation_id: i64,
    pub organisation_name: String,
    pub metropolis: bool,
    pub role: Role,
}

/// The logged-in person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    pub account_id: i64,
    pub email: String,
    pub display_name: String,
    pub grants: Vec<Grant>,
    /// ID-7: this session passed the second factor.
    pub second_factor: bool,
}

/// The organisations whose data a staff member may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Metropolis staff: every organisation.
    All,
    /// Commune staff: their own commune(s) only.
    Organisations(Vec<i64>),
}

impl Scope {
    pub fn allows(&self, organisation_id: i64) -> bool {
        match self {
            Scope::All => true,
            Scope::Organisations(ids) => ids.contains(&organisation_id),
        }
    }
}

impl Viewer {
    pub fn has(&self, role: Role) -> bool {
        self.grants.iter().any(|g| g.role == role)
    }
    pub fn has_at(&self, role: Role, organisation_id: i64) -> bool {
        self.grants
            .iter()
            .any(|g| g.role == role && g.organisation_id == organisation_id)
    }
    pub fn scope(&self) -> Scope {
        if self.grants.iter().any(|g| g.metropolis) {
            Scope::All
        } else {
            let mut ids: Vec<i64> = self.grants.iter().map(|g| g.organisation_id).collect();
            ids.sort_unstable();
            ids.dedup();
            Scope::Organisations(ids)
        }
    }
    pub fn name(&self) -> &str {
        if self.display_name.is_empty() {
            &self.email
        } else {
            &self.display_name
        }
    }
}

/// A staff member: a logged-in account with at least one role.
#[derive(Clone, Debug)]
pub struct Staff {
    pub viewer: Viewer,
    pub scope: Scope,
}

impl Staff {
    /// May administer accounts and roles at `organisation_id`.
    pub fn administers(&self, organisation_id: i64) -> bool {
        self.viewer.has(Role::MetropolisAdmin)
            || self.viewer.has_at(Role::CommuneAdmin, organisation_id)
    }
    pub fn require(&self, allowed: bool) -> Result<(), ErrorPage> {
        if allowed {
            Ok(())
        } else {
            Err(ErrorPage::forbidden())
        }
    }
}

/// Why a staff extractor refused.
pub enum StaffRejection {
    /// Not logged in: to the login page, coming back afterwards.
    Login(String),
    /// ID-7: staff pages need the second factor first.
    SecondFactor(String),
    /// Not logged in, on the JSON API: 401.
    Unauthenticated,
    Forbidden,
}

impl IntoResponse for StaffRejection {
    fn into_response(self) -> Response {
        match self {
            StaffRejection::Login(back) => {
                let target = format!("/connexion?retour={}", encode_component(&back));
                Redirect::to(&target).into_response()
            }
            StaffRejection::SecondFactor(back) => {
                Redirect::to(&format!("/gestion/2fa?retour={}", encode_component(&back))).into_response()
            }
            StaffRejection::Unauthenticated => (
                axum::http::StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({
                    "error": "unauthenticated",
                    "message": "Connectez-vous pour utiliser cette API (session d'agent). / Sign in to use this API (staff session)."
                })),
            )
                .into_response(),
            StaffRejection::Forbidden => ErrorPage::forbidden().into_response(),
        }
    }
}

/// Percent-encodes a URL component (RFC 3986 unreserved kept).
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl<S: Send + Sync> FromRequestParts<S> for Staff {
    type Rejection = StaffRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let back = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string();
        match parts.extensions.get::<Viewer>() {
            None if parts.uri.path().starts_with("/api/") => Err(StaffRejection::Unauthenticated),
            None => Err(StaffRejection::Login(back)),
            Some(v) if v.grants.is_empty() => Err(StaffRejection::Forbidden),
            Some(v) if !v.second_factor && parts.uri.path().starts_with("/api/") => {
                Err(StaffRejection::Forbidden)
            }
            Some(v) if !v.second_factor => Err(StaffRejection::SecondFactor(back)),
            Some(v) => Ok(Staff {
                scope: v.scope(),
                viewer: v.clone(),
            }),
        }
    }
}

/// Any logged-in person (inhabitant or staff): their own pages.
#[derive(Clone, Debug)]
pub struct SignedIn(pub Viewer);

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = StaffRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let back = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string();
        match parts.extensions.get::<Viewer>() {
            Some(v) => Ok(SignedIn(v.clone())),
            None if parts.uri.path().starts_with("/api/") => Err(StaffRejection::Unauthenticated),
            None => Err(StaffRejection::Login(back)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(org: i64, metropolis: bool, role: Role) -> Grant {
        Grant {
            organisation_id: org,
            organisation_name: String::new(),
            metropolis,
            role,
        }
    }

    #[test]
    fn commune_staff_scope_is_their_commune_only_ops_7() {
        let v = Viewer {
            account_id: 1,
            email: "a@b.fr".into(),
            display_name: String::new(),
            grants: vec![
                grant(7, false, Role::HelpAgent),
                grant(7, false, Role::Referent),
            ],
            second_factor: true,
        };
        assert_eq!(v.scope(), Scope::Organisations(vec![7]));
        assert!(v.scope().allows(7));
        assert!(!v.scope().allows(8));
    }

    #[test]
    fn metropolis_staff_see_all() {
        let v = Viewer {
            account_id: 1,
            email: "a@b.fr".into(),
            display_name: String::new(),
            grants: vec![grant(1, true, Role::Finance)],
            second_factor: true,
        };
        assert_eq!(v.scope(), Scope::All);
    }

    #[test]
    fn roles_round_trip_and_fit_their_organisation() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.code()), Some(r));
        }
        assert!(!Role::MetropolisAdmin.fits(false));
        assert!(!Role::CommuneAdmin.fits(true));
        assert!(Role::HelpAgent.fits(true) && Role::HelpAgent.fits(false));
        assert_eq!(encode_component("/a b?c=d"), "/a%20b%3Fc%3Dd");
    }
}
