//! DATA-4: the open data. What each dataset holds and its Table Schema, its
//! rows with small counts hidden, and the DCAT catalogue that open-data
//! portals harvest. Pure: figures come in, CSV text and JSON go out.
//!
//! Every count that leaves the platform goes through
//! [`suppression::suppress`], one table at a time, a cell absent from the
//! data counting zero: for usage, one table per month (communes × services);
//! for help requests, one per month and service (communes × that service's
//! categories). The row, column and grand totals of each table are taken as
//! known (anyone may publish them, or add the rows up), and so is any one
//! commune's row or service's column (the commune sees its own figures on
//! its dashboard, the service sent its own events): no hidden cell can be
//! recomputed from them. Totals across tables (a commune's year, a
//! commune's requests to all services) are not protected by this layout.
//! Contributions are public money: published whole.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use time::{Date, Month};

use super::suppression::{self, THRESHOLD};

/// Licence Ouverte / Open Licence 2.0 (Etalab), the licence of French public
/// open data: its SPDX identifier, page and title.
pub const LICENCE_ID: &str = "etalab-2.0";
pub const LICENCE_URL: &str = "https://www.etalab.gouv.fr/licence-ouverte-open-licence";
pub const LICENCE_TITLE: &str = "Licence Ouverte / Open Licence version 2.0";

/// How often a dataset gains data (DCAT `accrualPeriodicity`, from the EU's
/// frequency vocabulary that DCAT-AP asks for).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Periodicity {
    Monthly,
    Annual,
}

impl Periodicity {
    pub fn iri(self) -> &'static str {
        match self {
            Periodicity::Monthly => {
                "http://publications.europa.eu/resource/authority/frequency/MONTHLY"
            }
            Periodicity::Annual => {
                "http://publications.europa.eu/resource/authority/frequency/ANNUAL"
            }
        }
    }

    /// In French and in English, for people.
    pub fn fr(self) -> &'static str {
        match self {
            Periodicity::Monthly => "mensuelle",
            Periodicity::Annual => "annuelle",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            Periodicity::Monthly => "monthly",
            Periodicity::Annual => "yearly",
        }
    }
}

/// A column: its name, Table Schema type and what it means.
#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    /// `string`, `integer`, `number`, `boolean`, `year` or `yearmonth`.
    pub kind: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// Never empty. The others are empty when the figure is hidden.
    pub required: bool,
    pub pattern: Option<&'static str>,
}

/// Where a dataset's figures come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Usage,
    HelpRequests,
    Contributions,
}

/// One dataset of the catalogue.
#[derive(Debug)]
pub struct Dataset {
    /// In its addresses: `/opendata/{id}.csv`, `/opendata/{id}.schema.json`.
    pub id: &'static str,
    pub title: &'static str,
    pub title_en: &'static str,
    pub description: &'static str,
    pub keywords: &'static [&'static str],
    pub periodicity: Periodicity,
    pub fields: &'static [Field],
    pub primary_key: &'static [&'static str],
    pub source: Source,
}

const HIDDEN: &str = "Vide quand le chiffre est masqué par le secret statistique (moins de 11, ou masquage secondaire).";

/// A count that small-count suppression may hide (DATA-4).
const fn count(name: &'static str, title: &'static str) -> Field {
    Field {
        name,
        kind: "integer",
        title,
        description: HIDDEN,
        required: false,
        pattern: None,
    }
}

const MONTH: Field = Field {
    name: "mois",
    kind: "yearmonth",
    title: "Mois",
    description: "Mois civil (heure de Paris), au format AAAA-MM.",
    required: true,
    pattern: None,
};
const INSEE: Field = Field {
    name: "code_insee",
    kind: "string",
    title: "Code INSEE de la commune",
    description: "Code officiel géographique de la commune (5 caractères).",
    required: true,
    pattern: Some("^[0-9][0-9AB][0-9]{3}$"),
};
const COMMUNE: Field = Field {
    name: "commune",
    kind: "string",
    title: "Commune",
    description: "Nom de la commune.",
    required: true,
    pattern: None,
};
const SERVICE: Field = Field {
    name: "service",
    kind: "string",
    title: "Code du service",
    description: "Code du service numérique partagé dans le catalogue de la convention-cadre.",
    required: true,
    pattern: None,
};
const SERVICE_NAME: Field = Field {
    name: "libelle_service",
    kind: "string",
    title: "Service",
    description: "Nom du service numérique partagé.",
    required: true,
    pattern: None,
};

/// Service usage by commune and month (DATA-3's aggregates, DATA-4).
pub const USAGE: Dataset = Dataset {
    id: "usage-services",
    title: "Fréquentation des services numériques partagés par commune et par mois",
    title_en: "Use of the shared digital services by commune and month",
    description: "Nombre d'événements (pages vues, fonctionnalités utilisées) et de visites des services numériques \
        partagés entre la Métropole et ses communes, par mois et par commune des usagers. Mesure d'audience sans \
        cookie ni adresse IP enregistrée (exemptée de consentement selon la CNIL) ; les événements dont la commune \
        est inconnue ne sont pas comptés. Une visite se termine après 30 minutes sans événement. Secret statistique : \
        tout chiffre inférieur à 11 est masqué, ainsi que ceux qui permettraient de le retrouver à partir des totaux \
        par commune, par service ou du mois.",
    keywords: &[
        "services numériques",
        "fréquentation",
        "mesure d'audience",
        "communes",
        "métropole",
    ],
    periodicity: Periodicity::Monthly,
    fields: &[
        MONTH,
        INSEE,
        COMMUNE,
        SERVICE,
        SERVICE_NAME,
        count("evenements", "Événements"),
        count("visites", "Visites"),
    ],
    primary_key: &["mois", "code_insee", "service"],
    source: Source::Usage,
};

/// Help requests by service, category, commune and month, with their
/// delays (SAU-8's figures, DATA-4).
pub const HELP_REQUESTS: Dataset = Dataset {
    id: "demandes-assistance",
    title: "Demandes d'assistance des usagers par service, catégorie, commune et mois",
    title_en: "Users' help requests by service, category, commune and month",
    description: "Nombre de demandes d'aide déposées par les usagers des services numériques partagés, par mois de \
        dépôt, commune de l'usager, service et catégorie, avec le délai médian de première réponse et de résolution \
        (en heures calendaires). Les demandes sans commune connue ne sont pas comptées. Secret statistique : tout \
        nombre de demandes inférieur à 11 est masqué, ainsi que ceux qui permettraient de le retrouver à partir des \
        totaux ; un délai médian n'est donné que s'il porte sur au moins 11 demandes.",
    keywords: &[
        "assistance",
        "relation usagers",
        "délais",
        "services numériques",
        "communes",
    ],
    periodicity: Periodicity::Monthly,
    fields: &[
        MONTH,
        INSEE,
        COMMUNE,
        SERVICE,
        SERVICE_NAME,
        Field {
            name: "categorie",
            kind: "string",
            title: "Code de la catégorie",
            description: "Catégorie de la demande, propre au service.",
            required: true,
            pattern: None,
        },
        Field {
            name: "libelle_categorie",
            kind: "string",
            title: "Catégorie",
            description: "Nom de la catégorie.",
            required: true,
            pattern: None,
        },
        count("demandes", "Demandes"),
        Field {
            name: "delai_median_premiere_reponse_heures",
            kind: "number",
            title: "Délai médian de première réponse (heures)",
            description: "Vide si moins de 11 demandes ont reçu une réponse, ou si le nombre de demandes est masqué.",
            required: false,
            pattern: None,
        },
        Field {
            name: "delai_median_resolution_heures",
            kind: "number",
            title: "Délai médian de résolution (heures)",
            description: "Vide si moins de 11 demandes sont résolues, ou si le nombre de demandes est masqué.",
            required: false,
            pattern: None,
        },
    ],
    primary_key: &["mois", "code_insee", "service", "categorie"],
    source: Source::HelpRequests,
};

/// Contributions by commune, service and year (FIN-5's revenue orders,
/// DATA-4). Public money is public: nothing is hidden.
pub const CONTRIBUTIONS: Dataset = Dataset {
    id: "contributions-communes",
    title: "Contributions des communes aux services numériques partagés par service et par année",
    title_en: "Communes' contributions to the shared digital services by service and year",
    description: "Montant de la contribution de chaque commune à chaque service numérique partagé, par année, tel \
        qu'il figure sur le titre de recette émis par la Métropole en application de la convention-cadre : montant \
        dû, remboursement éventuel (fin de convention aux torts de la Métropole) et montant du titre, en euros. Les \
        titres annulés n'y figurent pas ; une réduction porte sur un titre entier et n'est pas répartie par \
        service (colonne titre_reduit).",
    keywords: &[
        "finances publiques",
        "contributions",
        "convention-cadre",
        "services numériques",
        "communes",
    ],
    periodicity: Periodicity::Annual,
    fields: &[
        Field {
            name: "annee",
            kind: "year",
            title: "Année",
            description: "Année de la contribution.",
            required: true,
            pattern: None,
        },
        INSEE,
        COMMUNE,
        SERVICE,
        SERVICE_NAME,
        Field {
            name: "montant_du",
            kind: "number",
            title: "Montant dû (euros)",
            description: "Montant dû pour l'année, en euros.",
            required: true,
            pattern: None,
        },
        Field {
            name: "remboursement",
            kind: "number",
            title: "Remboursement (euros)",
            description: "Montant remboursé, en euros (zéro le plus souvent).",
            required: true,
            pattern: None,
        },
        Field {
            name: "montant",
            kind: "number",
            title: "Montant du titre (euros)",
            description: "Montant porté sur le titre de recette pour ce service, en euros.",
            required: true,
            pattern: None,
        },
        Field {
            name: "titre",
            kind: "string",
            title: "Titre de recette",
            description: "Référence du titre de recette (exercice-numéro).",
            required: true,
            pattern: Some("^[0-9]{4}-[0-9]{6}$"),
        },
        Field {
            name: "titre_reduit",
            kind: "boolean",
            title: "Titre réduit",
            description: "true quand le titre a été réduit après son émission : une réduction porte sur le titre \
                entier, le reste dû est alors inférieur à la somme de ses lignes.",
            required: true,
            pattern: None,
        },
    ],
    primary_key: &["annee", "code_insee", "service"],
    source: Source::Contributions,
};

/// The catalogue, in the order it lists them.
pub const DATASETS: [&Dataset; 3] = [&USAGE, &HELP_REQUESTS, &CONTRIBUTIONS];

pub fn find(id: &str) -> Option<&'static Dataset> {
    DATASETS.into_iter().find(|d| d.id == id)
}

/// The dataset's Table Schema (frictionless specs v1), which its CSV
/// validates against.
pub fn table_schema(d: &Dataset, base_url: &str) -> Value {
    let fields: Vec<Value> = d
        .fields
        .iter()
        .map(|f| {
            let mut constraints = serde_json::Map::new();
            if f.required {
                constraints.insert("required".into(), json!(true));
            }
            if let Some(p) = f.pattern {
                constraints.insert("pattern".into(), json!(p));
            }
            if matches!(f.kind, "integer") {
                constraints.insert("minimum".into(), json!(0));
            }
            json!({
                "name": f.name,
                "type": f.kind,
                "title": f.title,
                "description": f.description,
                "constraints": constraints,
            })
        })
        .collect();
    json!({
        "name": d.id,
        "title": d.title,
        "description": d.description,
        "path": format!("{base_url}/opendata/{}.schema.json", d.id),
        "licenses": [{"name": LICENCE_ID, "path": LICENCE_URL, "title": LICENCE_TITLE}],
        "fields": fields,
        "primaryKey": d.primary_key,
        "missingValues": [""],
    })
}

/// The dataset's CSV: UTF-8, `,`, a header of the field names, ISO dates.
pub fn csv(d: &Dataset, rows: &[Vec<String>]) -> String {
    let header: Vec<&str> = d.fields.iter().map(|f| f.name).collect();
    let mut out = kernel::web::csv::line(&header);
    for row in rows {
        out.push_str(&kernel::web::csv::line(row));
    }
    out
}

/// DATA-4 on a family of tables, one per slice (a month): its rows and
/// columns are the keys present in that slice, an absent cell counts zero.
/// Returns every cell of every table, `None` when hidden.
fn suppress_by_slice<S, R, C>(cells: &BTreeMap<(S, R, C), u64>) -> BTreeMap<(S, R, C), Option<u64>>
where
    S: Ord + Clone,
    R: Ord + Clone,
    C: Ord + Clone,
{
    let mut slices: BTreeMap<&S, (BTreeSet<&R>, BTreeSet<&C>)> = BTreeMap::new();
    for (s, r, c) in cells.keys() {
        let (rows, columns) = slices.entry(s).or_default();
        rows.insert(r);
        columns.insert(c);
    }
    let mut out = BTreeMap::new();
    for (s, (rows, columns)) in slices {
        let table: Vec<Vec<u64>> = rows
            .iter()
            .map(|&r| {
                columns
                    .iter()
                    .map(|&c| {
                        cells
                            .get(&(s.clone(), r.clone(), c.clone()))
                            .copied()
                            .unwrap_or(0)
                    })
                    .collect()
            })
            .collect();
        let published = suppression::suppress(&table);
        for (i, &r) in rows.iter().enumerate() {
            for (j, &c) in columns.iter().enumerate() {
                out.insert((s.clone(), r.clone(), c.clone()), published.cells[i][j]);
            }
        }
    }
    out
}

fn shown(figure: Option<u64>) -> String {
    figure.map(|n| n.to_string()).unwrap_or_default()
}

fn name(names: &BTreeMap<String, String>, code: &str) -> String {
    names.get(code).cloned().unwrap_or_else(|| code.to_string())
}

/// One month of a service's use in one commune.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonthlyUsage {
    /// `YYYY-MM`.
    pub month: String,
    /// INSEE code.
    pub commune: String,
    pub service: String,
    pub events: u64,
    pub visits: u64,
}

/// The usage dataset's rows. Events and visits are suppressed each on its
/// own (two tables per month: each is a published figure with its own
/// totals).
pub fn usage_rows(
    usage: &[MonthlyUsage],
    communes: &BTreeMap<String, String>,
    services: &BTreeMap<String, String>,
) -> Vec<Vec<String>> {
    let key = |u: &MonthlyUsage| (u.month.clone(), u.commune.clone(), u.service.clone());
    let events = suppress_by_slice(&usage.iter().map(|u| (key(u), u.events)).collect());
    let visits = suppress_by_slice(&usage.iter().map(|u| (key(u), u.visits)).collect());
    events
        .into_iter()
        .map(|((month, commune, service), events)| {
            let visits = visits[&(month.clone(), commune.clone(), service.clone())];
            vec![
                month,
                commune.clone(),
                name(communes, &commune),
                service.clone(),
                name(services, &service),
                shown(events),
                shown(visits),
            ]
        })
        .collect()
}

/// The help-request dataset's rows. A median delay is shown only when its
/// cell's count is, and when at least [`THRESHOLD`] requests make it.
pub fn help_rows(
    cells: &[assistance::store::MonthlyCell],
    communes: &BTreeMap<String, String>,
    services: &BTreeMap<String, String>,
) -> Vec<Vec<String>> {
    // One table per month and service: communes × the service's categories,
    // so that a commune's requests to a service (a row total) are among the
    // totals taken as known.
    type Key = ((String, String), String, String);
    let key = |c: &assistance::store::MonthlyCell| -> Key {
        (
            (c.month.clone(), c.service_code.clone()),
            c.commune.clone(),
            c.category.clone(),
        )
    };
    let by_key: BTreeMap<Key, &assistance::store::MonthlyCell> =
        cells.iter().map(|c| (key(c), c)).collect();
    let labels: BTreeMap<(&str, &str), &str> = cells
        .iter()
        .map(|c| {
            (
                (c.service_code.as_str(), c.category.as_str()),
                c.category_label.as_str(),
            )
        })
        .collect();
    let counts = suppress_by_slice(&cells.iter().map(|c| (key(c), c.requests)).collect());
    let median = |shown_count: bool, basis: u64, hours: Option<f64>| -> String {
        match hours {
            Some(h) if shown_count && basis >= THRESHOLD => format!("{h:.1}"),
            _ => String::new(),
        }
    };
    counts
        .into_iter()
        .map(|(k, requests)| {
            let cell = by_key.get(&k);
            let ((month, service), commune, category) = k;
            let first = cell.map_or(String::new(), |c| {
                median(requests.is_some(), c.answered, c.median_first_answer_hours)
            });
            let resolution = cell.map_or(String::new(), |c| {
                median(requests.is_some(), c.resolved, c.median_resolution_hours)
            });
            let label = labels[&(service.as_str(), category.as_str())].to_string();
            vec![
                month,
                commune.clone(),
                name(communes, &commune),
                service.clone(),
                name(services, &service),
                category,
                label,
                shown(requests),
                first,
                resolution,
            ]
        })
        .collect()
}

/// The contributions dataset's rows: every line, nothing hidden.
pub fn contribution_rows(lines: &[agreements::store::ContributionLine]) -> Vec<Vec<String>> {
    lines
        .iter()
        .map(|l| {
            vec![
                l.year.to_string(),
                l.insee_code.clone(),
                l.commune.clone(),
                l.service_code.clone(),
                l.service_name.clone(),
                format!("{:.2}", l.due),
                format!("{:.2}", l.refund),
                format!("{:.2}", l.amount),
                l.order.clone(),
                l.reduced.to_string(),
            ]
        })
        .collect()
}

/// The period a dataset covers (DCAT `temporal`), both days included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coverage {
    pub start: Date,
    pub end: Date,
}

fn month_start(month: &str) -> Option<Date> {
    let (y, m) = month.split_once('-')?;
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, 1).ok()
}

impl Coverage {
    /// From the first day of the first month (`YYYY-MM`) to the last day of
    /// the last.
    pub fn months(first: &str, last: &str) -> Option<Coverage> {
        let start = month_start(first)?;
        let last = month_start(last)?;
        let end =
            Date::from_calendar_date(last.year(), last.month(), last.month().length(last.year()))
                .ok()?;
        Some(Coverage { start, end })
    }

    /// From 1 January of `first` to 31 December of `last`.
    pub fn years(first: i32, last: i32) -> Option<Coverage> {
        Some(Coverage {
            start: Date::from_calendar_date(first, Month::January, 1).ok()?,
            end: Date::from_calendar_date(last, Month::December, 31).ok()?,
        })
    }
}

/// What the catalogue says of one dataset besides its description.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub dataset: &'static Dataset,
    /// `None` while the dataset has no row.
    pub coverage: Option<Coverage>,
    /// When its first period was complete, and when it last changed.
    pub issued: Option<Date>,
    pub modified: Date,
}

fn date(d: Date) -> Value {
    json!({"@value": d.to_string(), "@type": "xsd:date"})
}

fn french(text: &str) -> Value {
    json!({"@value": text, "@language": "fr"})
}

/// A DCAT distribution: a file at `url`, its IANA media type, its EU file
/// type, the specification it conforms to; under the licence.
fn distribution(url: &str, title: &str, media: &str, file_type: &str, conforms_to: &str) -> Value {
    json!({
        "@id": url,
        "@type": "dcat:Distribution",
        "dct:title": french(title),
        "dcat:accessURL": {"@id": url},
        "dcat:downloadURL": {"@id": url},
        "dcat:mediaType": {"@id": format!("http://www.iana.org/assignments/media-types/{media}")},
        "dct:format": {"@id": format!("http://publications.europa.eu/resource/authority/file-type/{file_type}")},
        "dct:license": {"@id": LICENCE_URL},
        "dct:conformsTo": {"@id": conforms_to},
    })
}

/// The DCAT catalogue in JSON-LD (DCAT 2, with the properties DCAT-AP and
/// data.gouv.fr's harvester read), every address absolute under `base_url`.
pub fn catalog(base_url: &str, publisher: &str, entries: &[Entry]) -> Value {
    let publisher_id = format!("{base_url}/opendata/catalog.jsonld#editeur");
    let licence = json!({"@id": LICENCE_URL});
    let datasets: Vec<Value> = entries
        .iter()
        .map(|e| {
            let d = e.dataset;
            let page = format!("{base_url}/opendata#{}", d.id);
            let csv = format!("{base_url}/opendata/{}.csv", d.id);
            let schema = format!("{base_url}/opendata/{}.schema.json", d.id);
            let mut dataset = json!({
                "@id": format!("{base_url}/opendata/catalog.jsonld#{}", d.id),
                "@type": "dcat:Dataset",
                "dct:identifier": d.id,
                "dct:title": [french(d.title), {"@value": d.title_en, "@language": "en"}],
                "dct:description": french(d.description),
                "dcat:keyword": d.keywords.iter().map(|k| french(k)).collect::<Vec<_>>(),
                "dct:license": licence,
                "dct:publisher": {"@id": publisher_id},
                "dct:language": {"@id": "http://publications.europa.eu/resource/authority/language/FRA"},
                "dct:accrualPeriodicity": {"@id": d.periodicity.iri()},
                "dct:modified": date(e.modified),
                "dcat:landingPage": {"@id": page},
                "dcat:distribution": [
                    distribution(&csv, &format!("{} (CSV)", d.title), "text/csv", "CSV", &schema),
                    distribution(
                        &schema,
                        &format!("{} (schéma Table Schema)", d.title),
                        "application/json",
                        "JSON",
                        "https://specs.frictionlessdata.io/table-schema/",
                    ),
                ],
            });
            if let Some(c) = e.coverage {
                dataset["dct:temporal"] = json!({
                    "@type": "dct:PeriodOfTime",
                    "dcat:startDate": date(c.start),
                    "dcat:endDate": date(c.end),
                });
            }
            if let Some(issued) = e.issued {
                dataset["dct:issued"] = date(issued);
            }
            dataset
        })
        .collect();
    json!({
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
        },
        "@id": format!("{base_url}/opendata/catalog.jsonld"),
        "@type": "dcat:Catalog",
        "dct:title": french(&format!("Données ouvertes des services numériques partagés — {publisher}")),
        "dct:description": french(
            "Données publiées par la plateforme Mutualis des services numériques partagés entre la Métropole et \
             ses communes, sous Licence Ouverte 2.0.",
        ),
        "dct:publisher": {"@id": publisher_id, "@type": "foaf:Organization", "foaf:name": publisher},
        "dct:license": licence,
        "dct:language": {"@id": "http://publications.europa.eu/resource/authority/language/FRA"},
        "foaf:homepage": {"@id": format!("{base_url}/opendata")},
        "dcat:dataset": datasets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn usage(month: &str, commune: &str, service: &str, events: u64, visits: u64) -> MonthlyUsage {
        MonthlyUsage {
            month: month.into(),
            commune: commune.into(),
            service: service.into(),
            events,
            visits,
        }
    }

    /// DATA-4, by hand. October's events, Lyon (69123) and Villeurbanne
    /// (69266) × laclasse and toodego: 40, 500 / 7, 300; totals 540, 307;
    /// 47, 800; 847. Villeurbanne/laclasse (7) is hidden; alone, it would
    /// come back from its row's total. The public's cheapest 4-cycle
    /// (300+40+500 = 840, against 887, 1147, 1201) hides the four cells;
    /// then each insider (a commune knowing its row, a service its column)
    /// would get the other line back from the totals, so the totals go too
    /// (worked figure by figure in suppression's
    /// data_4_a_commune_cannot_recompute_the_other_row): all four events of
    /// October are empty. October's visits (12, 60, 15, 30) are all 11 or
    /// more: shown. November: Lyon alone with 3 events and 2 visits: hidden.
    #[test]
    fn usage_rows_hide_small_counts_and_what_gives_them_away_data_4() {
        let communes = names(&[("69123", "Lyon"), ("69266", "Villeurbanne")]);
        let services = names(&[("laclasse", "Laclasse"), ("toodego", "Toodego")]);
        let rows = usage_rows(
            &[
                usage("2026-10", "69123", "laclasse", 40, 12),
                usage("2026-10", "69123", "toodego", 500, 60),
                usage("2026-10", "69266", "laclasse", 7, 15),
                usage("2026-10", "69266", "toodego", 300, 30),
                usage("2026-11", "69123", "toodego", 3, 2),
            ],
            &communes,
            &services,
        );
        let line = |r: &Vec<String>| r.join(",");
        let lines: Vec<String> = rows.iter().map(line).collect();
        assert_eq!(
            lines,
            [
                "2026-10,69123,Lyon,laclasse,Laclasse,,12",
                "2026-10,69123,Lyon,toodego,Toodego,,60",
                "2026-10,69266,Villeurbanne,laclasse,Laclasse,,15",
                "2026-10,69266,Villeurbanne,toodego,Toodego,,30",
                "2026-11,69123,Lyon,toodego,Toodego,,",
            ]
        );
    }

    /// A commune absent from a service's month is a zero, shown: it is part
    /// of the table, and zero protects nobody.
    #[test]
    fn absent_cells_are_zeros_and_are_shown_data_4() {
        let communes = names(&[("69123", "Lyon"), ("69266", "Villeurbanne")]);
        let services = names(&[("laclasse", "Laclasse"), ("toodego", "Toodego")]);
        let rows = usage_rows(
            &[
                usage("2026-10", "69123", "laclasse", 40, 20),
                usage("2026-10", "69266", "toodego", 30, 25),
            ],
            &communes,
            &services,
        );
        let lines: Vec<String> = rows.iter().map(|r| r.join(",")).collect();
        assert_eq!(
            lines,
            [
                "2026-10,69123,Lyon,laclasse,Laclasse,40,20",
                "2026-10,69123,Lyon,toodego,Toodego,0,0",
                "2026-10,69266,Villeurbanne,laclasse,Laclasse,0,0",
                "2026-10,69266,Villeurbanne,toodego,Toodego,30,25",
            ]
        );
    }

    fn help(
        commune: &str,
        category: &str,
        requests: u64,
        answered: u64,
        first: f64,
    ) -> assistance::store::MonthlyCell {
        assistance::store::MonthlyCell {
            month: "2026-10".into(),
            commune: commune.into(),
            service_code: "toodego".into(),
            category: category.into(),
            category_label: format!("Catégorie {category}"),
            requests,
            answered,
            median_first_answer_hours: Some(first),
            resolved: 0,
            median_resolution_hours: None,
        }
    }

    /// DATA-4 for help requests: Lyon's 25 requests (12 answered, median
    /// 5.26 h, shown to one decimal: 5.3) and Villeurbanne's 30 (9 answered:
    /// the median is hidden, under 11 answers). No resolution yet: empty.
    #[test]
    fn help_rows_show_medians_only_over_eleven_requests_data_4() {
        let communes = names(&[("69123", "Lyon"), ("69266", "Villeurbanne")]);
        let services = names(&[("toodego", "Toodego")]);
        let rows = help_rows(
            &[
                help("69123", "compte", 25, 12, 5.26),
                help("69266", "compte", 30, 9, 2.0),
            ],
            &communes,
            &services,
        );
        let lines: Vec<String> = rows.iter().map(|r| r.join(",")).collect();
        assert_eq!(
            lines,
            [
                "2026-10,69123,Lyon,toodego,Toodego,compte,Catégorie compte,25,5.3,",
                "2026-10,69266,Villeurbanne,toodego,Toodego,compte,Catégorie compte,30,,",
            ]
        );
    }

    #[test]
    fn coverage_spans_whole_months_and_years() {
        let c = Coverage::months("2024-11", "2026-02").unwrap();
        assert_eq!(
            (c.start.to_string(), c.end.to_string()),
            ("2024-11-01".into(), "2026-02-28".into())
        );
        let c = Coverage::months("2024-02", "2024-02").unwrap();
        assert_eq!(c.end.to_string(), "2024-02-29");
        let c = Coverage::years(2026, 2027).unwrap();
        assert_eq!(
            (c.start.to_string(), c.end.to_string()),
            ("2026-01-01".into(), "2027-12-31".into())
        );
        assert_eq!(Coverage::months("2026-13", "2026-01"), None);
    }

    /// Every dataset's primary key names its fields, and the schema says
    /// which figures may be empty (hidden).
    #[test]
    fn schemas_are_consistent() {
        for d in DATASETS {
            let names: Vec<&str> = d.fields.iter().map(|f| f.name).collect();
            for k in d.primary_key {
                assert!(names.contains(k), "{}: key {k}", d.id);
                assert!(d.fields.iter().any(|f| f.name == *k && f.required));
            }
            let schema = table_schema(d, "https://x.example");
            assert_eq!(schema["fields"].as_array().unwrap().len(), d.fields.len());
            assert_eq!(schema["missingValues"], json!([""]));
        }
    }
}
