//! Patients as the trail names them: audit subjects, pseudonyms keyed by each patient's
//! erasable key share. Events are written with subjects; readers of the trail map them
//! back to patients while the share exists, and cannot once the patient is erased.

use std::collections::HashMap;

use medvault_domain::{AuditSubject, PatientId};
use medvault_store::{ChainedEntry, StoreError};

use crate::fhir::gate::keys::{DataKeys, KeyError};
use crate::ApiError;

impl From<KeyError> for ApiError {
    fn from(err: KeyError) -> Self {
        match err {
            KeyError::Store(err) => err.into(),
            other => ApiError::internal(other),
        }
    }
}

/// The patient's subject for an event; `None` when there is no patient or they are erased.
pub async fn of(
    keys: &DataKeys,
    patient: Option<PatientId>,
) -> Result<Option<AuditSubject>, ApiError> {
    match patient {
        Some(patient) => Ok(keys.subject(patient).await?),
        None => Ok(None),
    }
}

/// What to search the trail's patient column for: the patient's subject, or when they
/// have none the id itself (which only entries written before subjects existed hold).
pub async fn search_value(keys: &DataKeys, patient: &str) -> Result<String, ApiError> {
    let subject = match patient.parse::<PatientId>() {
        Ok(patient) => keys.subject(patient).await?,
        Err(_) => None,
    };
    Ok(subject.map_or_else(|| patient.to_owned(), |s| s.0))
}

/// The patients behind the subjects `entries` name, where their shares still exist.
pub async fn resolve(
    keys: &DataKeys,
    entries: &[ChainedEntry],
) -> Result<HashMap<String, PatientId>, StoreError> {
    let mut subjects: Vec<String> = entries
        .iter()
        .filter_map(|e| e.event.patient.as_ref().map(|s| s.0.clone()))
        .collect();
    subjects.sort();
    subjects.dedup();
    Ok(keys
        .vault()
        .patients_by_subject(&subjects)
        .await?
        .into_iter()
        .collect())
}
