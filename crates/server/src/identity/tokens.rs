//! Access tokens (RFC 9068 JWT profile) and the token pair login and refresh hand out.

use medvault_crypto::OpaqueToken;
use medvault_domain::{PatientId, Role, Session, SessionId, UnixMillis, User, UserId};
use serde::{Deserialize, Serialize};

use crate::identity::Identity;

/// The claims of a first-party access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: UserId,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    /// The session; logging out revokes every token that names it.
    pub sid: SessionId,
    pub roles: Vec<Role>,
    pub scope: String,
    /// RFC 8176 authentication methods, e.g. `["pwd"]`.
    pub amr: Vec<String>,
    /// Whether a second factor was used: `urn:medvault:acr:mfa` or `urn:medvault:acr:pwd`.
    #[serde(default)]
    pub acr: String,
    /// When the user last authenticated at that level (RFC 9470 `auth_time`), in seconds.
    #[serde(default)]
    pub auth_time: i64,
    /// The FHIR Patient a patient user is (the SMART `patient` context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<PatientId>,
    /// The FHIR resource that is the user (SMART App Launch `fhirUser`), relative.
    #[serde(default, rename = "fhirUser", skip_serializing_if = "Option::is_none")]
    pub fhir_user: Option<String>,
    /// The FHIR Organization a staff user works for (access policies read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// The OAuth client a user granted this token to (RFC 9068 `client_id`); its `scope`
    /// then holds SMART scopes. Absent for first-party tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The patient a SMART launch chose (for a clinician, not the user themself: `patient`
    /// stays the user's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_patient: Option<PatientId>,
}

/// What first-party clients may do with an access token. SMART scopes arrive with OAuth.
pub const FIRST_PARTY_SCOPE: &str = "medvault.api";
/// The only power of a token whose user must enroll a second factor first.
pub const ENROLL_SCOPE: &str = "medvault.mfa-enroll";
/// The only power of a token whose user signed in with a breached password.
pub const PASSWORD_CHANGE_SCOPE: &str = "medvault.password-change";

/// What an account still owes before its tokens may do everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Standing {
    pub mfa_enrolled: bool,
    pub password_change_required: bool,
}

impl Standing {
    pub async fn of(
        store: &dyn medvault_store::Store,
        user: UserId,
    ) -> Result<Self, medvault_store::StoreError> {
        Ok(Self {
            mfa_enrolled: crate::mfa::enrolled(store, user).await?,
            password_change_required: store.password_change_required(user).await?,
        })
    }
}

/// What a successful login or refresh returns.
#[derive(Debug)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: OpaqueToken,
}

impl Identity {
    /// Signs an access token for `user` in `session`. It never outlives the session: its
    /// expiry is capped by the idle and absolute deadlines. A user who must change a
    /// breached password gets a token that can only do that; one whose role requires a
    /// second factor not yet enrolled, a token that can only enroll one.
    pub fn access_token(
        &self,
        user: &User,
        session: &Session,
        now: UnixMillis,
        standing: Standing,
    ) -> (String, i64) {
        let scope = if standing.password_change_required {
            PASSWORD_CHANGE_SCOPE
        } else if self.must_enroll(user, standing) {
            ENROLL_SCOPE
        } else {
            FIRST_PARTY_SCOPE
        };
        let claims = self.claims(user, session, now, scope.to_owned());
        let lifetime = claims.exp - claims.iat;
        (self.keys.signer().sign(&claims), lifetime.max(0))
    }

    /// Whether the user's role requires a second factor they have not enrolled.
    pub fn must_enroll(&self, user: &User, standing: Standing) -> bool {
        !standing.mfa_enrolled && self.config.mfa.requires(user.roles.iter())
    }

    /// The claims of an access token for `user` in `session` with `scope`, expiring with
    /// the session at the latest.
    pub fn claims(
        &self,
        user: &User,
        session: &Session,
        now: UnixMillis,
        scope: String,
    ) -> AccessClaims {
        let iat = now.as_secs();
        let exp = iat
            .saturating_add(self.config.access_token_ttl_secs)
            .min(session.idle_expires_at.as_secs())
            .min(session.absolute_expires_at.as_secs());
        AccessClaims {
            iss: self.config.issuer.clone(),
            sub: user.id,
            aud: self.config.audience.clone(),
            exp,
            iat,
            nbf: iat,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: session.id,
            roles: user.roles.iter().collect(),
            scope,
            amr: session.amr.clone(),
            acr: crate::mfa::acr(session).to_owned(),
            auth_time: session.authenticated_at().as_secs(),
            patient: user.patient_id,
            fhir_user: fhir_user(user),
            organization: user.organization_id.as_ref().map(ToString::to_string),
            client_id: None,
            launch_patient: None,
        }
    }
}

/// `Practitioner/<id>` for clinicians, `Patient/<id>` for patients.
pub fn fhir_user(user: &User) -> Option<String> {
    match (&user.practitioner_id, user.patient_id) {
        (Some(practitioner), _) => Some(format!("Practitioner/{practitioner}")),
        (None, Some(patient)) => Some(format!("Patient/{patient}")),
        (None, None) => None,
    }
}
