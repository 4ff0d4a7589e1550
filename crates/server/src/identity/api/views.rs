//! JSON shapes of identity objects. Times are RFC 3339 in UTC.

use medvault_domain::{Session, UnixMillis, User};
use serde::Serialize;
use utoipa::ToSchema;

pub fn rfc3339(at: UnixMillis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.0) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub display_name: Option<String>,
    /// `active` or `disabled`.
    pub status: &'static str,
    pub roles: Vec<&'static str>,
    /// The FHIR Patient this user is, for patients.
    pub patient_id: Option<String>,
    /// The FHIR Practitioner this user is, for clinicians.
    pub practitioner_id: Option<String>,
    /// The FHIR Organization this user works for, for staff.
    pub organization_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.to_string(),
            display_name: user.display_name.as_ref().map(|n| n.as_str().to_owned()),
            status: user.status.as_str(),
            roles: user.roles.iter().map(|r| r.as_str()).collect(),
            patient_id: user.patient_id.map(|p| p.to_string()),
            practitioner_id: user.practitioner_id.as_ref().map(|p| p.to_string()),
            organization_id: user.organization_id.as_ref().map(|o| o.to_string()),
            created_at: rfc3339(user.created_at),
            updated_at: rfc3339(user.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session the request itself belongs to.
    pub current: bool,
}

impl SessionView {
    pub fn new(session: &Session, current: bool) -> Self {
        Self {
            id: session.id.to_string(),
            created_at: rfc3339(session.created_at),
            last_seen_at: rfc3339(session.last_seen_at),
            expires_at: rfc3339(session.idle_expires_at.min(session.absolute_expires_at)),
            ip: session.ip.clone(),
            user_agent: session.user_agent.clone(),
            current,
        }
    }
}
