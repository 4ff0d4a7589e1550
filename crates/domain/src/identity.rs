//! Who people are to medvault: users, their roles, and how they sign in.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{PatientId, SessionId, UserId};

/// An email address, trimmed and lowercased so one mailbox has one account.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid email address")]
pub struct EmailError;

impl Email {
    /// RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so an address at most 254.
    pub const MAX_LEN: usize = 254;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = EmailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normalized = s.trim().to_lowercase();
        let (local, domain) = normalized.split_once('@').ok_or(EmailError)?;
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        let valid = normalized.len() <= Self::MAX_LEN
            && !local.is_empty()
            && local.len() <= 64
            && !local.contains(|c: char| {
                c.is_whitespace() || c.is_control() || "@<>()[],;:\"\\".contains(c)
            })
            && domain.contains('.')
            && domain.split('.').all(label_ok);
        if valid {
            Ok(Self(normalized))
        } else {
            Err(EmailError)
        }
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Email addresses are personal data: `Debug` (and so logs) show only the domain.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domain = self.0.split_once('@').map_or("", |(_, d)| d);
        write!(f, "Email(<redacted>@{domain})")
    }
}

/// A person's name as shown in the UI and the access log. Personal data: `Debug` redacts.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a display name is 1 to 200 characters with no control characters")]
pub struct DisplayNameError;

impl DisplayName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DisplayName {
    type Err = DisplayNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let count = trimmed.chars().count();
        if (1..=200).contains(&count) && !trimmed.chars().any(char::is_control) {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(DisplayNameError)
        }
    }
}

impl TryFrom<String> for DisplayName {
    type Error = DisplayNameError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<DisplayName> for String {
    fn from(value: DisplayName) -> Self {
        value.0
    }
}

impl fmt::Debug for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DisplayName(<redacted>)")
    }
}

/// What a user is to the organisation (DESIGN.md §5). Authorization policy keys on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Patient,
    Nurse,
    Physician,
    Director,
    Admin,
    Auditor,
    Researcher,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role; roles are patient, nurse, physician, director, admin, auditor, researcher")]
pub struct RoleError;

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Patient,
        Role::Nurse,
        Role::Physician,
        Role::Director,
        Role::Admin,
        Role::Auditor,
        Role::Researcher,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Nurse => "nurse",
            Role::Physician => "physician",
            Role::Director => "director",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Researcher => "researcher",
        }
    }
}

impl FromStr for Role {
    type Err = RoleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or(RoleError)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-empty set of roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Role>", into = "Vec<Role>")]
pub struct Roles(BTreeSet<Role>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a user has at least one role")]
pub struct NoRoles;

impl Roles {
    pub fn new(roles: impl IntoIterator<Item = Role>) -> Result<Self, NoRoles> {
        let set: BTreeSet<Role> = roles.into_iter().collect();
        if set.is_empty() {
            Err(NoRoles)
        } else {
            Ok(Self(set))
        }
    }

    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }

    /// `"nurse physician"`: the stored and token (`roles` claim) form is a list; this is for storage.
    pub fn to_space_separated(&self) -> String {
        self.iter().map(Role::as_str).collect::<Vec<_>>().join(" ")
    }

    pub fn from_space_separated(s: &str) -> Result<Self, RoleError> {
        let roles = s
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<Vec<Role>, _>>()?;
        Self::new(roles).map_err(|_| RoleError)
    }
}

impl TryFrom<Vec<Role>> for Roles {
    type Error = NoRoles;

    fn try_from(value: Vec<Role>) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Roles> for Vec<Role> {
    fn from(value: Roles) -> Self {
        value.0.into_iter().collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }
}

impl FromStr for UserStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(UserStatus::Active),
            "disabled" => Ok(UserStatus::Disabled),
            _ => Err(UnknownStatus),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("status is active or disabled")]
pub struct UnknownStatus;

/// Milliseconds since the Unix epoch, UTC. Stored as a 64-bit integer in every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    pub fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1000)))
    }

    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub display_name: Option<DisplayName>,
    pub status: UserStatus,
    pub roles: Roles,
    /// The FHIR Patient this user is, for users with the `patient` role.
    pub patient_id: Option<PatientId>,
    /// The FHIR Practitioner a clinician user is.
    pub practitioner_id: Option<crate::FhirId>,
    /// The FHIR Organization a staff user works for (directors read its patients;
    /// consents may permit it).
    pub organization_id: Option<crate::FhirId>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

/// A signed-in device or browser. Access tokens carry its id (`sid`), so ending it ends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: UnixMillis,
    pub last_seen_at: UnixMillis,
    /// HIPAA §164.312(a)(2)(iii) automatic logoff: refreshes push this forward...
    pub idle_expires_at: UnixMillis,
    /// ...but never past this.
    pub absolute_expires_at: UnixMillis,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub amr: Vec<String>,
    pub revoked_at: Option<UnixMillis>,
    /// When a second factor was last verified in this session (sign-in or step-up).
    pub mfa_at: Option<UnixMillis>,
}

impl Session {
    pub fn is_live(&self, now: UnixMillis) -> bool {
        self.revoked_at.is_none() && now < self.idle_expires_at && now < self.absolute_expires_at
    }

    /// When the user last authenticated at the session's level (OIDC / RFC 9470
    /// `auth_time`): the last second factor, or the sign-in.
    pub fn authenticated_at(&self) -> UnixMillis {
        self.mfa_at.unwrap_or(self.created_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        let email: Email = "  Jane.Doe@Example.ORG ".parse().unwrap();
        assert_eq!(email.as_str(), "jane.doe@example.org");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "jane",
            "@example.org",
            "jane@",
            "jane@localhost",
            "ja ne@example.org",
            "jane@exa mple.org",
            "jane@-example.org",
            "jane@@example.org",
            "jane@example..org",
        ] {
            assert!(bad.parse::<Email>().is_err(), "{bad:?}");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert!(long.parse::<Email>().is_err());
    }

    #[test]
    fn email_debug_hides_the_mailbox() {
        let email: Email = "jane@example.org".parse().unwrap();
        assert_eq!(format!("{email:?}"), "Email(<redacted>@example.org)");
    }

    #[test]
    fn roles_parse_and_round_trip() {
        let roles = Roles::from_space_separated("physician nurse").unwrap();
        assert_eq!(roles.to_space_separated(), "nurse physician");
        assert!("surgeon".parse::<Role>().is_err());
        assert!(Roles::from_space_separated("").is_err());
    }
}
