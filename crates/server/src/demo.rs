//! `serve --demo`: the metropolis, its 58 communes with their populations
//! (from the project's copy of the reference file), the two services, and one
//! staff account per role. Idempotent: a second start changes nothing.

use kernel::AppState;
use kernel::audit::Actor;
use kernel::web::Role;
use sqlx::Row;

use agreements::domain::ServiceCode;
use agreements::domain::contribution::{Pricing, Prorata, Terms};
use agreements::domain::money::parse_decimal;
use identity::domain::EmailAddress;

pub const METROPOLIS_NAME: &str = "Métropole de Lyon";

/// The project's own copy of `shared/data/metropole-lyon-communes.csv`.
pub const COMMUNES_CSV: &[u8] = include_bytes!("../../../data/metropole-lyon-communes.csv");

/// The commune whose staff the demo accounts belong to.
pub const DEMO_COMMUNE: &str = "69266"; // Villeurbanne

/// ID-7: the demo staff accounts' TOTP secret (20 bytes), printed at start
/// in base32 so that a person can add it to an authenticator app.
pub const DEMO_TOTP_SECRET: &[u8; 20] = b"mutualis-demo-totp!!";

/// Demo password of every demo account (printed at start; demo only).
pub const DEMO_PASSWORD: &str = "demo-mutualis-2026";

pub struct DemoAccount {
    pub email: &'static str,
    pub role: Role,
    pub organisation: String,
}

const ACCOUNTS: &[(&str, &str, Role)] = &[
    (
        "admin@metropole.demo",
        "Alice Administratrice",
        Role::MetropolisAdmin,
    ),
    (
        "admin@villeurbanne.demo",
        "Camille Admin-Commune",
        Role::CommuneAdmin,
    ),
    (
        "referent@villeurbanne.demo",
        "Rémi Référent",
        Role::Referent,
    ),
    (
        "assistance@villeurbanne.demo",
        "Hélène Assistance",
        Role::HelpAgent,
    ),
    (
        "finances@villeurbanne.demo",
        "Fabien Finances",
        Role::Finance,
    ),
];

/// The demo's services and their default annex terms (FIN-1, FIN-6). The
/// amounts are illustrations, not the metropolis's real prices.
fn demo_services() -> Vec<(&'static str, &'static str, &'static str, Terms)> {
    let d = |s: &str| parse_decimal(s).expect("demo decimal");
    vec![
        (
            "laclasse.com",
            "laclasse.com",
            "Espace numérique de travail des écoles et collèges",
            // FIN-6's example: a price per school group and year.
            Terms {
                pricing: Pricing::PerUnit { price: d("150.00") },
                s0: d("315.0"),
                fixed_part: d("0"),
                prorata: Prorata::Whole,
            },
        ),
        (
            "toodego",
            "Toodego",
            "Guichet des démarches en ligne",
            Terms {
                pricing: Pricing::Standard {
                    base: d("2000.00"),
                    per_inhabitant: d("0.04"),
                },
                s0: d("315.0"),
                fixed_part: d("0"),
                prorata: Prorata::Whole,
            },
        ),
    ]
}

pub async fn seed(app: &AppState) -> anyhow::Result<Vec<DemoAccount>> {
    let db = &app.db;
    let metropolis = agreements::store::ensure_metropolis(db, METROPOLIS_NAME).await?;
    let records = agreements::domain::communes_csv::parse(COMMUNES_CSV)
        .map_err(|e| anyhow::anyhow!("the shipped communes file is invalid: {}", e[0]))?;
    // Only the first start imports; later starts leave operators' updates alone.
    let villeurbanne =
        match agreements::store::commune(db, &kernel::web::Scope::All, DEMO_COMMUNE).await? {
            Some(c) => c,
            None => {
                agreements::store::import_communes(
                    db,
                    Actor::System,
                    "demo:metropole-lyon-communes.csv",
                    &records,
                )
                .await?;
                agreements::store::commune(db, &kernel::web::Scope::All, DEMO_COMMUNE)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("demo commune missing after import"))?
            }
        };
    for (code, name, description, terms) in demo_services() {
        let code = ServiceCode::parse(code).map_err(anyhow::Error::msg)?;
        agreements::store::ensure_service(db, &code, name, description, &terms).await?;
    }

    seed_clients(app).await?;
    seed_syntec(db).await?;
    seed_agreements(db).await?;
    seed_help_categories(db).await?;
    // FIN-5: the 2026 orders, as the June run would have issued them.
    if agreements::store::order_years(db).await?.is_empty() {
        let issuer = agreements::domain::orders::DEFAULT_ISSUER;
        if let Err(problems) = agreements::billing::run(db, Actor::System, 2026, issuer).await? {
            anyhow::bail!("demo billing failed: {}", problems[0].en);
        }
    }

    let mut out = Vec::new();
    let mut hash: Option<String> = None;
    for (email, name, role) in ACCOUNTS {
        let address = EmailAddress::parse(email).map_err(anyhow::Error::msg)?;
        let (org_id, org_name) = if *role == Role::MetropolisAdmin {
            (metropolis, METROPOLIS_NAME.to_string())
        } else {
            (villeurbanne.id, villeurbanne.name.clone())
        };
        if identity::store::account_by_email(db, &address)
            .await?
            .is_none()
        {
            // One hash serves every demo account (same password), so a first
            // demo start costs one argon2 computation, not five.
            if hash.is_none() {
                hash = Some(app.hasher.hash(DEMO_PASSWORD.to_string()).await);
            }
            let id = identity::store::create_account(
                db,
                Actor::System,
                &address,
                name,
                hash.as_deref(),
                Some((*role, org_id)),
            )
            .await?
            .ok_or_else(|| anyhow::anyhow!("demo account {email} could not be created"))?;
            // ID-7: staff need a second factor; the demo enrols them with one
            // printed key so a visitor can sign in with any TOTP app.
            identity::store::second_factor::set_secret(
                db,
                &app.master_key,
                id,
                DEMO_TOTP_SECRET,
                true,
            )
            .await?;
        }
        out.push(DemoAccount {
            email,
            role: *role,
            organisation: org_name,
        });
    }
    // After the accounts: an agent answers one of them.
    seed_help_requests(app).await?;
    Ok(out)
}

/// The demo services' OpenID Connect clients (ID-3), with local redirect
/// URIs; their secrets are fixed for the demo and printed at start.
pub const DEMO_CLIENTS: &[(&str, &str, &str)] = &[
    (
        "laclasse",
        "laclasse.com",
        "demo-secret-laclasse-0123456789abcdef",
    ),
    ("toodego", "Toodego", "demo-secret-toodego-0123456789abcdef"),
];

async fn seed_clients(app: &AppState) -> anyhow::Result<()> {
    for (id, name, secret) in DEMO_CLIENTS {
        if identity::oidc::clients::get(&app.db, id).await?.is_some() {
            continue;
        }
        let callback = format!("http://localhost:3000/{id}/callback");
        let new = identity::oidc::clients::NewClient {
            client_id: Some((*id).into()),
            name: (*name).into(),
            redirect_uris: vec![callback],
            post_logout_redirect_uris: vec![format!("http://localhost:3000/{id}/")],
            scopes: [
                "openid",
                "profile",
                "email",
                "phone",
                "address",
                "birth",
                "offline_access",
                identity::oidc::clients::USAGE_STATISTICS,
            ]
            .map(String::from)
            .to_vec(),
            ..Default::default()
        };
        identity::oidc::clients::create(&app.db, Actor::System, &new).await?;
        // SAU-7: the service uses its client for the help API too.
        let service = if *id == "laclasse" {
            "laclasse.com"
        } else {
            id
        };
        assistance::store::set_service_link(&app.db, service, Some(id), None, None, Actor::System)
            .await?;
        // The demo's known secret (real clients get a random one).
        sqlx::query("UPDATE oidc_clients SET secret_sha256 = $1 WHERE client_id = $2")
            .bind(kernel::random::sha256_hex(secret))
            .bind(id)
            .execute(app.db.pool())
            .await?;
    }
    Ok(())
}

/// The project's copy of `shared/data/syntec.csv` (real published values).
pub const SYNTEC_CSV: &str = include_str!("../../../data/syntec.csv");

/// Loads the real SYNTEC values (existing months are left alone).
async fn seed_syntec(db: &kernel::Db) -> anyhow::Result<()> {
    for (n, line) in SYNTEC_CSV.lines().enumerate().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let [month, value, published_on, exact] = cols[..] else {
            anyhow::bail!("data/syntec.csv line {}: expected 4 columns", n + 1);
        };
        let (y, m) = month
            .split_once('-')
            .ok_or_else(|| anyhow::anyhow!("data/syntec.csv line {}: bad month", n + 1))?;
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let value = agreements::domain::contribution::SyntecValue {
            year: y.parse()?,
            month: m.parse()?,
            value: parse_decimal(value).map_err(anyhow::Error::msg)?,
            published_on: time::Date::parse(published_on, &format)?,
        };
        agreements::store::add_syntec(db, Actor::System, &value, exact == "true").await?;
    }
    Ok(())
}

/// SAU-2: the demo services' competence matrices, with deadlines in working
/// days (first answer, resolution). Idempotent (each category is upserted).
async fn seed_help_categories(db: &kernel::Db) -> anyhow::Result<()> {
    use assistance::domain::routing::Competence::{Commune, Metropolis};
    use assistance::store::{Category, set_category};
    let matrices = [
        (
            "toodego",
            vec![
                ("voirie", "Voirie et propreté", Metropolis, 2, 10),
                ("dechets", "Déchets et collecte", Metropolis, 2, 10),
                ("eau", "Eau et assainissement", Metropolis, 1, 5),
                ("etat-civil", "État civil", Commune, 2, 10),
                ("elections", "Élections", Commune, 2, 10),
                ("ecoles", "Écoles", Commune, 3, 15),
                ("compte", "Mon compte", Metropolis, 1, 5),
            ],
        ),
        (
            "laclasse.com",
            vec![
                ("college", "Collèges", Metropolis, 2, 10),
                ("ecole-primaire", "Écoles primaires", Commune, 3, 15),
                ("compte", "Mon compte", Metropolis, 1, 5),
            ],
        ),
    ];
    for (service, categories) in matrices {
        for (code, label, competence, first, resolution) in categories {
            let category = Category {
                code: code.into(),
                label: label.into(),
                competence,
                first_answer_days: first,
                resolution_days: resolution,
            };
            set_category(db, service, &category)
                .await
                .map_err(|e| anyhow::anyhow!("demo help category {service}/{code}: {e}"))?;
        }
    }
    Ok(())
}

/// SAU: a few help requests, one for Villeurbanne with a reply and an
/// internal note, one for the metropolis. Seeded once.
async fn seed_help_requests(app: &AppState) -> anyhow::Result<()> {
    use assistance::store::{self as help, NewRequest};
    let db = &app.db;
    let existing: i64 = sqlx::query("SELECT COUNT(*) AS n FROM help_requests")
        .fetch_one(db.pool())
        .await?
        .try_get("n")?;
    if existing > 0 {
        return Ok(());
    }
    let fail = |e: assistance::Error| anyhow::anyhow!("demo help request: {e}");
    // SAU-6: a few FAQ entries, shown before the form.
    let metropolis: i64 = sqlx::query("SELECT id FROM organisations WHERE kind = 'metropolis'")
        .fetch_one(db.pool())
        .await?
        .try_get("id")?;
    let villeurbanne: i64 = sqlx::query("SELECT id FROM organisations WHERE insee_code = $1")
        .bind(DEMO_COMMUNE)
        .fetch_one(db.pool())
        .await?
        .try_get("id")?;
    for (service, category, organisation, question, answer) in [
        (
            "toodego",
            Some("dechets"),
            metropolis,
            "Comment faire enlever des encombrants ?",
            "Prenez rendez-vous sur Toodego, rubrique Déchets : la collecte passe devant chez vous le jour convenu.",
        ),
        (
            "toodego",
            Some("etat-civil"),
            villeurbanne,
            "Comment obtenir une copie d'acte de naissance ?",
            "Demandez-la en ligne sur Toodego, rubrique État civil : elle vous parvient par courrier sous huit jours.",
        ),
        (
            "laclasse.com",
            Some("compte"),
            metropolis,
            "J'ai perdu mon mot de passe laclasse.com",
            "Utilisez le lien « Mot de passe oublié » de la page de connexion, ou demandez à l'établissement.",
        ),
    ] {
        help::add_faq_entry(db, service, category, organisation, question, answer)
            .await
            .map_err(fail)?;
    }
    let birth = help::create(
        db,
        &NewRequest {
            service_code: "toodego",
            category: "etat-civil",
            subject: "Copie d'acte de naissance",
            message: "J'ai demandé une copie intégrale de mon acte de naissance le 3 novembre et je ne l'ai pas reçue.",
            page_url: Some("https://toodego.example/etat-civil"),
            email: "camille.habitante@example.fr",
            account_id: None,
            commune: Some(DEMO_COMMUNE),
            attachments: &[],
            topic: None,
        },
        &app.site.public_url,
    )
    .await
    .map_err(fail)?;
    let agent: i64 =
        sqlx::query("SELECT id FROM accounts WHERE email = 'assistance@villeurbanne.demo'")
            .fetch_one(db.pool())
            .await?
            .try_get("id")?;
    let url = &app.site.public_url;
    help::agent_message(
        db,
        birth.id,
        agent,
        "Vérifier le registre de novembre.",
        true,
        url,
    )
    .await
    .map_err(fail)?;
    help::agent_message(
        db,
        birth.id,
        agent,
        "Bonjour, votre acte est parti ce matin par courrier. Pouvez-vous nous dire s'il vous parvient ?",
        false,
        url,
    )
    .await
    .map_err(fail)?;
    help::create(
        db,
        &NewRequest {
            service_code: "toodego",
            category: "voirie",
            subject: "Nid-de-poule avenue Roger Salengro",
            message: "Un nid-de-poule dangereux pour les vélos devant le numéro 40.",
            page_url: None,
            email: "dominique@example.fr",
            account_id: None,
            commune: Some(DEMO_COMMUNE),
            attachments: &[],
            topic: None,
        },
        url,
    )
    .await
    .map_err(fail)?;
    Ok(())
}

/// The reference case at work: communes already paying before 2026, one
/// joining mid-year, one that gave notice, one still a draft. Seeded once.
async fn seed_agreements(db: &kernel::Db) -> anyhow::Result<()> {
    use agreements::domain::agreement::Party;
    use agreements::store::{self as st, NewAnnex};
    use time::macros::date;
    if !st::agreements(db, &kernel::web::Scope::All)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let services = st::services(db).await?;
    let service = |code: &str| {
        services
            .iter()
            .find(|s| s.code == code)
            .map(|s| s.id)
            .expect("demo service")
    };
    let (toodego, laclasse) = (service("toodego"), service("laclasse.com"));
    let d = |s: &str| parse_decimal(s).expect("demo decimal");
    let today = kernel::clock::today();
    let commune = |code: &'static str| async move {
        st::commune(db, &kernel::web::Scope::All, code)
            .await?
            .map(|c| c.id)
            .ok_or_else(|| anyhow::anyhow!("demo commune {code} missing"))
    };
    // (commune, annexes, commune signature, metropolis signature)
    let plans = [
        (
            "69266", // Villeurbanne: both services, Toodego paid before 2026.
            vec![
                NewAnnex {
                    service_id: toodego,
                    units: None,
                    previous_annual_amount: Some(d("6000.00")),
                },
                NewAnnex {
                    service_id: laclasse,
                    units: Some(d("45")),
                    previous_annual_amount: None,
                },
            ],
            Some(date!(2025 - 12 - 15)),
            Some(date!(2026 - 01 - 05)),
        ),
        (
            "69029", // Bron: the issue's example, paid 3000.00 before.
            vec![NewAnnex {
                service_id: toodego,
                units: None,
                previous_annual_amount: Some(d("3000.00")),
            }],
            Some(date!(2026 - 03 - 02)),
            Some(date!(2026 - 04 - 15)),
        ),
        (
            "69259", // Vénissieux: joins Toodego mid-year (pro rata).
            vec![NewAnnex {
                service_id: toodego,
                units: None,
                previous_annual_amount: None,
            }],
            Some(date!(2026 - 06 - 01)),
            Some(date!(2026 - 06 - 15)),
        ),
        (
            "69034", // Caluire-et-Cuire: laclasse.com, then notice.
            vec![NewAnnex {
                service_id: laclasse,
                units: Some(d("12")),
                previous_annual_amount: None,
            }],
            Some(date!(2026 - 01 - 10)),
            Some(date!(2026 - 01 - 12)),
        ),
        (
            "69123", // Lyon: a draft signed by the commune only.
            vec![
                NewAnnex {
                    service_id: toodego,
                    units: None,
                    previous_annual_amount: Some(d("61000.00")),
                },
                NewAnnex {
                    service_id: laclasse,
                    units: Some(d("120")),
                    previous_annual_amount: Some(d("15000.00")),
                },
            ],
            Some(date!(2026 - 10 - 20)),
            None,
        ),
    ];
    for (code, annexes, commune_signed, metropolis_signed) in plans {
        let id =
            st::create_agreement(db, Actor::System, commune(code).await?, &annexes, today).await?;
        for (party, on) in [
            (Party::Commune, commune_signed),
            (Party::Metropolis, metropolis_signed),
        ] {
            if let Some(on) = on.filter(|on| *on <= today) {
                st::sign(db, Actor::System, id, party, on, today).await?;
            }
        }
        if code == "69034" && date!(2026 - 10 - 02) <= today {
            // Received 02/10/2026, before the 12/10 deadline: ends 11/01/2027.
            st::record_notice(
                db,
                Actor::System,
                id,
                Party::Commune,
                date!(2026 - 10 - 02),
                today,
            )
            .await?;
        }
    }
    Ok(())
}

pub fn print_accounts(accounts: &[DemoAccount], public_url: &str) {
    println!();
    println!("Demo platform: {public_url}/");
    println!("OpenID Connect: {public_url}/.well-known/openid-configuration");
    for (id, _, secret) in DEMO_CLIENTS {
        println!("  client {id:<10} secret {secret}  redirect http://localhost:3000/{id}/callback");
    }
    println!(
        "Demo accounts (password for all: {DEMO_PASSWORD}; staff second factor: TOTP key {}):",
        identity::domain::totp::base32(DEMO_TOTP_SECRET)
    );
    for a in accounts {
        println!("  {:<32} {:<18} {}", a.email, a.role.code(), a.organisation);
    }
    println!();
}

/// DATA-3, DATA-4: page views of the last 75 days on the two services, so
/// that the usage dashboards and the open data show figures from the first
/// start (`serve --demo` only: the tests start without any event). Visitors
/// per day follow each commune's size, fewer at weekends;
/// Fontaines-Saint-Martin's visitor of every sixth day shows the open
/// data's small-count suppression.
pub async fn seed_usage_history(app: &AppState) -> anyhow::Result<()> {
    let db = &app.db;
    let existing: i64 = sqlx::query("SELECT COUNT(*) AS n FROM usage_events")
        .fetch_one(db.pool())
        .await?
        .try_get("n")?;
    if existing > 0 {
        return Ok(());
    }
    // (INSEE code, visitors on a weekday)
    const COMMUNES: &[(&str, u64)] = &[
        ("69123", 14),
        ("69266", 8),
        ("69259", 5),
        ("69029", 3),
        ("69091", 2),
    ];
    const SMALL_COMMUNE: &str = "69087";
    let today = kernel::clock::paris_day(kernel::clock::now_ms());
    // (service, tenths of a commune's visitors, its pages)
    for (code, tenths, pages) in [
        (
            "toodego",
            10,
            &[
                "/",
                "/demarches",
                "/demarches/stationnement",
                "/dechets/encombrants",
                "/etat-civil",
            ][..],
        ),
        (
            "laclasse.com",
            6,
            &["/", "/cahier-de-textes", "/messagerie", "/ressources"][..],
        ),
    ] {
        let service_id = agreements::store::service_id(db, code)
            .await?
            .ok_or_else(|| anyhow::anyhow!("demo service {code} missing"))?;
        let mut views = Vec::new();
        for back in 1..=75_u64 {
            let day = today - time::Duration::days(back as i64);
            let weekend = matches!(
                day.weekday(),
                time::Weekday::Saturday | time::Weekday::Sunday
            );
            let midnight = kernel::clock::paris_midnight(day);
            let mut visit = |insee: &str, v: u64| {
                let visitor = kernel::random::sha256_hex(format!("demo:{code}:{day}:{insee}:{v}"))
                    [..32]
                    .to_string();
                // Arrivals between 8:00 and 20:00, a page every 90 s.
                let arrival =
                    midnight as u64 + (8 * 3600 + (v * 2657 + back * 811) % (12 * 3600)) * 1000;
                for k in 0..1 + (v + back) % 3 {
                    views.push(usage::store::PastView {
                        at_ms: (arrival + k * 90_000) as i64,
                        page: pages[((v + k) % pages.len() as u64) as usize].to_string(),
                        commune: insee.to_string(),
                        visitor: visitor.clone(),
                    });
                }
            };
            for (c, (insee, per_day)) in COMMUNES.iter().enumerate() {
                let weekday = per_day * tenths / 10;
                let visitors = if weekend { weekday / 2 } else { weekday } + (back + c as u64) % 3;
                for v in 0..visitors {
                    visit(insee, v);
                }
            }
            if back % 6 == 0 {
                visit(SMALL_COMMUNE, 0);
            }
        }
        usage::store::record_demo_history(db, service_id, &views).await?;
    }
    Ok(())
}
