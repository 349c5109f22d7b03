//! ID-1: the password policy, after NIST SP 800-63B: at least 10
//! characters, at most 128 (hashing cost), and not a common password (a
//! shipped list of 30,000) nor the account's own e-mail name.

use std::collections::HashSet;
use std::sync::OnceLock;

pub const MIN_CHARS: usize = 10;
pub const MAX_CHARS: usize = 128;

const COMMON: &str = include_str!("../../data/common-passwords.txt");

fn common() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// How many common passwords are refused (for the docs and tests).
pub fn common_count() -> usize {
    common().len()
}

/// The password and its confirmation differ: what to say, and what to do.
pub const MISMATCH: (&str, &str) = (
    "Les deux mots de passe saisis sont différents : saisissez le même mot de passe dans les deux champs.",
    "The two passwords differ: type the same password in both fields.",
);

/// Why a password is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weakness {
    TooShort,
    TooLong,
    Common,
    ContainsEmail,
}

impl Weakness {
    pub fn fr(self) -> &'static str {
        match self {
            Weakness::TooShort => {
                "Le mot de passe doit compter au moins 10 caractères ; une phrase de quelques mots est plus facile à retenir."
            }
            Weakness::TooLong => "Le mot de passe doit compter au plus 128 caractères.",
            Weakness::Common => {
                "Ce mot de passe fait partie des mots de passe les plus courants : choisissez-en un autre."
            }
            Weakness::ContainsEmail => {
                "Le mot de passe ne doit pas reprendre votre adresse e-mail."
            }
        }
    }
    pub fn en(self) -> &'static str {
        match self {
            Weakness::TooShort => {
                "The password must have at least 10 characters; a phrase of a few words is easier to remember."
            }
            Weakness::TooLong => "The password must have at most 128 characters.",
            Weakness::Common => "This password is one of the most common ones: choose another.",
            Weakness::ContainsEmail => "The password must not repeat your e-mail address.",
        }
    }
}

/// Checks a new password; `email` is the account's address.
pub fn check(password: &str, email: &str) -> Result<(), Weakness> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(Weakness::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(Weakness::TooLong);
    }
    let lower = password.to_lowercase();
    if common().contains(lower.as_str()) {
        return Err(Weakness::Common);
    }
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    if local.chars().count() >= 4 && lower.contains(&local) {
        return Err(Weakness::ContainsEmail);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_follows_nist_id_1() {
        assert!(common_count() >= 10_000, "{}", common_count());
        assert_eq!(check("court", "a@b.fr"), Err(Weakness::TooShort));
        assert_eq!(check(&"x".repeat(129), "a@b.fr"), Err(Weakness::TooLong));
        // Long enough but common, whatever the case.
        assert_eq!(check("1234567890", "a@b.fr"), Err(Weakness::Common));
        assert_eq!(check("MotDePasse123", "a@b.fr"), Err(Weakness::Common));
        assert_eq!(
            check("camille.durand-2026", "camille.durand@lyon.fr"),
            Err(Weakness::ContainsEmail)
        );
        assert_eq!(check("une phrase de passe solide", "a@b.fr"), Ok(()));
        // Ten characters, any kind: accepted (no composition rules).
        assert_eq!(
            check("tartempion", "a@b.fr").is_ok(),
            !common().contains("tartempion")
        );
    }
}
