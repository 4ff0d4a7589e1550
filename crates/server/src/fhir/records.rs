//! Writes, prepared: a body is validated, given its compartment, id and meta, checked
//! for authorization and for references that resolve, and indexed. The gate then seals
//! and stores what this module prepares, one write or a whole transaction at once.

use std::collections::HashSet;

use axum::http::StatusCode;
use medvault_domain::{Compartment, FhirId, PatientId, ResourceType};
use serde_json::Value;

use super::gate::{Caller, PendingWrite, Proposed};
use super::schema::{self, Invalid};
use super::search::{params, values};
use super::{resource, Fhir, OperationOutcome};

/// Resources a transaction creates, which its other entries may refer to.
pub type Created = HashSet<(ResourceType, FhirId)>;

impl From<Invalid> for OperationOutcome {
    fn from(invalid: Invalid) -> Self {
        let status = if invalid.unprocessable {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        let code = if invalid.unprocessable {
            "processing"
        } else {
            "structure"
        };
        OperationOutcome::new(
            status,
            code,
            format!("{}: {}", invalid.path, invalid.problem),
        )
        .at(invalid.path)
    }
}

/// A new id: Patients get a patient id (their data key's slot), others a random one.
pub fn new_id(resource_type: ResourceType) -> FhirId {
    match resource_type {
        ResourceType::Patient => FhirId::from(PatientId::new()),
        _ => FhirId::generate(),
    }
}

impl Fhir {
    /// Prepares a create of `body` under `id` (server-assigned, see [`new_id`]).
    pub async fn prepare_create(
        &self,
        caller: Caller<'_>,
        resource_type: ResourceType,
        id: FhirId,
        mut body: Value,
        created: &Created,
    ) -> Result<PendingWrite, OperationOutcome> {
        self.never_stored.strip(resource_type, &mut body);
        let references = schema::validate(resource_type, &body)?;
        let compartment = resource::compartment(resource_type, &id, &body)?;
        // A new Patient, or a record for a Patient created in this same transaction: the
        // caller is registering them, and joins their care team (see `registration_teams`).
        let registering = resource_type == ResourceType::Patient
            || compartment
                .patient()
                .is_some_and(|p| created.contains(&(ResourceType::Patient, FhirId::from(p))));
        let permit = self
            .gate
            .authorize_write(
                caller,
                Proposed {
                    resource_type,
                    id: &id,
                    compartment,
                    body: Some(&body),
                    current: None,
                    registering,
                },
            )
            .await?;
        self.check_references(caller, compartment, &references, created)
            .await?;
        let now = crate::clock::now();
        resource::stamp(&mut body, &id, 1, now);
        resource::attribute(&mut body, caller.who);
        Ok(PendingWrite {
            tokens: self.tokens(resource_type, &body),
            resource_type,
            id,
            version: 1,
            expected_version: None,
            last_updated: now,
            compartment,
            resource: Some(body),
            permit,
        })
    }

    /// Prepares an update. `if_match` is the version the client last saw (`If-Match`).
    pub async fn prepare_update(
        &self,
        caller: Caller<'_>,
        resource_type: ResourceType,
        id: FhirId,
        mut body: Value,
        if_match: Option<u64>,
        created: &Created,
    ) -> Result<PendingWrite, OperationOutcome> {
        self.never_stored.strip(resource_type, &mut body);
        let references = schema::validate(resource_type, &body)?;
        // FHIR R4 §3.1.0.4: the body carries the id, and it is the URL's.
        if body.get("id").and_then(Value::as_str) != Some(id.as_str()) {
            return Err(OperationOutcome::invalid(format!(
                "{resource_type}.id: must be present and equal the id in the URL"
            ))
            .at(format!("{resource_type}.id")));
        }
        let compartment = resource::compartment(resource_type, &id, &body)?;
        let Some(current) = self.gate.current(resource_type, &id).await? else {
            // Clients cannot choose ids: a Patient's id is the slot of its data key.
            return Err(OperationOutcome::new(
                StatusCode::NOT_FOUND,
                "not-found",
                // The same words as a refusal: an update must not tell a missing record
                // from one the caller may not see.
                "no such resource",
            ));
        };
        let permit = self
            .gate
            .authorize_write(
                caller,
                Proposed {
                    resource_type,
                    id: &id,
                    compartment: current.compartment,
                    body: Some(&body),
                    current: Some(&current),
                    registering: false,
                },
            )
            .await?;
        if let Some(expected) = if_match {
            if expected != current.version {
                return Err(OperationOutcome::new(
                    StatusCode::PRECONDITION_FAILED,
                    "conflict",
                    format!(
                        "If-Match names version {expected}, but the current version is {}",
                        current.version
                    ),
                ));
            }
        }
        if compartment != current.compartment {
            return Err(Invalid::rule(
                &format!(
                    "{resource_type}.{}",
                    resource::patient_element(resource_type).unwrap_or("id")
                ),
                "a resource cannot move to another patient's compartment",
            )
            .into());
        }
        self.check_references(caller, compartment, &references, created)
            .await?;
        let now = crate::clock::now();
        let version = current.version + 1;
        resource::stamp(&mut body, &id, version, now);
        resource::attribute(&mut body, caller.who);
        Ok(PendingWrite {
            tokens: self.tokens(resource_type, &body),
            resource_type,
            id,
            version,
            expected_version: Some(current.version),
            last_updated: now,
            compartment,
            resource: Some(body),
            permit,
        })
    }

    /// Prepares a logical delete; `None` when the resource is already deleted (deleting
    /// again changes nothing, FHIR R4 §3.1.0.7.1).
    pub async fn prepare_delete(
        &self,
        caller: Caller<'_>,
        resource_type: ResourceType,
        id: FhirId,
    ) -> Result<Option<PendingWrite>, OperationOutcome> {
        let Some(current) = self.gate.current(resource_type, &id).await? else {
            return Err(OperationOutcome::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "no such resource",
            ));
        };
        let permit = self
            .gate
            .authorize_write(
                caller,
                Proposed {
                    resource_type,
                    id: &id,
                    compartment: current.compartment,
                    body: None,
                    current: Some(&current),
                    registering: false,
                },
            )
            .await?;
        if current.deleted {
            return Ok(None);
        }
        Ok(Some(PendingWrite {
            resource_type,
            version: current.version + 1,
            expected_version: Some(current.version),
            last_updated: crate::clock::now(),
            compartment: current.compartment,
            resource: None,
            tokens: Vec::new(),
            id,
            permit,
        }))
    }

    /// The care teams a clinician's registrations bring (issue #6): whoever registers a
    /// Patient becomes a member of a new CareTeam for them, written in the same
    /// transaction. Callers without a Practitioner register no one's care team.
    pub async fn registration_teams(
        &self,
        caller: Caller<'_>,
        writes: &[PendingWrite],
    ) -> Result<Vec<PendingWrite>, OperationOutcome> {
        let Some(practitioner) = &caller.who.practitioner else {
            return Ok(Vec::new());
        };
        let registered: Created = writes
            .iter()
            .filter(|w| w.resource_type == ResourceType::Patient && w.expected_version.is_none())
            .map(|w| (w.resource_type, w.id.clone()))
            .collect();
        let mut teams = Vec::with_capacity(registered.len());
        for (_, patient) in &registered {
            let body = serde_json::json!({
                "resourceType": "CareTeam",
                "status": "active",
                "name": "Registration",
                "subject": {"reference": format!("Patient/{patient}")},
                "participant": [{
                    "member": {"reference": format!("Practitioner/{practitioner}")},
                    "period": {"start": resource::instant(crate::clock::now())},
                }],
            });
            let t = ResourceType::CareTeam;
            teams.push(
                self.prepare_create(caller, t, new_id(t), body, &registered)
                    .await?,
            );
        }
        Ok(teams)
    }

    /// Every reference must resolve to a live resource the caller may read, here or
    /// created alongside: a reference to one they may not read is refused in the same
    /// words as one to nothing, so references cannot probe for records. The record's own
    /// patient is covered by the decision on its compartment.
    async fn check_references(
        &self,
        caller: Caller<'_>,
        compartment: Compartment,
        references: &[schema::Reference],
        created: &Created,
    ) -> Result<(), OperationOutcome> {
        let own_patient = compartment.patient().map(FhirId::from);
        for reference in references {
            if created.contains(&(reference.target, reference.id.clone())) {
                continue;
            }
            let subject = reference.target == ResourceType::Patient
                && own_patient.as_ref() == Some(&reference.id);
            let resolves = match self.gate.current(reference.target, &reference.id).await? {
                Some(record) if !record.deleted => {
                    subject || self.gate.may_read(caller.who, &record).await?
                }
                _ => false,
            };
            if !resolves {
                return Err(Invalid::rule(
                    &reference.path,
                    "refers to a resource that does not exist",
                )
                .into());
            }
        }
        Ok(())
    }

    /// The blind-index tokens of a body's searchable values.
    fn tokens(&self, resource_type: ResourceType, body: &Value) -> Vec<Vec<u8>> {
        params::of(resource_type)
            .filter(|p| !p.compartment)
            .flat_map(|p| {
                values::tokens(
                    self.gate.index(),
                    resource_type,
                    p,
                    &values::extract(p, body),
                )
            })
            .collect()
    }
}
