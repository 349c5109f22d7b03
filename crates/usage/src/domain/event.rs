//! DATA-1: a usage event as a service sends it, checked one by one: a bad
//! event is refused with its reason, the others are kept.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::net::IpAddr;

use kernel::clock;
use kernel::web::Msg;
use serde::de::{
    self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor,
};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

/// Raw events are kept 25 months (DATA-2); older ones are refused.
pub const RETENTION_MONTHS: u8 = 25;

/// An event may be dated at most this far ahead (clocks drift).
const FUTURE_SLACK_MS: i64 = 5 * 60 * 1000;

/// An event as received: every field optional, so that each problem is
/// named instead of the whole event being "malformed". The texts borrow
/// from the request's body when they have no escapes: a batch of 1,000
/// events is read without copying its strings (bench/usage).
#[derive(Debug, Default)]
pub struct Incoming<'a> {
    pub kind: Option<Cow<'a, str>>,
    /// RFC 3339.
    pub time: Option<Cow<'a, str>>,
    /// The page's address (or path); only its path is kept.
    pub page: Option<Cow<'a, str>>,
    /// A feature's code, for events that are not page views.
    pub feature: Option<Cow<'a, str>>,
    /// The INSEE code of a member commune, when the service knows it.
    pub commune: Option<Cow<'a, str>>,
    /// Visitor hints (DATA-2): read to count the visitor, never stored.
    pub user_agent: Option<Cow<'a, str>>,
    pub client_address: Option<Cow<'a, str>>,
    /// The person's subject at this service, kept only with their consent.
    pub sub: Option<Cow<'a, str>>,
}

/// The fields of an event, as a service names them.
pub(crate) const FIELDS: &[&str] = &[
    "type",
    "time",
    "page",
    "feature",
    "commune",
    "user_agent",
    "client_address",
    "sub",
];

/// One element of a batch, read: an event, or why it cannot be one (not an
/// object, an unknown or repeated field, a field that is not a text).
/// Reading an element never fails, so that a malformed event is refused
/// alone with its index and the others are still checked (DATA-1); only a
/// body that is not JSON at all fails the whole batch.
#[derive(Debug)]
pub enum Received<'a> {
    Event(Incoming<'a>),
    Malformed(String),
}

impl<'de: 'a, 'a> Deserialize<'de> for Received<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ReceivedVisitor(PhantomData))
    }
}

struct ReceivedVisitor<'a>(PhantomData<&'a ()>);

/// What an element that is not an object is, in serde's words.
fn not_an_event(unexpected: Unexpected) -> Received<'static> {
    Received::Malformed(format!(
        "invalid type: {unexpected}, expected an event object"
    ))
}

impl<'de: 'a, 'a> Visitor<'de> for ReceivedVisitor<'a> {
    type Value = Received<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut incoming = Incoming::default();
        // The first problem is the one reported; the rest of the object is
        // still read, so that the next element starts where it should.
        let mut problem: Option<String> = None;
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let name = match &key {
                Text::Str(name) => name.as_ref(),
                _ => "",
            };
            let slot = match name {
                "type" => &mut incoming.kind,
                "time" => &mut incoming.time,
                "page" => &mut incoming.page,
                "feature" => &mut incoming.feature,
                "commune" => &mut incoming.commune,
                "user_agent" => &mut incoming.user_agent,
                "client_address" => &mut incoming.client_address,
                "sub" => &mut incoming.sub,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    problem.get_or_insert_with(|| {
                        format!(
                            "unknown field `{name}`, expected one of `{}`",
                            FIELDS.join("`, `")
                        )
                    });
                    continue;
                }
            };
            let value = map.next_value::<Text<'de>>()?;
            if slot.is_some() {
                problem.get_or_insert_with(|| format!("duplicate field `{name}`"));
                continue;
            }
            match value {
                Text::Str(text) => *slot = Some(text),
                Text::Null => {}
                Text::Other(what) => {
                    problem.get_or_insert_with(|| {
                        format!("invalid type: {what}, expected a string (field `{name}`)")
                    });
                }
            }
        }
        Ok(match problem {
            Some(problem) => Received::Malformed(problem),
            None => Received::Event(incoming),
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(not_an_event(Unexpected::Seq))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(not_an_event(Unexpected::Str(v)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(not_an_event(Unexpected::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(not_an_event(Unexpected::Signed(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(not_an_event(Unexpected::Unsigned(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(not_an_event(Unexpected::Float(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(not_an_event(Unexpected::Unit))
    }
}

/// A field's value, whatever its JSON type: a text (borrowed from the body
/// when it has no escapes), null, or something else, said as serde says it.
enum Text<'a> {
    Str(Cow<'a, str>),
    Null,
    Other(String),
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text::Str(Cow::Owned(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text::Str(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Text::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Text::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Text::Other(Unexpected::Bool(v).to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Text::Other(Unexpected::Signed(v).to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Text::Other(Unexpected::Unsigned(v).to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Text::Other(Unexpected::Float(v).to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Text::Other(Unexpected::Seq.to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Text::Other(Unexpected::Map.to_string()))
    }
}

/// A checked event; its texts borrow from the [`Incoming`] one's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    pub kind: Cow<'a, str>,
    pub at_ms: i64,
    /// The Paris day of `at_ms`: the day of the aggregates and of the salt.
    pub day: Date,
    pub page: Option<Cow<'a, str>>,
    pub feature: Option<Cow<'a, str>>,
    pub commune: Option<Cow<'a, str>>,
    pub address: Option<IpAddr>,
    pub user_agent: Cow<'a, str>,
    pub sub: Option<Cow<'a, str>>,
}

/// Why an event is refused, and which field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub field: &'static str,
    pub msg: Msg,
}

fn refuse(field: &'static str, fr: &str, en: &str) -> Refusal {
    Refusal {
        field,
        msg: Msg::new(fr, en),
    }
}

/// The event type: a code of 1 to 32 lowercase letters, digits, `_`, `.`
/// or `-`, starting with a letter (`page`, `search`, `payment.sent`).
fn kind_ok(kind: &str) -> bool {
    kind.len() <= 32
        && kind.starts_with(|c: char| c.is_ascii_lowercase())
        && kind
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
}

/// DATA-2: only the path of a page is kept. A query string or a fragment
/// may carry a name, an e-mail or a token, and the host is the service's.
pub fn page_path(page: &str) -> Option<&str> {
    let rest = if let Some(r) = page
        .strip_prefix("https://")
        .or_else(|| page.strip_prefix("http://"))
    {
        // Drop the host.
        &r[r.find('/').unwrap_or(r.len())..]
    } else if page.starts_with('/') {
        page
    } else {
        return None;
    };
    let path = rest.split(['?', '#']).next().unwrap_or("");
    let path = if path.is_empty() { "/" } else { path };
    (path.len() <= 500 && !path.chars().any(char::is_control)).then_some(path)
}

/// `f` of a text, borrowing from it as the text borrows from the body.
fn borrowed<'a>(text: Cow<'a, str>, f: impl Fn(&str) -> Option<&str>) -> Option<Cow<'a, str>> {
    match text {
        Cow::Borrowed(t) => f(t).map(Cow::Borrowed),
        Cow::Owned(t) => f(&t).map(|r| Cow::Owned(r.to_string())),
    }
}

/// An INSEE commune code: five characters, digits (or `2A`/`2B` for
/// Corsica).
fn insee_ok(code: &str) -> bool {
    code.len() == 5
        && (code.chars().all(|c| c.is_ascii_digit())
            || ((code.starts_with("2A") || code.starts_with("2B"))
                && code[2..].chars().all(|c| c.is_ascii_digit())))
}

/// Checks one event received at `now_ms`. `member` says whether an INSEE
/// code is a member commune's.
pub fn check<'a>(
    incoming: Incoming<'a>,
    now_ms: i64,
    member: impl Fn(&str) -> bool,
) -> Result<Event<'a>, Refusal> {
    let kind = incoming.kind.unwrap_or_default();
    if !kind_ok(&kind) {
        return Err(refuse(
            "type",
            "Le type est obligatoire : 1 à 32 lettres minuscules, chiffres, « _ », « . » ou « - », commençant par une lettre.",
            "The type is required: 1 to 32 lowercase letters, digits, \"_\", \".\" or \"-\", starting with a letter.",
        ));
    }
    let at = incoming
        .time
        .as_deref()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .ok_or_else(|| {
            refuse(
                "time",
                "L'heure est obligatoire, au format RFC 3339 (2026-11-28T14:05:00+01:00).",
                "The time is required, in RFC 3339 format (2026-11-28T14:05:00+01:00).",
            )
        })?;
    let at_ms = (at.unix_timestamp_nanos() / 1_000_000) as i64;
    if at_ms > now_ms + FUTURE_SLACK_MS {
        return Err(refuse(
            "time",
            "Cet événement est daté dans le futur.",
            "This event is dated in the future.",
        ));
    }
    let day = clock::paris_day(at_ms);
    if day < oldest_day(clock::paris_day(now_ms)) {
        return Err(refuse(
            "time",
            "Cet événement a plus de 25 mois : il n'est plus conservé.",
            "This event is more than 25 months old: it is no longer kept.",
        ));
    }
    let (page, feature) = match (incoming.page, incoming.feature) {
        (Some(page), None) => match borrowed(page, page_path) {
            Some(path) => (Some(path), None),
            None => {
                return Err(refuse(
                    "page",
                    "L'adresse de la page doit commencer par https://, http:// ou / (500 caractères au plus).",
                    "The page's address must start with https://, http:// or / (at most 500 characters).",
                ));
            }
        },
        (None, Some(feature))
            if kind != "page"
                && !feature.is_empty()
                && feature.chars().count() <= 100
                && !feature.chars().any(char::is_control) =>
        {
            (None, Some(feature))
        }
        (None, Some(_)) if kind == "page" => {
            return Err(refuse(
                "page",
                "Un événement « page » donne l'adresse de la page.",
                "A \"page\" event gives the page's address.",
            ));
        }
        (None, Some(_)) => {
            return Err(refuse(
                "feature",
                "La fonctionnalité est un texte de 1 à 100 caractères.",
                "The feature is a text of 1 to 100 characters.",
            ));
        }
        _ => {
            return Err(refuse(
                "page",
                "Donnez soit la page, soit la fonctionnalité (l'une des deux).",
                "Give either the page or the feature (one of them).",
            ));
        }
    };
    let commune = match incoming.commune.filter(|c| !c.is_empty()) {
        Some(code) if insee_ok(&code) && member(&code) => Some(code),
        Some(_) => {
            return Err(refuse(
                "commune",
                "Ce code INSEE n'est pas celui d'une commune membre.",
                "This INSEE code is not a member commune's.",
            ));
        }
        None => None,
    };
    let address = match incoming.client_address.filter(|a| !a.is_empty()) {
        Some(a) => Some(a.parse::<IpAddr>().map_err(|_| {
            refuse(
                "client_address",
                "L'adresse du client n'est pas une adresse IP.",
                "The client address is not an IP address.",
            )
        })?),
        None => None,
    };
    let user_agent = incoming.user_agent.unwrap_or_default();
    if user_agent.len() > 1000 || user_agent.chars().any(char::is_control) {
        return Err(refuse(
            "user_agent",
            "L'agent utilisateur fait au plus 1 000 caractères, sans caractère de contrôle.",
            "The user agent is at most 1,000 characters, without control characters.",
        ));
    }
    let sub = incoming.sub.filter(|s| !s.is_empty());
    if sub
        .as_deref()
        .is_some_and(|s| s.len() > 255 || s.chars().any(char::is_control))
    {
        return Err(refuse(
            "sub",
            "Le sujet fait au plus 255 caractères.",
            "The subject is at most 255 characters.",
        ));
    }
    Ok(Event {
        kind,
        at_ms,
        day,
        page,
        feature,
        commune,
        address,
        user_agent,
        sub,
    })
}

/// The first day still kept on `today` (DATA-2: 25 months).
pub fn oldest_day(today: Date) -> Date {
    let months = i32::from(today.month() as u8) - 1 - i32::from(RETENTION_MONTHS);
    let year = today.year() + months.div_euclid(12);
    let month = time::Month::try_from((months.rem_euclid(12) + 1) as u8).expect("1 to 12");
    let last = month.length(year);
    Date::from_calendar_date(year, month, today.day().min(last)).expect("a valid day")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    const NOW: OffsetDateTime = datetime!(2026-11-28 14:00 UTC);

    fn now() -> i64 {
        (NOW.unix_timestamp_nanos() / 1_000_000) as i64
    }

    fn page_view() -> Incoming<'static> {
        Incoming {
            kind: Some("page".into()),
            time: Some("2026-11-28T14:05:00+01:00".into()),
            page: Some("https://toodego.example/demarches/stationnement?email=a@b.fr#haut".into()),
            commune: Some("69266".into()),
            user_agent: Some("Mozilla/5.0".into()),
            client_address: Some("203.0.113.77".into()),
            ..Incoming::default()
        }
    }

    fn member(code: &str) -> bool {
        code == "69266" || code == "69123"
    }

    #[test]
    fn a_page_view_keeps_its_path_only_data_1_data_2() {
        let e = check(page_view(), now(), member).unwrap();
        assert_eq!(e.kind, "page");
        assert_eq!(e.page.as_deref(), Some("/demarches/stationnement"));
        assert_eq!(e.day, date!(2026 - 11 - 28));
        assert_eq!(e.commune.as_deref(), Some("69266"));
        assert_eq!(e.address, Some("203.0.113.77".parse().unwrap()));
        assert_eq!(page_path("https://toodego.example"), Some("/"));
        assert_eq!(page_path("/a?b"), Some("/a"));
        assert_eq!(page_path("javascript:alert(1)"), None);
    }

    #[test]
    fn each_bad_field_is_named_data_1() {
        let cases: Vec<(Incoming, &str)> = vec![
            (
                Incoming {
                    kind: Some("Page View".into()),
                    ..page_view()
                },
                "type",
            ),
            (
                Incoming {
                    kind: None,
                    ..page_view()
                },
                "type",
            ),
            (
                Incoming {
                    time: Some("hier".into()),
                    ..page_view()
                },
                "time",
            ),
            (
                Incoming {
                    time: Some("2026-11-28T16:00:00+01:00".into()),
                    ..page_view()
                },
                "time",
            ),
            (
                Incoming {
                    time: Some("2024-10-27T12:00:00Z".into()),
                    ..page_view()
                },
                "time",
            ),
            (
                Incoming {
                    page: Some("ftp://x".into()),
                    ..page_view()
                },
                "page",
            ),
            (
                Incoming {
                    page: None,
                    ..page_view()
                },
                "page",
            ),
            (
                Incoming {
                    feature: Some("recherche".into()),
                    ..page_view()
                },
                "page",
            ),
            (
                Incoming {
                    kind: Some("search".into()),
                    page: None,
                    feature: Some("".into()),
                    ..page_view()
                },
                "feature",
            ),
            (
                Incoming {
                    commune: Some("75056".into()),
                    ..page_view()
                },
                "commune",
            ),
            (
                Incoming {
                    client_address: Some("203.0.113".into()),
                    ..page_view()
                },
                "client_address",
            ),
            (
                Incoming {
                    user_agent: Some("a\nb".into()),
                    ..page_view()
                },
                "user_agent",
            ),
        ];
        for (incoming, field) in cases {
            let refusal = check(incoming, now(), member).unwrap_err();
            assert_eq!(refusal.field, field, "{}", refusal.msg.en);
        }
    }

    #[test]
    fn a_feature_event_without_commune_or_address_is_kept_data_1() {
        let e = check(
            Incoming {
                kind: Some("payment.sent".into()),
                time: Some("2026-11-28T13:00:00Z".into()),
                feature: Some("paiement-cantine".into()),
                ..Incoming::default()
            },
            now(),
            member,
        )
        .unwrap();
        assert_eq!(e.feature.as_deref(), Some("paiement-cantine"));
        assert_eq!((e.commune, e.address, e.sub), (None, None, None));
    }

    #[test]
    fn a_malformed_event_is_read_as_such_and_the_next_ones_still_read_data_1() {
        let body = r#"[
            {"type": "page", "time": "2026-11-28T14:05:00+01:00", "page": "/a", "sub": "s-1"},
            {"type": "page", "time": 12, "page": "/b"},
            {"type": "page", "page": "/c", "colour": {"deep": [1, 2]}},
            {"type": "page", "type": "search"},
            [1, 2],
            "page",
            null,
            {"type": "page", "page": "/caf\u00e9", "commune": null, "time": "2026-11-28T13:00:00Z"}
        ]"#;
        let read: Vec<Received> = serde_json::from_str(body).unwrap();
        let problems: Vec<Option<&str>> = read
            .iter()
            .map(|r| match r {
                Received::Event(_) => None,
                Received::Malformed(problem) => Some(problem.as_str()),
            })
            .collect();
        assert_eq!(problems[0], None);
        assert!(
            problems[1].unwrap().contains("integer `12`"),
            "{problems:?}"
        );
        assert!(problems[2].unwrap().contains("unknown field `colour`"));
        assert!(problems[3].unwrap().contains("duplicate field `type`"));
        assert!(
            problems[4..7]
                .iter()
                .all(|p| p.unwrap().contains("expected an event object"))
        );
        let (Received::Event(first), Received::Event(last)) = (&read[0], &read[7]) else {
            panic!("{read:?}");
        };
        // The person's subject is read, for consented per-person events.
        assert_eq!(first.sub.as_deref(), Some("s-1"));
        // Texts without escapes borrow from the body; the others are copied.
        assert!(matches!(first.page, Some(Cow::Borrowed("/a"))));
        assert!(matches!(&last.page, Some(Cow::Owned(p)) if p == "/café"));
        assert_eq!(last.commune, None);
    }

    #[test]
    fn twenty_five_months_are_kept_data_2() {
        assert_eq!(oldest_day(date!(2026 - 11 - 28)), date!(2024 - 10 - 28));
        assert_eq!(oldest_day(date!(2026 - 01 - 31)), date!(2023 - 12 - 31));
        // 31 March less 25 months: February has no 31st.
        assert_eq!(oldest_day(date!(2027 - 03 - 31)), date!(2025 - 02 - 28));
        let kept = Incoming {
            time: Some("2024-10-28T12:00:00Z".into()),
            ..page_view()
        };
        assert!(check(kept, now(), member).is_ok());
    }
}
