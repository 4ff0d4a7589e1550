//! Identity benchmarks (issue: identity core). Run with
//! `cargo bench -p medvault-server --bench identity`.
//!
//! 1. Raw Argon2id hashes per second at the default (OWASP) parameters, one thread per core,
//!    the same parallelism the server's hashing pool allows.
//! 2. Logins per second through HTTP against the release binary; goal >= 0.9 x raw.
//! 3. Authenticated `GET /api/v1/me` per second, with p50 and p99 latency.
//!
//! Everything targets 127.0.0.1 and is bounded in count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use medvault_crypto::password::{HashParams, Password, PasswordHasher};
use support::{cores, login, run_load, server_cpu_secs, start_server, Load, Server, PASSWORD};

mod support;

const LOGINS: usize = 120;
const ME_REQUESTS: usize = 20_000;
const ME_CONCURRENCY: usize = 32;

fn raw_hash_rate() -> f64 {
    let hasher = Arc::new(PasswordHasher::new(HashParams::default()).expect("params"));
    let per_thread = LOGINS / cores();
    let started = Instant::now();
    let threads: Vec<_> = (0..cores())
        .map(|_| {
            let hasher = hasher.clone();
            std::thread::spawn(move || {
                for _ in 0..per_thread {
                    std::hint::black_box(hasher.hash(&Password::new(PASSWORD.into())));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("hash thread");
    }
    (per_thread * cores()) as f64 / started.elapsed().as_secs_f64()
}

/// (logins per wall-clock second, logins per second of server CPU per core).
async fn login_rate(server: &Server) -> (f64, f64) {
    let client = reqwest::Client::new();
    // More requests in flight than hashing slots keeps every slot busy.
    let workers = cores() * 3;
    let cpu_before = server_cpu_secs(server);
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (client, base) = (client.clone(), server.base.clone());
            tokio::spawn(async move {
                for _ in 0..LOGINS / workers {
                    login(&client, &base).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("login task");
    }
    let done = (LOGINS / workers * workers) as f64;
    let cpu = server_cpu_secs(server) - cpu_before;
    (done / started.elapsed().as_secs_f64(), done / cpu)
}

async fn me_rate(server: &Server) -> Load {
    let client = reqwest::Client::new();
    let token = login(&client, &server.base).await;
    let url = format!("{}/api/v1/me", server.base);
    run_load(ME_REQUESTS, ME_CONCURRENCY, None, move |_| {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        async move {
            let response = client
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .expect("me");
            assert_eq!(response.status(), 200);
            response.bytes().await.expect("body");
        }
    })
    .await
}

/// The attack-protection check every login runs first, with 100,000 tracked accounts and
/// addresses: its p99, and what refusing a blocked address costs next to one Argon2 hash.
fn protection_cost(raw_per_core: f64) {
    use medvault_server::protect::{LimitsConfig, LoginLimits};
    let limits = LoginLimits::new(LimitsConfig {
        ip_failures: 3,
        ..LimitsConfig::default()
    });
    let now = medvault_domain::UnixMillis(1_800_000_000_000);
    let address = |n: u32| std::net::IpAddr::from((n | 0x0a00_0000).to_be_bytes());
    for n in 0..100_000u32 {
        limits.failed(Some(&format!("user{n}@example.org")), Some(address(n)), now);
    }
    let blocked = address(7);
    for _ in 0..3 {
        limits.failed(Some("spray@example.org"), Some(blocked), now);
    }
    let mut samples: Vec<Duration> = (0..100_000u32)
        .map(|n| {
            let account = format!("user{n}@example.org");
            let started = Instant::now();
            let _ = std::hint::black_box(limits.check(Some(&account), Some(address(n)), now));
            started.elapsed()
        })
        .collect();
    samples.sort();
    let p99 = samples[samples.len() * 99 / 100];
    let started = Instant::now();
    for _ in 0..100_000 {
        assert!(
            std::hint::black_box(limits.check(Some("spray@example.org"), Some(blocked), now))
                .is_err()
        );
    }
    let rejection = started.elapsed() / 100_000;
    let hash = Duration::from_secs_f64(1.0 / raw_per_core);
    println!(
        "protection check: p99 {:.2} µs (goal < 100 µs); refusing a blocked address {:.2} µs = {:.4}% of one Argon2 hash (goal < 1%)",
        p99.as_secs_f64() * 1e6,
        rejection.as_secs_f64() * 1e6,
        100.0 * rejection.as_secs_f64() / hash.as_secs_f64()
    );
}

fn main() {
    let raw = raw_hash_rate();
    println!(
        "argon2id (m=19456,t=2,p=1) on {} threads: {raw:.1} hashes/s",
        cores()
    );
    protection_cost(raw / cores() as f64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let server = start_server(&[]).await;
        let (logins, per_cpu_sec) = login_rate(&server).await;
        println!("HTTP logins: {logins:.1}/s = {:.2} x raw hash rate (goal >= 0.9); the load generator shares the cores", logins / raw);
        let raw_per_core = raw / cores() as f64;
        println!(
            "server CPU per login: {:.1} ms vs {:.1} ms per raw hash = {:.2} x raw per CPU-second",
            1000.0 / per_cpu_sec,
            1000.0 / raw_per_core,
            per_cpu_sec / raw_per_core
        );
        let load = me_rate(&server).await;
        println!("GET /api/v1/me: {load} over {ME_REQUESTS} requests, {ME_CONCURRENCY} in flight");
    });
}
