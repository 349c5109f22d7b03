//! ID-6: the names of the places of the pivot identity, from their INSEE
//! codes (FranceConnect sends codes): the communes of France with the
//! arrondissements of Paris, Lyon and Marseille, and the countries.
//! Sources and licences: crates/identity/data/README.md.

use std::collections::HashMap;
use std::sync::OnceLock;

static COMMUNES: &str = include_str!("../../data/insee-communes.csv");
static COUNTRIES: &str = include_str!("../../data/insee-countries.csv");

/// `insee_code,name` lines after a header; a quoted name keeps its commas.
fn table(csv: &'static str) -> HashMap<&'static str, &'static str> {
    csv.lines()
        .skip(1)
        .filter_map(|line| {
            let (code, name) = line.split_once(',')?;
            let name = name
                .strip_prefix('"')
                .and_then(|n| n.strip_suffix('"'))
                .unwrap_or(name);
            Some((code, name))
        })
        .collect()
}

/// The commune (or arrondissement) of an INSEE code.
pub fn commune_name(code: &str) -> Option<&'static str> {
    static TABLE: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    TABLE.get_or_init(|| table(COMMUNES)).get(code).copied()
}

/// The country of an INSEE country code (99100: France).
pub fn country_name(code: &str) -> Option<&'static str> {
    static TABLE: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    TABLE.get_or_init(|| table(COUNTRIES)).get(code).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birth_places_are_named_from_their_insee_codes_id_6() {
        assert_eq!(commune_name("69123"), Some("Lyon"));
        assert_eq!(commune_name("2A004"), Some("Ajaccio"));
        // FranceConnect names the arrondissement of those born in Paris,
        // Lyon or Marseille.
        assert_eq!(commune_name("75107"), Some("Paris 7e Arrondissement"));
        assert_eq!(commune_name("69381"), Some("Lyon 1er Arrondissement"));
        assert_eq!(commune_name("13216"), Some("Marseille 16e Arrondissement"));
        assert_eq!(commune_name("00000"), None);
        assert_eq!(country_name("99100"), Some("France"));
        assert_eq!(country_name("99134"), Some("Espagne"));
        assert_eq!(country_name("99443"), Some("Bonaire, Saint-Eustache, Saba"));
        assert_eq!(country_name("69123"), None);
        // Every line of both lists is read.
        assert_eq!(table(COUNTRIES).len(), COUNTRIES.lines().count() - 1);
        assert_eq!(table(COMMUNES).len(), COMMUNES.lines().count() - 1);
    }
}
