//! `mutualis billing simulate`: the whole contribution computation from a
//! JSON description, without a database. The input and output shapes are a
//! contract other tools rely on (docs/billing-simulate.md).
//!
//! Two passes: [`Plan::parse`] checks everything, naming the place of each
//! problem (`communes[3].annexes[0].service: unknown service "toodgo"`),
//! including every lookup the computation will make (SYNTEC value, population,
//! bracket, units for each year); [`Plan::run`] then cannot fail and streams
//! its lines.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use time::Date;

use crate::domain::InseeCode;
use crate::domain::ServiceCode;
use crate::domain::calendar::{AdhesionCalendar, last_day};
use crate::domain::contribution::{
    AnnexBasis, AnnexPeriod, Bracket, EndReason, PopulationSeries, Pricing, Prorata, SyntecSeries,
    SyntecValue, Terms, YearLine, annex_years, collectable, target,
};
use crate::domain::money::parse_decimal;

struct Service {
    code: String,
    terms: Terms,
}

struct Annex {
    service: usize,
    period: AnnexPeriod,
    previous: Option<Decimal>,
    units: Option<Decimal>,
}

struct Commune {
    insee_code: String,
    populations: PopulationSeries,
    annexes: Vec<Annex>,
}

/// A checked simulation input.
pub struct Plan {
    syntec: HashMap<i32, SyntecValue>,
    services: Vec<Service>,
    communes: Vec<Commune>,
    to: i32,
}

/// One computed line: a commune's annex in a year.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    pub commune: &'a str,
    pub service: &'a str,
    pub s0: Decimal,
    pub line: YearLine,
}

/// A commune's order for a year: the sum of `due − refund`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub year: i32,
    pub commune: String,
    pub total: Decimal,
    pub collectable: bool,
}

/// Collects problems with their place in the input.
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, place: &str, message: impl std::fmt::Display) {
        self.0.push(format!("{place}: {message}"));
    }
}

fn date(text: &str) -> Result<Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format).map_err(|_| format!("{text:?} is not a date (YYYY-MM-DD)"))
}

/// Field access on a JSON object, reporting problems at `place.name`.
struct Fields<'v> {
    object: &'v Map<String, Value>,
    place: String,
}

impl<'v> Fields<'v> {
    fn of(
        value: &'v Value,
        place: &str,
        known: &[&str],
        problems: &mut Problems,
    ) -> Option<Fields<'v>> {
        let Some(object) = value.as_object() else {
            problems.add(place, "expected an object");
            return None;
        };
        for key in object.keys() {
            if !known.contains(&key.as_str()) {
                problems.add(
                    place,
                    format!(
                        "unknown field {key:?} (expected one of: {})",
                        known.join(", ")
                    ),
                );
            }
        }
        Some(Fields {
            object,
            place: place.to_string(),
        })
    }

    fn at(&self, name: &str) -> String {
        format!("{}.{name}", self.place)
    }

    /// `None` when absent or null.
    fn optional(&self, name: &str) -> Option<&'v Value> {
        self.object.get(name).filter(|v| !v.is_null())
    }

    fn required(&self, name: &str, problems: &mut Problems) -> Option<&'v Value> {
        let v = self.optional(name);
        if v.is_none() {
            problems.add(&self.at(name), "missing");
        }
        v
    }

    fn text(&self, name: &str, problems: &mut Problems) -> Option<&'v str> {
        let v = self.required(name, problems)?;
        let t = v.as_str();
        if t.is_none() {
            problems.add(&self.at(name), "expected a string");
        }
        t
    }

    fn date(&self, name: &str, problems: &mut Problems) -> Option<Date> {
        let t = self.text(name, problems)?;
        date(t).map_err(|e| problems.add(&self.at(name), e)).ok()
    }

    fn decimal_value(&self, name: &str, v: &Value, problems: &mut Problems) -> Option<Decimal> {
        let Some(t) = v.as_str() else {
            problems.add(
                &self.at(name),
                "expected a decimal written as a string, e.g. \"2000.00\"",
            );
            return None;
        };
        let d = parse_decimal(t)
            .map_err(|e| problems.add(&self.at(name), e))
            .ok()?;
        if d.is_sign_negative() && !d.is_zero() {
            problems.add(&self.at(name), format!("{t} is negative"));
            return None;
        }
        Some(d)
    }

    /// A non-negative decimal written as a string.
    fn amount(&self, name: &str, problems: &mut Problems) -> Option<Decimal> {
        let v = self.required(name, problems)?;
        self.decimal_value(name, v, problems)
    }

    fn optional_amount(&self, name: &str, problems: &mut Problems) -> Option<Decimal> {
        let v = self.optional(name)?;
        self.decimal_value(name, v, problems)
    }

    fn array(&self, name: &str, problems: &mut Problems) -> &'v [Value] {
        match self.required(name, problems) {
            Some(Value::Array(items)) => items,
            Some(_) => {
                problems.add(&self.at(name), "expected an array");
                &[]
            }
            None => &[],
        }
    }
}

fn parse_syntec(items: &[Value], problems: &mut Problems) -> SyntecSeries {
    let mut values = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let place = format!("syntec[{i}]");
        let Some(f) = Fields::of(item, &place, &["month", "value", "published_on"], problems)
        else {
            continue;
        };
        let month = f.text("month", problems).and_then(|t| {
            let parsed = t.split_once('-').and_then(|(y, m)| {
                let (y, m) = (y.parse::<i32>().ok()?, m.parse::<u8>().ok()?);
                (t.len() == 7 && (1..=12).contains(&m)).then_some((y, m))
            });
            if parsed.is_none() {
                problems.add(&f.at("month"), format!("{t:?} is not a month (YYYY-MM)"));
            }
            parsed
        });
        let value = f.amount("value", problems);
        if value.is_some_and(|v| v.is_zero()) {
            problems.add(&f.at("value"), "must be positive");
        }
        let published_on = f.date("published_on", problems);
        if let (Some((year, month)), Some(value), Some(published_on)) = (month, value, published_on)
        {
            values.push(SyntecValue {
                year,
                month,
                value,
                published_on,
            });
        }
    }
    SyntecSeries::new(values)
}

fn parse_pricing(f: &Fields<'_>, problems: &mut Problems) -> Option<Pricing> {
    let value = f.required("pricing", problems)?;
    let place = f.at("pricing");
    let model = value.get("model").and_then(Value::as_str);
    let known: &[&str] = match model {
        Some("standard") => &["model", "base", "per_inhabitant"],
        Some("per_unit") => &["model", "price"],
        Some("brackets") => &["model", "brackets"],
        Some("free") => &["model"],
        _ => {
            problems.add(
                &format!("{place}.model"),
                "expected \"standard\", \"per_unit\", \"brackets\" or \"free\"",
            );
            return None;
        }
    };
    let p = Fields::of(value, &place, known, problems)?;
    match model {
        Some("standard") => Some(Pricing::Standard {
            base: p.amount("base", problems)?,
            per_inhabitant: p.amount("per_inhabitant", problems)?,
        }),
        Some("per_unit") => Some(Pricing::PerUnit {
            price: p.amount("price", problems)?,
        }),
        Some("brackets") => {
            let items = p.array("brackets", problems);
            let mut brackets = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let bp = format!("{place}.brackets[{i}]");
                let Some(b) = Fields::of(item, &bp, &["up_to", "amount"], problems) else {
                    continue;
                };
                let up_to = match b.optional("up_to") {
                    None => None,
                    Some(v) => match v.as_i64() {
                        Some(n) if n >= 0 => Some(n),
                        _ => {
                            problems.add(&b.at("up_to"), "expected a whole number ≥ 0 or null");
                            continue;
                        }
                    },
                };
                if let Some(amount) = b.amount("amount", problems) {
                    brackets.push(Bracket { up_to, amount });
                }
            }
            if brackets.is_empty() {
                problems.add(
                    &format!("{place}.brackets"),
                    "at least one bracket is needed",
                );
                return None;
            }
            Some(Pricing::Brackets(brackets))
        }
        _ => Some(Pricing::Free),
    }
}

fn parse_services(items: &[Value], problems: &mut Problems) -> Vec<Service> {
    let mut services = Vec::new();
    let mut codes = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let place = format!("services[{i}]");
        let Some(f) = Fields::of(
            item,
            &place,
            &["code", "pricing", "s0", "fixed_part", "prorata"],
            problems,
        ) else {
            continue;
        };
        let code = f.text("code", problems).and_then(|c| {
            ServiceCode::parse(c)
                .map_err(|e| problems.add(&f.at("code"), e))
                .ok()
        });
        if let Some(c) = &code
            && !codes.insert(c.as_str().to_string())
        {
            problems.add(
                &f.at("code"),
                format!("service {:?} is described twice", c.as_str()),
            );
        }
        let pricing = parse_pricing(&f, problems);
        let s0 = f.amount("s0", problems);
        if s0.is_some_and(|s| s.is_zero()) {
            problems.add(&f.at("s0"), "must be positive");
        }
        let fixed_part = f
            .optional_amount("fixed_part", problems)
            .unwrap_or(Decimal::ZERO);
        if fixed_part > Decimal::ONE {
            problems.add(&f.at("fixed_part"), "must be between 0 and 1");
        }
        let prorata = match f.optional("prorata").map(|v| v.as_str()) {
            None | Some(Some("whole")) => Prorata::Whole,
            Some(Some("base_only")) => Prorata::BaseOnly,
            Some(_) => {
                problems.add(&f.at("prorata"), "expected \"whole\" or \"base_only\"");
                Prorata::Whole
            }
        };
        if prorata == Prorata::BaseOnly
            && pricing
                .as_ref()
                .is_some_and(|p| !matches!(p, Pricing::Standard { .. }))
        {
            problems.add(
                &f.at("prorata"),
                "\"base_only\" needs the standard pricing model (a base part)",
            );
        }
        if let (Some(code), Some(pricing), Some(s0)) = (code, pricing, s0) {
            let terms = Terms {
                pricing,
                s0,
                fixed_part,
                prorata,
            };
            services.push(Service {
                code: code.as_str().to_string(),
                terms,
            });
        }
    }
    services
}

fn parse_annex(
    f: &Fields<'_>,
    services: &[Service],
    effective: Option<Date>,
    problems: &mut Problems,
) -> Option<Annex> {
    let service_code = f.text("service", problems);
    let service = service_code.and_then(|code| {
        let found = services.iter().position(|s| s.code == code);
        if found.is_none() {
            problems.add(&f.at("service"), format!("unknown service {code:?}"));
        }
        found
    });
    let start = f.date("start", problems);
    let previous = f.optional_amount("previous_annual_amount", problems);
    let units = match f.optional("units") {
        None => None,
        Some(Value::String(_)) => f.optional_amount("units", problems),
        Some(v) => match v.as_u64() {
            Some(n) => Some(Decimal::from(n)),
            None => {
                problems.add(
                    &f.at("units"),
                    "expected a whole number ≥ 0, a decimal string or null",
                );
                None
            }
        },
    };
    let end = match f.optional("end") {
        None => None,
        Some(v) => {
            let place = f.at("end");
            let e = Fields::of(v, &place, &["date", "reason"], problems)?;
            let date = e.date("date", problems);
            let reason = match e.text("reason", problems) {
                Some("notice") => Some(EndReason::Notice),
                Some("commune_breach") => Some(EndReason::CommuneBreach),
                Some("metropolis_breach") => Some(EndReason::MetropolisBreach),
                Some(other) => {
                    problems.add(&e.at("reason"), format!("{other:?}: expected \"notice\", \"commune_breach\" or \"metropolis_breach\""));
                    None
                }
                None => None,
            };
            match (date, reason) {
                (Some(d), Some(r)) => Some((d, r)),
                _ => return None,
            }
        }
    };
    let (service, start) = (service?, start?);
    if let Some(effective) = effective
        && start < effective
    {
        problems.add(
            &f.at("start"),
            format!("{start} is before the agreement takes effect ({effective})"),
        );
    }
    if let Some((end, _)) = end
        && end < start
    {
        problems.add(
            &f.at("end.date"),
            format!("{end} is before the start ({start})"),
        );
    }
    if matches!(services[service].terms.pricing, Pricing::PerUnit { .. }) && units.is_none() {
        problems.add(
            &f.at("units"),
            format!(
                "service {:?} is priced per unit: the number of units is needed",
                services[service].code
            ),
        );
    }
    // CONV-3, CONV-4: whatever the annex says, it ends with the agreement,
    // six years after it took effect at most; that end is billed like an
    // end by notice.
    let end = match (effective, end) {
        (Some(effective), end) => {
            let final_end = AdhesionCalendar::new(effective).final_end();
            match end {
                Some((date, reason)) if date <= final_end => Some((date, reason)),
                _ => Some((final_end, EndReason::Notice)),
            }
        }
        (None, end) => end,
    };
    Some(Annex {
        service,
        period: AnnexPeriod {
            start,
            continuing: previous.is_some(),
            end,
        },
        previous,
        units,
    })
}

fn parse_communes(items: &[Value], services: &[Service], problems: &mut Problems) -> Vec<Commune> {
    let mut communes = Vec::new();
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let place = format!("communes[{i}]");
        let Some(f) = Fields::of(
            item,
            &place,
            &["insee_code", "name", "populations", "agreement", "annexes"],
            problems,
        ) else {
            continue;
        };
        let insee_code = f.text("insee_code", problems).and_then(|c| {
            InseeCode::parse(c)
                .map_err(|e| problems.add(&f.at("insee_code"), e))
                .ok()
        });
        if let Some(code) = &insee_code
            && !seen.insert(code.clone())
        {
            problems.add(
                &f.at("insee_code"),
                format!("commune {code} is described twice"),
            );
        }
        f.text("name", problems);
        let mut populations = Vec::new();
        for (j, p) in f.array("populations", problems).iter().enumerate() {
            let pp = f.at(&format!("populations[{j}]"));
            let Some(pf) = Fields::of(p, &pp, &["value", "in_force_from"], problems) else {
                continue;
            };
            let value = pf.required("value", problems).and_then(|v| {
                let n = v.as_i64().filter(|n| *n >= 0);
                if n.is_none() {
                    problems.add(&pf.at("value"), "expected a whole number ≥ 0");
                }
                n
            });
            if let (Some(value), Some(from)) = (value, pf.date("in_force_from", problems)) {
                populations.push((from, value));
            }
        }
        let effective = f.required("agreement", problems).and_then(|a| {
            let af = Fields::of(a, &f.at("agreement"), &["effective_date"], problems)?;
            af.date("effective_date", problems)
        });
        let mut annexes = Vec::new();
        for (j, a) in f.array("annexes", problems).iter().enumerate() {
            let ap = f.at(&format!("annexes[{j}]"));
            let Some(af) = Fields::of(
                a,
                &ap,
                &["service", "start", "previous_annual_amount", "units", "end"],
                problems,
            ) else {
                continue;
            };
            if let Some(annex) = parse_annex(&af, services, effective, problems) {
                annexes.push(annex);
            }
        }
        if let Some(code) = insee_code {
            communes.push(Commune {
                insee_code: code.as_str().to_string(),
                populations: PopulationSeries::new(populations),
                annexes,
            });
        }
    }
    communes
}

impl Plan {
    /// Checks the whole input for a simulation up to `to` (inclusive).
    pub fn parse(input: &Value, to: i32) -> Result<Plan, Vec<String>> {
        let mut problems = Problems(Vec::new());
        let Some(top) = Fields::of(
            input,
            "input",
            &["syntec", "services", "communes"],
            &mut problems,
        ) else {
            return Err(problems.0);
        };
        let syntec = parse_syntec(top.array("syntec", &mut problems), &mut problems);
        let services = parse_services(top.array("services", &mut problems), &mut problems);
        let communes = parse_communes(
            top.array("communes", &mut problems),
            &services,
            &mut problems,
        );
        if !problems.0.is_empty() {
            return Err(problems.0);
        }
        // Every lookup the computation will make, checked now.
        let mut known = HashMap::new();
        let mut missing_syntec = HashSet::new();
        for (i, c) in communes.iter().enumerate() {
            for (j, a) in c.annexes.iter().enumerate() {
                let service = &services[a.service];
                let last = a.period.last_year().unwrap_or(to).min(to);
                for year in a.period.first_year()..=last {
                    match syntec.for_year(year) {
                        Some(v) => {
                            known.insert(year, v.clone());
                        }
                        None => {
                            missing_syntec.insert(year);
                        }
                    }
                    let population = c.populations.for_year(year);
                    if service.terms.pricing.needs_population() && population.is_none() {
                        problems.add(
                            &format!("communes[{i}].populations"),
                            format!(
                                "no population in force on {} (needed for {year})",
                                last_day(year - 1)
                            ),
                        );
                    }
                    if let (Pricing::Brackets(_), Some(p)) = (&service.terms.pricing, population)
                        && target(&service.terms.pricing, Some(p), None, Decimal::ONE).is_err()
                    {
                        problems.add(
                            &format!("communes[{i}].annexes[{j}]"),
                            format!(
                                "no bracket of service {:?} covers a population of {p} ({year})",
                                service.code
                            ),
                        );
                    }
                }
            }
        }
        let mut missing: Vec<i32> = missing_syntec.into_iter().collect();
        missing.sort_unstable();
        for year in missing {
            problems.add(
                "syntec",
                format!("no SYNTEC value published on or before {year}-01-01"),
            );
        }
        problems.0.dedup();
        if problems.0.is_empty() {
            Ok(Plan {
                syntec: known,
                services,
                communes,
                to,
            })
        } else {
            Err(problems.0)
        }
    }

    /// Computes every line, in input order (commune, annex, year), handing
    /// each to `emit`; returns the orders (commune, year).
    pub fn run(&self, mut emit: impl FnMut(&Line<'_>)) -> Vec<Order> {
        let mut orders = Vec::new();
        for c in &self.communes {
            let mut totals: Vec<(i32, Decimal)> = Vec::new();
            for a in &c.annexes {
                let service = &self.services[a.service];
                let basis = AnnexBasis {
                    terms: &service.terms,
                    period: a.period,
                    previous: a.previous,
                    units: a.units,
                };
                let syntec = |year: i32| self.syntec.get(&year).map(|v| v.value);
                annex_years(&basis, &c.populations, syntec, self.to, |y| {
                    emit(&Line {
                        commune: &c.insee_code,
                        service: &service.code,
                        s0: service.terms.s0,
                        line: *y,
                    });
                    match totals.iter_mut().find(|(year, _)| *year == y.year) {
                        Some((_, total)) => *total += y.due - y.refund,
                        None => totals.push((y.year, y.due - y.refund)),
                    }
                })
                .expect("every lookup was checked by Plan::parse");
            }
            totals.sort_by_key(|(y, _)| *y);
            orders.extend(totals.into_iter().map(|(year, total)| Order {
                year,
                commune: c.insee_code.clone(),
                total,
                collectable: collectable(total),
            }));
        }
        orders
    }
}

/// An annex's pricing model from its JSON form (`{"model": "standard", …}`),
/// the one the simulation input and the database both use.
pub fn pricing_from_json(value: &Value) -> Result<Pricing, Vec<String>> {
    let mut problems = Problems(Vec::new());
    let holder = serde_json::json!({ "pricing": value });
    let fields = Fields {
        object: holder.as_object().expect("object"),
        place: "annex".into(),
    };
    match parse_pricing(&fields, &mut problems) {
        Some(p) if problems.0.is_empty() => Ok(p),
        _ => Err(problems.0),
    }
}

pub fn pricing_to_json(pricing: &Pricing) -> Value {
    use serde_json::json;
    match pricing {
        Pricing::Standard {
            base,
            per_inhabitant,
        } => {
            json!({"model": "standard", "base": base.to_string(), "per_inhabitant": per_inhabitant.to_string()})
        }
        Pricing::PerUnit { price } => json!({"model": "per_unit", "price": price.to_string()}),
        Pricing::Brackets(brackets) => json!({"model": "brackets", "brackets": brackets
            .iter()
            .map(|b| json!({"up_to": b.up_to, "amount": b.amount.to_string()}))
            .collect::<Vec<_>>()}),
        Pricing::Free => json!({"model": "free"}),
    }
}

fn opt<T: std::fmt::Display>(value: &Option<T>, quoted: bool) -> String {
    match (value, quoted) {
        (None, _) => "null".into(),
        (Some(v), true) => format!("\"{v}\""),
        (Some(v), false) => v.to_string(),
    }
}

/// Writes one line as JSON. Codes were checked (INSEE and service codes need
/// no escaping) and numbers are plain, so the text is written directly.
pub fn write_line(out: &mut impl Write, line: &Line<'_>) -> io::Result<()> {
    let l = &line.line;
    write!(
        out,
        "{{\"year\":{},\"commune\":\"{}\",\"service\":\"{}\",\"population\":{},\"syntec\":\"{}\",\"s0\":\"{}\",\"coefficient\":\"{}\",\"target\":\"{}\",\"transition_cap\":{},\"annual_amount\":\"{}\",\"prorata_days\":{},\"days_in_year\":{},\"due\":\"{}\",\"refund\":\"{}\"}}",
        l.year,
        line.commune,
        line.service,
        opt(&l.population, false),
        l.syntec,
        line.s0,
        l.coefficient,
        l.target,
        opt(&l.transition_cap, true),
        l.annual_amount,
        opt(&l.prorata_days, false),
        l.days_in_year,
        l.due,
        l.refund
    )
}

/// Runs the plan and writes `{"lines": […], "orders": […]}`.
pub fn write_json(plan: &Plan, out: &mut impl Write) -> io::Result<()> {
    out.write_all(b"{\"lines\":[")?;
    let mut first = true;
    let mut failure = None;
    let orders = plan.run(|line| {
        if failure.is_some() {
            return;
        }
        let sep: &[u8] = if first { b"\n" } else { b",\n" };
        first = false;
        if let Err(e) = out.write_all(sep).and_then(|_| write_line(out, line)) {
            failure = Some(e);
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    out.write_all(b"\n],\"orders\":[")?;
    for (i, o) in orders.iter().enumerate() {
        let sep = if i == 0 { "\n" } else { ",\n" };
        write!(
            out,
            "{sep}{{\"year\":{},\"commune\":\"{}\",\"total\":\"{}\",\"collectable\":{}}}",
            o.year,
            o.commune,
            crate::domain::money::cents(o.total),
            o.collectable
        )?;
    }
    out.write_all(b"\n]}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn simulate(input: &Value, to: i32) -> Value {
        let plan = Plan::parse(input, to).unwrap_or_else(|p| panic!("{p:?}"));
        let mut out = Vec::new();
        write_json(&plan, &mut out).unwrap();
        serde_json::from_slice(&out).expect("the output is JSON")
    }

    fn problems(input: &Value, to: i32) -> Vec<String> {
        Plan::parse(input, to).err().expect("input refused")
    }

    fn syntec() -> Value {
        json!([
            {"month": "2024-10", "value": "315.0", "published_on": "2024-11-30"},
            {"month": "2025-10", "value": "322.2", "published_on": "2025-11-28"}
        ])
    }

    fn bron() -> Value {
        json!({"syntec": [{"month": "2025-10", "value": "322.2", "published_on": "2025-11-28"}],
               "services": [{"code": "toodego", "pricing": {"model": "standard", "base": "2000.00", "per_inhabitant": "0.04"}, "s0": "315.0", "fixed_part": "0", "prorata": "whole"}],
               "communes": [{"insee_code": "69029", "name": "Bron", "populations": [{"value": 42850, "in_force_from": "2025-01-01"}],
                             "agreement": {"effective_date": "2026-04-15"},
                             "annexes": [{"service": "toodego", "start": "2026-04-15", "previous_annual_amount": "3000.00", "units": null, "end": {"date": "2029-04-14", "reason": "notice"}}]}]})
    }

    #[test]
    fn the_issue_example_computed_by_hand_fin_1_fin_2_fin_4() {
        // coefficient 322.2/315.0 = 1.0229; target (2000 + 0.04 × 42850) × 1.0229 = 3799.05.
        // 2026 cap 3000 × 1.10 = 3300.00; 2027 3465.00; 2028 3638.25 (366 days);
        // 2029 cap 3820.16 > target → 3799.05, ended 14/04 by notice:
        // 104 days, 3799.05 × 104 / 365 = 1082.47. Nothing after 2029.
        let out = simulate(&bron(), 2031);
        let lines = out["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[0],
            json!({"year": 2026, "commune": "69029", "service": "toodego", "population": 42850, "syntec": "322.2", "s0": "315.0",
                   "coefficient": "1.0229", "target": "3799.05", "transition_cap": "3300.00", "annual_amount": "3300.00",
                   "prorata_days": null, "days_in_year": 365, "due": "3300.00", "refund": "0.00"})
        );
        let col = |k: &str| lines.iter().map(|l| l[k].clone()).collect::<Vec<_>>();
        assert_eq!(
            col("annual_amount"),
            vec![
                json!("3300.00"),
                json!("3465.00"),
                json!("3638.25"),
                json!("3799.05")
            ]
        );
        assert_eq!(
            col("transition_cap"),
            vec![
                json!("3300.00"),
                json!("3465.00"),
                json!("3638.25"),
                json!("3820.16")
            ]
        );
        assert_eq!(
            col("days_in_year"),
            vec![json!(365), json!(365), json!(366), json!(365)]
        );
        assert_eq!(lines[3]["prorata_days"], json!(104));
        assert_eq!(lines[3]["due"], json!("1082.47"));
        assert_eq!(
            out["orders"][3],
            json!({"year": 2029, "commune": "69029", "total": "1082.47", "collectable": true})
        );
    }

    #[test]
    fn every_pricing_model_end_and_pro_rata_computed_by_hand_fin_3_to_fin_6() {
        let input = json!({
            "syntec": syntec(),
            "services": [
                {"code": "toodego", "pricing": {"model": "standard", "base": "2000.00", "per_inhabitant": "0.04"}, "s0": "315.0", "fixed_part": "0", "prorata": "base_only"},
                {"code": "laclasse.com", "pricing": {"model": "per_unit", "price": "150.00"}, "s0": "315.0", "fixed_part": "0.15", "prorata": "whole"},
                {"code": "plan-vert", "pricing": {"model": "brackets", "brackets": [{"up_to": 5000, "amount": "500.00"}, {"up_to": null, "amount": "2000.00"}]}, "s0": "315.0"},
                {"code": "agenda", "pricing": {"model": "free"}, "s0": "315.0"}
            ],
            "communes": [
                {"insee_code": "69266", "name": "Villeurbanne",
                 "populations": [{"value": 162207, "in_force_from": "2025-01-01"}, {"value": 163684, "in_force_from": "2026-01-01"}],
                 "agreement": {"effective_date": "2026-01-01"},
                 "annexes": [{"service": "laclasse.com", "start": "2026-01-01", "units": 12, "end": {"date": "2027-06-30", "reason": "metropolis_breach"}}]},
                {"insee_code": "69024", "name": "Petite-Commune",
                 "populations": [{"value": 4800, "in_force_from": "2025-01-01"}, {"value": 5100, "in_force_from": "2026-01-01"}],
                 "agreement": {"effective_date": "2026-03-01"},
                 "annexes": [
                    {"service": "plan-vert", "start": "2026-03-01"},
                    {"service": "agenda", "start": "2026-03-01", "end": {"date": "2026-12-31", "reason": "notice"}},
                    {"service": "toodego", "start": "2026-09-01", "end": {"date": "2027-03-31", "reason": "commune_breach"}}]},
                {"insee_code": "69003", "name": "Hameau",
                 "populations": [{"value": 300, "in_force_from": "2025-01-01"}],
                 "agreement": {"effective_date": "2026-12-22"},
                 "annexes": [{"service": "plan-vert", "start": "2026-12-22"}]}
            ]
        });
        let out = simulate(&input, 2027);
        let line = |year: i64, commune: &str, service: &str| -> Value {
            out["lines"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["year"] == year && l["commune"] == commune && l["service"] == service)
                .unwrap_or_else(|| panic!("no line {year} {commune} {service}"))
                .clone()
        };
        // laclasse.com, 12 units: coefficient 0.15 + 0.85 × 322.2/315.0 = 1.0194;
        // 150 × 12 × 1.0194 = 1834.92 each year. 2027, metropolis breach on
        // 30/06: refund 1834.92 × 184/365 = 925.00.
        let l = line(2026, "69266", "laclasse.com");
        assert_eq!(
            (&l["coefficient"], &l["target"], &l["due"], &l["population"]),
            (
                &json!("1.0194"),
                &json!("1834.92"),
                &json!("1834.92"),
                &json!(162207)
            )
        );
        let l = line(2027, "69266", "laclasse.com");
        assert_eq!(
            (&l["due"], &l["refund"], &l["prorata_days"]),
            (&json!("1834.92"), &json!("925.00"), &json!(null))
        );
        // plan-vert, brackets: 2026 uses 4 800 inhabitants → 500 × 1.0229 = 511.45,
        // joined 01/03: 306 days → 511.45 × 306/365 = 428.78. 2027: 5 100 → 2000 × 1.0229 = 2045.80.
        let l = line(2026, "69024", "plan-vert");
        assert_eq!(
            (&l["target"], &l["prorata_days"], &l["due"]),
            (&json!("511.45"), &json!(306), &json!("428.78"))
        );
        assert_eq!(line(2027, "69024", "plan-vert")["due"], json!("2045.80"));
        // agenda, free: zero, and nothing after its end.
        assert_eq!(line(2026, "69024", "agenda")["due"], json!("0.00"));
        assert!(
            out["lines"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| !(l["service"] == "agenda" && l["year"] == 2027))
        );
        // toodego, base only pro rata: joined 01/09/2026 (122 days):
        // (2000 × 122/365 + 0.04 × 4800) × 1.0229 = 880.20 (target 2242.20).
        // 2027, the commune's breach on 31/03: fully due, 2204 × 1.0229 = 2254.47.
        let l = line(2026, "69024", "toodego");
        assert_eq!(
            (&l["target"], &l["prorata_days"], &l["due"]),
            (&json!("2242.20"), &json!(122), &json!("880.20"))
        );
        let l = line(2027, "69024", "toodego");
        assert_eq!(
            (&l["due"], &l["prorata_days"], &l["refund"]),
            (&json!("2254.47"), &json!(null), &json!("0.00"))
        );
        // Orders: 428.78 + 0.00 + 880.20 = 1308.98; 2045.80 + 2254.47 = 4300.27;
        // 1834.92 − 925.00 = 909.92; Hameau joined 22/12: 511.45 × 10/365 = 14.01, not collectable.
        let orders = out["orders"].as_array().unwrap();
        let order = |year: i64, commune: &str| {
            orders
                .iter()
                .find(|o| o["year"] == year && o["commune"] == commune)
                .unwrap()
                .clone()
        };
        assert_eq!(order(2026, "69024")["total"], json!("1308.98"));
        assert_eq!(order(2027, "69024")["total"], json!("4300.27"));
        assert_eq!(order(2027, "69266")["total"], json!("909.92"));
        assert_eq!(
            order(2026, "69003"),
            json!({"year": 2026, "commune": "69003", "total": "14.01", "collectable": false})
        );
        assert_eq!(order(2027, "69003")["collectable"], json!(true));
    }

    #[test]
    fn the_six_year_end_stops_the_lines_conv_3() {
        // Effective 15/04/2026, no end given: the agreement ends on 14/04/2032;
        // 2032 is billed like an end by notice (105 days of 366), nothing after.
        let mut input = bron();
        input["communes"][0]["annexes"][0]["end"] = Value::Null;
        let out = simulate(&input, 2035);
        let lines = out["lines"].as_array().unwrap();
        assert_eq!(lines.last().unwrap()["year"], json!(2032));
        assert_eq!(lines.last().unwrap()["prorata_days"], json!(105));
        assert_eq!(lines.len(), 7);
    }

    #[test]
    fn every_problem_is_named_with_its_place() {
        let mut input = bron();
        input["communes"][0]["annexes"][0]["service"] = json!("toodgo");
        input["services"][0]["pricing"]["base"] = json!("-5");
        input["syntec"][0]["published_on"] = json!("2025-13-01");
        let p = problems(&input, 2027);
        assert!(
            p.contains(&"communes[0].annexes[0].service: unknown service \"toodgo\"".to_string()),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("services[0].pricing.base: -5 is negative")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|m| m.starts_with("syntec[0].published_on:")),
            "{p:?}"
        );

        let mut late = bron();
        late["syntec"][0]["published_on"] = json!("2026-01-02");
        assert_eq!(
            problems(&late, 2026),
            vec!["syntec: no SYNTEC value published on or before 2026-01-01".to_string()]
        );

        let mut no_population = bron();
        no_population["communes"][0]["populations"][0]["in_force_from"] = json!("2026-01-01");
        assert_eq!(
            problems(&no_population, 2026),
            vec![
                "communes[0].populations: no population in force on 2025-12-31 (needed for 2026)"
                    .to_string()
            ]
        );

        let mut backwards = bron();
        backwards["communes"][0]["annexes"][0]["end"]["date"] = json!("2026-04-01");
        assert!(problems(&backwards, 2027).iter().any(|m| {
            m.starts_with("communes[0].annexes[0].end.date: 2026-04-01 is before the start")
        }));

        let mut typo = bron();
        typo["communes"][0]["annexes"][0]["unit"] = json!(3);
        assert!(
            problems(&typo, 2027)[0].starts_with("communes[0].annexes[0]: unknown field \"unit\"")
        );

        let mut float = bron();
        float["services"][0]["s0"] = json!(315.0);
        assert!(problems(&float, 2027)[0].contains("decimal written as a string"));

        let mut early = bron();
        early["communes"][0]["annexes"][0]["start"] = json!("2026-01-01");
        assert!(
            problems(&early, 2027)[0].contains("before the agreement takes effect (2026-04-15)")
        );
    }

    #[test]
    fn pricing_round_trips_through_json() {
        for p in [
            json!({"model": "standard", "base": "2000.00", "per_inhabitant": "0.04"}),
            json!({"model": "per_unit", "price": "150.00"}),
            json!({"model": "brackets", "brackets": [{"up_to": 5000, "amount": "500.00"}, {"up_to": null, "amount": "2000.00"}]}),
            json!({"model": "free"}),
        ] {
            assert_eq!(pricing_to_json(&pricing_from_json(&p).unwrap()), p);
        }
        assert!(pricing_from_json(&json!({"model": "gratis"})).is_err());
    }

    #[test]
    fn a_per_unit_service_needs_its_units_and_brackets_must_cover_the_population_fin_6() {
        let mut input = bron();
        input["services"][0]["pricing"] = json!({"model": "per_unit", "price": "150"});
        assert!(
            problems(&input, 2026)[0].starts_with(
                "communes[0].annexes[0].units: service \"toodego\" is priced per unit"
            )
        );
        input["services"][0]["pricing"] =
            json!({"model": "brackets", "brackets": [{"up_to": 1000, "amount": "10"}]});
        assert!(
            problems(&input, 2026)[0]
                .contains("no bracket of service \"toodego\" covers a population of 42850")
        );
    }
}
