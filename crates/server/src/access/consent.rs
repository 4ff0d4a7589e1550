//! What a patient's FHIR R4 Consents say about one access, read as R4 defines them:
//! only `active` Consents count; a provision applies when its `actor`, `purpose`, `class`
//! and `period` all match (an empty list matches anything); a nested provision is an
//! exception to its parent; and deny overrides permit, within a Consent and across them.

use medvault_domain::{ResourceType, UnixMillis};
use serde_json::Value;

use super::engine::ConsentVerdict;
use crate::fhir::dates::{self, Form};

/// The identifier system that names an OAuth client in `provision.actor.reference`
/// (clients have no FHIR resource of their own).
pub const CLIENT_SYSTEM: &str = "https://medvault.dev/fhir/oauth-client";

/// HL7 v3 ActReason codes of the purposes medvault grants access for.
pub const TREATMENT: &str = "TREAT";
pub const EMERGENCY_TREATMENT: &str = "ETREAT";
pub const RESEARCH: &str = "HRESCH";

/// Whom a provision's `actor` may name for this caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorRef {
    /// A literal reference such as `Practitioner/abc` or `Organization/xyz`.
    Reference(String),
    /// An OAuth client, by `client_id` under [`CLIENT_SYSTEM`].
    Client(String),
}

/// The access being judged.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    pub actors: &'a [ActorRef],
    pub purpose: &'a str,
    pub class: ResourceType,
    pub now: UnixMillis,
    /// Only Consents whose base provision names the purpose count: research is never
    /// implied by a consent that names no purpose.
    pub purpose_named: bool,
}

/// The verdict of every Consent together: any deny wins, then any permit.
pub fn verdict<'v>(
    consents: impl IntoIterator<Item = &'v Value>,
    access: &Access<'_>,
) -> ConsentVerdict {
    consents
        .into_iter()
        .filter(|c| c.get("status").and_then(Value::as_str) == Some("active"))
        .filter_map(|c| c.get("provision"))
        .filter(|p| {
            !access.purpose_named
                || list(p, "purpose")
                    .any(|c| c.get("code").and_then(Value::as_str) == Some(access.purpose))
        })
        .filter_map(|p| provision(p, access))
        .fold(ConsentVerdict::None, combine)
}

fn combine(a: ConsentVerdict, b: ConsentVerdict) -> ConsentVerdict {
    match (a, b) {
        (ConsentVerdict::Deny, _) | (_, ConsentVerdict::Deny) => ConsentVerdict::Deny,
        (ConsentVerdict::Permit, _) | (_, ConsentVerdict::Permit) => ConsentVerdict::Permit,
        _ => ConsentVerdict::None,
    }
}

/// A provision's verdict when it applies: its applicable exceptions' if any, else its own.
fn provision(p: &Value, access: &Access<'_>) -> Option<ConsentVerdict> {
    if !applies(p, access) {
        return None;
    }
    let exceptions = list(p, "provision")
        .filter_map(|nested| provision(nested, access))
        .fold(ConsentVerdict::None, combine);
    if exceptions != ConsentVerdict::None {
        return Some(exceptions);
    }
    match p.get("type").and_then(Value::as_str) {
        Some("permit") => Some(ConsentVerdict::Permit),
        Some("deny") => Some(ConsentVerdict::Deny),
        _ => None,
    }
}

fn applies(p: &Value, access: &Access<'_>) -> bool {
    let any_or_empty = |key: &str, test: &dyn Fn(&Value) -> bool| {
        let mut items = list(p, key).peekable();
        items.peek().is_none() || items.any(test)
    };
    let actor = |a: &Value| {
        let Some(reference) = a.get("reference") else {
            return false;
        };
        access.actors.iter().any(|ours| match ours {
            ActorRef::Reference(r) => reference.get("reference").and_then(Value::as_str) == Some(r),
            ActorRef::Client(id) => reference.get("identifier").is_some_and(|i| {
                i.get("system").and_then(Value::as_str) == Some(CLIENT_SYSTEM)
                    && i.get("value").and_then(Value::as_str) == Some(id)
            }),
        })
    };
    let purpose = |c: &Value| c.get("code").and_then(Value::as_str) == Some(access.purpose);
    let class = |c: &Value| c.get("code").and_then(Value::as_str) == Some(access.class.as_str());
    // A period that cannot be read keeps a deny in force and a permit out of it.
    let deny = p.get("type").and_then(Value::as_str) == Some("deny");
    any_or_empty("actor", &actor)
        && any_or_empty("purpose", &purpose)
        && any_or_empty("class", &class)
        && period_holds(p.get("period"), access.now).unwrap_or(deny)
}

/// Whether `now` falls in a FHIR Period (each end inclusive of its whole precision); a
/// period that cannot be read does not hold.
pub fn within(period: Option<&Value>, now: UnixMillis) -> bool {
    period_holds(period, now).unwrap_or(false)
}

/// [`within`], or `None` when a bound does not parse.
fn period_holds(period: Option<&Value>, now: UnixMillis) -> Option<bool> {
    let Some(period) = period else {
        return Some(true);
    };
    let bound = |key: &str| period.get(key).and_then(Value::as_str);
    let starts = bound("start").map(|s| dates::parse(s, Form::DateTime));
    let ends = bound("end").map(|e| dates::parse(e, Form::DateTime));
    match (starts, ends) {
        (Some(None), _) | (_, Some(None)) => None,
        (start, end) => Some(
            start.flatten().is_none_or(|s| s.start <= now.0)
                && end.flatten().is_none_or(|e| now.0 < e.end),
        ),
    }
}

fn list<'v>(value: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: UnixMillis = UnixMillis(1_800_000_000_000);

    fn ask(actor: &str, class: ResourceType) -> ConsentVerdict {
        let actors = [ActorRef::Reference(actor.to_owned())];
        let access = Access {
            actors: &actors,
            purpose: TREATMENT,
            class,
            now: NOW,
            purpose_named: false,
        };
        let consents = [
            json!({
                "status": "active",
                "provision": {
                    "type": "deny",
                    "provision": [
                        {"type": "permit", "actor": [{"reference": {"reference": "Practitioner/a"}}]},
                        {"type": "deny", "actor": [{"reference": {"reference": "Practitioner/a"}}],
                         "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "MedicationRequest"}]}
                    ]
                }
            }),
            json!({"status": "inactive", "provision": {"type": "permit"}}),
        ];
        verdict(&consents, &access)
    }

    #[test]
    fn exceptions_refine_the_base_and_deny_overrides_permit() {
        assert_eq!(
            ask("Practitioner/a", ResourceType::Observation),
            ConsentVerdict::Permit
        );
        assert_eq!(
            ask("Practitioner/a", ResourceType::MedicationRequest),
            ConsentVerdict::Deny
        );
        assert_eq!(
            ask("Practitioner/b", ResourceType::Observation),
            ConsentVerdict::Deny
        );
    }

    #[test]
    fn periods_bound_a_provision() {
        let period = json!({"start": "2020-01-01", "end": "2030-12-31"});
        assert!(within(Some(&period), NOW));
        assert!(!within(Some(&json!({"end": "2021"})), NOW));
        assert!(!within(Some(&json!({"start": "not a date"})), NOW));
    }
}
