//! SAU-1, SAU-2: opening a help request, the same way from the help page,
//! the widget and the service API: every field checked, files checked,
//! then the request recorded and routed.

use identity::domain::EmailAddress;
use kernel::web::csrf::has_control;
use kernel::web::{Msg, Scope};
use kernel::{AppState, clock};
use serde::Deserialize;

use super::upload::Submitted;
use crate::Error;
use crate::store::{self, Created, HelpService, NewRequest};

/// A help request as typed.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct HelpForm {
    /// `service/category`.
    pub topic: String,
    pub subject: String,
    pub message: String,
    pub email: String,
    /// INSEE code, or empty.
    pub commune: String,
    /// The page of the service the person came from.
    pub page: String,
}

/// A problem with what was sent, and the field it concerns (for the API
/// and for `aria-invalid`).
#[derive(Clone, Debug)]
pub struct Problem {
    pub field: Option<&'static str>,
    pub msg: Msg,
}

impl Problem {
    fn new(field: &'static str, fr: &str, en: &str) -> Problem {
        Problem {
            field: Some(field),
            msg: Msg::new(fr, en),
        }
    }
}

/// What a person may choose: the services with their categories, and the
/// member communes (INSEE code, name).
pub struct Choices {
    pub services: Vec<HelpService>,
    pub communes: Vec<(String, String)>,
}

impl Choices {
    pub async fn load(app: &AppState) -> Result<Choices, Error> {
        let services = store::services_with_categories(&app.db).await?;
        let communes =
            agreements::store::list_communes(&app.db, &Scope::All, &clock::today().to_string())
                .await?
                .into_iter()
                .filter_map(|c| Some((c.organisation.insee_code?, c.organisation.name)))
                .collect();
        Ok(Choices { services, communes })
    }

    pub fn commune_name(&self, insee: &str) -> Option<&str> {
        self.communes
            .iter()
            .find(|(code, _)| code == insee)
            .map(|(_, name)| name.as_str())
    }
}

/// A page address worth keeping: http(s), at most 2,000 characters.
pub fn page_ok(page: &str) -> bool {
    (page.starts_with("https://") || page.starts_with("http://"))
        && page.len() <= 2000
        && !page.chars().any(char::is_whitespace)
}

/// Every field checked; each problem named. `topic` is the service and
/// category when they exist.
fn check<'f>(
    f: &HelpForm,
    topic: Option<(&'f str, &'f str)>,
) -> Result<(&'f str, &'f str, EmailAddress), Vec<Problem>> {
    let mut problems = Vec::new();
    // The page's forms are screened by the CSRF layer; the API's bodies
    // (JSON) are not: a NUL that PostgreSQL refuses stops here for both.
    for (field, text) in [
        ("category", &f.topic),
        ("subject", &f.subject),
        ("message", &f.message),
        ("email", &f.email),
        ("commune", &f.commune),
        ("page", &f.page),
    ] {
        if has_control(text) {
            problems.push(Problem::new(
                field,
                "Ce champ contient des caractères invisibles non autorisés : retapez le texte.",
                "This field holds invisible characters that are not allowed: type the text again.",
            ));
        }
    }
    if topic.is_none() {
        problems.push(Problem::new(
            "category",
            "Sujet de la demande : choisissez un service et une catégorie dans la liste.",
            "Topic: choose a service and a category from the list.",
        ));
    }
    if !(1..=200).contains(&f.subject.trim().chars().count()) {
        problems.push(Problem::new(
            "subject",
            "Objet : saisissez un objet de 200 caractères au plus.",
            "Subject: enter a subject of at most 200 characters.",
        ));
    }
    if !(1..=10_000).contains(&f.message.trim().chars().count()) {
        problems.push(Problem::new(
            "message",
            "Message : décrivez votre demande (10 000 caractères au plus).",
            "Message: describe your request (at most 10,000 characters).",
        ));
    }
    let email = EmailAddress::parse(&f.email);
    if email.is_err() {
        problems.push(Problem::new(
            "email",
            "Adresse e-mail : saisissez une adresse valide, par exemple prenom.nom@exemple.fr, pour recevoir la réponse.",
            "E-mail address: enter a valid address, e.g. first.last@example.fr, to receive the answer.",
        ));
    }
    if !f.page.is_empty() && !page_ok(&f.page) {
        problems.push(Problem::new(
            "page",
            "L'adresse de la page d'origine n'est pas valide.",
            "The address of the page you came from is not valid.",
        ));
    }
    match (topic, email, problems.is_empty()) {
        (Some((s, c)), Ok(e), true) => Ok((s, c, e)),
        _ => Err(problems),
    }
}

/// Checks the form and its files, then records the request: `Ok(Err(_))`
/// names every problem and nothing is stored (SAU-1).
pub async fn open(
    app: &AppState,
    f: &HelpForm,
    sent: &Submitted,
    account_id: Option<i64>,
) -> Result<Result<Created, Vec<Problem>>, Error> {
    // Any code may come: store::create keeps a member commune only.
    let commune = Some(f.commune.as_str()).filter(|c| !c.is_empty());
    let (codes, known) = match f.topic.split_once('/') {
        Some((service, category)) => match store::topic(&app.db, service, category, commune).await?
        {
            Some(known) => (Some((service, category)), Some(known)),
            None => (None, None),
        },
        None => (None, None),
    };
    let checked = check(f, codes);
    let refused = sent.refusals().into_iter().map(|msg| Problem {
        field: Some("attachments"),
        msg,
    });
    let (service, category, email) = match checked {
        Ok(ok) if sent.refused.is_empty() => ok,
        Ok(_) => return Ok(Err(refused.collect())),
        Err(mut problems) => {
            problems.extend(refused);
            return Ok(Err(problems));
        }
    };
    let request = NewRequest {
        service_code: service,
        category,
        subject: f.subject.trim(),
        message: f.message.trim(),
        page_url: Some(f.page.as_str()).filter(|p| !p.is_empty()),
        email: email.as_str(),
        account_id,
        commune,
        attachments: &sent.files,
        topic: known,
    };
    let url = &app.site.public_url;
    Ok(Ok(match app.extensions.get::<store::Creations>() {
        Some(creations) => creations.create(&request, url).await?,
        None => store::create(&app.db, &request, url).await?,
    }))
}
