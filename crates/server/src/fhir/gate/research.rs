//! Research exports through the gate: only patients the policies permit `research` for
//! (their Consent permits research), only de-identified (HIPAA Safe Harbor), each patient's
//! export audited before any of it is read. Identified data never leaves the gate here.

use medvault_domain::{AuditAction, Compartment, FhirId, Outcome, PurposeOfUse, ResourceType};
use medvault_store::RecordQuery;
use serde_json::Value;

use super::access::Action;
use super::decide::{Decided, Detail, Memo};
use super::{annotated, Caller, Gate, OperationOutcome};
use crate::privacy::deidentify::{self, Pseudonyms};

/// One page of a research export: the de-identified resources, and the cursor of the next
/// page of patients.
#[derive(Debug)]
pub struct ResearchPage {
    pub resources: Vec<Value>,
    pub next: Option<FhirId>,
}

impl Pseudonyms for Gate {
    fn pseudonym(&self, resource_type: &str, id: &str) -> String {
        let token = self
            .pseudonyms
            .token(&[b"research", resource_type.as_bytes(), id.as_bytes()]);
        crate::hex::encode(&token)
    }
}

impl Gate {
    /// Up to `patients` patients after `after`, in id order: of those the policies permit,
    /// every current clinical record, de-identified.
    pub async fn research_page(
        &self,
        caller: Caller<'_>,
        after: Option<&FhirId>,
        patients: u32,
    ) -> Result<ResearchPage, OperationOutcome> {
        let query = RecordQuery {
            resource_type: Some(ResourceType::Patient),
            after: after.map(|id| (ResourceType::Patient, id.clone())),
            limit: patients,
            ..RecordQuery::default()
        };
        let listed = self.store.find_records(&query).await?;
        let next = (listed.len() == patients as usize)
            .then(|| listed.last().map(|r| r.id.clone()))
            .flatten();
        let this_year = crate::fhir::dates::year_of(crate::clock::now().0);
        let mut memo = Memo::new();
        let mut resources = Vec::new();
        for listing in listed {
            let Compartment::Patient(patient) = listing.compartment else {
                continue;
            };
            let detail = Detail {
                known_epoch: Some(listing.access_epoch),
                ..Detail::default()
            };
            // Each class on its own: a research consent may leave some out.
            let mut classes = Vec::new();
            let mut policies = std::collections::BTreeSet::new();
            for t in deidentify::EXPORTED {
                let decided = self
                    .decide(
                        caller.who,
                        Action::Research,
                        t,
                        listing.compartment,
                        detail,
                        &mut memo,
                    )
                    .await?;
                if decided.permit {
                    classes.push(t);
                    policies.extend(decided.policies);
                }
            }
            // Without the Patient, no record of theirs leaves.
            if !classes.contains(&ResourceType::Patient) {
                continue;
            }
            let event = self
                .event(
                    caller,
                    AuditAction::Export,
                    Outcome::Success,
                    None,
                    Some(patient),
                )
                .await?;
            let decided = Decided {
                permit: true,
                policies: policies.into_iter().collect(),
                purpose: PurposeOfUse::Research,
            };
            self.record(vec![annotated(event, &decided)]).await?;
            for t in classes {
                let mut query = RecordQuery {
                    resource_type: Some(t),
                    compartment: Some(listing.compartment),
                    limit: 500,
                    ..RecordQuery::default()
                };
                loop {
                    let page = self.store.find_records(&query).await?;
                    let exhausted = page.len() < query.limit as usize;
                    query.after = page.last().map(|r| (r.resource_type, r.id.clone()));
                    for record in &page {
                        // A record that fails its integrity check stops the export rather
                        // than leaving a silent gap in it.
                        let Some(body) = self.unseal(record).await? else {
                            tracing::error!(resource_type = %record.resource_type, id = %record.id,
                                "a stored record failed its integrity check");
                            return Err(OperationOutcome::new(
                                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                                "exception",
                                "a stored record failed its integrity check",
                            ));
                        };
                        resources.extend(deidentify::safe_harbor(&body, self, this_year));
                    }
                    if exhausted {
                        break;
                    }
                }
            }
        }
        Ok(ResearchPage { resources, next })
    }
}
