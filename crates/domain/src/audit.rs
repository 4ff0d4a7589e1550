//! The one audit event type every context writes (HIPAA §164.312(b)).
//!
//! Events hold ids and codes only, never PHI content: no names, values or free text
//! from records. The types enforce it: every field is an id, an enum or a bounded code.

use serde::{Deserialize, Serialize};

use crate::{Role, SessionId, UnixMillis, UserId};

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    User {
        id: UserId,
        roles: Vec<Role>,
    },
    /// An OAuth client acting for itself (client credentials).
    Client {
        id: String,
    },
    /// Someone not (yet) identified, e.g. a failed login for an unknown account.
    Anonymous,
    /// medvault itself or an operator at the CLI.
    System,
}

/// What was done. New actions get new variants; stored as their dotted code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditAction {
    #[serde(rename = "login.success")]
    LoginSuccess,
    #[serde(rename = "login.failure")]
    LoginFailure,
    #[serde(rename = "token.refresh")]
    TokenRefresh,
    #[serde(rename = "token.reuse_detected")]
    TokenReuseDetected,
    #[serde(rename = "session.end")]
    SessionEnd,
    #[serde(rename = "user.create")]
    UserCreate,
    #[serde(rename = "user.update")]
    UserUpdate,
    #[serde(rename = "user.role_change")]
    UserRoleChange,
    #[serde(rename = "user.password_change")]
    UserPasswordChange,
    #[serde(rename = "user.delete")]
    UserDelete,
    #[serde(rename = "keys.rotate")]
    KeysRotate,
    #[serde(rename = "fhir.read")]
    FhirRead,
    #[serde(rename = "fhir.search")]
    FhirSearch,
    #[serde(rename = "fhir.create")]
    FhirCreate,
    #[serde(rename = "fhir.update")]
    FhirUpdate,
    #[serde(rename = "fhir.delete")]
    FhirDelete,
    #[serde(rename = "consent.change")]
    ConsentChange,
    #[serde(rename = "break_glass")]
    BreakGlass,
    #[serde(rename = "export")]
    Export,
    #[serde(rename = "erase")]
    Erase,
    #[serde(rename = "audit.prune")]
    AuditPrune,
    #[serde(rename = "user.unlock")]
    UserUnlock,
    #[serde(rename = "security.lockout")]
    SecurityLockout,
    #[serde(rename = "security.ip_blocked")]
    SecurityIpBlocked,
    #[serde(rename = "security.breached_password")]
    SecurityBreachedPassword,
    #[serde(rename = "security.stuffing_suspected")]
    SecurityStuffingSuspected,
    #[serde(rename = "mfa.enroll")]
    MfaEnroll,
    #[serde(rename = "mfa.remove")]
    MfaRemove,
    #[serde(rename = "mfa.success")]
    MfaSuccess,
    #[serde(rename = "mfa.failure")]
    MfaFailure,
    #[serde(rename = "mfa.recovery_code_used")]
    MfaRecoveryCodeUsed,
    #[serde(rename = "mfa.recovery_codes_regenerated")]
    MfaRecoveryCodesRegenerated,
    #[serde(rename = "mfa.step_up")]
    MfaStepUp,
    #[serde(rename = "security.mfa_removed")]
    SecurityMfaRemoved,
    #[serde(rename = "privacy.legal_hold")]
    LegalHoldPlace,
    #[serde(rename = "privacy.legal_hold_release")]
    LegalHoldRelease,
    #[serde(rename = "privacy.retention_purge")]
    RetentionPurge,
    #[serde(rename = "oauth.client_create")]
    ClientCreate,
    #[serde(rename = "oauth.client_delete")]
    ClientDelete,
    #[serde(rename = "access.policy_load")]
    PolicyLoad,
    #[serde(rename = "break_glass.review")]
    BreakGlassReview,
    /// A user allowed (success) or denied (denied) an app's authorization request.
    #[serde(rename = "oauth.consent")]
    OAuthConsent,
}

impl AuditAction {
    pub const ALL: [AuditAction; 42] = [
        Self::LoginSuccess,
        Self::LoginFailure,
        Self::TokenRefresh,
        Self::TokenReuseDetected,
        Self::SessionEnd,
        Self::UserCreate,
        Self::UserUpdate,
        Self::UserRoleChange,
        Self::UserPasswordChange,
        Self::UserDelete,
        Self::KeysRotate,
        Self::FhirRead,
        Self::FhirSearch,
        Self::FhirCreate,
        Self::FhirUpdate,
        Self::FhirDelete,
        Self::ConsentChange,
        Self::BreakGlass,
        Self::Export,
        Self::Erase,
        Self::AuditPrune,
        Self::UserUnlock,
        Self::SecurityLockout,
        Self::SecurityIpBlocked,
        Self::SecurityBreachedPassword,
        Self::SecurityStuffingSuspected,
        Self::MfaEnroll,
        Self::MfaRemove,
        Self::MfaSuccess,
        Self::MfaFailure,
        Self::MfaRecoveryCodeUsed,
        Self::MfaRecoveryCodesRegenerated,
        Self::MfaStepUp,
        Self::SecurityMfaRemoved,
        Self::LegalHoldPlace,
        Self::LegalHoldRelease,
        Self::RetentionPurge,
        Self::ClientCreate,
        Self::ClientDelete,
        Self::PolicyLoad,
        Self::BreakGlassReview,
        Self::OAuthConsent,
    ];

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.code() == code)
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::LoginSuccess => "login.success",
            Self::LoginFailure => "login.failure",
            Self::TokenRefresh => "token.refresh",
            Self::TokenReuseDetected => "token.reuse_detected",
            Self::SessionEnd => "session.end",
            Self::UserCreate => "user.create",
            Self::UserUpdate => "user.update",
            Self::UserRoleChange => "user.role_change",
            Self::UserPasswordChange => "user.password_change",
            Self::UserDelete => "user.delete",
            Self::KeysRotate => "keys.rotate",
            Self::FhirRead => "fhir.read",
            Self::FhirSearch => "fhir.search",
            Self::FhirCreate => "fhir.create",
            Self::FhirUpdate => "fhir.update",
            Self::FhirDelete => "fhir.delete",
            Self::ConsentChange => "consent.change",
            Self::BreakGlass => "break_glass",
            Self::Export => "export",
            Self::Erase => "erase",
            Self::AuditPrune => "audit.prune",
            Self::UserUnlock => "user.unlock",
            Self::SecurityLockout => "security.lockout",
            Self::SecurityIpBlocked => "security.ip_blocked",
            Self::SecurityBreachedPassword => "security.breached_password",
            Self::SecurityStuffingSuspected => "security.stuffing_suspected",
            Self::MfaEnroll => "mfa.enroll",
            Self::MfaRemove => "mfa.remove",
            Self::MfaSuccess => "mfa.success",
            Self::MfaFailure => "mfa.failure",
            Self::MfaRecoveryCodeUsed => "mfa.recovery_code_used",
            Self::MfaRecoveryCodesRegenerated => "mfa.recovery_codes_regenerated",
            Self::MfaStepUp => "mfa.step_up",
            Self::SecurityMfaRemoved => "security.mfa_removed",
            Self::LegalHoldPlace => "privacy.legal_hold",
            Self::LegalHoldRelease => "privacy.legal_hold_release",
            Self::RetentionPurge => "privacy.retention_purge",
            Self::ClientCreate => "oauth.client_create",
            Self::ClientDelete => "oauth.client_delete",
            Self::PolicyLoad => "access.policy_load",
            Self::BreakGlassReview => "break_glass.review",
            Self::OAuthConsent => "oauth.consent",
        }
    }

    /// The FHIR AuditEvent.action code (C, R, U, D or E) of this action.
    pub fn fhir_action(self) -> char {
        match self {
            Self::UserCreate | Self::FhirCreate | Self::ClientCreate => 'C',
            Self::FhirRead | Self::FhirSearch | Self::Export | Self::BreakGlassReview => 'R',
            Self::UserUpdate
            | Self::UserRoleChange
            | Self::UserPasswordChange
            | Self::FhirUpdate
            | Self::ConsentChange
            | Self::UserUnlock
            | Self::MfaEnroll
            | Self::MfaRecoveryCodesRegenerated
            | Self::LegalHoldPlace
            | Self::LegalHoldRelease
            | Self::PolicyLoad => 'U',
            Self::UserDelete
            | Self::FhirDelete
            | Self::Erase
            | Self::RetentionPurge
            | Self::ClientDelete
            | Self::AuditPrune
            | Self::MfaRemove => 'D',
            Self::LoginSuccess
            | Self::LoginFailure
            | Self::TokenRefresh
            | Self::TokenReuseDetected
            | Self::SessionEnd
            | Self::KeysRotate
            | Self::BreakGlass
            | Self::SecurityLockout
            | Self::SecurityIpBlocked
            | Self::SecurityBreachedPassword
            | Self::SecurityStuffingSuspected
            | Self::MfaSuccess
            | Self::MfaFailure
            | Self::MfaRecoveryCodeUsed
            | Self::MfaStepUp
            | Self::SecurityMfaRemoved
            | Self::OAuthConsent => 'E',
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    /// Refused: bad credentials, not permitted, expired.
    Denied,
    /// Failed for a reason of medvault's own.
    Error,
}

impl Outcome {
    pub fn from_code(code: &str) -> Option<Self> {
        [Self::Success, Self::Denied, Self::Error]
            .into_iter()
            .find(|o| o.code() == code)
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Error => "error",
        }
    }
}

/// Why data was touched (HL7 v3 PurposeOfUse, abbreviated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurposeOfUse {
    Treatment,
    Payment,
    Operations,
    Research,
    BreakGlass,
}

impl PurposeOfUse {
    pub fn code(self) -> &'static str {
        match self {
            Self::Treatment => "treatment",
            Self::Payment => "payment",
            Self::Operations => "operations",
            Self::Research => "research",
            Self::BreakGlass => "break_glass",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [
            Self::Treatment,
            Self::Payment,
            Self::Operations,
            Self::Research,
            Self::BreakGlass,
        ]
        .into_iter()
        .find(|p| p.code() == code)
    }
}

/// A resource an event is about: a FHIR type and id, or a medvault object such as a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditedResource {
    pub kind: String,
    pub id: String,
}

/// How the trail names a patient: a pseudonym keyed by the patient's erasable key share
/// (`medvault_crypto::KeyShare::audit_subject`), never their id. Erasure destroys the key,
/// and the trail's entries about them stay verifiable but no longer link to them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuditSubject(pub String);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: UnixMillis,
    pub actor: Actor,
    pub action: AuditAction,
    pub outcome: Outcome,
    pub resource: Option<AuditedResource>,
    /// The patient the event concerns, as their audit subject.
    pub patient: Option<AuditSubject>,
    pub purpose: Option<PurposeOfUse>,
    pub session: Option<SessionId>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    /// The access policies that decided (`@id`s, space-separated): what permitted the
    /// access, or what forbade it.
    pub policy: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_code_parses_back() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::from_code(action.code()), Some(action));
        }
    }
}
