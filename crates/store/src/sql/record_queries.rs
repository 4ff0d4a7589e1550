//! Statement text for the record store's dynamic queries, built in plain functions so
//! both backends share it; the macro in `records.rs` only binds and runs them.

use medvault_domain::{Compartment, FhirId, ResourceType, UnixMillis};

use crate::sql::rows::corrupt;
use crate::{HistoryQuery, RecordQuery, RecordVersion, StoreError};

/// A parameter value, bound in order as `$1`, `$2`, ...
#[derive(Debug, Clone)]
pub enum Bind {
    Text(String),
    Int(i64),
    Blob(Vec<u8>),
}

/// A statement and its parameters.
#[derive(Debug, Default)]
pub struct Statement {
    pub sql: String,
    pub binds: Vec<Bind>,
}

impl Statement {
    /// Adds a parameter and returns its placeholder.
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    fn text(&mut self, value: impl Into<String>) -> String {
        self.bind(Bind::Text(value.into()))
    }
}

pub const RECORD_COLUMNS: &str =
    "v.resource_type, v.id, v.version, v.last_updated, v.patient_id, v.deleted, v.body, \
     coalesce((SELECT e.epoch FROM access_epochs e WHERE e.patient_id = v.patient_id), 0)";

pub type RecordRow = (String, String, i64, i64, String, i64, Vec<u8>, i64);

pub fn record(row: RecordRow) -> Result<RecordVersion, StoreError> {
    let (resource_type, id, version, last_updated, patient_id, deleted, sealed, epoch) = row;
    Ok(RecordVersion {
        resource_type: resource_type.parse().map_err(|_| corrupt("record"))?,
        id: id.parse().map_err(|_| corrupt("record"))?,
        version: u64::try_from(version).map_err(|_| corrupt("record"))?,
        last_updated: UnixMillis(last_updated),
        compartment: Compartment::from_key_slot(patient_id.parse().map_err(|_| corrupt("record"))?),
        deleted: deleted != 0,
        sealed,
        access_epoch: u64::try_from(epoch).map_err(|_| corrupt("record"))?,
    })
}

pub fn version_value(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| StoreError::Backend("version out of range".into()))
}

/// Current, undeleted resources matching `query`, in `(type, id)` order.
pub fn find(query: &RecordQuery) -> Statement {
    let mut s = Statement::default();
    let mut conditions = vec!["r.deleted = 0".to_owned()];
    if let Some(t) = query.resource_type {
        conditions.push(format!("r.resource_type = {}", s.text(t.as_str())));
    }
    if let Some(c) = query.compartment {
        conditions.push(format!(
            "r.patient_id = {}",
            s.text(c.key_slot().to_string())
        ));
    }
    if !query.within.is_empty() {
        let slots: Vec<String> = query.within.iter().map(|p| s.text(p.to_string())).collect();
        conditions.push(format!("r.patient_id IN ({})", slots.join(", ")));
    }
    if !query.ids.is_empty() {
        let ids: Vec<String> = query.ids.iter().map(|id| s.text(id.as_str())).collect();
        conditions.push(format!("r.id IN ({})", ids.join(", ")));
    }
    for (n, group) in query.token_groups.iter().enumerate() {
        let tokens: Vec<String> = group
            .iter()
            .map(|t| s.bind(Bind::Blob(t.clone())))
            .collect();
        let tokens = tokens.join(", ");
        match (n, query.compartment, query.resource_type) {
            // Across a whole type, the first group's tokens drive the query: the ids they
            // name are few next to every record of the type.
            (0, None, Some(t)) => {
                let t = s.text(t.as_str());
                conditions.push(format!(
                    "r.id IN (SELECT t.id FROM fhir_tokens t \
                     WHERE t.resource_type = {t} AND t.token IN ({tokens}))"
                ));
            }
            // Within a compartment its few records drive, and tokens only filter.
            _ => conditions.push(format!(
                "EXISTS (SELECT 1 FROM fhir_tokens t WHERE t.resource_type = r.resource_type \
                 AND t.id = r.id AND t.token IN ({tokens}))"
            )),
        }
    }
    if let Some(from) = query.updated_from {
        conditions.push(format!("r.last_updated >= {}", s.bind(Bind::Int(from.0))));
    }
    if let Some(until) = query.updated_until {
        conditions.push(format!("r.last_updated < {}", s.bind(Bind::Int(until.0))));
    }
    if let Some((t, id)) = &query.after {
        let (t, id) = (s.text(t.as_str()), s.text(id.as_str()));
        conditions.push(format!(
            "(r.resource_type > {t} OR (r.resource_type = {t} AND r.id > {id}))"
        ));
    }
    let limit = s.bind(Bind::Int(i64::from(query.limit)));
    // Within one compartment `patient_id` is fixed, so leading with it keeps the same order
    // while naming the compartment index outright; otherwise the planner may walk the
    // primary key for the order and filter every record of the type.
    let order = if query.compartment.is_some() {
        "r.patient_id, r.resource_type, r.id"
    } else {
        "r.resource_type, r.id"
    };
    s.sql = format!(
        "SELECT {RECORD_COLUMNS} FROM fhir_resources r JOIN fhir_versions v \
           ON v.resource_type = r.resource_type AND v.id = r.id AND v.version = r.version \
         WHERE {} ORDER BY {order} LIMIT {limit}",
        conditions.join(" AND ")
    );
    s
}

/// Versions matching `query`, newest first.
pub fn history(query: &HistoryQuery) -> Result<Statement, StoreError> {
    let mut s = Statement::default();
    let mut conditions = vec![format!(
        "v.resource_type = {}",
        s.text(query.resource_type.as_str())
    )];
    if let Some(id) = &query.id {
        conditions.push(format!("v.id = {}", s.text(id.as_str())));
    }
    if let Some(since) = query.since {
        conditions.push(format!("v.last_updated >= {}", s.bind(Bind::Int(since.0))));
    }
    if !query.within.is_empty() {
        let slots: Vec<String> = query.within.iter().map(|p| s.text(p.to_string())).collect();
        conditions.push(format!("v.patient_id IN ({})", slots.join(", ")));
    }
    if let Some((at, id, version)) = &query.before {
        let at = s.bind(Bind::Int(at.0));
        let id = s.text(id.as_str());
        let version = s.bind(Bind::Int(version_value(*version)?));
        conditions.push(format!(
            "(v.last_updated < {at} OR (v.last_updated = {at} AND (v.id < {id} \
              OR (v.id = {id} AND v.version < {version}))))"
        ));
    }
    let limit = s.bind(Bind::Int(i64::from(query.limit)));
    s.sql = format!(
        "SELECT {RECORD_COLUMNS} FROM fhir_versions v WHERE {} \
         ORDER BY v.last_updated DESC, v.id DESC, v.version DESC LIMIT {limit}",
        conditions.join(" AND ")
    );
    Ok(s)
}

/// Versions of one compartment in `(type, id, version)` order, after a cursor.
pub fn compartment_versions(
    compartment: Compartment,
    after: Option<&(ResourceType, FhirId, u64)>,
    limit: u32,
) -> Result<Statement, StoreError> {
    let mut s = Statement::default();
    let mut conditions = vec![format!(
        "v.patient_id = {}",
        s.text(compartment.key_slot().to_string())
    )];
    if let Some((t, id, version)) = after {
        let (t, id) = (s.text(t.as_str()), s.text(id.as_str()));
        let version = s.bind(Bind::Int(version_value(*version)?));
        conditions.push(format!(
            "(v.resource_type > {t} OR (v.resource_type = {t} AND (v.id > {id} \
              OR (v.id = {id} AND v.version > {version}))))"
        ));
    }
    let limit = s.bind(Bind::Int(i64::from(limit)));
    s.sql = format!(
        "SELECT {RECORD_COLUMNS} FROM fhir_versions v WHERE {} \
         ORDER BY v.resource_type, v.id, v.version LIMIT {limit}",
        conditions.join(" AND ")
    );
    Ok(s)
}

/// The id text of a record key, for binding.
pub fn key(resource_type: ResourceType, id: &FhirId) -> (String, String) {
    (resource_type.as_str().to_owned(), id.as_str().to_owned())
}
