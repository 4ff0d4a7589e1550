//! Data minimisation (GDPR Art. 5(1)(c)): elements the operator marks as never stored
//! (`--never-store Patient.photo,Observation.note`) are stripped from every resource
//! written, before it is validated, indexed and sealed, so they exist nowhere at rest.

use std::fmt;
use std::str::FromStr;

use medvault_domain::ResourceType;
use serde_json::Value;

use super::schema::{self, El, Shape, Ty};

/// One element path: a resource type and element names, e.g. `Patient.contact.telecom`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementPath {
    pub resource_type: ResourceType,
    /// Each element as the schema names it, and whether it is a choice (`value[x]`).
    elements: Vec<(&'static str, bool)>,
}

impl fmt::Display for ElementPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.resource_type)?;
        for (name, choice) in &self.elements {
            write!(f, ".{name}{}", if *choice { "[x]" } else { "" })?;
        }
        Ok(())
    }
}

impl FromStr for ElementPath {
    type Err = String;

    /// Accepts only paths the R4 schema knows, through optional elements all the way: a
    /// required element, or the one that names the patient, would make every write fail.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut parts = text.trim().split('.');
        let resource_type: ResourceType = parts
            .next()
            .unwrap_or_default()
            .parse()
            .map_err(|_| format!("{text}: not a stored resource type"))?;
        let mut shape: &'static Shape = schema::resource_shape(resource_type);
        let mut elements = Vec::new();
        let mut names = parts.peekable();
        if names.peek().is_none() {
            return Err(format!("{text}: name an element of {resource_type}"));
        }
        while let Some(name) = names.next() {
            let name = name.strip_suffix("[x]").unwrap_or(name);
            let element: &El = shape
                .elements
                .iter()
                .find(|e| e.name == name)
                .ok_or_else(|| format!("{text}: {name} is not an element here in FHIR R4"))?;
            if element.min > 0 {
                return Err(format!("{text}: {name} is required in FHIR R4"));
            }
            if elements.is_empty() && super::resource::patient_element(resource_type) == Some(name)
            {
                return Err(format!(
                    "{text}: medvault needs it to keep the record in its patient's compartment"
                ));
            }
            elements.push((element.name, matches!(element.ty, Ty::Choice(_))));
            if names.peek().is_some() {
                shape = match element.ty {
                    Ty::Complex(inner) => inner,
                    _ => return Err(format!("{text}: {name} has no elements of its own")),
                };
            }
        }
        Ok(Self {
            resource_type,
            elements,
        })
    }
}

/// The configured never-stored elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NeverStored(pub Vec<ElementPath>);

impl NeverStored {
    /// Removes every never-stored element from `resource`, a `resource_type`.
    pub fn strip(&self, resource_type: ResourceType, resource: &mut Value) {
        for path in self.0.iter().filter(|p| p.resource_type == resource_type) {
            strip_path(resource, &path.elements);
        }
    }
}

fn strip_path(value: &mut Value, elements: &[(&'static str, bool)]) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|item| strip_path(item, elements)),
        Value::Object(object) => {
            let Some(((name, choice), rest)) = elements.split_first() else {
                return;
            };
            let matches = |key: &str| match choice {
                // `value[x]` is stored as `valueQuantity`, `valueString`, ...
                true => key
                    .strip_prefix(name)
                    .is_some_and(|suffix| suffix.starts_with(|c: char| c.is_ascii_uppercase())),
                false => key == *name,
            };
            let keys: Vec<String> = object.keys().filter(|k| matches(k)).cloned().collect();
            for key in keys {
                match rest.is_empty() {
                    // The element and its primitive extensions (`_name`).
                    true => {
                        object.remove(&key);
                        object.remove(&format!("_{key}"));
                    }
                    false => {
                        if let Some(inner) = object.get_mut(&key) {
                            strip_path(inner, rest);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn paths(text: &[&str]) -> NeverStored {
        NeverStored(text.iter().map(|t| t.parse().unwrap()).collect())
    }

    #[test]
    fn paths_must_be_optional_r4_elements() {
        for ok in [
            "Patient.photo",
            "Patient.contact.telecom",
            "Observation.value[x]",
            "Observation.note",
        ] {
            let path: ElementPath = ok.parse().unwrap();
            assert_eq!(path.to_string(), ok);
        }
        for bad in [
            "Patient",
            "Nonsense.photo",
            "Patient.nonsense",
            "Observation.status",
            "Observation.subject",
            "Patient.gender.text",
        ] {
            assert!(bad.parse::<ElementPath>().is_err(), "{bad}");
        }
    }

    #[test]
    fn stripping_reaches_into_lists_choices_and_primitive_extensions() {
        let never = paths(&[
            "Patient.contact.telecom",
            "Patient.photo",
            "Observation.value[x]",
        ]);
        let mut patient = json!({"resourceType": "Patient", "photo": [{"url": "x"}],
            "contact": [{"telecom": [{"value": "1"}], "gender": "male"}, {"name": {"text": "n"}}],
            "gender": "female", "_gender": {"id": "g"}});
        never.strip(ResourceType::Patient, &mut patient);
        assert_eq!(
            patient,
            json!({"resourceType": "Patient",
                "contact": [{"gender": "male"}, {"name": {"text": "n"}}],
                "gender": "female", "_gender": {"id": "g"}})
        );
        let mut observation =
            json!({"valueQuantity": {"value": 1}, "valueset": 1, "status": "final"});
        never.strip(ResourceType::Observation, &mut observation);
        assert_eq!(observation, json!({"valueset": 1, "status": "final"}));
        let mut other = json!({"photo": 1});
        never.strip(ResourceType::Practitioner, &mut other);
        assert_eq!(other, json!({"photo": 1}), "only the named type");
    }
}
