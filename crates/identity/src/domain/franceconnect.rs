//! ID-5, ID-6: what the platform accepts from FranceConnect, as pure rules.
//! The signatures are checked elsewhere (against FranceConnect's JWKS); here
//! are the claims of the ID token and of the signed userinfo, and the pivot
//! identity they carry.

use serde_json::Value;
use time::Date;

use super::sheet::Field;

/// The level of assurance the platform asks FranceConnect for.
pub const ACR_EIDAS1: &str = "eidas1";

/// Clock difference tolerated with FranceConnect's servers, in seconds.
pub const LEEWAY_S: i64 = 60;

/// Why an answer of FranceConnect is refused. Each says, in French and in
/// English, what happened, without details that would help an attacker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// FranceConnect sent an error instead of a code (the person cancelled,
    /// or FranceConnect refused the request).
    ProviderError,
    /// No request of this browser matches the `state` (forged, replayed or
    /// from another browser), or it expired.
    UnknownState,
    /// The `iss` of the answer is not FranceConnect's.
    WrongIssuer,
    /// A token whose signature does not verify with FranceConnect's keys, or
    /// that is not a well-formed signed JWT.
    BadSignature,
    /// The ID token was made for another service.
    WrongAudience,
    /// The ID token is expired, or dated in the future.
    Expired,
    /// The `nonce` is not the one of this request (replay).
    WrongNonce,
    /// The level of assurance is not the one asked for.
    WrongAcr,
    /// The userinfo does not describe the person of the ID token, or lacks
    /// or garbles a field of the pivot identity.
    BadIdentity,
    /// FranceConnect could not be reached or answered something unusable.
    Unavailable,
}

impl Refusal {
    pub fn message_fr(self) -> &'static str {
        match self {
            Refusal::ProviderError => {
                "La connexion avec FranceConnect n'a pas abouti (annulée ou refusée par FranceConnect)."
            }
            Refusal::UnknownState => {
                "Cette réponse de FranceConnect ne correspond à aucune demande en cours de ce navigateur (lien déjà utilisé, expiré ou venu d'ailleurs)."
            }
            Refusal::WrongIssuer => "Cette réponse ne vient pas de FranceConnect.",
            Refusal::BadSignature => {
                "La signature de la réponse de FranceConnect n'est pas valide."
            }
            Refusal::WrongAudience => {
                "Cette réponse de FranceConnect était destinée à un autre service."
            }
            Refusal::Expired => "La réponse de FranceConnect a expiré.",
            Refusal::WrongNonce => {
                "La réponse de FranceConnect ne correspond pas à la demande (rejeu)."
            }
            Refusal::WrongAcr => "FranceConnect n'a pas confirmé le niveau de garantie demandé.",
            Refusal::BadIdentity => {
                "L'identité transmise par FranceConnect est incomplète ou incohérente."
            }
            Refusal::Unavailable => {
                "FranceConnect ne répond pas pour le moment. Réessayez dans quelques minutes."
            }
        }
    }

    pub fn message_en(self) -> &'static str {
        match self {
            Refusal::ProviderError => {
                "Signing in with FranceConnect did not succeed (cancelled, or refused by FranceConnect)."
            }
            Refusal::UnknownState => {
                "This answer from FranceConnect matches no pending request of this browser (already used, expired, or from elsewhere)."
            }
            Refusal::WrongIssuer => "This answer does not come from FranceConnect.",
            Refusal::BadSignature => "The signature of FranceConnect's answer is not valid.",
            Refusal::WrongAudience => {
                "This answer from FranceConnect was meant for another service."
            }
            Refusal::Expired => "FranceConnect's answer has expired.",
            Refusal::WrongNonce => "FranceConnect's answer does not match the request (replay).",
            Refusal::WrongAcr => "FranceConnect did not confirm the level of assurance asked for.",
            Refusal::BadIdentity => {
                "The identity sent by FranceConnect is incomplete or inconsistent."
            }
            Refusal::Unavailable => {
                "FranceConnect does not answer at the moment. Try again in a few minutes."
            }
        }
    }

    /// The journal's name for it.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::ProviderError => "provider_error",
            Refusal::UnknownState => "unknown_state",
            Refusal::WrongIssuer => "wrong_issuer",
            Refusal::BadSignature => "bad_signature",
            Refusal::WrongAudience => "wrong_audience",
            Refusal::Expired => "expired",
            Refusal::WrongNonce => "wrong_nonce",
            Refusal::WrongAcr => "wrong_acr",
            Refusal::BadIdentity => "bad_identity",
            Refusal::Unavailable => "unavailable",
        }
    }
}

/// What an ID token must say to be accepted.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Now, in seconds since the epoch.
    pub now_s: i64,
}

/// An accepted ID token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdToken {
    pub sub: String,
    pub acr: String,
}

/// Only asymmetric signatures (FranceConnect v2 signs with ES256 or RS256);
/// `none` and shared-secret algorithms are refused before any key is looked
/// up.
pub fn signing_alg_accepted(header: &Value) -> bool {
    matches!(header["alg"].as_str(), Some("ES256" | "RS256"))
}

/// OpenID Connect Core §3.1.3.7, for a token whose signature verified:
/// issuer, audience (and authorized party when there are several
/// audiences), expiry and issue time with [`LEEWAY_S`], nonce, and the
/// level of assurance asked for.
pub fn check_id_token(claims: &Value, want: &Expected<'_>) -> Result<IdToken, Refusal> {
    if claims["iss"].as_str() != Some(want.issuer) {
        return Err(Refusal::WrongIssuer);
    }
    let audience_ok = match &claims["aud"] {
        Value::String(a) => a == want.client_id,
        Value::Array(list) => {
            list.iter().any(|a| a.as_str() == Some(want.client_id))
                && (list.len() == 1 || claims["azp"].as_str() == Some(want.client_id))
        }
        _ => false,
    };
    if !audience_ok {
        return Err(Refusal::WrongAudience);
    }
    let (Some(exp), Some(iat)) = (claims["exp"].as_i64(), claims["iat"].as_i64()) else {
        return Err(Refusal::Expired);
    };
    if exp + LEEWAY_S <= want.now_s || iat - LEEWAY_S > want.now_s {
        return Err(Refusal::Expired);
    }
    if claims["nonce"].as_str() != Some(want.nonce) {
        return Err(Refusal::WrongNonce);
    }
    if claims["acr"].as_str() != Some(ACR_EIDAS1) {
        return Err(Refusal::WrongAcr);
    }
    let sub = match claims["sub"].as_str() {
        Some(s) if !s.is_empty() && s.len() <= 255 && !s.chars().any(char::is_control) => s,
        _ => return Err(Refusal::BadIdentity),
    };
    Ok(IdToken {
        sub: sub.to_string(),
        acr: ACR_EIDAS1.to_string(),
    })
}

/// The pivot identity (ID-6) and the contact fields FranceConnect sends.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    pub sub: String,
    pub given_name: String,
    pub family_name: String,
    /// `YYYY-MM-DD`.
    pub birthdate: String,
    /// `female` or `male`.
    pub gender: String,
    /// INSEE code of the birth commune; empty when born abroad.
    pub birthplace: String,
    /// INSEE code of the birth country (99100: France).
    pub birthcountry: String,
    pub email: Option<String>,
    /// The usage name, when there is one.
    pub preferred_username: Option<String>,
}

impl Identity {
    /// The certified fields of the identity sheet and their values.
    pub fn certified_fields(&self) -> Vec<(Field, &str)> {
        let mut fields = vec![
            (Field::GivenNames, self.given_name.as_str()),
            (Field::FamilyName, self.family_name.as_str()),
            (Field::Birthdate, self.birthdate.as_str()),
            (Field::Gender, self.gender.as_str()),
            (Field::Birthcountry, self.birthcountry.as_str()),
        ];
        if !self.birthplace.is_empty() {
            fields.push((Field::Birthplace, self.birthplace.as_str()));
        }
        fields
    }

    /// The name to show for the account.
    pub fn display_name(&self) -> String {
        let family = self
            .preferred_username
            .as_deref()
            .unwrap_or(&self.family_name);
        let first = self.given_name.split_whitespace().next().unwrap_or("");
        format!("{first} {family}").trim().to_string()
    }
}

/// The signed userinfo's claims (its signature verified): the same person as
/// the ID token (OpenID Connect Core §5.3.2), issued by FranceConnect for
/// this service when it says so, and a complete, well-formed pivot identity.
pub fn check_userinfo(
    claims: &Value,
    id_token: &IdToken,
    want: &Expected<'_>,
    today: Date,
) -> Result<Identity, Refusal> {
    if claims["sub"].as_str() != Some(id_token.sub.as_str()) {
        return Err(Refusal::BadIdentity);
    }
    if claims.get("iss").is_some() && claims["iss"].as_str() != Some(want.issuer) {
        return Err(Refusal::WrongIssuer);
    }
    if let Some(aud) = claims.get("aud") {
        let ok = match aud {
            Value::String(a) => a == want.client_id,
            Value::Array(list) => list.iter().any(|a| a.as_str() == Some(want.client_id)),
            _ => false,
        };
        if !ok {
            return Err(Refusal::WrongAudience);
        }
    }
    let text = |name: &str| claims[name].as_str().map(str::trim).unwrap_or("");
    let field = |f: Field, name: &str| f.check(text(name), today).map_err(|_| Refusal::BadIdentity);
    let birthcountry = field(Field::Birthcountry, "birthcountry")?;
    // Born in France: a commune; born abroad: FranceConnect sends "".
    let birthplace = match (birthcountry.as_str(), text("birthplace")) {
        ("99100", _) => field(Field::Birthplace, "birthplace")?,
        (_, "") => String::new(),
        _ => field(Field::Birthplace, "birthplace")?,
    };
    let email = match text("email") {
        "" => None,
        e => Some(
            super::EmailAddress::parse(e)
                .map_err(|_| Refusal::BadIdentity)?
                .to_string(),
        ),
    };
    let preferred_username = match text("preferred_username") {
        "" => None,
        _ => Some(field(Field::UsageName, "preferred_username")?),
    };
    Ok(Identity {
        sub: id_token.sub.clone(),
        given_name: field(Field::GivenNames, "given_name")?,
        family_name: field(Field::FamilyName, "family_name")?,
        birthdate: field(Field::Birthdate, "birthdate")?,
        gender: field(Field::Gender, "gender")?,
        birthplace,
        birthcountry,
        email,
        preferred_username,
    })
}

/// `state` and `nonce`: 32 random bytes in base64url, 43 characters (ID-5
/// asks for at least 32).
pub fn random_value() -> String {
    kernel::random::token(32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn want() -> Expected<'static> {
        Expected {
            issuer: "https://fc.example/api/v2",
            client_id: "mutualis",
            nonce: "n-0123456789abcdef0123456789abcdef",
            now_s: NOW,
        }
    }

    fn good() -> Value {
        json!({
            "iss": "https://fc.example/api/v2", "aud": "mutualis", "sub": "fc-sub-1",
            "exp": NOW + 60, "iat": NOW - 5, "nonce": "n-0123456789abcdef0123456789abcdef",
            "acr": "eidas1",
        })
    }

    #[test]
    fn an_id_token_is_accepted_only_when_every_claim_fits_id_5() {
        assert_eq!(
            check_id_token(&good(), &want()),
            Ok(IdToken {
                sub: "fc-sub-1".into(),
                acr: "eidas1".into()
            })
        );
        let with = |k: &str, v: Value| {
            let mut c = good();
            c[k] = v;
            check_id_token(&c, &want())
        };
        assert_eq!(
            with("iss", json!("https://evil.example/api/v2")),
            Err(Refusal::WrongIssuer)
        );
        assert_eq!(with("aud", json!("another")), Err(Refusal::WrongAudience));
        assert_eq!(
            with("aud", json!(["mutualis", "another"])),
            Err(Refusal::WrongAudience),
            "several audiences need azp"
        );
        assert_eq!(
            with("aud", json!(["mutualis"])).map(|t| t.sub),
            Ok("fc-sub-1".into())
        );
        // Expired beyond the leeway; within it, accepted.
        assert_eq!(with("exp", json!(NOW - LEEWAY_S)), Err(Refusal::Expired));
        assert!(with("exp", json!(NOW - LEEWAY_S + 1)).is_ok());
        assert_eq!(
            with("iat", json!(NOW + LEEWAY_S + 1)),
            Err(Refusal::Expired)
        );
        assert_eq!(with("exp", Value::Null), Err(Refusal::Expired));
        assert_eq!(with("nonce", json!("other")), Err(Refusal::WrongNonce));
        assert_eq!(with("nonce", Value::Null), Err(Refusal::WrongNonce));
        assert_eq!(with("acr", json!("eidas2")), Err(Refusal::WrongAcr));
        assert_eq!(with("sub", json!("")), Err(Refusal::BadIdentity));
    }

    #[test]
    fn only_asymmetric_signatures_are_looked_at() {
        assert!(signing_alg_accepted(&json!({"alg": "ES256"})));
        assert!(signing_alg_accepted(&json!({"alg": "RS256"})));
        for alg in ["none", "HS256", "ES384", ""] {
            assert!(!signing_alg_accepted(&json!({ "alg": alg })), "{alg}");
        }
    }

    fn userinfo() -> Value {
        json!({
            "sub": "fc-sub-1", "given_name": "Angela Claire Louise", "family_name": "DUBOIS",
            "birthdate": "1962-08-24", "gender": "female", "birthplace": "75107",
            "birthcountry": "99100", "email": "wossewodda-3728@yopmail.com",
            "preferred_username": "",
        })
    }

    fn today() -> Date {
        time::macros::date!(2026 - 11 - 29)
    }

    #[test]
    fn the_pivot_identity_is_complete_and_well_formed_id_6() {
        let id = IdToken {
            sub: "fc-sub-1".into(),
            acr: "eidas1".into(),
        };
        let identity = check_userinfo(&userinfo(), &id, &want(), today()).unwrap();
        assert_eq!(identity.given_name, "Angela Claire Louise");
        assert_eq!(identity.birthplace, "75107");
        assert_eq!(identity.preferred_username, None);
        assert_eq!(identity.display_name(), "Angela DUBOIS");
        assert_eq!(identity.certified_fields().len(), 6);

        let with = |k: &str, v: Value| {
            let mut c = userinfo();
            c[k] = v;
            check_userinfo(&c, &id, &want(), today())
        };
        // Another person than the ID token's.
        assert_eq!(with("sub", json!("fc-sub-2")), Err(Refusal::BadIdentity));
        // Born abroad: no commune; born in France: a commune is required.
        let abroad = {
            let mut c = userinfo();
            c["birthcountry"] = json!("99134");
            c["birthplace"] = json!("");
            check_userinfo(&c, &id, &want(), today()).unwrap()
        };
        assert_eq!(abroad.birthplace, "");
        assert_eq!(abroad.certified_fields().len(), 5);
        assert_eq!(with("birthplace", json!("")), Err(Refusal::BadIdentity));
        for (k, v) in [
            ("birthdate", json!("24/08/1962")),
            ("gender", json!("F")),
            ("birthcountry", json!("France")),
            ("given_name", json!("")),
            ("family_name", Value::Null),
            ("email", json!("not an address")),
        ] {
            assert_eq!(with(k, v.clone()), Err(Refusal::BadIdentity), "{k} = {v}");
        }
        assert_eq!(
            with("iss", json!("https://evil.example")),
            Err(Refusal::WrongIssuer)
        );
        assert_eq!(with("aud", json!("another")), Err(Refusal::WrongAudience));
        // A usage name is kept.
        assert_eq!(
            with("preferred_username", json!("MARTIN"))
                .unwrap()
                .display_name(),
            "Angela MARTIN"
        );
    }

    #[test]
    fn state_and_nonce_have_at_least_32_characters() {
        let (a, b) = (random_value(), random_value());
        assert!(a.len() >= 32 && b.len() >= 32);
        assert_ne!(a, b);
    }
}
