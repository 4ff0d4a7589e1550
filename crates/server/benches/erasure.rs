//! Erasure benchmark (issue: GDPR rights). Run with
//! `cargo bench -p medvault-server --bench erasure`.
//!
//! Patients with 10,000 resources each (`MEDVAULT_BENCH_RESOURCES`), written as
//! transaction Bundles, are erased through `POST /api/v1/admin/patients/{id}/erase`.
//! Reported: the time until the records are unreadable everywhere (the key share is
//! destroyed; goal ≤ 100 ms), the time until every row is deleted, and the round trip.
//! SQLite always; PostgreSQL too when `MEDVAULT_TEST_DATABASE_URL` is set (scratch
//! schemas, the key vault in a schema of its own). Bounded: 3 patients per backend.

use std::time::Instant;

use serde_json::{json, Value};
use support::{login, start_server};

mod support;

const PATIENTS: usize = 3;
const BUNDLE: usize = 1_000;

async fn post(client: &reqwest::Client, url: &str, token: &str, body: &Value) -> Value {
    let response = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/fhir+json")
        .body(body.to_string())
        .send()
        .await
        .expect("post");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// A patient with `resources` records in all (the Patient included); returns their id
/// and one Observation's.
async fn seed(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    resources: usize,
) -> (String, String) {
    let patient = post(
        client,
        &format!("{base}/fhir/Patient"),
        token,
        &json!({"resourceType": "Patient", "name": [{"family": "Erasable", "given": ["Bench"]}], "gender": "other"}),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut left = resources - 1;
    let mut observation = String::new();
    while left > 0 {
        let n = left.min(BUNDLE);
        let entries: Vec<Value> = (0..n)
            .map(|i| {
                json!({"request": {"method": "POST", "url": "Observation"}, "resource": {
                    "resourceType": "Observation", "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
                    "subject": {"reference": format!("Patient/{patient}")},
                    "effectiveDateTime": "2024-03-01T10:00:00Z",
                    "valueQuantity": {"value": 4 + i % 5, "unit": "mmol/L"}}})
            })
            .collect();
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
        let answer = post(client, &format!("{base}/fhir"), token, &bundle).await;
        if observation.is_empty() {
            let location = answer["entry"][0]["response"]["location"]
                .as_str()
                .expect("location");
            observation = location.split('/').nth(1).expect("id").to_owned();
        }
        left -= n;
    }
    (patient, observation)
}

async fn bench(label: &str, env: Vec<(String, String)>, resources: usize) {
    let server = start_server(&env).await;
    let client = reqwest::Client::new();
    let physician = login(&client, &server.base).await;
    let admin = server
        .user(&client, "privacy-officer@example.org", "admin")
        .await;
    let (mut unreadable, mut complete, mut round_trip) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..PATIENTS {
        let (patient, observation) = seed(&client, &server.base, &physician, resources).await;
        let started = Instant::now();
        let response = client
            .post(format!(
                "{}/api/v1/admin/patients/{patient}/erase",
                server.base
            ))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("erase");
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(response.status(), 200);
        let erased: Value = response.json().await.expect("json");
        assert_eq!(
            erased["resources"].as_u64(),
            Some(resources as u64),
            "{erased}"
        );
        unreadable.push(erased["unreadable_after_ms"].as_f64().expect("ms"));
        complete.push(erased["total_ms"].as_f64().expect("ms"));
        round_trip.push(elapsed);
        let read = client
            .get(format!("{}/fhir/Observation/{observation}", server.base))
            .bearer_auth(&physician)
            .send()
            .await
            .expect("read");
        assert_eq!(read.status(), 404);
    }
    let show = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        format!(
            "median {:.0} ms, max {:.0} ms",
            values[values.len() / 2],
            values[values.len() - 1]
        )
    };
    println!("{label}: erasing a patient with {resources} resources ({PATIENTS} patients)");
    println!(
        "  unreadable everywhere (share destroyed): {}",
        show(&mut unreadable)
    );
    println!(
        "  every row deleted:                      {}",
        show(&mut complete)
    );
    println!(
        "  HTTP round trip:                        {}",
        show(&mut round_trip)
    );
}

fn main() {
    let resources = std::env::var("MEDVAULT_BENCH_RESOURCES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        bench("SQLite", Vec::new(), resources).await;
        if std::env::var_os(medvault_store_postgres::test_support::TEST_DATABASE_URL).is_some() {
            let create = medvault_store_postgres::test_support::ScratchSchema::create;
            let (records, vault) = (
                create().await.expect("schema"),
                create().await.expect("schema"),
            );
            let env = vec![
                ("MEDVAULT_DATABASE_URL".to_owned(), records.url()),
                ("MEDVAULT_KEY_VAULT_URL".to_owned(), vault.url()),
            ];
            bench("PostgreSQL", env, resources).await;
            records.drop_schema().await;
            vault.drop_schema().await;
        }
    });
}
