//! Structural validation of FHIR R4 resources against a typed subset of the R4 definitions.
//!
//! Each stored type's elements are listed in [`resources`], the datatypes they use in
//! [`datatypes`]. Validation refuses unknown elements, wrong datatypes and cardinalities,
//! missing required elements and malformed references, and names the failing element's
//! path. It also collects every resource reference, so the caller can check they exist.

mod datatypes;
mod primitives;
mod resources;

use medvault_domain::{FhirId, ResourceType};
use serde_json::{Map, Value};

pub use primitives::Prim;

/// The elements of a stored resource type.
pub fn resource_shape(resource_type: ResourceType) -> &'static Shape {
    resources::shape(resource_type)
}

/// A datatype an element may have.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Prim(Prim),
    Complex(&'static Shape),
    /// A Reference whose target must be one of these types (empty: any stored type).
    Reference(&'static [&'static str]),
    /// A choice element `name[x]`: the JSON key is the name followed by one suffix.
    Choice(&'static [(&'static str, Ty)]),
}

/// One element of a complex type or resource.
#[derive(Debug)]
pub struct El {
    pub name: &'static str,
    pub min: u8,
    pub many: bool,
    pub ty: Ty,
}

/// An optional element that occurs at most once.
pub const fn opt(name: &'static str, ty: Ty) -> El {
    El {
        name,
        min: 0,
        many: false,
        ty,
    }
}

/// A required element that occurs once.
pub const fn req(name: &'static str, ty: Ty) -> El {
    El {
        name,
        min: 1,
        many: false,
        ty,
    }
}

/// An optional repeating element.
pub const fn list(name: &'static str, ty: Ty) -> El {
    El {
        name,
        min: 0,
        many: true,
        ty,
    }
}

/// A repeating element that must occur at least once.
pub const fn req_list(name: &'static str, ty: Ty) -> El {
    El {
        name,
        min: 1,
        many: true,
        ty,
    }
}

/// A complex datatype, backbone element or resource: its elements besides the ones every
/// element has (`id`, `extension`, and `modifierExtension` for backbones).
#[derive(Debug)]
pub struct Shape {
    pub backbone: bool,
    pub elements: &'static [El],
}

/// Why a resource was refused: the element's path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub path: String,
    pub problem: String,
    /// Structure errors are 400; well-formed content breaking a rule is 422.
    pub unprocessable: bool,
}

impl Invalid {
    fn structure(path: &str, problem: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            problem: problem.into(),
            unprocessable: false,
        }
    }

    pub fn rule(path: &str, problem: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            problem: problem.into(),
            unprocessable: true,
        }
    }
}

/// A reference found in a resource, with where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub path: String,
    pub target: ResourceType,
    pub id: FhirId,
}

/// Checks `resource` against the R4 structure of `resource_type`; returns its references.
pub fn validate(resource_type: ResourceType, resource: &Value) -> Result<Vec<Reference>, Invalid> {
    let root = resource_type.as_str();
    let Value::Object(object) = resource else {
        return Err(Invalid::structure(root, "a resource is a JSON object"));
    };
    match object.get("resourceType").and_then(Value::as_str) {
        Some(t) if t == root => {}
        Some(_) => {
            return Err(Invalid::structure(
                &format!("{root}.resourceType"),
                format!("must be {root}"),
            ))
        }
        None => {
            return Err(Invalid::structure(
                &format!("{root}.resourceType"),
                "is required",
            ))
        }
    }
    if object
        .get("contained")
        .is_some_and(|c| c.as_array().is_none_or(|a| !a.is_empty()))
    {
        return Err(Invalid::rule(
            &format!("{root}.contained"),
            "contained resources are not supported; store the resource and reference it",
        ));
    }
    let mut walker = Walker::default();
    walker.object(
        root,
        object,
        resources::shape(resource_type),
        &["resourceType", "contained"],
        true,
    )?;
    Ok(walker.references)
}

#[derive(Default)]
struct Walker {
    references: Vec<Reference>,
}

/// The elements every resource has (FHIR R4 Resource and DomainResource).
static RESOURCE_ELEMENTS: &[El] = &[
    opt("id", Ty::Prim(Prim::Id)),
    opt("meta", Ty::Complex(&datatypes::META)),
    opt("implicitRules", Ty::Prim(Prim::Uri)),
    opt("language", Ty::Prim(Prim::Code)),
    opt("text", Ty::Complex(&datatypes::NARRATIVE)),
    list("modifierExtension", Ty::Complex(&datatypes::EXTENSION)),
];

/// The elements every element has (FHIR R4 Element), and backbones' modifier extensions.
static ELEMENT_ELEMENTS: &[El] = &[
    opt("id", Ty::Prim(Prim::Str)),
    list("extension", Ty::Complex(&datatypes::EXTENSION)),
];
static BACKBONE_ELEMENTS: &[El] = &[list(
    "modifierExtension",
    Ty::Complex(&datatypes::EXTENSION),
)];

impl Walker {
    fn object(
        &mut self,
        path: &str,
        object: &Map<String, Value>,
        shape: &Shape,
        skip: &[&str],
        resource: bool,
    ) -> Result<(), Invalid> {
        let common: &[&[El]] = match (resource, shape.backbone) {
            (true, _) => &[RESOURCE_ELEMENTS, &ELEMENT_ELEMENTS[1..]],
            (false, true) => &[ELEMENT_ELEMENTS, BACKBONE_ELEMENTS],
            (false, false) => &[ELEMENT_ELEMENTS],
        };
        let all = || {
            common
                .iter()
                .flat_map(|els| els.iter())
                .chain(shape.elements)
        };
        if object.is_empty() {
            return Err(Invalid::structure(path, "an element cannot be empty"));
        }
        for (key, value) in object {
            if skip.contains(&key.as_str()) {
                continue;
            }
            // `_name` carries a primitive's id and extensions (FHIR R4 JSON §2.6.2.4).
            if let Some(primitive) = key.strip_prefix('_') {
                if all().any(|el| accepts_key(el, primitive).is_some_and(is_primitive)) {
                    continue;
                }
            }
            let child = format!("{path}.{key}");
            let Some((el, ty)) = all().find_map(|el| accepts_key(el, key).map(|ty| (el, ty)))
            else {
                return Err(Invalid::structure(&child, "is not an element of this type"));
            };
            self.occurrences(&child, el, ty, value)?;
        }
        for el in all() {
            if el.min > 0 && !all_keys_of(el).any(|key| object.contains_key(&key)) {
                return Err(Invalid::rule(
                    &format!("{path}.{}", display_name(el)),
                    "is required",
                ));
            }
            if let Ty::Choice(_) = el.ty {
                if all_keys_of(el)
                    .filter(|key| object.contains_key(key))
                    .count()
                    > 1
                {
                    return Err(Invalid::structure(
                        &format!("{path}.{}", display_name(el)),
                        "only one of the choice's types may be given",
                    ));
                }
            }
        }
        Ok(())
    }

    fn occurrences(&mut self, path: &str, el: &El, ty: Ty, value: &Value) -> Result<(), Invalid> {
        match (el.many, value) {
            (true, Value::Array(items)) => {
                if items.is_empty() {
                    return Err(Invalid::structure(path, "an array cannot be empty"));
                }
                for (n, item) in items.iter().enumerate() {
                    self.value(&format!("{path}[{n}]"), ty, item)?;
                }
                Ok(())
            }
            (true, _) => Err(Invalid::structure(path, "must be an array")),
            (false, Value::Array(_)) => Err(Invalid::structure(path, "occurs at most once")),
            (false, value) => self.value(path, ty, value),
        }
    }

    fn value(&mut self, path: &str, ty: Ty, value: &Value) -> Result<(), Invalid> {
        match ty {
            Ty::Prim(prim) => prim
                .check(value)
                .map_err(|problem| Invalid::structure(path, problem)),
            Ty::Complex(shape) => match value {
                Value::Object(object) => self.object(path, object, shape, &[], false),
                _ => Err(Invalid::structure(path, "must be an object")),
            },
            Ty::Reference(targets) => match value {
                Value::Object(object) => {
                    self.object(path, object, &datatypes::REFERENCE, &[], false)?;
                    self.reference(path, object, targets)
                }
                _ => Err(Invalid::structure(path, "must be a Reference object")),
            },
            Ty::Choice(_) => Err(Invalid::structure(path, "names no choice type")),
        }
    }

    fn reference(
        &mut self,
        path: &str,
        object: &Map<String, Value>,
        targets: &[&str],
    ) -> Result<(), Invalid> {
        let Some(reference) = object.get("reference").and_then(Value::as_str) else {
            // A logical reference (identifier or display only) points at nothing stored.
            return Ok(());
        };
        let path = format!("{path}.reference");
        let (target, id) =
            parse_reference(reference).map_err(|problem| Invalid::rule(&path, problem))?;
        if !targets.is_empty() && !targets.contains(&target.as_str()) {
            return Err(Invalid::rule(
                &path,
                format!("must refer to one of: {}", targets.join(", ")),
            ));
        }
        self.references.push(Reference { path, target, id });
        Ok(())
    }
}

/// `Type/id`, the only reference form medvault resolves (relative, FHIR R4 §2.3.0.1).
pub fn parse_reference(reference: &str) -> Result<(ResourceType, FhirId), String> {
    let Some((target, id)) = reference.split_once('/') else {
        return Err("a reference is `Type/id`".to_owned());
    };
    let target: ResourceType = target.parse().map_err(|_| {
        "refers to a resource type medvault does not store, or is not a relative `Type/id` reference"
            .to_owned()
    })?;
    let id = id
        .parse()
        .map_err(|_| "a reference is `Type/id` with a valid FHIR id".to_owned())?;
    Ok((target, id))
}

/// The datatype a JSON key selects in `el`, if the key belongs to it.
fn accepts_key(el: &El, key: &str) -> Option<Ty> {
    match el.ty {
        Ty::Choice(choices) => {
            let suffix = key.strip_prefix(el.name)?;
            choices
                .iter()
                .find(|(name, _)| *name == suffix)
                .map(|(_, ty)| *ty)
        }
        ty => (key == el.name).then_some(ty),
    }
}

fn is_primitive(ty: Ty) -> bool {
    matches!(ty, Ty::Prim(_))
}

fn all_keys_of(el: &El) -> impl Iterator<Item = String> + '_ {
    let suffixes: Vec<&str> = match el.ty {
        Ty::Choice(choices) => choices.iter().map(|(suffix, _)| *suffix).collect(),
        _ => vec![""],
    };
    suffixes
        .into_iter()
        .map(move |suffix| format!("{}{suffix}", el.name))
}

fn display_name(el: &El) -> String {
    match el.ty {
        Ty::Choice(_) => format!("{}[x]", el.name),
        _ => el.name.to_owned(),
    }
}

#[cfg(test)]
mod tests;
