//! What a search parameter sees in a resource: the values at its paths, normalised, and
//! the blind-index tokens they produce. Indexing and matching both read values through
//! here, so a resource is found exactly when it matches.

use medvault_crypto::blind_index::BlindIndexKey;
use medvault_domain::ResourceType;
use serde_json::Value;

use super::params::{Kind, Param};
use crate::fhir::dates::{self, DateRange, Form};

/// Prefixes of string values are indexed up to this many characters; longer search
/// strings narrow by their first 12 characters and are matched exactly after decryption.
pub const MAX_PREFIX: usize = 12;
/// A date value spanning more years than this gets one "wide" token instead of a token
/// per year, and date criteria spanning more narrow nothing (see docs/architecture.md).
pub const MAX_YEARS: i32 = 50;

/// A coded value: `system|code`, either part possibly absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub system: Option<String>,
    pub code: String,
}

/// A parameter's values in one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Values {
    Codes(Vec<Code>),
    Strings(Vec<String>),
    References(Vec<String>),
    Dates(Vec<DateRange>),
}

/// Case-insensitive, whitespace-collapsed form of a string (FHIR R4 §3.1.1.5.12 asks for
/// case- and accent-insensitive matching; accents remain significant here).
pub fn normalise(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

pub fn extract(param: &Param, resource: &Value) -> Values {
    let mut found = Vec::new();
    for path in param.paths {
        collect(resource, &path.split('.').collect::<Vec<_>>(), &mut found);
    }
    match param.kind {
        Kind::Token => Values::Codes(found.iter().flat_map(codes).collect()),
        Kind::String => Values::Strings(
            found
                .iter()
                .filter_map(|v| v.as_str())
                .map(normalise)
                .collect(),
        ),
        Kind::Reference => Values::References(
            found
                .iter()
                .filter_map(|r| match r.get("reference").and_then(Value::as_str) {
                    Some(literal) => Some(literal.to_owned()),
                    None => logical_reference(r),
                })
                .collect(),
        ),
        Kind::Date => Values::Dates(found.iter().filter_map(date_range).collect()),
    }
}

/// How a logical reference (`Reference.identifier` without a literal `reference`) is kept
/// among a reference parameter's values: never equal to a `Type/id` a search names.
const LOGICAL: &str = "identifier|";

fn logical_reference(reference: &Value) -> Option<String> {
    let identifier = reference.get("identifier")?;
    let system = identifier.get("system")?.as_str()?;
    let value = identifier.get("value")?.as_str()?;
    Some(format!("{LOGICAL}{system}|{value}"))
}

/// The index token of a logical reference to `system|value` under `param` (e.g. Consents
/// naming an OAuth client as their actor).
pub fn logical_reference_token(
    key: &BlindIndexKey,
    resource_type: ResourceType,
    param: &str,
    system: &str,
    value: &str,
) -> Vec<u8> {
    query_token(
        key,
        resource_type,
        param,
        &[b"i", format!("{system}|{value}").as_bytes()],
    )
}

/// Every value at `path` below `value`, flattening arrays; `name[x]` matches each choice.
fn collect<'a>(value: &'a Value, path: &[&str], out: &mut Vec<&'a Value>) {
    if let Value::Array(items) = value {
        for item in items {
            collect(item, path, out);
        }
        return;
    }
    let Some((segment, rest)) = path.split_first() else {
        out.push(value);
        return;
    };
    let Value::Object(object) = value else { return };
    match segment.strip_suffix("[x]") {
        Some(choice) => {
            for (key, child) in object {
                let is_choice = key
                    .strip_prefix(choice)
                    .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_uppercase()));
                if is_choice {
                    collect(child, rest, out);
                }
            }
        }
        None => {
            if let Some(child) = object.get(*segment) {
                collect(child, rest, out);
            }
        }
    }
}

fn codes(value: &&Value) -> Vec<Code> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    match value {
        Value::String(code) => vec![Code {
            system: None,
            code: code.clone(),
        }],
        Value::Bool(b) => vec![Code {
            system: None,
            code: b.to_string(),
        }],
        Value::Object(object) => {
            if let Some(Value::Array(codings)) = object.get("coding") {
                codings
                    .iter()
                    .filter_map(|c| {
                        Some(Code {
                            system: text(c, "system"),
                            code: text(c, "code")?,
                        })
                    })
                    .collect()
            } else if object.contains_key("value") && !object.contains_key("code") {
                // Identifier: system|value.
                text(value, "value")
                    .map(|code| Code {
                        system: text(value, "system"),
                        code,
                    })
                    .into_iter()
                    .collect()
            } else {
                // Coding.
                text(value, "code")
                    .map(|code| Code {
                        system: text(value, "system"),
                        code,
                    })
                    .into_iter()
                    .collect()
            }
        }
        _ => Vec::new(),
    }
}

fn date_range(value: &&Value) -> Option<DateRange> {
    match value {
        Value::String(text) => dates::parse(text, Form::DateTime),
        Value::Object(period) => {
            let bound = |key: &str| {
                period
                    .get(key)
                    .and_then(Value::as_str)
                    .and_then(|t| dates::parse(t, Form::DateTime))
            };
            let (start, end) = (bound("start"), bound("end"));
            if start.is_none() && end.is_none() {
                return None;
            }
            // An open end is ongoing (FHIR R4 Period): it extends without bound.
            Some(DateRange {
                start: start.map_or(i64::MIN, |r| r.start),
                end: end.map_or(i64::MAX, |r| r.end),
            })
        }
        _ => None,
    }
}

/// The tokens a resource's values produce, each bound to the type and parameter.
fn token_of(
    key: &BlindIndexKey,
    resource_type: ResourceType,
    param: &Param,
    parts: &[&[u8]],
) -> Vec<u8> {
    let mut all: Vec<&[u8]> = vec![resource_type.as_str().as_bytes(), param.name.as_bytes()];
    all.extend_from_slice(parts);
    key.token(&all).to_vec()
}

/// The token a search for `system|code` on a token parameter looks up.
pub fn system_code_token(
    key: &BlindIndexKey,
    resource_type: ResourceType,
    param: &Param,
    system: &str,
    code: &str,
) -> Vec<u8> {
    token_of(
        key,
        resource_type,
        param,
        &[b"sc", system.as_bytes(), code.as_bytes()],
    )
}

pub fn tokens(
    key: &BlindIndexKey,
    resource_type: ResourceType,
    param: &Param,
    values: &Values,
) -> Vec<Vec<u8>> {
    let token = |parts: &[&[u8]]| token_of(key, resource_type, param, parts);
    let mut out = Vec::new();
    match values {
        Values::Codes(codes) => {
            for c in codes {
                out.push(token(&[b"c", c.code.as_bytes()]));
                if let Some(system) = &c.system {
                    out.push(system_code_token(
                        key,
                        resource_type,
                        param,
                        system,
                        &c.code,
                    ));
                    out.push(token(&[b"s", system.as_bytes()]));
                }
            }
        }
        Values::Strings(strings) => {
            for s in strings {
                for prefix in prefixes(s) {
                    out.push(token(&[b"p", prefix.as_bytes()]));
                }
            }
        }
        Values::References(references) => {
            for r in references {
                match r.strip_prefix(LOGICAL) {
                    Some(identifier) => out.push(token(&[b"i", identifier.as_bytes()])),
                    None => out.push(token(&[b"r", r.as_bytes()])),
                }
            }
        }
        Values::Dates(ranges) => {
            for range in ranges {
                let years = range.years();
                if years.end() - years.start() > MAX_YEARS {
                    out.push(token(&[b"wide"]));
                } else {
                    for year in years {
                        out.push(token(&[b"y", &year.to_be_bytes()]));
                    }
                }
            }
        }
    }
    out
}

/// Every prefix of `s` up to [`MAX_PREFIX`] characters.
fn prefixes(s: &str) -> impl Iterator<Item = &str> {
    s.char_indices()
        .skip(1)
        .map(|(at, _)| &s[..at])
        .chain(std::iter::once(s))
        .take(MAX_PREFIX)
}

/// The token a search for the prefix `query` (already normalised) looks up.
pub fn prefix_of(query: &str) -> &str {
    prefixes(query).last().unwrap_or(query)
}

/// Builds query tokens the same way [`tokens`] builds index tokens.
pub fn query_token(
    key: &BlindIndexKey,
    resource_type: ResourceType,
    param: &str,
    parts: &[&[u8]],
) -> Vec<u8> {
    let mut all: Vec<&[u8]> = vec![resource_type.as_str().as_bytes(), param.as_bytes()];
    all.extend_from_slice(parts);
    key.token(&all).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prefixes_are_capped_and_char_aware() {
        assert_eq!(
            prefixes("smith").collect::<Vec<_>>(),
            ["s", "sm", "smi", "smit", "smith"]
        );
        assert_eq!(prefixes("müller").nth(1), Some("mü"));
        assert_eq!(prefixes("abcdefghijklmnop").count(), MAX_PREFIX);
        assert_eq!(prefix_of("abcdefghijklmnop"), "abcdefghijkl");
    }

    #[test]
    fn choice_paths_and_arrays_are_followed() {
        let obs = json!({"effectivePeriod": {"start": "2024-01-01T00:00:00Z"},
                         "category": [{"coding": [{"system": "s", "code": "vital-signs"}]}]});
        let param = super::super::params::find(ResourceType::Observation, "date").unwrap();
        let Values::Dates(dates) = extract(param, &obs) else {
            panic!()
        };
        assert_eq!(dates.len(), 1);
        assert_eq!(dates[0].end, i64::MAX);
        let param = super::super::params::find(ResourceType::Observation, "category").unwrap();
        assert_eq!(
            extract(param, &obs),
            Values::Codes(vec![Code {
                system: Some("s".into()),
                code: "vital-signs".into()
            }])
        );
    }

    #[test]
    fn a_logical_reference_is_indexed_apart_from_literal_ones() {
        let key = BlindIndexKey::from_root(&medvault_crypto::DataKey::generate());
        let param = crate::fhir::search::params::find(ResourceType::Consent, "actor").unwrap();
        let consent = json!({"provision": {"actor": [
            {"reference": {"identifier": {"system": "urn:clients", "value": "lab"}}},
            {"reference": {"reference": "Practitioner/p1"}}]}});
        let values = extract(param, &consent);
        let tokens = tokens(&key, ResourceType::Consent, param, &values);
        let logical =
            logical_reference_token(&key, ResourceType::Consent, "actor", "urn:clients", "lab");
        assert!(tokens.contains(&logical));
        let literal = query_token(
            &key,
            ResourceType::Consent,
            "actor",
            &[b"r", b"Practitioner/p1"],
        );
        assert!(tokens.contains(&literal));
        assert_eq!(tokens.len(), 2);
    }
}
