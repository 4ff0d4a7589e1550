//! `serve --demo`: synthetic patients, practitioners with care teams, and one login per
//! role, written through the same gate and audit trail as any client's data.

pub mod generator;

use medvault_crypto::password::Password;
use medvault_crypto::OpaqueToken;
use medvault_domain::{AuditAction, AuditedResource, Email, FhirId, PatientId, User};
use serde_json::Value;

use super::gate::access::Accessor;
use super::gate::Caller;
use super::OperationOutcome;
use crate::http::RequestContext;
use crate::identity::users::{self, NewUser, UserError};
use crate::AppState;

/// How many synthetic patients `serve --demo` writes.
pub const DEMO_PATIENTS: u64 = 25;
const DOMAIN: &str = "demo.medvault.test";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot create a demo user: {0}")]
    User(#[from] UserError),
    #[error("cannot write demo records: {0}")]
    Records(String),
    #[error("cannot check for earlier demo data")]
    Store(#[from] medvault_store::StoreError),
}

impl From<OperationOutcome> for DemoError {
    fn from(outcome: OperationOutcome) -> Self {
        Self::Records(outcome.resource()["issue"][0]["diagnostics"].to_string())
    }
}

/// A login printed for the operator.
#[derive(Debug)]
pub struct DemoLogin {
    pub email: String,
    pub role: &'static str,
    pub password: OpaqueToken,
}

/// Seeds the demo data unless an earlier start did; returns the logins it created.
pub async fn seed(state: &AppState, patients: u64) -> Result<Vec<DemoLogin>, DemoError> {
    let admin_email: Email = format!("admin@{DOMAIN}")
        .parse()
        .map_err(|_| UserError::InvalidEmail)?;
    match state.store.user_by_email(&admin_email).await {
        Ok(_) => return Ok(Vec::new()),
        Err(medvault_store::StoreError::NotFound) => {}
        Err(err) => return Err(err.into()),
    }
    let mut logins = Vec::new();
    let admin = add_user(state, "admin", Links::default(), &mut logins).await?;
    let context = RequestContext::default();
    let directory = commit(state, &admin, &context, generator::directory_bundle(4)).await?;
    let practitioners: Vec<String> = ids_of(&directory, "Practitioner");
    let organization = ids_of(&directory, "Organization").into_iter().next();
    let staff = |practitioner: Option<usize>| Links {
        practitioner: practitioner.and_then(|n| practitioners.get(n).cloned()),
        organization: organization.clone(),
        patient: None,
    };
    let physician = add_user(state, "physician", staff(Some(0)), &mut logins).await?;
    add_user(state, "nurse", staff(Some(1)), &mut logins).await?;
    add_user(state, "director", staff(None), &mut logins).await?;
    for role in ["auditor", "researcher"] {
        add_user(state, role, Links::default(), &mut logins).await?;
    }
    let mut first_patient = None;
    for n in 0..patients {
        let written = commit(
            state,
            &physician,
            &context,
            generator::patient_bundle(n, &practitioners, organization.as_deref()),
        )
        .await?;
        first_patient = first_patient.or_else(|| ids_of(&written, "Patient").into_iter().next());
    }
    if let Some(patient) = first_patient {
        let links = Links {
            patient: Some(patient),
            ..Links::default()
        };
        add_user(state, "patient", links, &mut logins).await?;
    }
    Ok(logins)
}

async fn commit(
    state: &AppState,
    who: &User,
    context: &RequestContext,
    bundle: Value,
) -> Result<Value, DemoError> {
    let accessor = Accessor {
        user_id: who.id,
        session_id: medvault_domain::SessionId::new(),
        roles: who.roles.iter().collect(),
        patient: who.patient_id,
        practitioner: who.practitioner_id.clone(),
        organization: who.organization_id.clone(),
        operator: false,
        client: None,
        delegated: None,
    };
    Ok(state
        .fhir
        .bundle(
            Caller {
                who: &accessor,
                context,
            },
            bundle,
        )
        .await?)
}

fn ids_of(response: &Value, resource_type: &str) -> Vec<String> {
    response["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["resource"]["resourceType"] == resource_type)
        .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
        .collect()
}

/// The records a demo user is linked to.
#[derive(Debug, Default)]
struct Links {
    patient: Option<String>,
    practitioner: Option<String>,
    organization: Option<String>,
}

async fn add_user(
    state: &AppState,
    role: &'static str,
    links: Links,
    logins: &mut Vec<DemoLogin>,
) -> Result<User, DemoError> {
    let password = OpaqueToken::generate();
    let email = format!("{role}@{DOMAIN}");
    let new = NewUser {
        email: email.clone(),
        display_name: Some(format!("Demo {role}")),
        roles: vec![role.to_owned()],
        password: Some(Password::new(password.expose().to_owned())),
        patient_id: links.patient.filter(|p| p.parse::<PatientId>().is_ok()),
        practitioner_id: links.practitioner.filter(|p| p.parse::<FhirId>().is_ok()),
        organization_id: links.organization.filter(|o| o.parse::<FhirId>().is_ok()),
    };
    let identity = &state.identity;
    let user = users::create(
        state.store.as_ref(),
        &identity.hashing,
        &identity.policy,
        new,
    )
    .await?;
    let resource = AuditedResource {
        kind: "User".into(),
        id: user.id.to_string(),
    };
    crate::audit::record(
        &state.audit,
        crate::audit::system_event(AuditAction::UserCreate, Some(resource)),
    )
    .await
    .map_err(|_| DemoError::Records("the audit trail is unavailable".into()))?;
    logins.push(DemoLogin {
        email,
        role,
        password,
    });
    Ok(user)
}
