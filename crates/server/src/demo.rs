//! `serve --demo`: the metropolis, its 58 communes with their populations
//! (from the project's copy of the reference file), the two services, and one
//! staff account per role. Idempotent: a second start changes nothing.

use kernel::AppState;
use kernel::audit::Actor;
use kernel::web::Role;

use agreements::domain::ServiceCode;
use agreements::domain::contribution::{Pricing, Prorata, Terms};
use agreements::domain::money::parse_decimal;
use identity::domain::EmailAddress;

pub const METROPOLIS_NAME: &str = "Métropole de Lyon";

/// The project's own copy of `shared/data/metropole-lyon-communes.csv`.
pub const COMMUNES_CSV: &[u8] = include_bytes!("../../../data/metropole-lyon-communes.csv");

/// The commune whose staff the demo accounts belong to.
pub const DEMO_COMMUNE: &str = "69266"; // Villeurbanne

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
            identity::store::create_account(
                db,
                Actor::System,
                &address,
                name,
                hash.as_deref(),
                Some((*role, org_id)),
            )
            .await?;
        }
        out.push(DemoAccount {
            email,
            role: *role,
            organisation: org_name,
        });
    }
    Ok(out)
}

pub fn print_accounts(accounts: &[DemoAccount], public_url: &str) {
    println!();
    println!("Demo platform: {public_url}/");
    println!("Demo accounts (password for all: {DEMO_PASSWORD}):");
    for a in accounts {
        println!("  {:<32} {:<18} {}", a.email, a.role.code(), a.organisation);
    }
    println!();
}
