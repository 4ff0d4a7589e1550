//! A search request parsed into criteria: what narrows the candidates through the blind
//! index and plaintext columns, and what every result must match once decrypted.
//! Anything not understood is refused (FHIR R4 §3.1.1.4: `handling=strict`).

use medvault_crypto::blind_index::BlindIndexKey;
use medvault_domain::{Compartment, FhirId, PatientId, ResourceType, UnixMillis};
use medvault_store::RecordQuery;
use serde_json::Value;

use super::params::{self, Kind, Param};
use super::values::{self, Values, MAX_YEARS};
use crate::fhir::dates::{self, DateRange, Form};
use crate::fhir::OperationOutcome;

pub const DEFAULT_COUNT: u32 = 50;
pub const MAX_COUNT: u32 = 200;

/// Result parameters that medvault does not implement; naming them is an error rather
/// than a silently different answer.
const UNSUPPORTED_CONTROLS: &[&str] = &[
    "_sort",
    "_include",
    "_revinclude",
    "_summary",
    "_elements",
    "_total",
    "_contained",
    "_containedType",
    "_has",
    "_text",
    "_content",
    "_query",
    "_filter",
    "_list",
    "_type",
    "_tag",
    "_profile",
    "_source",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
}

#[derive(Clone)]
pub struct CodeQuery {
    /// `None`: any system; `Some(None)`: no system (`|code`).
    system: Option<Option<String>>,
    code: Option<String>,
}

#[derive(Clone)]
enum Test {
    Codes(Vec<CodeQuery>),
    Strings { values: Vec<String>, exact: bool },
    References(Vec<String>),
    Date(Prefix, DateRange),
}

#[derive(Clone)]
struct Criterion {
    param: &'static Param,
    test: Test,
}

/// A parsed search on one type.
#[derive(Clone)]
pub struct Search {
    pub resource_type: ResourceType,
    criteria: Vec<Criterion>,
    ids: Option<Vec<FhirId>>,
    updated: Vec<(Prefix, DateRange)>,
    compartment: Option<Option<PatientId>>,
    pub count: u32,
    /// Where the page starts: a cursor the gate sealed (`_cursor`).
    pub cursor: Option<String>,
    /// The parameters as given, minus the cursor, for `self` and `next` links.
    pub echo: Vec<(String, String)>,
}

/// Values one search may name at most, across its parameters: every value becomes a bound
/// statement parameter and index probe, so this bounds the work one request can ask for.
pub const MAX_VALUES: usize = 100;

/// `_count`: a page size from 1 to [`MAX_COUNT`].
pub fn parse_count(value: &str) -> Result<u32, OperationOutcome> {
    value
        .parse()
        .ok()
        .filter(|n| (1..=MAX_COUNT).contains(n))
        .ok_or_else(|| OperationOutcome::invalid(format!("_count is 1 to {MAX_COUNT}")))
}

fn refuse(message: impl Into<String>) -> OperationOutcome {
    OperationOutcome::not_supported(message)
}

pub fn parse(
    resource_type: ResourceType,
    pairs: Vec<(String, String)>,
) -> Result<Search, OperationOutcome> {
    let values: usize = pairs.iter().map(|(_, v)| v.split(',').count()).sum();
    if values > MAX_VALUES {
        return Err(OperationOutcome::invalid(format!(
            "a search names at most {MAX_VALUES} values"
        )));
    }
    let mut search = Search {
        resource_type,
        criteria: Vec::new(),
        ids: None,
        updated: Vec::new(),
        compartment: None,
        count: DEFAULT_COUNT,
        cursor: None,
        echo: Vec::new(),
    };
    for (key, value) in pairs {
        let (name, modifier) = match key.split_once(':') {
            Some((name, modifier)) => (name, Some(modifier)),
            None => (key.as_str(), None),
        };
        if name != "_cursor" {
            search.echo.push((key.clone(), value.clone()));
        }
        match (name, modifier) {
            ("_count", None) => {
                search.count = parse_count(&value)?;
            }
            ("_cursor", None) => {
                // Sealed by the gate, which opens it (see `Gate::open_cursor`).
                search.cursor = Some(value);
            }
            ("_format", None) => {
                if !matches!(
                    value.as_str(),
                    "json" | "application/json" | "application/fhir+json"
                ) {
                    return Err(OperationOutcome::new(
                        axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "not-supported",
                        "medvault serves FHIR as JSON only",
                    ));
                }
            }
            ("_id", None) => {
                // An id that cannot exist matches nothing, like an unknown one.
                let ids: Vec<FhirId> = split(&value)
                    .iter()
                    .filter_map(|v| v.parse().ok())
                    .collect();
                search.ids = Some(match search.ids.take() {
                    None => ids,
                    Some(earlier) => earlier.into_iter().filter(|id| ids.contains(id)).collect(),
                });
            }
            ("_lastUpdated", None) => search.updated.push(date_criterion(&value, "_lastUpdated")?),
            _ if UNSUPPORTED_CONTROLS.contains(&name)
                || (name.starts_with('_') && params::find(resource_type, name).is_none()) =>
            {
                return Err(refuse(format!(
                    "the search parameter `{name}` is not supported"
                )));
            }
            _ => {
                let Some(param) = params::find(resource_type, name) else {
                    return Err(refuse(format!(
                        "`{name}` is not a supported search parameter of {resource_type}; \
                         see /fhir/metadata"
                    )));
                };
                search.add(param, modifier, &value)?;
            }
        }
    }
    Ok(search)
}

impl Search {
    fn add(
        &mut self,
        param: &'static Param,
        modifier: Option<&str>,
        value: &str,
    ) -> Result<(), OperationOutcome> {
        let exact = match (param.kind, modifier) {
            (_, None) => false,
            (Kind::String, Some("exact")) => true,
            (_, Some(m)) => {
                return Err(refuse(format!(
                    "the modifier `:{m}` is not supported on `{}`",
                    param.name
                )))
            }
        };
        let values = split(value);
        if values.iter().any(String::is_empty) {
            return Err(OperationOutcome::invalid(format!(
                "`{}` needs a value",
                param.name
            )));
        }
        if param.compartment {
            if values.len() > 1 {
                return Err(refuse(format!(
                    "`{}` takes one patient per search",
                    param.name
                )));
            }
            let id = values[0].strip_prefix("Patient/").unwrap_or(&values[0]);
            let patient = id.parse::<PatientId>().ok();
            self.compartment = match self.compartment {
                Some(earlier) if earlier != patient => Some(None),
                _ => Some(patient),
            };
            return Ok(());
        }
        let test = match param.kind {
            Kind::Token => Test::Codes(values.iter().map(|v| code_query(v)).collect()),
            Kind::String => Test::Strings {
                values: values.iter().map(|v| values::normalise(v)).collect(),
                exact,
            },
            Kind::Reference => Test::References(
                values
                    .iter()
                    .map(|v| {
                        crate::fhir::schema::parse_reference(v)
                            .map(|(t, id)| format!("{t}/{id}"))
                            .map_err(|_| {
                                OperationOutcome::invalid(format!(
                                    "`{}` takes `Type/id` references",
                                    param.name
                                ))
                            })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Kind::Date => {
                if values.len() > 1 {
                    return Err(refuse(format!(
                        "`{}` takes one date per parameter; repeat it for a range",
                        param.name
                    )));
                }
                let (prefix, range) = date_criterion(&values[0], param.name)?;
                Test::Date(prefix, range)
            }
        };
        self.criteria.push(Criterion { param, test });
        Ok(())
    }

    /// The compartment asked for: `None` any, `Some(None)` one that cannot exist.
    pub fn compartment(&self) -> Option<Option<Compartment>> {
        self.compartment.map(|p| p.map(Compartment::Patient))
    }

    /// True when no resource can match, so the store need not be asked.
    pub fn matches_nothing(&self) -> bool {
        matches!(self.compartment, Some(None)) || self.ids.as_ref().is_some_and(Vec::is_empty)
    }

    /// The store query that narrows candidates; results still go through [`Search::matches`].
    pub fn narrowing(
        &self,
        key: &BlindIndexKey,
        compartment: Option<Compartment>,
        limit: u32,
    ) -> RecordQuery {
        let t = self.resource_type;
        let mut query = RecordQuery {
            resource_type: Some(t),
            compartment,
            ids: self.ids.clone().unwrap_or_default(),
            after: None,
            limit,
            ..RecordQuery::default()
        };
        for criterion in &self.criteria {
            let name = criterion.param.name;
            let token = |parts: &[&[u8]]| values::query_token(key, t, name, parts);
            let group = match &criterion.test {
                Test::Codes(codes) => codes
                    .iter()
                    .map(|c| match (&c.system, &c.code) {
                        (Some(Some(system)), Some(code)) => {
                            token(&[b"sc", system.as_bytes(), code.as_bytes()])
                        }
                        (Some(Some(system)), None) => token(&[b"s", system.as_bytes()]),
                        (_, Some(code)) => token(&[b"c", code.as_bytes()]),
                        (_, None) => token(&[b"c", b""]),
                    })
                    .collect(),
                Test::Strings { values, .. } => values
                    .iter()
                    .map(|v| token(&[b"p", values::prefix_of(v).as_bytes()]))
                    .collect(),
                Test::References(references) => references
                    .iter()
                    .map(|r| token(&[b"r", r.as_bytes()]))
                    .collect(),
                Test::Date(..) => continue,
            };
            query.token_groups.push(group);
        }
        // Dates narrow by year buckets over the span all criteria of a parameter allow.
        for param in params::of(t).filter(|p| p.kind == Kind::Date) {
            let mut span = DateRange {
                start: i64::MIN,
                end: i64::MAX,
            };
            let mut any = false;
            for criterion in self
                .criteria
                .iter()
                .filter(|c| std::ptr::eq(c.param, param))
            {
                if let Test::Date(prefix, range) = criterion.test {
                    any = true;
                    let (lo, hi) = allowed_span(prefix, range);
                    span = DateRange {
                        start: span.start.max(lo),
                        end: span.end.min(hi),
                    };
                }
            }
            let bounded = span.start != i64::MIN && span.end != i64::MAX && span.start < span.end;
            if any && bounded {
                let years = span.years();
                if years.end() - years.start() <= MAX_YEARS {
                    let token = |parts: &[&[u8]]| values::query_token(key, t, param.name, parts);
                    let mut group: Vec<Vec<u8>> =
                        years.map(|y| token(&[b"y", &y.to_be_bytes()])).collect();
                    group.push(token(&[b"wide"]));
                    query.token_groups.push(group);
                }
            }
        }
        for (prefix, range) in &self.updated {
            let (lo, hi) = allowed_span(*prefix, *range);
            if lo != i64::MIN {
                query.updated_from =
                    Some(UnixMillis(query.updated_from.map_or(lo, |f| f.0.max(lo))));
            }
            if hi != i64::MAX {
                query.updated_until =
                    Some(UnixMillis(query.updated_until.map_or(hi, |u| u.0.min(hi))));
            }
        }
        query
    }

    /// Whether a decrypted resource meets every criterion.
    pub fn matches(&self, resource: &Value, last_updated: UnixMillis) -> bool {
        let updated = DateRange {
            start: last_updated.0,
            end: last_updated.0 + 1,
        };
        if !self
            .updated
            .iter()
            .all(|(prefix, range)| date_matches(*prefix, *range, updated))
        {
            return false;
        }
        self.criteria.iter().all(|c| c.matches(resource))
    }
}

impl Criterion {
    fn matches(&self, resource: &Value) -> bool {
        match (&self.test, values::extract(self.param, resource)) {
            (Test::Codes(queries), Values::Codes(codes)) => queries.iter().any(|q| {
                codes.iter().any(|c| {
                    q.code.as_ref().is_none_or(|code| *code == c.code)
                        && q.system.as_ref().is_none_or(|system| *system == c.system)
                })
            }),
            (Test::Strings { values, exact }, Values::Strings(found)) => values.iter().any(|v| {
                found.iter().any(|f| {
                    if *exact {
                        f == v
                    } else {
                        f.starts_with(v.as_str())
                    }
                })
            }),
            (Test::References(wanted), Values::References(found)) => {
                wanted.iter().any(|w| found.contains(w))
            }
            (Test::Date(prefix, range), Values::Dates(found)) => found
                .iter()
                .any(|target| date_matches(*prefix, *range, *target)),
            _ => false,
        }
    }
}

/// FHIR R4 §3.1.1.5.7: how a target range relates to the search value's range.
fn date_matches(prefix: Prefix, value: DateRange, target: DateRange) -> bool {
    match prefix {
        Prefix::Eq => value.start <= target.start && target.end <= value.end,
        Prefix::Ne => !(value.start <= target.start && target.end <= value.end),
        Prefix::Gt => target.end > value.end,
        Prefix::Lt => target.start < value.start,
        Prefix::Ge => target.end > value.start,
        Prefix::Le => target.start < value.end,
    }
}

/// The span a matching target must overlap, for narrowing (`MIN`/`MAX` when open).
fn allowed_span(prefix: Prefix, value: DateRange) -> (i64, i64) {
    match prefix {
        Prefix::Eq => (value.start, value.end),
        Prefix::Ne => (i64::MIN, i64::MAX),
        Prefix::Gt => (value.end, i64::MAX),
        Prefix::Ge => (value.start, i64::MAX),
        Prefix::Lt => (i64::MIN, value.start),
        Prefix::Le => (i64::MIN, value.end),
    }
}

fn date_criterion(value: &str, name: &str) -> Result<(Prefix, DateRange), OperationOutcome> {
    let (prefix, date) = match value.get(..2) {
        Some(p) if p.bytes().all(|b| b.is_ascii_lowercase()) => {
            let prefix = match p {
                "eq" => Prefix::Eq,
                "ne" => Prefix::Ne,
                "gt" => Prefix::Gt,
                "lt" => Prefix::Lt,
                "ge" => Prefix::Ge,
                "le" => Prefix::Le,
                other => {
                    return Err(refuse(format!(
                        "the date prefix `{other}` is not supported on `{name}`"
                    )))
                }
            };
            (prefix, &value[2..])
        }
        _ => (Prefix::Eq, value),
    };
    let range = dates::parse(date, Form::Search).ok_or_else(|| {
        OperationOutcome::invalid(format!(
            "`{name}` needs a date such as 2024, 2024-03, 2024-03-01 or 2024-03-01T10:00:00Z"
        ))
    })?;
    Ok((prefix, range))
}

fn code_query(value: &str) -> CodeQuery {
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    match value.split_once('|') {
        Some((system, code)) => CodeQuery {
            system: Some(nonempty(system)),
            code: nonempty(code),
        },
        None => CodeQuery {
            system: None,
            code: Some(value.to_owned()),
        },
    }
}

/// Splits on commas not escaped with `\` (FHIR R4 §3.1.1.5.3), unescaping.
fn split(value: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.last_mut().expect("never empty").push(next);
                }
            }
            ',' => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out
}

// Bodies, codes and tokens: never in Debug output.
crate::redact::redacted_debug!(CodeQuery, Test, Criterion, Search);
