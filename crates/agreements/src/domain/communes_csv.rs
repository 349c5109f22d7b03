//! The communes file (shape of `data/metropole-lyon-communes.csv`):
//! `insee_code,siren,name,population_in_force_YYYY…`, one column per year in
//! which a legal population is in force. Every bad row is reported with its
//! line number; the caller writes nothing unless the whole file is good.

use std::collections::HashSet;

use super::{InseeCode, Population, Siren};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommuneRecord {
    pub line: usize,
    pub insee_code: InseeCode,
    pub siren: Siren,
    pub name: String,
    pub populations: Vec<Population>,
}

/// An error at a line of the file (line 1 is the header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

const YEAR_PREFIX: &str = "population_in_force_";

/// Legal populations of vintage N are in force from 1 January N + 3.
const VINTAGE_LAG: i32 = 3;

pub fn parse(input: &[u8]) -> Result<Vec<CommuneRecord>, Vec<LineError>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let header_error = |message: String| vec![LineError { line: 1, message }];
    let headers = reader
        .headers()
        .map_err(|e| header_error(format!("unreadable header: {e}")))?
        .clone();
    let find = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(i_insee), Some(i_siren), Some(i_name)) =
        (find("insee_code"), find("siren"), find("name"))
    else {
        return Err(header_error(
            "the header must name the columns insee_code, siren and name".into(),
        ));
    };
    let mut years = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if let Some(year) = h.trim().strip_prefix(YEAR_PREFIX) {
            match year.parse::<i32>() {
                Ok(y) if (1900..=2200).contains(&y) => years.push((i, y)),
                _ => {
                    return Err(header_error(format!(
                        "column {h:?}: expected {YEAR_PREFIX}YYYY"
                    )));
                }
            }
        }
    }
    if years.is_empty() {
        return Err(header_error(format!(
            "no population column ({YEAR_PREFIX}YYYY)"
        )));
    }

    let mut records = Vec::new();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (index, row) in reader.records().enumerate() {
        let line = index + 2;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                errors.push(LineError {
                    line,
                    message: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        if row.len() != headers.len() {
            errors.push(LineError {
                line,
                message: format!("{} fields, the header has {}", row.len(), headers.len()),
            });
            continue;
        }
        let mut problems = Vec::new();
        let insee = InseeCode::parse(&row[i_insee])
            .map_err(|e| problems.push(e))
            .ok();
        let siren = Siren::parse(&row[i_siren])
            .map_err(|e| problems.push(e))
            .ok();
        let name = row[i_name].trim().to_string();
        if name.is_empty() {
            problems.push("the name is empty".into());
        }
        let mut populations = Vec::new();
        for &(col, year) in &years {
            let cell = row[col].trim();
            if cell.is_empty() {
                continue;
            }
            match cell.parse::<i64>() {
                Ok(value) if value >= 0 => populations.push(Population {
                    value,
                    vintage: year - VINTAGE_LAG,
                    in_force_from: time::Date::from_calendar_date(year, time::Month::January, 1)
                        .expect("1 January exists"),
                }),
                _ => problems.push(format!(
                    "population {cell:?} for {year} is not a whole number ≥ 0"
                )),
            }
        }
        if let Some(code) = &insee
            && !seen.insert(code.clone())
        {
            problems.push(format!("INSEE code {code} appears twice in the file"));
        }
        match (insee, siren, problems.is_empty()) {
            (Some(insee_code), Some(siren), true) => records.push(CommuneRecord {
                line,
                insee_code,
                siren,
                name,
                populations,
            }),
            _ => errors.push(LineError {
                line,
                message: problems.join("; "),
            }),
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_file_parses_with_its_documented_totals() {
        let file = include_bytes!("../../../../data/metropole-lyon-communes.csv");
        let records = parse(file).expect("reference file is valid");
        assert_eq!(records.len(), 58);
        let total = |year: i32| -> i64 {
            records
                .iter()
                .flat_map(|r| &r.populations)
                .filter(|p| p.in_force_from.year() == year)
                .map(|p| p.value)
                .sum()
        };
        // Totals from shared/data/README.md.
        assert_eq!(total(2025), 1_433_613);
        assert_eq!(total(2026), 1_436_354);
        let lyon = records
            .iter()
            .find(|r| r.insee_code.as_str() == "69123")
            .unwrap();
        assert_eq!(lyon.populations[1].vintage, 2023);
        assert_eq!(lyon.populations[1].value, 519_127);
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let file = b"insee_code,siren,name,population_in_force_2026\n\
69123,216901231,Lyon,519127\n\
6912,216901231,Bad,10\n\
69266,216902668,Villeurbanne,-4\n\
69266,216902668,Villeurbanne,163684\n\
69001,123,,x\n";
        let errors = parse(file).unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        // Line 5 repeats the INSEE code of line 4 (itself bad): both are reported.
        assert_eq!(lines, vec![3, 4, 5, 6]);
        assert!(errors[0].message.contains("INSEE"));
        assert!(errors[1].message.contains("-4"));
        assert!(errors[2].message.contains("twice"));
        assert!(errors[3].message.contains("SIREN") && errors[3].message.contains("name"));
    }

    #[test]
    fn duplicates_and_bad_headers_are_refused() {
        let dup = b"insee_code,siren,name,population_in_force_2026\n69123,216901231,Lyon,1\n69123,216901231,Lyon,2\n";
        assert_eq!(parse(dup).unwrap_err()[0].line, 3);
        let no_pop = b"insee_code,siren,name\n69123,216901231,Lyon\n";
        assert_eq!(parse(no_pop).unwrap_err()[0].line, 1);
        let short = b"insee_code,siren,name,population_in_force_2026\n69123,216901231\n";
        assert!(parse(short).unwrap_err()[0].message.contains("fields"));
    }
}
