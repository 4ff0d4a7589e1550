//! `GET /api/v1/me/access-log`: who accessed the caller's own health record (HIPAA
//! §164.528 accounting of disclosures). Patients see events about their record only.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use medvault_domain::{Actor, AuditEvent, PurposeOfUse, SessionId, UserId};
use medvault_store::{AuditFilter, StoreError};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::paging::SeqPage;
use crate::identity::api::views::rfc3339;
use crate::identity::Principal;
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(access_log))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accessor {
    /// The person's display name, or the application's client id.
    name: Option<String>,
    roles: Vec<&'static str>,
    /// `user`, `client` or `system`.
    kind: &'static str,
    /// The app the person used, by its registered name, when they acted through one
    /// (a SMART app they signed into): its grant is the session of the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    app: Option<String>,
}

/// Names looked up while describing a page of events, each once.
#[derive(Debug, Default)]
pub(crate) struct Names {
    users: HashMap<UserId, Option<String>>,
    apps: HashMap<SessionId, Option<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Access {
    at: String,
    who: Accessor,
    /// What was done, e.g. `fhir.read`.
    action: &'static str,
    /// The kind of record, e.g. `Observation`.
    record: Option<String>,
    /// Why: treatment, payment, operations, research or break_glass.
    purpose: Option<&'static str>,
    /// Emergency access that bypassed the usual rules.
    break_glass: bool,
    outcome: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessLog {
    entries: Vec<Access>,
    next: Option<u64>,
}

/// Every recorded access to the caller's own record, oldest first.
#[utoipa::path(get, path = "/api/v1/me/access-log", tag = "audit", security(("bearer" = [])),
    params(SeqPage), responses(
    (status = 200, description = "Accesses to the caller's record", body = AccessLog),
    (status = 401, description = "No valid access token", content_type = "application/problem+json"),
))]
async fn access_log(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<SeqPage>,
) -> Result<Json<AccessLog>, ApiError> {
    let limit = page.limit()?;
    let me = state.store.user(principal.user_id).await?;
    // Someone who is not a patient has no record, so nobody accessed it.
    let Some(patient) = me.patient_id else {
        return Ok(Json(AccessLog {
            entries: Vec::new(),
            next: None,
        }));
    };
    let filter = AuditFilter {
        patient: Some(
            super::subjects::search_value(state.fhir.gate.keys(), &patient.to_string()).await?,
        ),
        ..AuditFilter::default()
    };
    let found = state
        .store
        .search_audit_entries(&filter, page.after(), limit)
        .await?;
    let next = SeqPage::next(&found, limit);
    let mut names = Names::default();
    let mut entries = Vec::with_capacity(found.len());
    for entry in &found {
        entries.push(describe(state.store.as_ref(), &mut names, &entry.event).await?);
    }
    Ok(Json(AccessLog { entries, next }))
}

pub(crate) async fn describe(
    store: &dyn medvault_store::Store,
    names: &mut Names,
    event: &AuditEvent,
) -> Result<Access, StoreError> {
    let who = match &event.actor {
        Actor::User { id, roles } => {
            let name = match names.users.get(id) {
                Some(name) => name.clone(),
                None => {
                    let name = match store.user(*id).await {
                        Ok(user) => user.display_name.map(|n| n.as_str().to_owned()),
                        // The account was deleted since; the access still happened.
                        Err(StoreError::NotFound) => Some("former user".to_owned()),
                        Err(err) => return Err(err),
                    };
                    names.users.insert(*id, name.clone());
                    name
                }
            };
            let app = match event.session {
                Some(session) => match names.apps.get(&session) {
                    Some(app) => app.clone(),
                    None => {
                        let app = match store.oauth_grant(session).await? {
                            Some(grant) => Some(client_name(store, &grant.client_id).await?),
                            None => None,
                        };
                        names.apps.insert(session, app.clone());
                        app
                    }
                },
                None => None,
            };
            Accessor {
                name,
                roles: roles.iter().map(|r| r.as_str()).collect(),
                kind: "user",
                app,
            }
        }
        // A partner system: by the name it was registered under.
        Actor::Client { id } => Accessor {
            name: Some(client_name(store, id).await?),
            roles: Vec::new(),
            kind: "client",
            app: None,
        },
        Actor::Anonymous | Actor::System => Accessor {
            name: None,
            roles: Vec::new(),
            kind: "system",
            app: None,
        },
    };
    Ok(Access {
        at: rfc3339(event.at),
        who,
        action: event.action.code(),
        record: event.resource.as_ref().map(|r| r.kind.clone()),
        purpose: event.purpose.map(PurposeOfUse::code),
        break_glass: event.purpose == Some(PurposeOfUse::BreakGlass),
        outcome: event.outcome.code(),
    })
}

/// A client by the name it was registered under.
async fn client_name(
    store: &dyn medvault_store::Store,
    client_id: &str,
) -> Result<String, StoreError> {
    match store.oauth_client(client_id).await {
        Ok(client) => Ok(client.client_name),
        Err(StoreError::NotFound) => Ok("former OAuth client".to_owned()),
        Err(err) => Err(err),
    }
}
