//! SMART App Launch v2 scopes (`(patient|user|system)/(Type|*).[cruds]`, with the v1
//! `.read` / `.write` accepted) and the other scope values medvault knows.

use std::fmt;
use std::str::FromStr;

use medvault_domain::ResourceType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Patient,
    User,
    System,
}

/// A SMART resource scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceScope {
    pub context: Context,
    /// `None` for `*`.
    pub resource: Option<ResourceType>,
    /// Create, read, update, delete, search.
    pub permissions: [bool; 5],
}

const PERMISSIONS: [char; 5] = ['c', 'r', 'u', 'd', 's'];

impl FromStr for ResourceScope {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let error = || format!("{text:?} is not a SMART scope like system/Observation.rs");
        let (context, rest) = text.split_once('/').ok_or_else(error)?;
        let context = match context {
            "patient" => Context::Patient,
            "user" => Context::User,
            "system" => Context::System,
            _ => return Err(error()),
        };
        let (resource, permissions) = rest.split_once('.').ok_or_else(error)?;
        let resource =
            match resource {
                "*" => None,
                name => Some(name.parse::<ResourceType>().map_err(|_| {
                    format!("{text:?}: {name} is not a resource type medvault stores")
                })?),
            };
        let permissions = match permissions {
            // SMART v1.
            "read" => [false, true, false, false, true],
            "write" => [true, false, true, true, false],
            "*" => [true; 5],
            letters => {
                // v2: a non-empty subsequence of "cruds", in that order.
                let mut set = [false; 5];
                let mut next = 0;
                for letter in letters.chars() {
                    let at = PERMISSIONS[next..]
                        .iter()
                        .position(|p| *p == letter)
                        .ok_or_else(error)?;
                    set[next + at] = true;
                    next += at + 1;
                }
                if letters.is_empty() {
                    return Err(error());
                }
                set
            }
        };
        Ok(Self {
            context,
            resource,
            permissions,
        })
    }
}

impl ResourceScope {
    /// Whether this scope grants everything `other` asks for.
    pub fn covers(&self, other: &ResourceScope) -> bool {
        self.context == other.context
            && (self.resource.is_none() || self.resource == other.resource)
            && self
                .permissions
                .iter()
                .zip(other.permissions)
                .all(|(mine, asked)| *mine || !asked)
    }
}

impl fmt::Display for ResourceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let context = match self.context {
            Context::Patient => "patient",
            Context::User => "user",
            Context::System => "system",
        };
        let resource = self.resource.map_or("*", ResourceType::as_str);
        let letters: String = PERMISSIONS
            .iter()
            .zip(self.permissions)
            .filter(|(_, on)| *on)
            .map(|(letter, _)| *letter)
            .collect();
        write!(f, "{context}/{resource}.{letters}")
    }
}

/// Scope values that are not resource scopes.
pub const OTHER_SCOPES: &[&str] = &[
    "openid",
    "fhirUser",
    "profile",
    "launch/patient",
    "offline_access",
    "online_access",
];

/// A registered or requested scope: a SMART resource scope or one of [`OTHER_SCOPES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Resource(ResourceScope),
    Other(&'static str),
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match OTHER_SCOPES.iter().find(|s| **s == text) {
            Some(known) => Ok(Self::Other(known)),
            None => text.parse().map(Self::Resource),
        }
    }
}

impl fmt::Display for Scope {
    /// The SMART v2 form (v1 `.read` becomes `.rs`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Resource(r) => r.fmt(f),
            Self::Other(o) => f.write_str(o),
        }
    }
}

impl Scope {
    pub fn covers(&self, other: &Scope) -> bool {
        match (self, other) {
            (Self::Resource(mine), Self::Resource(asked)) => mine.covers(asked),
            (Self::Other(mine), Self::Other(asked)) => mine == asked,
            _ => false,
        }
    }

    pub fn is_system(&self) -> bool {
        matches!(self, Self::Resource(r) if r.context == Context::System)
    }
}

/// Whether a granted scope string (space-separated, as medvault writes it) includes `name`.
pub fn includes(scope: &str, name: &str) -> bool {
    scope.split_whitespace().any(|s| s == name)
}

/// Parses a space-separated scope string.
pub fn parse_all(text: &str) -> Result<Vec<Scope>, String> {
    text.split_whitespace().map(str::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(text: &str) -> ResourceScope {
        text.parse().unwrap()
    }

    #[test]
    fn smart_v2_and_v1_scopes_parse_and_cover() {
        assert_eq!(
            scope("system/Observation.rs").to_string(),
            "system/Observation.rs"
        );
        assert_eq!(scope("system/*.read").to_string(), "system/*.rs");
        assert_eq!(
            scope("patient/Patient.write").to_string(),
            "patient/Patient.cud"
        );
        assert!(scope("system/*.cruds").covers(&scope("system/Observation.rs")));
        assert!(scope("system/Observation.rs").covers(&scope("system/Observation.r")));
        assert!(!scope("system/Observation.r").covers(&scope("system/Observation.rs")));
        assert!(!scope("system/Observation.rs").covers(&scope("system/Patient.r")));
        assert!(!scope("system/Observation.rs").covers(&scope("system/*.r")));
        assert!(!scope("user/*.rs").covers(&scope("system/Observation.r")));
        for bad in [
            "system/Observation.sr",
            "system/Observation.",
            "system/Observation.rx",
            "admin/Observation.r",
            "system/Nope.r",
            "system/Observation",
            "Observation.r",
        ] {
            assert!(bad.parse::<ResourceScope>().is_err(), "{bad}");
        }
        assert_eq!("openid".parse::<Scope>(), Ok(Scope::Other("openid")));
    }
}
