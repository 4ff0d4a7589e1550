//! Sign-in through `/api/v1/auth/login`, and the profile it unlocks.

use serde_json::json;

use crate::realm::{body_without_request_id, claims_of, header_of, Realm, PASSWORD};
use crate::support::problem;

#[tokio::test]
async fn login_returns_an_es256_bearer_token_that_unlocks_me() {
    let realm = Realm::start(&[]).await;
    realm.add_user("nurse@example.org", &["nurse", "physician"]);

    let response = realm.login("Nurse@Example.org ", PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert!(
        body["refresh_token"].as_str().unwrap().len() >= 43,
        "256 bits, base64url"
    );

    let token = body["access_token"].as_str().unwrap();
    let header = header_of(token);
    assert_eq!(header["alg"], "ES256");
    assert!(header["kid"].is_string());
    let claims = claims_of(token);
    for claim in [
        "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "roles", "scope", "amr",
    ] {
        assert!(!claims[claim].is_null(), "claim {claim} missing: {claims}");
    }
    assert_eq!(claims["iss"], realm.server().base_url.as_str());
    assert_eq!(claims["amr"], json!(["pwd"]));

    let me: serde_json::Value = realm.get("/api/v1/me", token).await.json().await.unwrap();
    assert_eq!(me["email"], "nurse@example.org");
    assert_eq!(me["roles"], json!(["nurse", "physician"]));
    assert_eq!(me["id"], claims["sub"]);
}

#[tokio::test]
async fn unknown_email_wrong_password_and_disabled_account_get_identical_answers() {
    let realm = Realm::start(&[]).await;
    realm.add_user("jane@example.org", &["physician"]);
    realm.add_user("gone@example.org", &["physician"]);
    let (ok, _, stderr) = realm.run_cli(&["user", "disable", "--email", "gone@example.org"], "");
    assert!(ok, "{stderr}");

    let unknown = body_without_request_id(realm.login("nobody@example.org", PASSWORD).await).await;
    let wrong =
        body_without_request_id(realm.login("jane@example.org", "Not-The-Password-42").await).await;
    let disabled = body_without_request_id(realm.login("gone@example.org", PASSWORD).await).await;
    assert_eq!(unknown.0, 401);
    assert_eq!(unknown.1["error"], "invalid_credentials");
    assert_eq!(unknown, wrong);
    assert_eq!(unknown, disabled);
}

#[tokio::test]
async fn the_stored_password_is_an_argon2id_hash_with_owasp_parameters() {
    let realm = Realm::start_with(&[], false).await;
    realm.add_user("jane@example.org", &["physician"]);
    assert_eq!(
        realm.login("jane@example.org", PASSWORD).await.status(),
        200
    );

    let hash = realm.stored_password_hash("jane@example.org").await;
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(PASSWORD));
}

#[tokio::test]
async fn a_hash_with_old_parameters_is_upgraded_at_login() {
    let realm = Realm::start_with(&["--argon2-memory-kib", "512"], true).await;
    realm.add_user("jane@example.org", &["physician"]); // hashed with m=256 by the CLI
    assert_eq!(
        realm.login("jane@example.org", PASSWORD).await.status(),
        200
    );

    let hash = realm.stored_password_hash("jane@example.org").await;
    assert!(hash.starts_with("$argon2id$v=19$m=512,t=1,p=1$"), "{hash}");
}

#[tokio::test]
async fn malformed_logins_get_specific_client_errors() {
    let realm = Realm::start(&[]).await;
    let cases = [
        (json!({"email": "not-an-email", "password": PASSWORD}), 422),
        (json!({"email": "jane@example.org", "password": ""}), 422),
        (
            json!({"email": "jane@example.org", "password": "x".repeat(257)}),
            422,
        ),
        (json!({"email": "jane@example.org"}), 422),
        (
            json!({"email": "jane@example.org", "password": PASSWORD, "admin": true}),
            422,
        ),
    ];
    for (body, status) in cases {
        let response = realm.post_json("/api/v1/auth/login", body.clone()).await;
        assert_eq!(response.status(), status, "{body}");
        problem(response).await;
    }
    let malformed = realm
        .client
        .post(realm.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let form = realm
        .client
        .post(realm.url("/api/v1/auth/login"))
        .form(&[("email", "jane@example.org"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
}

#[tokio::test]
async fn logins_are_audited_without_the_password() {
    let realm = Realm::start(&[]).await;
    realm.add_user("jane@example.org", &["physician"]);
    realm.login("jane@example.org", "Wrong-Password-123").await;
    realm.login("jane@example.org", PASSWORD).await;

    let events = realm.audit_events().await;
    let actions: Vec<_> = events.iter().map(|e| e.action.code()).collect();
    assert_eq!(
        actions,
        ["user.create", "login.failure", "login.success"],
        "{events:?}"
    );
    let failure = &events[1];
    assert_eq!(failure.outcome, medvault_domain::Outcome::Denied);
    assert_eq!(failure.source_ip.as_deref(), Some("127.0.0.1"));
    assert!(failure.request_id.is_some());
    assert!(events[2].session.is_some());
}
