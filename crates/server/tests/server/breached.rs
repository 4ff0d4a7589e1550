//! Breached passwords: the Pwned Passwords list, imported, refuses passwords that attackers
//! already have, and flags accounts that still use one.

use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use crate::realm::{claims_of, Realm, PASSWORD};

const LEAKED: &str = "Purple-Monkey-Dishwasher-42";
const RARELY_LEAKED: &str = "Another-Rare-Phrase-77";

fn sha1_hex(text: &str) -> String {
    Sha1::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// `HASH:COUNT` lines ordered by hash, as in the downloadable Pwned Passwords list.
fn pwned_lines(entries: &[(&str, u64)]) -> Vec<(String, u64)> {
    let mut lines: Vec<(String, u64)> = entries.iter().map(|(p, c)| (sha1_hex(p), *c)).collect();
    for n in 0..200 {
        lines.push((sha1_hex(&format!("filler-{n}")), 3));
    }
    lines.sort();
    lines
}

async fn create(realm: &Realm, token: &str, email: &str, password: &str) -> (u16, Value) {
    let response = realm
        .client
        .post(realm.url("/api/v1/admin/users"))
        .bearer_auth(token)
        .json(&json!({"email": email, "roles": ["nurse"], "password": password}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn an_imported_breach_list_refuses_leaked_passwords_above_the_threshold() {
    let mut realm = Realm::start(&[]).await;
    realm.add_user("root@example.org", &["admin"]);
    let list = realm.temp.path().join("pwned.txt");
    let text: String = pwned_lines(&[(LEAKED, 5), (RARELY_LEAKED, 1)])
        .iter()
        .map(|(hash, count)| format!("{hash}:{count}\r\n"))
        .collect();
    std::fs::write(&list, text).unwrap();
    let (ok, stdout, stderr) = realm.run_cli(
        &[
            "breach",
            "import",
            list.to_str().unwrap(),
            "--min-count",
            "2",
        ],
        "",
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("imported 201"),
        "the rarely leaked one is below the threshold: {stdout}"
    );
    realm.restart().await;

    let (root, _) = realm.tokens("root@example.org").await;
    let (status, problem) = create(&realm, &root, "a@example.org", LEAKED).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("breached"),
        "{problem}"
    );
    assert!(!problem.to_string().contains(LEAKED));
    assert_eq!(
        create(&realm, &root, "b@example.org", RARELY_LEAKED)
            .await
            .0,
        201
    );

    let (ok, _, stderr) = realm.run_cli(
        &[
            "user",
            "set-password",
            "--email",
            "b@example.org",
            "--password-stdin",
        ],
        LEAKED,
    );
    assert!(
        !ok && stderr.contains("breached"),
        "the CLI applies it too: {stderr}"
    );
}

#[tokio::test]
async fn signing_in_with_a_leaked_password_raises_a_security_event() {
    let mut realm = Realm::start(&[]).await;
    realm.add_user("root@example.org", &["admin"]);
    realm.add_user("jane@example.org", &["physician"]);
    // Jane's password leaks after she chose it.
    let ranges = realm.temp.path().join("ranges");
    std::fs::create_dir(&ranges).unwrap();
    for (hash, count) in pwned_lines(&[(PASSWORD, 9)]) {
        let file = ranges.join(&hash[..5]);
        let mut text = std::fs::read_to_string(&file).unwrap_or_default();
        text.push_str(&format!("{}:{count}\n", &hash[5..]));
        std::fs::write(file, text).unwrap();
    }
    let (ok, stdout, stderr) = realm.run_cli(&["breach", "import", ranges.to_str().unwrap()], "");
    assert!(ok && stdout.contains("imported 201"), "{stdout}{stderr}");
    realm.restart().await;

    // Signing in with a leaked password works, but only to change it.
    let (jane, _) = realm.tokens("jane@example.org").await;
    assert_eq!(claims_of(&jane)["scope"], "medvault.password-change");
    let refused = realm.get("/api/v1/me", &jane).await;
    assert_eq!(refused.status(), 403);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["error"], "password_change_required");
    assert_eq!(realm.get("/fhir/Patient", &jane).await.status(), 403);

    let (root, root_refresh) = realm.tokens("root@example.org").await;
    let still_leaked = realm
        .client
        .post(realm.url("/api/v1/me/password"))
        .bearer_auth(&root)
        .json(&json!({"current_password": PASSWORD, "new_password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        still_leaked.status(),
        422,
        "the new password must not be breached either"
    );
    let changed = realm
        .client
        .post(realm.url("/api/v1/me/password"))
        .bearer_auth(&root)
        .json(&json!({"current_password": PASSWORD, "new_password": "Quince-Harbour-Lantern-Violet-93"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);
    let refreshed: Value = realm.refresh(&root_refresh).await.json().await.unwrap();
    let root = refreshed["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&root)["scope"], "medvault.api");
    let page: Value = realm
        .get("/api/v1/admin/security-events", &root)
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<_> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "security.breached_password")
            .count(),
        2,
        "root's and jane's: {kinds:?}"
    );
}

#[tokio::test]
async fn a_list_out_of_order_is_refused_with_its_line() {
    let realm = Realm::start(&[]).await;
    let list = realm.temp.path().join("unsorted.txt");
    let (a, b) = (sha1_hex("one"), sha1_hex("two"));
    let (first, second) = if a > b { (a, b) } else { (b, a) };
    std::fs::write(&list, format!("{first}:1\n{second}:1\n")).unwrap();
    let (ok, _, stderr) = realm.run_cli(&["breach", "import", list.to_str().unwrap()], "");
    assert!(
        !ok && stderr.contains(":2: hashes must be in ascending order"),
        "{stderr}"
    );
    std::fs::write(&list, "not-a-hash\n").unwrap();
    let (ok, _, stderr) = realm.run_cli(&["breach", "import", list.to_str().unwrap()], "");
    assert!(
        !ok && stderr.contains(":1: expected `SHA1:COUNT`"),
        "{stderr}"
    );
}

/// A Pwned Passwords range API on loopback that knows one leaked password; it records
/// every prefix it is asked for.
async fn range_api(leaked: &str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let hash = sha1_hex(leaked);
    let log = asked.clone();
    let app = axum::Router::new().route(
        "/range/{prefix}",
        axum::routing::get(
            move |axum::extract::Path(prefix): axum::extract::Path<String>| {
                let (hash, log) = (hash.clone(), log.clone());
                async move {
                    log.lock().unwrap().push(prefix.clone());
                    let mut body = String::from("0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n");
                    if hash.starts_with(&prefix) {
                        body.push_str(&format!("{}:42\r\n", &hash[5..]));
                    }
                    body
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, asked)
}

#[tokio::test]
async fn a_remote_range_api_refuses_leaked_passwords_and_learns_only_a_prefix() {
    let leaked = "Leaked-But-Otherwise-Strong-Passphrase-77";
    let (url, asked) = range_api(leaked).await;
    let realm = Realm::start(&["--breach-api-url", &url]).await;
    realm.add_user("root@example.org", &["admin"]);
    let (root, _) = realm.tokens("root@example.org").await;
    let create = |email: &str, password: &str| {
        realm
            .client
            .post(realm.url("/api/v1/admin/users"))
            .bearer_auth(&root)
            .json(&json!({"email": email, "roles": ["nurse"], "password": password}))
            .send()
    };
    let refused = create("a@example.org", leaked).await.unwrap();
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("breached"),
        "{problem}"
    );
    assert_eq!(
        create("b@example.org", "Quince-Harbour-Lantern-Violet-93")
            .await
            .unwrap()
            .status(),
        201
    );
    let prefixes = asked.lock().unwrap().clone();
    assert!(
        !prefixes.is_empty() && prefixes.iter().all(|p| p.len() == 5),
        "{prefixes:?}"
    );
    assert!(prefixes.contains(&sha1_hex(leaked)[..5].to_owned()));
}

#[tokio::test]
async fn an_unreachable_range_api_fails_open_or_closed_as_configured() {
    // A port nobody listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    for (fail_closed, expected) in [(false, 201), (true, 503)] {
        let mut args = vec![
            "--breach-api-url",
            closed.as_str(),
            "--breach-api-timeout-ms",
            "500",
        ];
        if fail_closed {
            args.push("--breach-api-fail-closed");
        }
        let realm = Realm::start(&args).await;
        realm.add_user("root@example.org", &["admin"]);
        let (root, _) = realm.tokens("root@example.org").await;
        let response = realm
            .client
            .post(realm.url("/api/v1/admin/users"))
            .bearer_auth(&root)
            .json(&json!({"email": "c@example.org", "roles": ["nurse"], "password": "Quince-Harbour-Lantern-Violet-93"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "fail_closed = {fail_closed}");
    }
}
