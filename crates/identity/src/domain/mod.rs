//! Pure rules of the identity area.

pub mod franceconnect;
pub mod password;
pub mod places;
pub mod sheet;
pub mod throttle;
pub mod totp;

use std::fmt;

/// An e-mail address, trimmed and lowercased (accounts are unique by it).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// A deliberately simple check (one `@`, a dot in the domain, no spaces,
    /// at most 254 characters): the real proof is the verification e-mail.
    pub fn parse(text: &str) -> Result<EmailAddress, &'static str> {
        let t = text.trim().to_lowercase();
        let Some((local, domain)) = t.split_once('@') else {
            return Err("missing @");
        };
        let ok = !local.is_empty()
            && local.len() <= 64
            && t.len() <= 254
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !t
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == ',');
        if ok {
            Ok(EmailAddress(t))
        } else {
            Err("not an e-mail address")
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where to go after logging in: only a path on this site, never another
/// site (no open redirect).
pub fn safe_return_path(candidate: Option<&str>) -> String {
    match candidate {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control) =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            EmailAddress::parse("  Agent@Lyon.FR ").unwrap().as_str(),
            "agent@lyon.fr"
        );
        for bad in [
            "",
            "agent",
            "agent@lyon",
            "a b@lyon.fr",
            "@lyon.fr",
            "a@.fr",
            "a@lyon.fr.",
            "a@b@c.fr",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn return_paths_stay_on_the_site() {
        assert_eq!(
            safe_return_path(Some("/gestion/communes")),
            "/gestion/communes"
        );
        assert_eq!(safe_return_path(Some("//evil.example/")), "/");
        assert_eq!(safe_return_path(Some("https://evil.example/")), "/");
        assert_eq!(safe_return_path(Some("/\\evil.example")), "/");
        assert_eq!(safe_return_path(None), "/");
    }
}
