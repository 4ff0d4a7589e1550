//! The access facts of one patient, read from their records: who is on their active care
//! teams, what their active Consents say, which Organization manages them, and who holds
//! an emergency grant. The gate caches them per patient and access epoch.

use medvault_domain::{FhirId, PatientId, ResourceType, UnixMillis, UserId};
use serde_json::Value;

use super::consent::{self, ActorRef};
use super::engine::{ConsentVerdict, Facts};

/// One patient's facts, as of one access epoch.
#[derive(Default, Clone)]
pub struct PatientFacts {
    /// Practitioner ids on active care teams, with the member's and team's periods.
    members: Vec<Member>,
    consents: Vec<Value>,
    organization: Option<String>,
    grants: Vec<(UserId, UnixMillis)>,
}

#[derive(Clone)]
struct Member {
    practitioner: String,
    periods: [Option<Value>; 2],
}

/// The caller, as the facts see them.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub user: Option<UserId>,
    pub patient: Option<PatientId>,
    pub practitioner: Option<&'a FhirId>,
    pub organization: Option<&'a FhirId>,
    pub client: Option<&'a str>,
}

impl PatientFacts {
    /// Facts from the patient's current CareTeam, Consent and Patient bodies and their
    /// unexpired break-the-glass grants.
    pub fn read<'v>(
        bodies: impl IntoIterator<Item = (ResourceType, &'v Value)>,
        grants: Vec<(UserId, UnixMillis)>,
    ) -> Self {
        let mut facts = Self {
            grants,
            ..Self::default()
        };
        for (resource_type, body) in bodies {
            match resource_type {
                ResourceType::CareTeam => facts.members.extend(members(body)),
                ResourceType::Consent
                    if body.get("status").and_then(Value::as_str) == Some("active") =>
                {
                    facts.consents.push(body.clone());
                }
                ResourceType::Patient => {
                    facts.organization = body
                        .pointer("/managingOrganization/reference")
                        .and_then(Value::as_str)
                        .and_then(|r| r.strip_prefix("Organization/"))
                        .map(str::to_owned);
                }
                _ => {}
            }
        }
        facts
    }

    /// The facts of `who` reading or writing `class` in this patient's compartment, for
    /// treatment or (`research`) for research.
    pub fn about(
        &self,
        patient: PatientId,
        who: Subject<'_>,
        class: ResourceType,
        now: UnixMillis,
        research: bool,
    ) -> Facts {
        let practitioner = who.practitioner.map(FhirId::as_str);
        let care_team = practitioner.is_some_and(|p| {
            self.members.iter().any(|m| {
                m.practitioner == p && m.periods.iter().all(|q| consent::within(q.as_ref(), now))
            })
        });
        let break_glass = who.user.is_some_and(|user| {
            self.grants
                .iter()
                .any(|(holder, until)| *holder == user && now < *until)
        });
        let mut actors = Vec::new();
        if let Some(p) = practitioner {
            actors.push(ActorRef::Reference(format!("Practitioner/{p}")));
        }
        if let Some(org) = who.organization {
            actors.push(ActorRef::Reference(format!("Organization/{org}")));
        }
        if let Some(client) = who.client {
            actors.push(ActorRef::Client(client.to_owned()));
        }
        // The patient's own access is never judged by their consents to others.
        let own = who.patient == Some(patient);
        // Research consents may name no one: they permit research as such.
        let consent = if own || (actors.is_empty() && !research) {
            ConsentVerdict::None
        } else {
            let purpose = match (research, break_glass) {
                (true, _) => consent::RESEARCH,
                (false, true) => consent::EMERGENCY_TREATMENT,
                (false, false) => consent::TREATMENT,
            };
            consent::verdict(
                &self.consents,
                &consent::Access {
                    actors: &actors,
                    purpose,
                    class,
                    now,
                    purpose_named: research,
                },
            )
        };
        Facts {
            own,
            care_team,
            consent,
            break_glass,
            same_organization: who
                .organization
                .is_some_and(|org| self.organization.as_deref() == Some(org.as_str())),
            self_reported: false,
            registering: false,
        }
    }
}

/// The practitioners on an active CareTeam.
fn members(team: &Value) -> Vec<Member> {
    if team.get("status").and_then(Value::as_str) != Some("active") {
        return Vec::new();
    }
    let team_period = team.get("period").cloned();
    team.get("participant")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let practitioner = p
                .pointer("/member/reference")
                .and_then(Value::as_str)?
                .strip_prefix("Practitioner/")?;
            Some(Member {
                practitioner: practitioner.to_owned(),
                periods: [team_period.clone(), p.get("period").cloned()],
            })
        })
        .collect()
}

/// Whether a stored Observation version is the patient's own reading: performed by them
/// alone, and written by them (the server-stamped author, which a client cannot set).
pub fn self_reported_version(observation: &Value, patient: PatientId) -> bool {
    let own = format!("Patient/{patient}");
    let authored = observation
        .pointer("/meta/extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| {
            e.get("url").and_then(Value::as_str) == Some(crate::fhir::resource::AUTHOR_EXTENSION)
        })
        .any(|e| {
            e.pointer("/valueReference/reference")
                .and_then(Value::as_str)
                == Some(own.as_str())
        });
    authored && self_reported(observation, patient)
}

/// Whether an Observation was performed by its patient alone (a self-reported reading).
pub fn self_reported(observation: &Value, patient: PatientId) -> bool {
    let own = format!("Patient/{patient}");
    let performers: Vec<&str> = observation
        .get("performer")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("reference").and_then(Value::as_str))
        .collect();
    !performers.is_empty() && performers.iter().all(|p| *p == own)
}

// Consents and care teams are PHI.
crate::redact::redacted_debug!(PatientFacts, Member);
