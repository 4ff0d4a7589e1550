//! Storage limitation (GDPR Art. 5(1)(e)): retention rules per resource type and purpose
//! (`--retain Observation=10y,Communication:HRESCH=2y,Patient=25y`), applied by a job the
//! server runs hourly and `medvault privacy purge` runs now.
//!
//! - A rule for a clinical type deletes its resources, every version, once unchanged for
//!   the period. `Type:CODE` narrows it to resources labelled with that purpose of use
//!   (`meta.security`, HL7 v3 ActReason, e.g. HRESCH for research).
//! - A rule for `Patient` crypto-shreds whole patients whose records have all been
//!   unchanged for the period: an erasure, exactly as Art. 17 (see `super::erasure`).
//!
//! Patients under a legal hold are never touched. Every purge is audited before it runs.

use std::fmt;
use std::str::FromStr;

use medvault_domain::{AuditAction, AuditedResource, FhirId, PatientId, ResourceType};
use medvault_store::StoreError;

use super::erasure::{EraseError, Eraser};
use crate::audit::retention::Retention;
use crate::fhir::search::{params, values};

/// The code system of purpose-of-use labels.
pub const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
const BATCH: u32 = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRule {
    pub resource_type: ResourceType,
    /// A v3 ActReason code the resource must carry in `meta.security`.
    pub purpose: Option<String>,
    pub period: Retention,
}

impl FromStr for RetentionRule {
    type Err = String;

    /// `Type=period` or `Type:PURPOSE=period`, the period as in `--audit-retention`.
    fn from_str(text: &str) -> Result<Self, String> {
        let error =
            || format!("{text:?} is not a rule like Observation=10y or Communication:HRESCH=2y");
        let (target, period) = text.trim().split_once('=').ok_or_else(error)?;
        let (resource_type, purpose) = match target.split_once(':') {
            Some((t, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()) => {
                (t, Some(p.to_owned()))
            }
            Some(_) => return Err(error()),
            None => (target, None),
        };
        let resource_type: ResourceType = resource_type.parse().map_err(|_| error())?;
        if resource_type.is_directory() {
            return Err(format!("{text}: directory resources are not patient data"));
        }
        if resource_type == ResourceType::Patient && purpose.is_some() {
            return Err(format!(
                "{text}: a Patient rule covers whole patients, whatever the purpose"
            ));
        }
        let period: Retention = period.parse()?;
        if period.0.is_zero() {
            return Err(format!("{text}: a period of zero would delete every write"));
        }
        Ok(Self {
            resource_type,
            purpose,
            period,
        })
    }
}

impl fmt::Display for RetentionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.resource_type)?;
        if let Some(purpose) = &self.purpose {
            write!(f, " labelled {purpose}")?;
        }
        let days = self.period.0.as_secs() / 86_400;
        match days {
            0 => write!(f, ": {} s unchanged", self.period.0.as_secs()),
            _ => write!(f, ": {days} days unchanged"),
        }
    }
}

/// What one run purged.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub resources: u64,
    pub versions: u64,
    pub patients: u64,
}

impl fmt::Display for Purged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "purged {} resources ({} versions) and erased {} patients past retention",
            self.resources, self.versions, self.patients
        )
    }
}

/// Applies every rule once.
pub async fn purge(eraser: &Eraser<'_>, rules: &[RetentionRule]) -> Result<Purged, EraseError> {
    let mut purged = Purged::default();
    let now = crate::clock::now();
    for rule in rules {
        let cutoff = rule.period.cutoff(now);
        if rule.resource_type == ResourceType::Patient {
            expire_patients(eraser, cutoff, &mut purged).await?;
        } else {
            expire_records(eraser, rule, cutoff, &mut purged).await?;
        }
    }
    Ok(purged)
}

async fn expire_records(
    eraser: &Eraser<'_>,
    rule: &RetentionRule,
    cutoff: medvault_domain::UnixMillis,
    purged: &mut Purged,
) -> Result<(), EraseError> {
    let token = match &rule.purpose {
        Some(code) => {
            let param = params::find(rule.resource_type, "_security")
                .ok_or(EraseError::Store(StoreError::NotFound))?;
            let key = eraser.keys.index_key().await?;
            Some(values::system_code_token(
                &key,
                rule.resource_type,
                param,
                ACT_REASON,
                code,
            ))
        }
        None => None,
    };
    let mut after: Option<FhirId> = None;
    loop {
        let expired = eraser
            .store
            .expired_records(
                rule.resource_type,
                cutoff,
                token.as_deref(),
                after.as_ref(),
                BATCH,
            )
            .await?;
        let Some((last, _)) = expired.last() else {
            return Ok(());
        };
        after = Some(last.clone());
        // Audited first: nothing is deleted without its record.
        let mut events = Vec::with_capacity(expired.len());
        for (id, patient) in &expired {
            events.push(purge_event(eraser, rule.resource_type, id, *patient).await?);
        }
        eraser
            .trail
            .append_all(events)
            .await
            .map_err(|_| EraseError::AuditUnavailable)?;
        let ids: Vec<FhirId> = expired.into_iter().map(|(id, _)| id).collect();
        let (resources, versions) = eraser.store.purge_records(rule.resource_type, &ids).await?;
        purged.resources += resources;
        purged.versions += versions;
    }
}

async fn purge_event(
    eraser: &Eraser<'_>,
    resource_type: ResourceType,
    id: &FhirId,
    patient: Option<PatientId>,
) -> Result<medvault_domain::AuditEvent, EraseError> {
    let mut event = crate::audit::system_event(
        AuditAction::RetentionPurge,
        Some(AuditedResource {
            kind: resource_type.as_str().to_owned(),
            id: id.to_string(),
        }),
    );
    if let Some(patient) = patient {
        event.patient = eraser.keys.subject(patient).await?;
    }
    Ok(event)
}

async fn expire_patients(
    eraser: &Eraser<'_>,
    cutoff: medvault_domain::UnixMillis,
    purged: &mut Purged,
) -> Result<(), EraseError> {
    let mut after = None;
    loop {
        let expired = eraser.store.expired_patients(cutoff, after, BATCH).await?;
        let Some(&last) = expired.last() else {
            return Ok(());
        };
        after = Some(last);
        for patient in expired {
            let event = crate::audit::system_event(AuditAction::RetentionPurge, None);
            match eraser.erase(patient, event).await {
                Ok(_) => purged.patients += 1,
                // A hold placed meanwhile wins; rows without any key are not ours to
                // guess about. Either way, on to the next patient.
                Err(EraseError::Held(_) | EraseError::NotFound) => {}
                Err(err) => return Err(err),
            }
        }
    }
}

/// `medvault privacy purge`.
pub async fn purge_at_cli(
    operator: &crate::storage::Operator,
    rules: &[RetentionRule],
) -> Result<Purged, EraseError> {
    let keys = super::erasure::operator_keys(operator);
    let eraser = Eraser {
        store: operator.store.as_ref(),
        keys: &keys,
        trail: &operator.trail,
    };
    purge(&eraser, rules).await
}
