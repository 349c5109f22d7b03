//! OPS-7: security headers on every response. A handler that must differ
//! (e.g. a page meant to be framed by a service) sets its own header first;
//! the defaults only fill what is missing.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use super::Site;

/// No inline script or style anywhere: every script and style sheet is a file
/// served by the platform.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
frame-ancestors 'none'";

/// The origin (`scheme://host[:port]`) of an absolute URI, if it is a plain
/// one that can sit in a CSP source list.
fn origin(uri: &str) -> Option<&str> {
    let (scheme, rest) = uri.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let plain = |s: &str, extra: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    };
    if !plain(scheme, "+-.") || !plain(authority, ".-:[]") {
        return None;
    }
    Some(&uri[..scheme.len() + 3 + authority.len()])
}

/// A page whose form sends the browser on to another site (an OpenID Connect
/// service's redirect URI, already checked against its registration, or
/// FranceConnect): Chromium and Safari apply `form-action` to every redirect
/// that follows a form submission, so that origin is allowed on this page,
/// and on no other. Called again, it adds another origin.
pub fn allow_form_target(response: &mut Response, target: &str) {
    let Some(origin) = origin(target) else {
        return;
    };
    let name = HeaderName::from_static("content-security-policy");
    let current = response
        .headers()
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(CSP)
        .to_string();
    let Some(start) = current.find("form-action 'self'") else {
        return;
    };
    let end = start + current[start..].find(';').unwrap_or(current.len() - start);
    if current[start..end].split(' ').any(|s| s == origin) {
        return;
    }
    let csp = format!("{} {origin}{}", &current[..end], &current[end..]);
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response.headers_mut().insert(name, value);
    }
}

/// The headers every response gets, unless its handler set them itself.
const DEFAULTS: [(&str, &str); 6] = [
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=()",
    ),
];

pub async fn layer(State(site): State<Site>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // Room for all of them at once: growing the map header by header was a
    // tenth of the allocations of a small API request (bench/oidc).
    headers.reserve(DEFAULTS.len() + 1);
    let hsts = site.secure().then_some((
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ));
    for &(name, value) in DEFAULTS.iter().chain(hsts.iter()) {
        let name = HeaderName::from_static(name);
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_target_origin_is_added_to_form_action() {
        let mut r = Response::new(axum::body::Body::empty());
        allow_form_target(&mut r, "https://service.example:8443/cb?x=1#f");
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("form-action 'self' https://service.example:8443;"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        // A second origin is added, the same one only once.
        allow_form_target(&mut r, "https://franceconnect.example/api/v2/authorize?x");
        allow_form_target(&mut r, "https://service.example:8443/other");
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains(
                "form-action 'self' https://service.example:8443 https://franceconnect.example;"
            ),
            "{csp}"
        );

        // Anything that could inject a directive is left out.
        for bad in [
            "https://a.example;script-src *",
            "javascript:alert(1)",
            "https://",
        ] {
            let mut r = Response::new(axum::body::Body::empty());
            allow_form_target(&mut r, bad);
            assert!(
                r.headers().get("content-security-policy").is_none(),
                "{bad}"
            );
        }
    }
}
