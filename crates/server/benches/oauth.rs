//! OAuth benchmark (issue: OAuth / OIDC provider). Run with
//! `cargo bench -p medvault-server --bench oauth`.
//!
//! Client-credentials grants per second (JWT access tokens, ES256, each one audited),
//! with p50 and p99; authorization requests with an SSO session; and authorization-code
//! exchanges per second, through HTTP against the release binary on 127.0.0.1. Bounded
//! counts. Then the peer, panva's node oidc-provider, under the same client-credentials
//! load (`bench/oidc-provider/run.sh`, installed from npm), and the ratio.

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
        authorization_codes(&server, &admin).await;
        peer(load.rate);
    });
}

const CODES: usize = 5_000;
const REDIRECT: &str = "http://127.0.0.1:7777/callback";
const VERIFIER: &str = "bench-verifier-bench-verifier-bench-verifier-0123456789";

/// The hidden fields of a hosted page's form, unescaped.
fn hidden(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once("\" value=\"")?;
            let value = rest.split_once('"')?.0.replace("&amp;", "&");
            Some((name.to_owned(), value))
        })
        .collect()
}

/// The `name=value` pairs a response sets, as one `Cookie` header.
fn cookies(response: &reqwest::Response, jar: &mut Vec<String>) {
    for set in response.headers().get_all(reqwest::header::SET_COOKIE) {
        let pair = set
            .to_str()
            .expect("cookie")
            .split(';')
            .next()
            .expect("pair");
        jar.push(pair.to_owned());
    }
}

/// Authorization code + PKCE for a confidential client: a user signs in once through the
/// hosted pages and remembers consent; then codes are issued with the SSO cookie (authorization requests
/// per second) and exchanged at the token endpoint (exchanges per second, each issuing
/// an access token, an ID token and a refresh token, audited).
async fn authorization_codes(server: &support::Server, admin: &str) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let _ = server.user(&client, "coder@example.org", "physician").await;
    let registered: Value = client
        .post(format!("{}/api/v1/admin/clients", server.base))
        .bearer_auth(admin)
        .json(
            &json!({"client_name": "bench app", "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "openid fhirUser offline_access user/Patient.rs"}),
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
    let challenge = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(VERIFIER.as_bytes()))
    };
    let authorize = format!(
        "{}/oauth2/authorize?{}",
        server.base,
        form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", "openid fhirUser offline_access user/Patient.rs")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", "bench")
            .finish()
    );
    // Sign in and remember consent, once.
    let mut jar = Vec::new();
    let page = client.get(&authorize).send().await.expect("authorize");
    cookies(&page, &mut jar);
    let mut form = hidden(&page.text().await.expect("page"));
    form.push(("email".into(), "coder@example.org".into()));
    form.push(("password".into(), support::PASSWORD.into()));
    let page = client
        .post(format!("{}/oauth2/authorize/login", server.base))
        .header("cookie", jar.join("; "))
        .form(&form)
        .send()
        .await
        .expect("sign in");
    cookies(&page, &mut jar);
    let mut form = hidden(&page.text().await.expect("page"));
    form.push(("decision".into(), "allow".into()));
    form.push(("remember".into(), "yes".into()));
    let done = client
        .post(format!("{}/oauth2/authorize/consent", server.base))
        .header("cookie", jar.join("; "))
        .form(&form)
        .send()
        .await
        .expect("consent");
    assert!(done.status().is_success(), "the hosted pages approve");

    let codes = Arc::new(std::sync::Mutex::new(Vec::with_capacity(CODES)));
    let shared = Arc::new((client.clone(), authorize, jar.join("; "), codes.clone()));
    let issued = run_load(CODES, CONCURRENCY, None, move |_| {
        let shared = shared.clone();
        async move {
            let (client, url, cookie, codes) = &*shared;
            let response = client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .expect("authorize");
            assert_eq!(response.status(), 303);
            let location = response.headers()[reqwest::header::LOCATION]
                .to_str()
                .expect("location")
                .to_owned();
            let query = location.split_once('?').expect("query").1;
            let code = form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "code")
                .expect("code")
                .1
                .into_owned();
            codes.lock().expect("codes").push(code);
        }
    })
    .await;
    println!("authorization requests with SSO and remembered consent ({CODES}, {CONCURRENCY} concurrent): {issued}");

    let codes = Arc::new(std::mem::take(&mut *codes.lock().expect("codes")));
    let url = format!("{}/oauth2/token", server.base);
    let shared = Arc::new((client, url, (id, secret), codes));
    let cpu_before = server_cpu_secs(server);
    let exchanged = run_load(CODES, CONCURRENCY, None, move |n| {
        let shared = shared.clone();
        async move {
            let (client, url, (id, secret), codes) = &*shared;
            let response = client
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", codes[n].as_str()),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", VERIFIER),
                ])
                .send()
                .await
                .expect("token");
            assert_eq!(response.status(), 200);
            let _ = response.bytes().await;
        }
    })
    .await;
    let cpu = server_cpu_secs(server) - cpu_before;
    println!("authorization-code exchanges ({CODES}, {CONCURRENCY} concurrent): {exchanged}");
    println!(
        "  server CPU: {:.2} s, {:.0} exchanges per CPU-second",
        cpu,
        exchanged.count as f64 / cpu
    );
}

/// The peer on this machine: panva's oidc-provider (installed from npm by its script),
/// the same client-credentials load. Skipped, saying so, where Node is missing.
fn peer(medvault_rate: f64) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bench/oidc-provider/run.sh"
    );
    let output = match std::process::Command::new("bash").arg(script).output() {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            println!(
                "peer oidc-provider: not measured ({})",
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("failed")
            );
            return;
        }
        Err(err) => {
            println!("peer oidc-provider: not measured ({err})");
            return;
        }
    };
    let line = String::from_utf8_lossy(&output.stdout);
    let Ok(result) = serde_json::from_str::<Value>(line.trim()) else {
        println!("peer oidc-provider: unreadable result {line:?}");
        return;
    };
    let rate = result["grants_per_sec"].as_f64().unwrap_or(0.0);
    println!(
        "peer oidc-provider {}: {:.0} client-credentials grants/s, p50 {} ms, p99 {} ms",
        result["version"].as_str().unwrap_or("?"),
        rate,
        result["p50_ms"],
        result["p99_ms"]
    );
    if rate > 0.0 {
        println!("  medvault / oidc-provider: {:.1}x", medvault_rate / rate);
    }
}
