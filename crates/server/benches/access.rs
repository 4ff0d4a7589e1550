//! Authorization benchmarks (issue #6): what a policy decision adds to a request. Run with
//! `cargo bench -p medvault-server --bench access`.
//!
//! A record access costs (1) the patient's access epoch, read in the same statement as the
//! record (a lookup of its own only for creates), (2) evaluating the caller's facts against
//! the cached care teams and consents, and (3) the Cedar decision over the policy set in
//! force, remembered per question for that set. Each is timed on its own, one call at a
//! time, with p50/p99/max; the goal is < 50 µs at p99 for what a decision adds. A cache
//! miss (the first request after a change) re-reads the facts, which the records
//! benchmark's reads include.
//!
//! SQLite always; PostgreSQL too when `MEDVAULT_TEST_DATABASE_URL` is set (a scratch schema).

use std::time::{Duration, Instant};

use medvault_domain::{FhirId, PatientId, ResourceType, Role, UnixMillis, UserId};
use medvault_server::access::engine::{Action, Asker, Facts, Question};
use medvault_server::access::facts::{PatientFacts, Subject};
use medvault_server::access::Engine;
use medvault_store::Store;
use serde_json::json;

const DECISIONS: usize = 200_000;
const LOOKUPS: usize = 20_000;

struct Timing {
    p50: Duration,
    p99: Duration,
    max: Duration,
    rate: f64,
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs, {:.0}/s on one core",
            self.p50.as_secs_f64() * 1e6,
            self.p99.as_secs_f64() * 1e6,
            self.max.as_secs_f64() * 1e6,
            self.rate
        )
    }
}

fn timing(mut samples: Vec<Duration>, total: Duration) -> Timing {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Timing {
        p50: at(0.50),
        p99: at(0.99),
        max: samples[samples.len() - 1],
        rate: samples.len() as f64 / total.as_secs_f64(),
    }
}

/// Times `op` once per item of `0..count`.
fn time(count: usize, mut op: impl FnMut(usize)) -> Timing {
    let mut samples = Vec::with_capacity(count);
    let started = Instant::now();
    for n in 0..count {
        let at = Instant::now();
        op(n);
        samples.push(at.elapsed());
    }
    timing(samples, started.elapsed())
}

/// A patient with a 6-member care team and 4 consents, one with nested exceptions.
fn patient_facts(patient: PatientId, practitioner: &FhirId) -> PatientFacts {
    let team = json!({"resourceType": "CareTeam", "status": "active",
        "period": {"start": "2020-01-01"},
        "participant": (0..5).map(|n| json!({"member": {"reference": format!("Practitioner/other-{n}")}}))
            .chain([json!({"member": {"reference": format!("Practitioner/{practitioner}")}})])
            .collect::<Vec<_>>()});
    let consent = |kind: &str, actor: &str| {
        json!({"resourceType": "Consent", "status": "active",
            "provision": {"type": kind, "period": {"start": "2020-01-01", "end": "2099-12-31"},
                "actor": [{"reference": {"reference": actor}}],
                "provision": [{"type": "deny", "class": [{"code": "MedicationRequest"}]}]}})
    };
    let consents = [
        consent("permit", "Organization/partner"),
        consent("permit", "Practitioner/other-1"),
        consent("deny", "Practitioner/other-2"),
        json!({"resourceType": "Consent", "status": "active",
            "provision": {"type": "permit", "purpose": [{"code": "HRESCH"}]}}),
    ];
    let patient_body = json!({"resourceType": "Patient", "id": patient.to_string(),
        "managingOrganization": {"reference": "Organization/hospital"}});
    let bodies = std::iter::once((ResourceType::CareTeam, &team))
        .chain(consents.iter().map(|c| (ResourceType::Consent, c)))
        .chain(std::iter::once((ResourceType::Patient, &patient_body)));
    PatientFacts::read(bodies, vec![(UserId::new(), UnixMillis(i64::MAX))])
}

async fn epoch_lookups(store: &dyn Store, label: &str) {
    let patients: Vec<PatientId> = (0..1_000).map(|_| PatientId::new()).collect();
    let mut samples = Vec::with_capacity(LOOKUPS);
    let started = Instant::now();
    for n in 0..LOOKUPS {
        let at = Instant::now();
        store
            .access_epoch(patients[n % patients.len()])
            .await
            .expect("epoch");
        samples.push(at.elapsed());
    }
    println!(
        "{label}: access epoch lookup: {}",
        timing(samples, started.elapsed())
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let engine = Engine::new();
    let physician = [Role::Physician];
    let nurse = [Role::Nurse];
    let patient_role = [Role::Patient];
    let admin = [Role::Admin];
    let user = UserId::new();
    let care = Facts {
        care_team: true,
        ..Facts::default()
    };
    let questions = [
        (
            Asker::User {
                id: user,
                roles: &physician,
            },
            Action::Read,
            ResourceType::Observation,
            care,
        ),
        (
            Asker::User {
                id: user,
                roles: &nurse,
            },
            Action::Create,
            ResourceType::MedicationRequest,
            care,
        ),
        (
            Asker::User {
                id: user,
                roles: &patient_role,
            },
            Action::Read,
            ResourceType::Condition,
            Facts {
                own: true,
                ..Facts::default()
            },
        ),
        (
            Asker::User {
                id: user,
                roles: &admin,
            },
            Action::Read,
            ResourceType::Observation,
            Facts::default(),
        ),
        (
            Asker::Client { id: "partner-lab" },
            Action::Read,
            ResourceType::Observation,
            Facts::default(),
        ),
        (
            Asker::User {
                id: user,
                roles: &physician,
            },
            Action::Update,
            ResourceType::Encounter,
            Facts {
                break_glass: true,
                ..Facts::default()
            },
        ),
    ];
    // Warm up, then time.
    for (asker, action, resource_type, facts) in questions.iter().cycle().take(10_000) {
        engine.decide(&Question {
            asker: *asker,
            action: *action,
            resource_type: *resource_type,
            facts: *facts,
        });
    }
    let policies = engine.current();
    let evaluated = time(DECISIONS, |n| {
        let (asker, action, resource_type, facts) = questions[n % questions.len()];
        let question = Question {
            asker,
            action,
            resource_type,
            facts,
        };
        std::hint::black_box(engine.evaluate(&policies, &question));
    });
    println!(
        "default policy set ({} policies): Cedar evaluation (first time a question is asked): {evaluated}",
        policies.text.matches("@id(").count()
    );
    let remembered = time(DECISIONS, |n| {
        let (asker, action, resource_type, facts) = questions[n % questions.len()];
        std::hint::black_box(engine.decide(&Question {
            asker,
            action,
            resource_type,
            facts,
        }));
    });
    println!("decision asked again (remembered for the set in force): {remembered}");

    let patient = PatientId::new();
    let practitioner: FhirId = "bench-practitioner".parse().expect("id");
    let organization: FhirId = "hospital".parse().expect("id");
    let facts = patient_facts(patient, &practitioner);
    let subject = Subject {
        user: Some(user),
        patient: None,
        practitioner: Some(&practitioner),
        organization: Some(&organization),
        client: None,
    };
    let now = UnixMillis(1_900_000_000_000);
    let classes = [ResourceType::Observation, ResourceType::MedicationRequest];
    let evaluated = time(DECISIONS, |n| {
        std::hint::black_box(facts.about(patient, subject, classes[n % 2], now, false));
    });
    println!("facts (care team of 6, 4 consents with exceptions): {evaluated}");
    let both = time(DECISIONS, |n| {
        let facts = facts.about(patient, subject, classes[n % 2], now, false);
        std::hint::black_box(engine.evaluate(
            &policies,
            &Question {
                asker: Asker::User {
                    id: user,
                    roles: &physician,
                },
                action: Action::Read,
                resource_type: classes[n % 2],
                facts,
            },
        ));
    });
    println!("facts + Cedar evaluation (the most a decision adds to a request): {both}");

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = medvault_store_sqlite::SqliteStore::open(&dir.path().join("bench.db"))
        .await
        .expect("sqlite");
    epoch_lookups(&sqlite, "SQLite").await;
    if let Some(schema) = medvault_store_postgres::test_support::ScratchSchema::create().await {
        let postgres = medvault_store_postgres::PostgresStore::connect(&schema.url())
            .await
            .expect("postgres");
        epoch_lookups(&postgres, "PostgreSQL").await;
        postgres.close().await;
        schema.drop_schema().await;
    }
}
