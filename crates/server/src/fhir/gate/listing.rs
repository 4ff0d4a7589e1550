//! Listings through the gate: search pages, `$everything` and history.

use medvault_domain::{AuditAction, Compartment, FhirId, PatientId, ResourceType};
use medvault_store::{HistoryQuery, RecordQuery, StoreError};

use super::decide::Reach;
use super::{not_found, Caller, Gate, Opened, Page};
use crate::fhir::search::Search;
use crate::fhir::OperationOutcome;

/// At most this many candidates are decrypted for one page of search results; a sparse
/// match returns a shorter page with a `next` link instead of scanning on.
const MAX_SCAN: usize = 2_000;

impl Gate {
    /// One page of search results.
    pub async fn search(
        &self,
        caller: Caller<'_>,
        search: &Search,
    ) -> Result<Page, OperationOutcome> {
        let t = search.resource_type;
        let empty = Page {
            entries: Vec::new(),
            next: None,
        };
        // Only compartments the caller may read are searched, so neither a page's size
        // nor its links reveal records they may not see. (Searched everywhere, for a
        // caller related to very many patients or permitted without a relationship, a
        // sparse match may stop at `MAX_SCAN` with a link past a record they may not see.)
        let asked = search.compartment().flatten().and_then(|c| c.patient());
        let within = match self.reach(caller.who, t, asked).await? {
            Reach::Everywhere => Vec::new(),
            Reach::Within(patients) if patients.is_empty() => return Ok(empty),
            Reach::Within(patients) => patients,
        };
        let compartment = match search.compartment() {
            Some(None) => return Ok(empty),
            Some(Some(asked)) => {
                let reachable =
                    within.is_empty() || asked.patient().is_some_and(|p| within.contains(&p));
                if !reachable {
                    return Ok(empty);
                }
                Some(asked)
            }
            None => None,
        };
        if search.matches_nothing() {
            return Ok(empty);
        }
        let wanted = search.count as usize;
        let chunk = search.count.saturating_mul(2).clamp(20, 500);
        let mut query = search.narrowing(&self.index, compartment, chunk);
        if compartment.is_none() {
            query.within = within;
        }
        if let Some(cursor) = &search.cursor {
            query.after = Some(self.open_cursor(cursor, Some(t))?);
        }
        let mut entries = Vec::new();
        let mut scanned = 0;
        loop {
            let candidates = self.store.find_records(&query).await?;
            let exhausted = candidates.len() < chunk as usize;
            query.after = candidates.last().map(|r| (r.resource_type, r.id.clone()));
            scanned += candidates.len();
            let opened = self
                .open_listed(caller, AuditAction::FhirSearch, candidates)
                .await?;
            for item in opened {
                let matches = item
                    .resource
                    .as_ref()
                    .is_some_and(|body| search.matches(body, item.record.last_updated));
                if !matches {
                    continue;
                }
                if entries.len() == wanted {
                    // One more match exists: the page is full and has a successor.
                    let last = entries.last().map(|o: &Opened| {
                        self.cursor(&(o.record.resource_type, o.record.id.clone()))
                    });
                    return Ok(Page {
                        entries,
                        next: last,
                    });
                }
                entries.push(item);
            }
            if exhausted {
                return Ok(Page {
                    entries,
                    next: None,
                });
            }
            if scanned >= MAX_SCAN {
                // Sealed: the last candidate scanned may be one the caller may not see.
                return Ok(Page {
                    entries,
                    next: query.after.as_ref().map(|after| self.cursor(after)),
                });
            }
        }
    }

    /// Every current record in a patient's compartment (`Patient/$everything`).
    pub async fn everything(
        &self,
        caller: Caller<'_>,
        patient: PatientId,
        after: Option<(ResourceType, FhirId)>,
        count: u32,
    ) -> Result<Page, OperationOutcome> {
        let id = FhirId::from(patient);
        let compartment = Compartment::Patient(patient);
        let epoch = match self.current(ResourceType::Patient, &id).await? {
            Some(record) if !record.deleted => record.access_epoch,
            _ => return Err(not_found(StoreError::NotFound)),
        };
        self.authorize_read(caller, ResourceType::Patient, &id, compartment, Some(epoch))
            .await?;
        // Filtered before paging: a page's size and its `next` link depend only on the
        // records the caller may read (a consent may hide some classes).
        let mut query = RecordQuery {
            compartment: Some(compartment),
            after,
            limit: count + 1,
            ..RecordQuery::default()
        };
        let mut entries: Vec<Opened> = Vec::new();
        loop {
            let candidates = self.store.find_records(&query).await?;
            let exhausted = candidates.len() < query.limit as usize;
            query.after = candidates.last().map(|r| (r.resource_type, r.id.clone()));
            let opened = self
                .open_listed(caller, AuditAction::FhirRead, candidates)
                .await?;
            for item in opened {
                if entries.len() == count as usize {
                    let next = entries
                        .last()
                        .map(|o| self.cursor(&(o.record.resource_type, o.record.id.clone())));
                    return Ok(Page { entries, next });
                }
                entries.push(item);
            }
            if exhausted {
                return Ok(Page {
                    entries,
                    next: None,
                });
            }
        }
    }

    /// Versions newest first, at most `query.limit`, and whether more follow. Instance
    /// history needs read access to the resource; type history reaches only what the
    /// caller may search. Filtered before paging, so a page and its link depend only on
    /// versions the caller may read.
    pub async fn history(
        &self,
        caller: Caller<'_>,
        query: &HistoryQuery,
    ) -> Result<(Vec<Opened>, bool), OperationOutcome> {
        let mut query = query.clone();
        let wanted = query.limit as usize;
        match &query.id {
            Some(id) => {
                let current = self
                    .store
                    .record(query.resource_type, id, None)
                    .await
                    .map_err(not_found)?;
                self.authorize_read(
                    caller,
                    query.resource_type,
                    id,
                    current.compartment,
                    Some(current.access_epoch),
                )
                .await?;
            }
            None => match self.reach(caller.who, query.resource_type, None).await? {
                Reach::Everywhere => {}
                Reach::Within(patients) if patients.is_empty() => return Ok((Vec::new(), false)),
                Reach::Within(patients) => query.within = patients,
            },
        }
        query.limit = query.limit.saturating_add(1);
        let mut entries: Vec<Opened> = Vec::new();
        let mut scanned = 0;
        loop {
            let candidates = self.store.record_history(&query).await?;
            let exhausted = candidates.len() < query.limit as usize;
            scanned += candidates.len();
            query.before = candidates
                .last()
                .map(|r| (r.last_updated, r.id.clone(), r.version));
            entries.extend(
                self.open_listed(caller, AuditAction::FhirRead, candidates)
                    .await?,
            );
            if entries.len() > wanted {
                entries.truncate(wanted);
                return Ok((entries, true));
            }
            if exhausted || scanned >= MAX_SCAN {
                return Ok((entries, false));
            }
        }
    }
}

impl Gate {
    /// Every version of a patient's records, deletions included, for their data export
    /// (GDPR Art. 15 and 20). Audited as an export of the patient's record.
    pub async fn export_versions(
        &self,
        caller: Caller<'_>,
        patient: PatientId,
        after: Option<&(ResourceType, FhirId, u64)>,
        limit: u32,
    ) -> Result<Vec<Opened>, OperationOutcome> {
        let compartment = Compartment::Patient(patient);
        let id = FhirId::from(patient);
        let permit = self
            .authorize_read(caller, ResourceType::Patient, &id, compartment, None)
            .await?;
        let records = self
            .store
            .compartment_versions(compartment, after, limit)
            .await?;
        let event = self
            .event(
                caller,
                AuditAction::Export,
                medvault_domain::Outcome::Success,
                None,
                Some(patient),
            )
            .await?;
        self.record(vec![permit.annotate(event)]).await?;
        let mut opened = Vec::with_capacity(records.len());
        for record in records {
            opened.push(self.open(caller, record).await?);
        }
        Ok(opened)
    }
}
