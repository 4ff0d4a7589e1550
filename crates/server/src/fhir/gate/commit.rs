//! Writes through the gate: authorize and audit each, seal under the right data key
//! (a new Patient brings its own), and store the batch atomically.

use std::sync::Arc;

use axum::http::StatusCode;
use medvault_domain::{AuditEvent, Outcome, ResourceType};
use medvault_store::{RecordVersion, RecordWrite, StoreError};

use super::{key_error, seal_context, Caller, Gate, PendingWrite};
use crate::fhir::OperationOutcome;

impl Gate {
    /// Seals and stores `writes` atomically, after authorizing and auditing each.
    pub async fn commit(
        &self,
        caller: Caller<'_>,
        writes: Vec<PendingWrite>,
    ) -> Result<(), OperationOutcome> {
        // Each write carries the gate's permit for exactly it (see `authorize_write`).
        for w in &writes {
            let action = w.action();
            if !w
                .permit
                .covers(action, w.resource_type, &w.id, w.compartment)
            {
                tracing::error!("a write was committed with another write's permit");
                return Err(OperationOutcome::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "the access policies do not permit this",
                ));
            }
        }
        // A new Patient brings its key share (in the key vault, first, so the events below
        // can name the patient) and its data key; records written alongside it use that
        // key, wherever they stand in the batch.
        let mut new_keys = Vec::new();
        let mut fresh = Vec::new();
        for w in &writes {
            if w.resource_type == ResourceType::Patient && w.expected_version.is_none() {
                let slot = w.compartment.key_slot();
                let share = self.keys.ensure_share(slot).await.map_err(key_error)?;
                let (key, wrapped) = self.keys.generate(slot, Some(&share));
                new_keys.push(wrapped);
                fresh.push((slot, key));
            }
        }
        let mut events = Vec::with_capacity(writes.len());
        for w in &writes {
            let action = super::audit_action(w.action());
            let event = self
                .event(
                    caller,
                    action,
                    Outcome::Success,
                    Some((w.resource_type, &w.id)),
                    w.compartment.patient(),
                )
                .await?;
            events.push(w.permit.annotate(event));
        }
        // Care teams, consents and Patients are what access decisions read.
        let mut access_changed: Vec<_> = writes
            .iter()
            .filter(|w| {
                matches!(
                    w.resource_type,
                    ResourceType::CareTeam | ResourceType::Consent | ResourceType::Patient
                )
            })
            .filter_map(|w| w.compartment.patient())
            .collect();
        access_changed.sort();
        access_changed.dedup();
        let mut stored = Vec::with_capacity(writes.len());
        for w in writes {
            let slot = w.compartment.key_slot();
            let key = match fresh.iter().find(|(s, _)| *s == slot) {
                Some((_, key)) => Arc::clone(key),
                None => self.keys.get(slot).await.map_err(key_error)?,
            };
            let sealed = match &w.resource {
                Some(body) => key.seal(
                    &seal_context(w.resource_type, &w.id, w.version, slot),
                    body.to_string().as_bytes(),
                ),
                None => Vec::new(),
            };
            stored.push(RecordWrite {
                record: RecordVersion {
                    resource_type: w.resource_type,
                    id: w.id,
                    version: w.version,
                    last_updated: w.last_updated,
                    compartment: w.compartment,
                    deleted: w.resource.is_none(),
                    sealed,
                    access_epoch: 0,
                },
                expected_version: w.expected_version,
                tokens: w.tokens,
            });
        }
        // Audit first: a change is never made without its record (DESIGN.md §2.6).
        self.record(events.clone()).await?;
        let batch = medvault_store::RecordBatch {
            new_keys,
            writes: stored,
            access_changed,
        };
        if let Err(err) = self.writer.write(batch).await {
            let failed = events
                .into_iter()
                .map(|e| AuditEvent {
                    outcome: Outcome::Error,
                    ..e
                })
                .collect();
            self.record(failed).await?;
            return Err(match err {
                StoreError::Conflict => OperationOutcome::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    "the resource changed or already exists; read it and try again",
                ),
                other => other.into(),
            });
        }
        for (slot, key) in fresh {
            self.keys.remember(slot, key);
        }
        Ok(())
    }
}
