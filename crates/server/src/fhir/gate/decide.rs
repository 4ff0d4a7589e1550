//! The gate's questions to the access policies: the facts of each caller and patient
//! (cached per patient and access epoch, so a care-team or consent change is seen by the
//! very next request on every instance), the decision, and the reach of a search.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use medvault_domain::{Compartment, PatientId, PurposeOfUse, ResourceType, UnixMillis};
use medvault_store::{RecordQuery, RecordVersion};
use serde_json::Value;

use super::access::{Accessor, Action};
use super::{Gate, OperationOutcome};
use crate::access::engine::{ConsentVerdict, Facts, Question};
use crate::access::facts::PatientFacts;
use crate::fhir::search::{criteria, values};

/// How many patients' facts one instance keeps; past it the cache starts over.
const FACTS_CAPACITY: usize = 10_000;

/// A search reaches at most this many related patients' compartments by name; a caller
/// related to more is searched everywhere, each result still decided on its own.
const MAX_REACH: usize = 5_000;

/// What a decision concludes.
#[derive(Debug, Clone)]
pub(super) struct Decided {
    pub permit: bool,
    pub policies: Vec<String>,
    pub purpose: PurposeOfUse,
}

/// Facts beyond the record's identity that a write brings.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Detail {
    pub self_reported: bool,
    pub registering: bool,
    /// The patient's access epoch, when it was read along with the record.
    pub known_epoch: Option<u64>,
}

/// Facts fetched during one gate call, so a page of results asks the store once per
/// patient.
pub(super) type Memo = HashMap<PatientId, Arc<PatientFacts>>;

/// Each patient's facts with the access epoch they were read at.
#[derive(Debug, Default)]
pub(super) struct FactsCache {
    entries: Mutex<HashMap<PatientId, (u64, Arc<PatientFacts>)>>,
}

/// Which compartments a search may cover.
#[derive(Debug)]
pub(super) enum Reach {
    /// Any: each result is still decided on its own.
    Everywhere,
    /// Only these patients' (possibly none).
    Within(Vec<PatientId>),
}

impl Gate {
    pub(super) async fn decide(
        &self,
        who: &Accessor,
        action: Action,
        resource_type: ResourceType,
        compartment: Compartment,
        detail: Detail,
        memo: &mut Memo,
    ) -> Result<Decided, OperationOutcome> {
        if who.operator && action == Action::Read {
            return Ok(Decided {
                permit: true,
                policies: vec!["operator".to_owned()],
                purpose: PurposeOfUse::Operations,
            });
        }
        if who.operator
            || who
                .client
                .as_ref()
                .is_some_and(|g| !g.allows(action, resource_type))
            || who
                .delegated
                .as_ref()
                .is_some_and(|g| !g.allows(action, resource_type, compartment))
        {
            return Ok(Decided {
                permit: false,
                policies: vec!["scope".to_owned()],
                purpose: PurposeOfUse::Treatment,
            });
        }
        let mut facts = match compartment {
            Compartment::Patient(patient) => self
                .facts_of(patient, memo, detail.known_epoch)
                .await?
                .about(
                    patient,
                    who.subject(),
                    resource_type,
                    crate::clock::now(),
                    action == Action::Research,
                ),
            Compartment::System => Facts::default(),
        };
        facts.self_reported = detail.self_reported;
        facts.registering = detail.registering;
        // Emergency access is the person's, never an app's they signed into.
        if who.delegated.is_some() {
            facts.break_glass = false;
        }
        Ok(self.ask(who, action, resource_type, facts))
    }

    fn ask(
        &self,
        who: &Accessor,
        action: Action,
        resource_type: ResourceType,
        facts: Facts,
    ) -> Decided {
        let verdict = self.engine.decide(&Question {
            asker: who.asker(),
            action,
            resource_type,
            facts,
        });
        // Emergency access is what permitted it when nothing else would have.
        let emergency = facts.break_glass
            && !facts.own
            && !facts.care_team
            && facts.consent != ConsentVerdict::Permit;
        Decided {
            permit: verdict.permit,
            policies: verdict.policies,
            purpose: if emergency {
                PurposeOfUse::BreakGlass
            } else {
                PurposeOfUse::Treatment
            },
        }
    }

    /// A patient's facts: from this call's memo, the cache when its epoch is current, or
    /// read afresh from their records.
    pub(super) async fn facts_of(
        &self,
        patient: PatientId,
        memo: &mut Memo,
        known_epoch: Option<u64>,
    ) -> Result<Arc<PatientFacts>, OperationOutcome> {
        if let Some(facts) = memo.get(&patient) {
            return Ok(Arc::clone(facts));
        }
        let epoch = match known_epoch {
            Some(epoch) => epoch,
            None => self.store.access_epoch(patient).await?,
        };
        let cached = self
            .facts
            .lock()
            .get(&patient)
            .filter(|(at, _)| *at == epoch)
            .map(|(_, facts)| Arc::clone(facts));
        let facts = match cached {
            Some(facts) => facts,
            None => {
                let facts = Arc::new(self.read_facts(patient).await?);
                self.facts.insert(patient, epoch, Arc::clone(&facts));
                facts
            }
        };
        memo.insert(patient, Arc::clone(&facts));
        Ok(facts)
    }

    /// Reads a patient's care teams, consents and Patient, and their live grants. These
    /// are decrypted for the decision only: nothing leaves the gate, so nothing is audited.
    async fn read_facts(&self, patient: PatientId) -> Result<PatientFacts, OperationOutcome> {
        let compartment = Compartment::Patient(patient);
        let mut records: Vec<RecordVersion> = Vec::new();
        for t in [ResourceType::CareTeam, ResourceType::Consent] {
            let mut query = RecordQuery {
                resource_type: Some(t),
                compartment: Some(compartment),
                limit: 500,
                ..RecordQuery::default()
            };
            loop {
                let page = self.store.find_records(&query).await?;
                let exhausted = page.len() < query.limit as usize;
                query.after = page.last().map(|r| (r.resource_type, r.id.clone()));
                records.extend(page);
                if exhausted {
                    break;
                }
            }
        }
        if let Some(record) = self.current(ResourceType::Patient, &patient.into()).await? {
            records.push(record);
        }
        let mut bodies: Vec<(ResourceType, Value)> = Vec::with_capacity(records.len());
        for record in records.iter().filter(|r| !r.deleted) {
            // A consent that does not open might be a deny: decide nothing without it.
            let Some(body) = self.unseal(record).await? else {
                tracing::error!(resource_type = %record.resource_type, id = %record.id,
                    "an access fact failed its integrity check; access refused");
                return Err(OperationOutcome::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "exception",
                    "a stored record failed its integrity check",
                ));
            };
            bodies.push((record.resource_type, body));
        }
        let grants = self
            .store
            .live_break_glass(patient, crate::clock::now())
            .await?
            .into_iter()
            .map(|g| (g.user_id, g.expires_at))
            .collect();
        Ok(PatientFacts::read(
            bodies.iter().map(|(t, b)| (*t, b)),
            grants,
        ))
    }

    /// Which compartments a search of `resource_type` may cover, or a 403 when no
    /// relationship could ever let the caller read the type.
    /// `asked` is the one patient a search names (`patient=`), when it does: then that
    /// patient alone is decided, rather than every relationship looked up.
    pub(super) async fn reach(
        &self,
        who: &Accessor,
        resource_type: ResourceType,
        asked: Option<PatientId>,
    ) -> Result<Reach, OperationOutcome> {
        let refused = || {
            OperationOutcome::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                "you may not search this type",
            )
        };
        if who.operator {
            return Ok(Reach::Everywhere);
        }
        if let Some(grant) = &who.client {
            if !grant.searches(resource_type) {
                return Err(refused());
            }
        }
        // `patient/` scopes alone reach the launch patient, however far the user reaches.
        if let Some(grant) = &who.delegated {
            match grant.searches(resource_type) {
                None => return Err(refused()),
                Some(false) => {}
                Some(true) => {
                    return match (asked, grant.patient) {
                        (Some(other), Some(launched)) if other != launched => {
                            Ok(Reach::Within(Vec::new()))
                        }
                        (_, Some(launched)) => self.reach_one(who, resource_type, launched).await,
                        (_, None) => Ok(Reach::Within(Vec::new())),
                    };
                }
            }
        }
        if resource_type.is_directory() {
            return match self
                .ask(who, Action::Read, resource_type, Facts::default())
                .permit
            {
                true => Ok(Reach::Everywhere),
                false => Err(refused()),
            };
        }
        // Permitted without any relationship: every patient looks alike to the policies.
        if self
            .ask(who, Action::Read, resource_type, Facts::default())
            .permit
        {
            return Ok(Reach::Everywhere);
        }
        let related = Facts {
            own: who.patient.is_some(),
            care_team: true,
            consent: ConsentVerdict::Permit,
            break_glass: true,
            same_organization: true,
            ..Facts::default()
        };
        if !self.ask(who, Action::Read, resource_type, related).permit {
            return Err(refused());
        }
        if let Some(patient) = asked {
            return self.reach_one(who, resource_type, patient).await;
        }
        // The related patients are a superset of the permitted ones; each record found is
        // still decided (with the epoch read alongside it), which is cheaper than deciding
        // every related patient up front.
        Ok(match self.related_patients(who).await? {
            Some(patients) => Reach::Within(patients.into_iter().collect()),
            None => Reach::Everywhere,
        })
    }

    /// The reach of a search that names its patient: that patient, if permitted.
    async fn reach_one(
        &self,
        who: &Accessor,
        resource_type: ResourceType,
        patient: PatientId,
    ) -> Result<Reach, OperationOutcome> {
        let decided = self
            .decide(
                who,
                Action::Read,
                resource_type,
                Compartment::Patient(patient),
                Detail::default(),
                &mut Memo::new(),
            )
            .await?;
        Ok(Reach::Within(if decided.permit {
            vec![patient]
        } else {
            Vec::new()
        }))
    }

    /// Every patient the caller has some relationship with: themself, care teams and
    /// consents naming their Practitioner or Organization, patients their Organization
    /// manages, and live grants. `None` when there are too many to name.
    async fn related_patients(
        &self,
        who: &Accessor,
    ) -> Result<Option<BTreeSet<PatientId>>, OperationOutcome> {
        let mut found = BTreeSet::new();
        found.extend(who.patient);
        let mut queries: Vec<RecordQuery> = Vec::new();
        let literal = |t: ResourceType, param: &str, value: String| {
            criteria::parse(t, vec![(param.to_owned(), value)])
                .map(|search| search.narrowing(&self.index, None, 500))
        };
        if let Some(p) = &who.practitioner {
            queries.push(literal(
                ResourceType::CareTeam,
                "participant",
                format!("Practitioner/{p}"),
            )?);
            queries.push(literal(
                ResourceType::Consent,
                "actor",
                format!("Practitioner/{p}"),
            )?);
        }
        if let Some(org) = &who.organization {
            queries.push(literal(
                ResourceType::Consent,
                "actor",
                format!("Organization/{org}"),
            )?);
            queries.push(literal(
                ResourceType::Patient,
                "organization",
                format!("Organization/{org}"),
            )?);
        }
        if let Some(grant) = &who.client {
            // Consents name a client by identifier (it has no FHIR resource).
            let token = values::logical_reference_token(
                &self.index,
                ResourceType::Consent,
                "actor",
                crate::access::consent::CLIENT_SYSTEM,
                &grant.client_id,
            );
            queries.push(RecordQuery {
                resource_type: Some(ResourceType::Consent),
                token_groups: vec![vec![token]],
                limit: 500,
                ..RecordQuery::default()
            });
        }
        for mut query in queries {
            loop {
                let page = self.store.find_records(&query).await?;
                let exhausted = page.len() < query.limit as usize;
                query.after = page.last().map(|r| (r.resource_type, r.id.clone()));
                found.extend(page.iter().filter_map(|r| r.compartment.patient()));
                if found.len() > MAX_REACH {
                    return Ok(None);
                }
                if exhausted {
                    break;
                }
            }
        }
        if who.client.is_some() || who.delegated.is_some() {
            return Ok(Some(found));
        }
        let now: UnixMillis = crate::clock::now();
        found.extend(self.store.break_glass_patients(who.user_id, now).await?);
        Ok(Some(found))
    }
}

impl FactsCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PatientId, (u64, Arc<PatientFacts>)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, patient: PatientId, epoch: u64, facts: Arc<PatientFacts>) {
        let mut entries = self.lock();
        if entries.len() >= FACTS_CAPACITY {
            entries.clear();
        }
        entries.insert(patient, (epoch, facts));
    }
}
