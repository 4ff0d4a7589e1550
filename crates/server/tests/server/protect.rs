//! Attack simulations on loopback: what an attacker can and cannot do against sign-in.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::realm::{body_without_request_id, Realm, PASSWORD};

const WRONG: &str = "Not-The-Password-000";

/// `flags` plus generous settings for every limit they do not name, so that each test
/// exercises one mechanism without the others stepping in.
fn only<'a>(flags: &[&'a str]) -> Vec<&'a str> {
    let mut args = flags.to_vec();
    for (flag, value) in [
        ("--login-lock-after", "100"),
        ("--login-backoff-after", "100"),
        ("--challenge-after-address-failures", "1000"),
        ("--challenge-after-account-failures", "1000"),
    ] {
        if !flags.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args
}

async fn attempt(
    realm: &Realm,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    attempt_at(realm, realm.server(), email, password, forwarded_for).await
}

/// A sign-in attempt against one particular instance.
async fn attempt_at(
    realm: &Realm,
    server: &crate::support::Server,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = realm
        .client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap()
}

async fn assert_throttled(response: reqwest::Response) -> (u16, Value) {
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let answer = body_without_request_id(response).await;
    assert_eq!(answer.1["error"], "too_many_attempts");
    answer
}

#[tokio::test]
async fn guessing_locks_an_account_even_against_the_right_password_until_it_expires() {
    let args = only(&[
        "--login-backoff-after",
        "10",
        "--login-lock-after",
        "10",
        "--login-lock-secs",
        "2",
    ]);
    let realm = Realm::start(&args).await;
    realm.add_user("jane@example.org", &["physician"]);
    for _ in 0..10 {
        assert_eq!(
            attempt(&realm, "jane@example.org", WRONG, None)
                .await
                .status(),
            401
        );
        assert_eq!(
            attempt(&realm, "ghost@example.org", WRONG, None)
                .await
                .status(),
            401
        );
    }
    let locked = assert_throttled(attempt(&realm, "jane@example.org", PASSWORD, None).await).await;
    let unknown =
        assert_throttled(attempt(&realm, "ghost@example.org", PASSWORD, None).await).await;
    assert_eq!(
        locked, unknown,
        "a locked real account looks like a locked unknown one"
    );
    assert_eq!(
        attempt(&realm, "other@example.org", WRONG, None)
            .await
            .status(),
        401,
        "others are unaffected"
    );

    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2_100) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        attempt(&realm, "jane@example.org", PASSWORD, None)
            .await
            .status(),
        200,
        "the lock expired"
    );
    let actions = realm.audit_actions().await;
    assert!(actions.contains(&"security.lockout"), "{actions:?}");
}

#[tokio::test]
async fn failures_back_off_exponentially_before_the_lock() {
    let realm = Realm::start(&["--login-backoff-after", "2", "--login-lock-after", "50"]).await;
    realm.add_user("jane@example.org", &["physician"]);
    for _ in 0..2 {
        assert_eq!(
            attempt(&realm, "jane@example.org", WRONG, None)
                .await
                .status(),
            401
        );
    }
    // The third guess in a row must wait: even the right password is turned away now.
    assert_throttled(attempt(&realm, "jane@example.org", PASSWORD, None).await).await;
}

#[tokio::test]
async fn an_admin_unlocks_a_locked_account_and_only_an_admin_may() {
    let realm = Realm::start(&["--login-backoff-after", "3", "--login-lock-after", "3"]).await;
    realm.add_user("root@example.org", &["admin"]);
    realm.add_user("doc@example.org", &["physician"]);
    realm.add_user("jane@example.org", &["nurse"]);
    let (root, _) = realm.tokens("root@example.org").await;
    let (doc, _) = realm.tokens("doc@example.org").await;
    for _ in 0..3 {
        attempt(&realm, "jane@example.org", WRONG, None).await;
    }
    assert_throttled(attempt(&realm, "jane@example.org", PASSWORD, None).await).await;

    let list: Value = realm
        .get("/api/v1/admin/users?email=jane@example.org", &root)
        .await
        .json()
        .await
        .unwrap();
    let id = list["users"][0]["id"].as_str().unwrap().to_owned();
    let unlock = |token: String| {
        let request = realm
            .client
            .post(realm.url(&format!("/api/v1/admin/users/{id}/unlock")))
            .bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(unlock(doc).await, 403);
    assert_throttled(attempt(&realm, "jane@example.org", PASSWORD, None).await).await;
    assert_eq!(unlock(root).await, 204);
    assert_eq!(
        attempt(&realm, "jane@example.org", PASSWORD, None)
            .await
            .status(),
        200
    );
}

/// Sprays one wrong password across `accounts` distinct accounts.
async fn spray(realm: &Realm, accounts: usize, forwarded_for: impl Fn(usize) -> Option<String>) {
    for n in 0..accounts {
        let response = attempt(
            realm,
            &format!("user{n}@example.org"),
            WRONG,
            forwarded_for(n).as_deref(),
        )
        .await;
        assert_eq!(response.status(), 401, "attempt {n}");
    }
}

#[tokio::test]
async fn spraying_many_accounts_from_one_address_blocks_that_address() {
    let args = only(&["--ip-failure-limit", "20"]);
    let realm = Realm::start(&args).await;
    realm.add_user("jane@example.org", &["physician"]);
    spray(&realm, 20, |_| None).await;
    // The address is spent: even a real user's right password from it is refused, unhashed.
    assert_throttled(attempt(&realm, "jane@example.org", PASSWORD, None).await).await;
    let actions = realm.audit_actions().await;
    assert!(actions.contains(&"security.ip_blocked"), "{actions:?}");
}

#[tokio::test]
async fn a_spoofed_forwarded_for_does_not_dodge_the_address_limit() {
    let args = only(&["--ip-failure-limit", "10"]);
    let realm = Realm::start(&args).await;
    spray(&realm, 10, |n| Some(format!("198.51.100.{n}"))).await;
    assert_throttled(attempt(&realm, "someone@example.org", WRONG, Some("203.0.113.200")).await)
        .await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_allowance() {
    let args = only(&["--trusted-proxy", "127.0.0.1/32", "--ip-failure-limit", "5"]);
    let realm = Realm::start(&args).await;
    realm.add_user("jane@example.org", &["physician"]);
    // Stuffing through the proxy from one client address...
    spray(&realm, 5, |_| Some("198.51.100.7".into())).await;
    assert_throttled(attempt(&realm, "jane@example.org", PASSWORD, Some("198.51.100.7")).await)
        .await;
    // ...blocks that client, not everyone behind the proxy.
    assert_eq!(
        attempt(&realm, "jane@example.org", PASSWORD, Some("198.51.100.8"))
            .await
            .status(),
        200
    );
    let events = realm.audit_events().await;
    assert!(
        events
            .iter()
            .any(|e| e.source_ip.as_deref() == Some("198.51.100.7")),
        "the audit names the real client"
    );
}

#[tokio::test]
async fn security_events_are_listed_for_admins_and_auditors_and_counted() {
    let args = only(&[
        "--login-backoff-after",
        "3",
        "--login-lock-after",
        "3",
        "--ip-failure-limit",
        "50",
    ]);
    let realm = Realm::start(&args).await;
    for (email, role) in [
        ("root@example.org", "admin"),
        ("audrey@example.org", "auditor"),
        ("doc@example.org", "physician"),
    ] {
        realm.add_user(email, &[role]);
    }
    let tokens = [
        realm.tokens("root@example.org").await.0,
        realm.tokens("audrey@example.org").await.0,
        realm.tokens("doc@example.org").await.0,
    ];
    for _ in 0..3 {
        attempt(&realm, "doc@example.org", WRONG, None).await;
    }
    for token in &tokens[..2] {
        let page: Value = realm
            .get("/api/v1/admin/security-events", token)
            .await
            .json()
            .await
            .unwrap();
        let events = page["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{page}");
        assert_eq!(events[0]["kind"], "security.lockout");
        assert!(
            events[0]["user_id"].is_string(),
            "the locked account is named: {page}"
        );
        assert_eq!(events[0]["source_ip"], "127.0.0.1");
    }
    assert_eq!(
        realm
            .get("/api/v1/admin/security-events", &tokens[2])
            .await
            .status(),
        403
    );
    let metrics = realm
        .client
        .get(realm.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"medvault_security_events_total{kind="security.lockout"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_allow_listed_address_is_exempt_from_the_address_limit() {
    let args = only(&["--ip-allow", "127.0.0.0/8", "--ip-failure-limit", "3"]);
    let realm = Realm::start(&args).await;
    realm.add_user("jane@example.org", &["physician"]);
    spray(&realm, 6, |_| None).await;
    assert_eq!(
        attempt(&realm, "jane@example.org", PASSWORD, None)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn guessing_refresh_tokens_spends_the_address_allowance_too() {
    let realm = Realm::start(&["--ip-failure-limit", "5"]).await;
    realm.add_user("jane@example.org", &["physician"]);
    for n in 0..5 {
        let response = realm.refresh(&format!("guessed-refresh-token-{n}")).await;
        assert_eq!(response.status(), 401);
    }
    assert_throttled(realm.refresh("guessed-refresh-token-6").await).await;
    assert_throttled(attempt(&realm, "jane@example.org", PASSWORD, None).await).await;
}

/// Finds a nonce that solves `challenge`, as a client would.
fn solve(challenge: &Value) -> String {
    use sha2::{Digest, Sha256};
    let prefix = challenge["prefix"].as_str().unwrap();
    let bits = challenge["difficulty"].as_u64().unwrap() as u32;
    (0u64..)
        .map(|n| n.to_string())
        .find(|nonce| {
            let hash = Sha256::new()
                .chain_update(prefix.as_bytes())
                .chain_update(nonce.as_bytes())
                .finalize();
            medvault_server::protect::challenge::leading_zero_bits(&hash) >= bits
        })
        .unwrap()
}

async fn login_answering(realm: &Realm, token: &str, solution: &str) -> reqwest::Response {
    let body = json!({"email": "jane@example.org", "password": PASSWORD, "challenge_token": token, "challenge_solution": solution});
    realm
        .client
        .post(realm.url("/api/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn challenge_of(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "challenge_required", "{body}");
    body["challenge"].clone()
}

/// A realm whose address has failed three times: sign-ins now need 8-bit challenges.
async fn under_pressure() -> Realm {
    let args = only(&[
        "--challenge-after-address-failures",
        "3",
        "--challenge-bits",
        "8",
    ]);
    let realm = Realm::start(&args).await;
    realm.add_user("jane@example.org", &["physician"]);
    spray(&realm, 3, |_| None).await;
    realm
}

#[tokio::test]
async fn under_elevated_risk_a_bot_must_solve_proof_of_work_once_per_attempt() {
    let realm = under_pressure().await;

    // Even the right password now needs a solved challenge.
    let challenge = challenge_of(attempt(&realm, "jane@example.org", PASSWORD, None).await).await;
    assert_eq!(
        (challenge["alg"].as_str(), challenge["difficulty"].as_u64()),
        (Some("sha256"), Some(8))
    );
    assert!(challenge["expires_at"].as_i64().unwrap() > 0);
    let token = challenge["token"].as_str().unwrap();
    let nonce = solve(&challenge);

    assert_eq!(
        login_answering(&realm, token, &nonce).await.status(),
        200,
        "solved"
    );
    // The same solution cannot be spent twice.
    challenge_of(login_answering(&realm, token, &nonce).await).await;
}

/// Answers `token` with a nonce that truly solves its 8-bit prefix; the server must still
/// ask for a fresh challenge.
async fn assert_refused(realm: &Realm, token: &str, prefix: [u8; 16]) {
    use base64::Engine;
    let prefix = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(prefix);
    let nonce = solve(&json!({"prefix": prefix, "difficulty": 8}));
    challenge_of(login_answering(realm, token, &nonce).await).await;
}

#[tokio::test]
async fn forged_expired_too_easy_and_unsolved_challenges_are_refused() {
    use medvault_crypto::mac::MessageSigner;
    use medvault_server::protect::challenge::{ChallengeConfig, Challenges};
    let realm = under_pressure().await;

    // Tokens signed with the server's real key (the test knows the realm's master key)...
    let master = medvault_crypto::MasterKey::from_base64(crate::realm::MASTER_KEY).unwrap();
    let genuine = Challenges::new(
        MessageSigner::new(&master, medvault_crypto::KeyPurpose::Challenge),
        ChallengeConfig::default(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let encode = |raw: Vec<u8>| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    };
    let prefix = [7u8; 16];
    let prefix_text = encode(prefix.to_vec());
    let solved_for = |bits: u64| solve(&json!({"prefix": prefix_text, "difficulty": bits}));
    // ...but too easy for the current risk,
    let easy = encode(genuine.token(prefix, 1, now + 60));
    challenge_of(login_answering(&realm, &easy, &solved_for(1)).await).await;
    // ...or already expired,
    let expired = encode(genuine.token([8; 16], 8, now - 1));
    assert_refused(&realm, &expired, [8; 16]).await;
    // ...and one signed with another key, are all refused.
    let stranger = Challenges::new(
        MessageSigner::new(
            &medvault_crypto::MasterKey::generate(),
            medvault_crypto::KeyPurpose::Challenge,
        ),
        ChallengeConfig::default(),
    );
    let forged = encode(stranger.token([9; 16], 8, now + 60));
    assert_refused(&realm, &forged, [9; 16]).await;

    // A real challenge with a nonce that does not solve it is refused too.
    let challenge = challenge_of(attempt(&realm, "jane@example.org", PASSWORD, None).await).await;
    let unsolved = (0u64..)
        .map(|n| n.to_string())
        .find(|n| {
            use sha2::{Digest, Sha256};
            let hash = Sha256::new()
                .chain_update(challenge["prefix"].as_str().unwrap().as_bytes())
                .chain_update(n.as_bytes())
                .finalize();
            medvault_server::protect::challenge::leading_zero_bits(&hash) < 8
        })
        .unwrap();
    challenge_of(login_answering(&realm, challenge["token"].as_str().unwrap(), &unsolved).await)
        .await;
    assert_eq!(
        login_answering(
            &realm,
            challenge["token"].as_str().unwrap(),
            &solve(&challenge)
        )
        .await
        .status(),
        200
    );
}

async fn security_event_kinds(realm: &Realm, token: &str) -> Vec<Value> {
    let page: Value = realm
        .get("/api/v1/admin/security-events", token)
        .await
        .json()
        .await
        .unwrap();
    page["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn credential_stuffing_is_detected_from_both_directions() {
    let args = only(&[
        "--trusted-proxy",
        "127.0.0.1/32",
        "--stuffing-accounts-per-address",
        "5",
        "--stuffing-addresses-per-account",
        "4",
    ]);
    let realm = Realm::start(&args).await;
    realm.add_user("root@example.org", &["admin"]);
    realm.add_user("jane@example.org", &["physician"]);
    let (root, _) = realm.tokens("root@example.org").await;

    // A stolen list tried from one address...
    spray(&realm, 5, |_| Some("203.0.113.5".into())).await;
    let events = security_event_kinds(&realm, &root).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["kind"], "security.stuffing_suspected");
    assert_eq!(events[0]["source_ip"], "203.0.113.5");

    // ...and one account tried from a botnet.
    for n in 1..=4 {
        let response = attempt(
            &realm,
            "jane@example.org",
            WRONG,
            Some(&format!("198.51.100.{n}")),
        )
        .await;
        assert_eq!(response.status(), 401);
    }
    let events = security_event_kinds(&realm, &root).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1]["kind"], "security.stuffing_suspected");
    assert!(
        events[1]["user_id"].is_string(),
        "the targeted account is named: {events:?}"
    );
}

/// Two instances on one database and one Redis (a key prefix of their own, so parallel
/// tests never meet). `None`, after saying so, when no test Redis is configured.
async fn fleet(args: &[&str]) -> Option<(Realm, crate::support::Server)> {
    let Ok(url) = std::env::var("MEDVAULT_TEST_REDIS_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "MEDVAULT_TEST_REDIS_URL must be set under CI"
        );
        eprintln!("skipped: Redis test (MEDVAULT_TEST_REDIS_URL is not set)");
        return None;
    };
    let prefix = format!("medvault-test-{}", uuid::Uuid::new_v4().simple());
    let env = vec![
        ("MEDVAULT_REDIS_URL".to_owned(), url),
        ("MEDVAULT_REDIS_PREFIX".to_owned(), prefix),
    ];
    let realm = Realm::start_in(args, true, env).await;
    realm.add_user("jane@example.org", &["physician"]);
    let second = crate::support::Server::start_with(realm.cli(), args).await;
    Some((realm, second))
}

#[tokio::test]
async fn a_fleet_shares_one_account_lock_through_redis() {
    let args = only(&["--login-lock-after", "3", "--login-backoff-after", "3"]);
    let Some((realm, second)) = fleet(&args).await else {
        return;
    };
    let first = realm.server();
    for server in [first, first, &second] {
        assert_eq!(
            attempt_at(&realm, server, "jane@example.org", WRONG, None)
                .await
                .status(),
            401
        );
    }
    for server in [first, &second] {
        assert_throttled(attempt_at(&realm, server, "jane@example.org", PASSWORD, None).await)
            .await;
    }
}

#[tokio::test]
async fn a_fleet_shares_one_address_allowance_through_redis() {
    let args = only(&["--ip-failure-limit", "4"]);
    let Some((realm, second)) = fleet(&args).await else {
        return;
    };
    let first = realm.server();
    for (n, server) in [first, first, &second, &second].into_iter().enumerate() {
        let response =
            attempt_at(&realm, server, &format!("user{n}@example.org"), WRONG, None).await;
        assert_eq!(response.status(), 401);
    }
    for server in [first, &second] {
        assert_throttled(attempt_at(&realm, server, "jane@example.org", PASSWORD, None).await)
            .await;
    }
}

#[tokio::test]
async fn a_challenge_spent_on_one_instance_cannot_be_replayed_on_another() {
    let args = only(&[
        "--challenge-after-address-failures",
        "3",
        "--challenge-bits",
        "8",
    ]);
    let Some((realm, second)) = fleet(&args).await else {
        return;
    };
    spray(&realm, 3, |_| None).await;
    let challenge = challenge_of(attempt(&realm, "jane@example.org", PASSWORD, None).await).await;
    let body = json!({
        "email": "jane@example.org", "password": PASSWORD,
        "challenge_token": challenge["token"], "challenge_solution": solve(&challenge),
    });
    let on = |server: &crate::support::Server| {
        realm
            .client
            .post(server.url("/api/v1/auth/login"))
            .json(&body)
            .send()
    };
    assert_eq!(on(realm.server()).await.unwrap().status(), 200);
    challenge_of(on(&second).await.unwrap()).await;
}

/// A webhook receiver on loopback that refuses its first delivery, then records the rest.
async fn flaky_receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>,
) {
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = received.clone();
    let refused_once = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (log, refused_once) = (log.clone(), refused_once.clone());
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let entry = (
                    header("x-medvault-delivery"),
                    header("x-medvault-signature"),
                    body,
                );
                log.lock().unwrap().push(entry);
                if refused_once.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    axum::http::StatusCode::NO_CONTENT
                } else {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

#[tokio::test]
async fn security_events_reach_the_webhook_signed_even_after_it_failed() {
    use hmac::Mac;
    let (url, received) = flaky_receiver().await;
    let env = vec![(
        "MEDVAULT_SECURITY_WEBHOOK_SECRET".to_owned(),
        "hook-secret".to_owned(),
    )];
    let realm = Realm::start_in(&["--security-webhook-url", &url], true, env).await;
    realm.add_user("jane@example.org", &["nurse"]);
    // A replayed refresh token is a security event.
    let (_, first) = realm.tokens("jane@example.org").await;
    assert_eq!(realm.refresh(&first).await.status(), 200);
    assert_eq!(realm.refresh(&first).await.status(), 401);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while received.lock().unwrap().len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the event was not redelivered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let deliveries = received.lock().unwrap().clone();
    let (first_try, retry) = (&deliveries[0], &deliveries[1]);
    assert_eq!(
        first_try.0, retry.0,
        "the same message, retried after a 503"
    );
    let body: Value = serde_json::from_str(&retry.2).unwrap();
    assert_eq!(body["kind"], "token.reuse_detected");
    assert!(body["session"].is_string());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"hook-secret").unwrap();
    mac.update(retry.2.as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(retry.1, format!("sha256={expected}"));
}

#[tokio::test]
async fn stuffing_spread_across_a_fleet_is_still_detected_once() {
    let args = only(&[
        "--trusted-proxy",
        "127.0.0.1/32",
        "--stuffing-accounts-per-address",
        "4",
    ]);
    let Some((realm, second)) = fleet(&args).await else {
        return;
    };
    realm.add_user("root@example.org", &["admin"]);
    let first = realm.server();
    // Four accounts from one address, half through each instance: neither sees four alone.
    for (n, server) in [first, &second, first, &second].into_iter().enumerate() {
        let email = format!("victim{n}@example.org");
        let response = attempt_at(&realm, server, &email, WRONG, Some("203.0.113.9")).await;
        assert_eq!(response.status(), 401);
    }
    let (root, _) = realm.tokens("root@example.org").await;
    let events = security_event_kinds(&realm, &root).await;
    let stuffing: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "security.stuffing_suspected")
        .collect();
    assert_eq!(stuffing.len(), 1, "{events:?}");
    assert_eq!(stuffing[0]["source_ip"], "203.0.113.9");
}

async fn register(
    realm: &Realm,
    email: &str,
    password: &str,
    answer: Option<(&str, &str)>,
) -> reqwest::Response {
    let mut body = json!({"email": email, "password": password});
    if let Some((token, solution)) = answer {
        body["challenge_token"] = json!(token);
        body["challenge_solution"] = json!(solution);
    }
    realm.post_json("/api/v1/auth/register", body).await
}

#[tokio::test]
async fn self_registration_is_off_by_default_and_guarded_when_on() {
    let closed = Realm::start(&[]).await;
    assert_eq!(
        register(&closed, "new@example.org", PASSWORD, None)
            .await
            .status(),
        404
    );

    let args = only(&[
        "--self-registration",
        "--challenge-after-address-failures",
        "2",
        "--challenge-bits",
        "8",
    ]);
    let realm = Realm::start(&args).await;
    assert_eq!(
        register(&realm, "pat@example.org", PASSWORD, None)
            .await
            .status(),
        201
    );
    let (token, _) = realm.tokens("pat@example.org").await;
    assert_eq!(crate::realm::claims_of(&token)["roles"], json!(["patient"]));
    // A breached password cannot be registered.
    assert_eq!(
        register(&realm, "weak@example.org", "Password1234", None)
            .await
            .status(),
        422
    );

    // Probing for taken emails spends the address's allowance, then demands proof of work.
    for _ in 0..2 {
        assert_eq!(
            register(&realm, "pat@example.org", PASSWORD, None)
                .await
                .status(),
            409
        );
    }
    let refused = register(&realm, "bot@example.org", PASSWORD, None).await;
    assert_eq!(refused.status(), 401);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["error"], "challenge_required");
    let challenge = &problem["challenge"];
    let solution = solve(challenge);
    let token = challenge["token"].as_str().unwrap();
    let solved = register(
        &realm,
        "human@example.org",
        PASSWORD,
        Some((token, &solution)),
    )
    .await;
    assert_eq!(solved.status(), 201);
    let replayed = register(
        &realm,
        "bot2@example.org",
        PASSWORD,
        Some((token, &solution)),
    )
    .await;
    assert_eq!(replayed.status(), 401, "a challenge answer works once");
}
