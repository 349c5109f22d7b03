//! What every page shares: language, the page context handed to templates,
//! the staff authorisation types, errors rendered as pages, and the
//! middleware (CSRF, security headers, metrics).

pub mod auth;
pub mod chart;
pub mod csrf;
pub mod csv;
pub mod error;
pub mod headers;
pub mod lang;
pub mod metrics;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

pub use auth::{Grant, Role, Scope, SignedIn, Staff, Viewer};
pub use csrf::CsrfToken;
pub use error::{ErrorPage, Msg};
pub use lang::Lang;

/// Public address settings every node shares.
#[derive(Clone, Debug)]
pub struct Site {
    /// The address people and services use, without a trailing slash.
    pub public_url: String,
}

impl Site {
    pub fn new(public_url: &str) -> Site {
        Site {
            public_url: public_url.trim_end_matches('/').to_string(),
        }
    }
    /// Cookies get `Secure` when the platform is served over HTTPS (OPS-7).
    pub fn secure(&self) -> bool {
        self.public_url.starts_with("https://")
    }
    /// `scheme://host[:port]`, as browsers send it in `Origin`.
    pub fn origin(&self) -> &str {
        let after_scheme = self.public_url.find("://").map(|i| i + 3).unwrap_or(0);
        match self.public_url[after_scheme..].find('/') {
            Some(i) => &self.public_url[..after_scheme + i],
            None => &self.public_url,
        }
    }
}

/// The client's network address (ID-1 back-off per address). Without a
/// peer address (in-process tests) it is "unknown".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "unknown".into());
        Ok(ClientAddress(peer))
    }
}

/// Everything the base layout needs; every page template has one as `ctx`.
#[derive(Clone, Debug)]
pub struct PageContext {
    pub lang: Lang,
    pub csrf: String,
    pub viewer: Option<Viewer>,
    /// The path of this page, for the language switch to come back to.
    pub path: String,
}

impl PageContext {
    /// The text in the reader's language: French first, English second.
    pub fn tr<'a>(&self, fr: &'a str, en: &'a str) -> &'a str {
        self.lang.pick(fr, en)
    }
    pub fn is_staff(&self) -> bool {
        self.viewer.as_ref().is_some_and(|v| !v.grants.is_empty())
    }
    pub fn other_lang(&self) -> Lang {
        match self.lang {
            Lang::Fr => Lang::En,
            Lang::En => Lang::Fr,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(page_context(&parts.extensions, &parts.uri))
    }
}

/// The context of a request, from what the middleware put in its extensions.
pub fn page_context(extensions: &axum::http::Extensions, uri: &axum::http::Uri) -> PageContext {
    PageContext {
        lang: extensions.get::<Lang>().copied().unwrap_or_default(),
        csrf: extensions
            .get::<CsrfToken>()
            .map(|t| t.0.clone())
            .unwrap_or_default(),
        viewer: extensions.get::<Viewer>().cloned(),
        path: uri.path().to_string(),
    }
}
