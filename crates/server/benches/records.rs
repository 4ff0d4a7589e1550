//! Record-store benchmarks (issue: encrypted FHIR record store). Run with
//! `cargo bench -p medvault-server --bench records`.
//!
//! Data comes from the demo generator: `MEDVAULT_BENCH_PATIENTS` patients (default 10,000,
//! about 22 resources each), written as one transaction Bundle per patient. Then, through
//! HTTP with token verification, the PHI gate, the audit trail and decryption:
//! 1. read by id: peak rate, then p99 at half of peak (goal ≥ 3,500/s per core, p99 < 10 ms);
//! 2. search by patient + code (goal ≥ 1,000/s per core);
//! 3. create (goal ≥ 1,000/s per core);
//! 4. a mixed workload: 70% reads, 20% searches, 10% creates.
//!
//! SQLite always; PostgreSQL too when `MEDVAULT_TEST_DATABASE_URL` is set (a scratch
//! schema). Everything targets 127.0.0.1 and is bounded in count.

use std::sync::Arc;
use std::time::Instant;

use medvault_server::fhir::demo::generator;
use serde_json::{json, Value};
use support::{
    cores, login, login_as, run_load, server_cpu_secs, start_server, Load, Server, ADMIN_EMAIL,
};

mod support;

const READS: usize = 20_000;
const SEARCHES: usize = 5_000;
const CREATES: usize = 5_000;
const MIXED: usize = 10_000;
const CONCURRENCY: usize = 32;
const SEED_WORKERS: usize = 8;

/// What the seeded data offers the workloads.
struct Seeded {
    patients: Vec<String>,
    observations: Vec<String>,
}

async fn seed(server: &Server, patients: usize) -> Seeded {
    let client = reqwest::Client::new();
    let token = login(&client, &server.base).await;
    let url = format!("{}/fhir", server.base);
    let post = move |body: Value| {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/fhir+json")
                .body(body.to_string())
                .send()
                .await
                .expect("bundle");
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.expect("json")
        }
    };
    let admin = login_as(&reqwest::Client::new(), &server.base, ADMIN_EMAIL).await;
    let directory: Value = reqwest::Client::new()
        .post(format!("{}/fhir", server.base))
        .bearer_auth(admin)
        .header("content-type", "application/fhir+json")
        .body(generator::directory_bundle(8).to_string())
        .send()
        .await
        .expect("directory")
        .json()
        .await
        .expect("json");
    let practitioners: Vec<String> = ids(&directory, "Practitioner");
    let started = Instant::now();
    let written = Arc::new(std::sync::Mutex::new((Vec::new(), Vec::new(), 0usize)));
    let practitioners = Arc::new(practitioners);
    let tasks: Vec<_> = (0..SEED_WORKERS)
        .map(|worker| {
            let (written, practitioners, post) =
                (written.clone(), practitioners.clone(), post.clone());
            tokio::spawn(async move {
                for n in (worker..patients).step_by(SEED_WORKERS) {
                    let response =
                        post(generator::patient_bundle(n as u64, &practitioners, None)).await;
                    let mut written = written.lock().expect("lock");
                    written.0.extend(ids(&response, "Patient"));
                    written.1.extend(ids(&response, "Observation"));
                    written.2 += response["entry"].as_array().map_or(0, Vec::len);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("seed task");
    }
    let (patients, observations, resources) = std::mem::take(&mut *written.lock().expect("lock"));
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  seeded {} patients, {resources} resources in {secs:.0} s: {:.0} resources/s in transactions ({:.0}/s per core)",
        patients.len(),
        resources as f64 / secs,
        resources as f64 / secs / cores() as f64
    );
    Seeded {
        patients,
        observations,
    }
}

fn ids(response: &Value, resource_type: &str) -> Vec<String> {
    response["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["resource"]["resourceType"] == resource_type)
        .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
        .collect()
}

/// A request the workloads send: read, search or create, chosen by `n`.
#[derive(Clone)]
struct Workload {
    client: reqwest::Client,
    base: String,
    token: String,
    data: Arc<Seeded>,
}

impl Workload {
    async fn read(&self, n: usize) {
        let id = &self.data.observations[(n * 7919) % self.data.observations.len()];
        self.get(format!("{}/fhir/Observation/{id}", self.base))
            .await;
    }

    async fn search(&self, n: usize) {
        let patient = &self.data.patients[(n * 104_729) % self.data.patients.len()];
        self.get(format!(
            "{}/fhir/Observation?patient={patient}&code=http://loinc.org|2339-0",
            self.base
        ))
        .await;
    }

    async fn create(&self, n: usize) {
        let patient = &self.data.patients[(n * 31) % self.data.patients.len()];
        let body = json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": format!("Patient/{patient}")},
            "effectiveDateTime": "2025-06-01T10:00:00Z",
            "valueQuantity": {"value": 60 + (n % 40), "unit": "/min"}});
        let response = self
            .client
            .post(format!("{}/fhir/Observation", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/fhir+json")
            .header("prefer", "return=minimal")
            .body(body.to_string())
            .send()
            .await
            .expect("create");
        assert_eq!(response.status(), 201);
    }

    async fn get(&self, url: String) {
        let response = self
            .client
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("body");
    }
}

/// Prints a run: wall-clock rate and latency, and operations per second of server CPU
/// (the load generator shares the cores, so wall-clock per core understates the server).
fn report(name: &str, load: Load, server_cpu_secs: f64, goal_per_core: Option<f64>) {
    let per_cpu = load.count as f64 / server_cpu_secs;
    let goal = goal_per_core.map_or(String::new(), |g| format!(" (goal ≥ {g:.0}/s per core)"));
    println!("  {name}: {load}; {per_cpu:.0}/s per second of server CPU{goal}");
}

async fn bench(label: &str, env: Vec<(String, String)>, patients: usize) {
    println!("{label}:");
    let server = start_server(&env).await;
    let data = Arc::new(seed(&server, patients).await);
    let client = reqwest::Client::new();
    let workload = Workload {
        token: login(&client, &server.base).await,
        client,
        base: server.base.clone(),
        data,
    };
    let cpu = server_cpu_secs(&server);
    let w = workload.clone();
    let peak = run_load(READS, CONCURRENCY, None, move |n| {
        let w = w.clone();
        async move { w.read(n).await }
    })
    .await;
    report(
        "read by id, peak",
        peak,
        server_cpu_secs(&server) - cpu,
        Some(3_500.0),
    );
    let cpu = server_cpu_secs(&server);
    let w = workload.clone();
    let half = run_load(READS / 2, CONCURRENCY, Some(peak.rate / 2.0), move |n| {
        let w = w.clone();
        async move { w.read(n).await }
    })
    .await;
    report(
        "read by id at half of peak",
        half,
        server_cpu_secs(&server) - cpu,
        None,
    );
    let cpu = server_cpu_secs(&server);
    let w = workload.clone();
    let search = run_load(SEARCHES, CONCURRENCY, None, move |n| {
        let w = w.clone();
        async move { w.search(n).await }
    })
    .await;
    report(
        "search patient + code",
        search,
        server_cpu_secs(&server) - cpu,
        Some(1_000.0),
    );
    let cpu = server_cpu_secs(&server);
    let w = workload.clone();
    let create = run_load(CREATES, CONCURRENCY, None, move |n| {
        let w = w.clone();
        async move { w.create(n).await }
    })
    .await;
    report(
        "create",
        create,
        server_cpu_secs(&server) - cpu,
        Some(1_000.0),
    );
    let cpu = server_cpu_secs(&server);
    let w = workload.clone();
    let mixed = run_load(MIXED, CONCURRENCY, None, move |n| {
        let w = w.clone();
        async move {
            match n % 10 {
                0 => w.create(n).await,
                1 | 2 => w.search(n).await,
                _ => w.read(n).await,
            }
        }
    })
    .await;
    report(
        "mixed 70/20/10",
        mixed,
        server_cpu_secs(&server) - cpu,
        None,
    );
}

fn main() {
    let patients = std::env::var("MEDVAULT_BENCH_PATIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        bench("SQLite", Vec::new(), patients).await;
        if std::env::var_os(medvault_store_postgres::test_support::TEST_DATABASE_URL).is_some() {
            let schema = medvault_store_postgres::test_support::ScratchSchema::create()
                .await
                .expect("scratch schema");
            let env = vec![("MEDVAULT_DATABASE_URL".to_owned(), schema.url())];
            bench("PostgreSQL", env, patients).await;
            schema.drop_schema().await;
        }
    });
}
