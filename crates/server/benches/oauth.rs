//! OAuth benchmark (issue: OAuth / OIDC provider). Run with
//! `cargo bench -p medvault-server --bench oauth`.
//!
//! Client-credentials grants per second (JWT access tokens, ES256, each one audited),
//! with p50 and p99, through HTTP against the release binary on 127.0.0.1. Bounded count.
//! The reference: panva's node oidc-provider gave 924-1,810 grants/s here.

use std::sync::Arc;

use serde_json::{json, Value};
use support::{run_load, server_cpu_secs, start_server};

mod support;

const GRANTS: usize = 20_000;
const CONCURRENCY: usize = 32;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let server = start_server(&[]).await;
        let client = reqwest::Client::new();
        let admin = server
            .user(&client, "oauth-admin@example.org", "admin")
            .await;
        let registered: Value = client
            .post(format!("{}/api/v1/admin/clients", server.base))
            .bearer_auth(&admin)
            .json(
                &json!({"client_name": "bench", "grant_types": ["client_credentials"],
                "scope": "system/Observation.rs"}),
            )
            .send()
            .await
            .expect("register")
            .json()
            .await
            .expect("json");
        let id = registered["client_id"].as_str().expect("id").to_owned();
        let secret = registered["client_secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        let url = format!("{}/oauth2/token", server.base);
        let shared = Arc::new((client, url, id, secret));
        let cpu_before = server_cpu_secs(&server);
        let load = run_load(GRANTS, CONCURRENCY, None, move |_| {
            let shared = shared.clone();
            async move {
                let (client, url, id, secret) = &*shared;
                let response = client
                    .post(url)
                    .basic_auth(id, Some(secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .expect("token");
                assert_eq!(response.status(), 200);
                let _ = response.bytes().await;
            }
        })
        .await;
        let cpu = server_cpu_secs(&server) - cpu_before;
        println!("client-credentials grants ({GRANTS}, {CONCURRENCY} concurrent): {load}");
        println!(
            "  server CPU: {:.2} s, {:.0} grants per CPU-second",
            cpu,
            load.count as f64 / cpu
        );
    });
}
