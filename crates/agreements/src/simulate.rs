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
    AnnexPeriod, BaseOnly, Bracket, EndReason, PopulationSeries, Pricing, Prorata, SyntecSeries, SyntecValue,
    Transition, bill_year, coefficient, collectable, target,
};
use crate::domain::money::parse_decimal;

struct Service {
    code: String,
    pricing: Pricing,
    s0: Decimal,
    fixed_part: Decimal,
    prorata: Prorata,
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

/// One computed line (FIN-5's basis of computation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    pub year: i32,
    pub commune: &'a str,
    pub service: &'a str,
    pub population: Option<i64>,
    pub syntec: Decimal,
    pub s0: Decimal,
    pub coefficient: Decimal,
    pub target: Decimal,
    pub transition_cap: Option<Decimal>,
    pub annual_amount: Decimal,
    pub prorata_days: Option<i64>,
    pub days_in_year: i64,
    pub due: Decimal,
    pub refund: Decimal,
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
    fn of(value: &'v Value, place: &str, known: &[&str], problems: &mut Problems) -> Option<Fields<'v>> {
        let Some(object) = value.as_object() else {
            problems.add(place, "expected an object");
            return None;
        };
        for key in object.keys() {
            if !known.contains(&key.as_str()) {
                problems.add(place, format!("unknown field {key:?} (expected one of: {})", known.join(", ")));
            }
        }
        Some(Fields { object, place: place.to_string() })
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
            problems.add(&self.at(name), "expected a decimal written as a string, e.g. \"2000.00\"");
            return None;
        };
        let d = parse_decimal(t).map_err(|e| problems.add(&self.at(name), e)).ok()?;
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
        let Some(f) = Fields::of(item, &place, &["month", "value", "published_on"], problems) else {
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
        if let (Some((year, month)), Some(value), Some(published_on)) = (month, value, published_on) {
            values.push(SyntecValue { year, month, value, published_on });
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
            problems.add(&format!("{place}.model"), "expected \"standard\", \"per_unit\", \"brackets\" or \"free\"");
            return None;
        }
    };
    let p = Fields::of(value, &place, known, problems)?;
    match model {
        Some("standard") => Some(Pricing::Standard {
            base: p.amount("base", problems)?,
            per_inhabitant: p.amount("per_inhabitant", problems)?,
        }),
        Some("per_unit") => Some(Pricing::PerUnit { price: p.amount("price", problems)? }),
        Some("brackets") => {
            let items = p.array("brackets", problems);
            let mut brackets = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let bp = format!("{place}.brackets[{i}]");
                let Some(b) = Fields::of(item, &bp, &["up_to", "amount"], problems) else { continue };
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
                problems.add(&format!("{place}.brackets"), "at least one bracket is needed");
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
        let Some(f) = Fields::of(item, &place, &["code", "pricing", "s0", "fixed_part", "prorata"], problems) else {
            continue;
        };
        let code = f.text("code", problems).and_then(|c| {
            ServiceCode::parse(c).map_err(|e| problems.add(&f.at("code"), e)).ok()
        });
        if let Some(c) = &code
            && !codes.insert(c.as_str().to_string())
        {
            problems.add(&f.at("code"), format!("service {:?} is described twice", c.as_str()));
        }
        let pricing = parse_pricing(&f, problems);
        let s0 = f.amount("s0", problems);
        if s0.is_some_and(|s| s.is_zero()) {
            problems.add(&f.at("s0"), "must be positive");
        }
        let fixed_part = f.optional_amount("fixed_part", problems).unwrap_or(Decimal::ZERO);
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
        if prorata == Prorata::BaseOnly && pricing.as_ref().is_some_and(|p| !matches!(p, Pricing::Standard { .. })) {
            problems.add(&f.at("prorata"), "\"base_only\" needs the standard pricing model (a base part)");
        }
        if let (Some(code), Some(pricing), Some(s0)) = (code, pricing, s0) {
            services.push(Service { code: code.as_str().to_string(), pricing, s0, fixed_part, prorata });
        }
    }
    services
}

fn parse_annex(f: &Fields<'_>, services: &[Service], effective: Option<Date>, problems: &mut Problems) -> Option<Annex> {
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
                problems.add(&f.at("units"), "expected a whole number ≥ 0, a decimal string or null");
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
        problems.add(&f.at("start"), format!("{start} is before the agreement takes effect ({effective})"));
    }
    if let Some((end, _)) = end
        && end < start
    {
        problems.add(&f.at("end.date"), format!("{end} is before the start ({start})"));
    }
    if matches!(services[service].pricing, Pricing::PerUnit { .. }) && units.is_none() {
        problems.add(&f.at("units"), format!("service {:?} is priced per unit: the number of units is needed", services[service].code));
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
    Some(Annex { service, period: AnnexPeriod { start, continuing: previous.is_some(), end }, previous, units })
}

fn parse_communes(items: &[Value], services: &[Service], problems: &mut Problems) -> Vec<Commune> {
    let mut communes = Vec::new();
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let place = format!("communes[{i}]");
        let Some(f) = Fields::of(item, &place, &["insee_code", "name", "populations", "agreement", "annexes"], problems) else {
            continue;
        };
        let insee_code = f.text("insee_code", problems).and_then(|c| {
            InseeCode::parse(c).map_err(|e| problems.add(&f.at("insee_code"), e)).ok()
        });
        if let Some(code) = &insee_code
            && !seen.insert(code.clone())
        {
            problems.add(&f.at("insee_code"), format!("commune {code} is described twice"));
        }
        f.text("name", problems);
        let mut populations = Vec::new();
        for (j, p) in f.array("populations", problems).iter().enumerate() {
            let pp = f.at(&format!("populations[{j}]"));
            let Some(pf) = Fields::of(p, &pp, &["value", "in_force_from"], problems) else { continue };
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
            let Some(af) = Fields::of(a, &ap, &["service", "start", "previous_annual_amount", "units", "end"], problems) else {
                continue;
            };
            if let Some(annex) = parse_annex(&af, services, effective, problems) {
                annexes.push(annex);
            }
        }
        if let Some(code) = insee_code {
            communes.push(Commune { insee_code: code.as_str().to_string(), populations: PopulationSeries::new(populations), annexes });
        }
    }
    communes
}

impl Plan {
    /// Checks the whole input for a simulation up to `to` (inclusive).
    pub fn parse(input: &Value, to: i32) -> Result<Plan, Vec<String>> {
        let mut problems = Problems(Vec::new());
        let Some(top) = Fields::of(input, "input", &["syntec", "services", "communes"], &mut problems) else {
            return Err(problems.0);
        };
        let syntec = parse_syntec(top.array("syntec", &mut problems), &mut problems);
        let services = parse_services(top.array("services", &mut problems), &mut problems);
        let communes = parse_communes(top.array("communes", &mut problems), &services, &mut problems);
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
                    if service.pricing.needs_population() && population.is_none() {
                        problems.add(
                            &format!("communes[{i}].populations"),
                            format!("no population in force on {} (needed for {year})", last_day(year - 1)),
                        );
                    }
                    if let (Pricing::Brackets(_), Some(p)) = (&service.pricing, population)
                        && target(&service.pricing, Some(p), None, Decimal::ONE).is_err()
                    {
                        problems.add(
                            &format!("communes[{i}].annexes[{j}]"),
                            format!("no bracket of service {:?} covers a population of {p} ({year})", service.code),
                        );
                    }
                }
            }
        }
        let mut missing: Vec<i32> = missing_syntec.into_iter().collect();
        missing.sort_unstable();
        for year in missing {
            problems.add("syntec", format!("no SYNTEC value published on or before {year}-01-01"));
        }
        problems.0.dedup();
        if problems.0.is_empty() { Ok(Plan { syntec: known, services, communes, to }) } else { Err(problems.0) }
    }

    /// Computes every line, in input order (commune, annex, year), handing
    /// each to `emit`; returns the orders (commune, year).
    pub fn run(&self, mut emit: impl FnMut(&Line<'_>)) -> Vec<Order> {
        let mut orders = Vec::new();
        for c in &self.communes {
            let mut totals: Vec<(i32, Decimal)> = Vec::new();
            for a in &c.annexes {
                let service = &self.services[a.service];
                let mut transition = Transition::new(a.previous);
                let last = a.period.last_year().unwrap_or(self.to).min(self.to);
                for year in a.period.first_year()..=last {
                    let syntec = self.syntec[&year].value;
                    let population = c.populations.for_year(year);
                    let coefficient = coefficient(service.fixed_part, syntec, service.s0);
                    let target = target(&service.pricing, population, a.units, coefficient)
                        .expect("checked by Plan::parse");
                    let annual = transition.next(target);
                    let base_only = match (&service.pricing, service.prorata) {
                        (Pricing::Standard { base, per_inhabitant }, Prorata::BaseOnly) => Some(BaseOnly {
                            base: *base,
                            per_inhabitant: *per_inhabitant,
                            population: population.unwrap_or(0),
                            coefficient,
                        }),
                        _ => None,
                    };
                    let bill = bill_year(year, &a.period, annual.amount, base_only);
                    emit(&Line {
                        year,
                        commune: &c.insee_code,
                        service: &service.code,
                        population,
                        syntec,
                        s0: service.s0,
                        coefficient,
                        target,
                        transition_cap: annual.cap,
                        annual_amount: annual.amount,
                        prorata_days: bill.prorata_days,
                        days_in_year: bill.days_in_year,
                        due: bill.due,
                        refund: bill.refund,
                    });
                    match totals.iter_mut().find(|(y, _)| *y == year) {
                        Some((_, total)) => *total += bill.due - bill.refund,
                        None => totals.push((year, bill.due - bill.refund)),
                    }
                }
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

fn opt<T: std::fmt::Display>(value: &Option<T>, quoted: bool) -> String {
    match (value, quoted) {
        (None, _) => "null".into(),
        (Some(v), true) => format!("\"{v}\""),
        (Some(v), false) => v.to_string(),
    }
}

/// Writes one line as JSON. Codes were checked (INSEE and service codes need
/// no escaping) and numbers are plain, so the text is written directly.
pub fn write_line(out: &mut impl Write, l: &Line<'_>) -> io::Result<()> {
    write!(
        out,
        "{{\"year\":{},\"commune\":\"{}\",\"service\":\"{}\",\"population\":{},\"syntec\":\"{}\",\"s0\":\"{}\",\"coefficient\":\"{}\",\"target\":\"{}\",\"transition_cap\":{},\"annual_amount\":\"{}\",\"prorata_days\":{},\"days_in_year\":{},\"due\":\"{}\",\"refund\":\"{}\"}}",
        l.year,
        l.commune,
        l.service,
        opt(&l.population, false),
        l.syntec,
        l.s0,
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
