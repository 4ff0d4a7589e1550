//! The OAuth authorization server for machine clients: registration (admin API and CLI,
//! RFC 7591), the client-credentials grant, introspection (RFC 7662), revocation
//! (RFC 7009) and metadata (RFC 8414), with the exact RFC error codes for bad input.

use serde_json::{json, Value};

use crate::realm::{claims_of, Realm};

async fn register(realm: &Realm, admin: &str, metadata: Value) -> (u16, Value) {
    let response = realm
        .client
        .post(realm.url("/api/v1/admin/clients"))
        .bearer_auth(admin)
        .json(&metadata)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// A form POST to an OAuth endpoint, with HTTP Basic client authentication when given.
async fn form(
    realm: &Realm,
    path: &str,
    basic: Option<(&str, &str)>,
    params: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = realm.client.post(realm.url(path)).form(params);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, headers)
}

async fn partner(realm: &Realm, admin: &str) -> (String, String) {
    let (status, registered) = register(
        realm,
        admin,
        json!({"client_name": "Partner lab", "grant_types": ["client_credentials"],
            "scope": "system/Observation.rs system/Patient.r"}),
    )
    .await;
    assert_eq!(status, 201, "{registered}");
    (
        registered["client_id"].as_str().unwrap().to_owned(),
        registered["client_secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_partner_system_gets_scoped_tokens_that_introspect_and_revoke() {
    let realm = Realm::start(&[]).await;
    realm.add_user("admin@example.org", &["admin"]);
    let (admin, _) = realm.tokens("admin@example.org").await;
    let (id, secret) = partner(&realm, &admin).await;

    let (status, token, headers) = form(
        &realm,
        "/oauth2/token",
        Some((&id, &secret)),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "system/Observation.r"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["scope"], "system/Observation.r");
    let access = token["access_token"].as_str().unwrap().to_owned();
    let claims = claims_of(&access);
    assert_eq!(
        (claims["sub"].as_str(), claims["client_id"].as_str()),
        (Some(id.as_str()), Some(id.as_str()))
    );
    // Granted in SMART v2 form, once each.
    let (_, v1, _) = form(
        &realm,
        "/oauth2/token",
        Some((&id, &secret)),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "system/Observation.read system/Observation.read"),
        ],
    )
    .await;
    assert_eq!(v1["scope"], "system/Observation.rs", "{v1}");
    // Without a scope, everything the client is registered for.
    let (_, all, _) = form(
        &realm,
        "/oauth2/token",
        Some((&id, &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(all["scope"], "system/Observation.rs system/Patient.r");

    // A client token is not a user's: first-party routes refuse it.
    assert_eq!(realm.me_status(&access).await, 401);

    // Introspection (by an authenticated client) and revocation.
    let introspect = |token: String| {
        let (id, secret) = (id.clone(), secret.clone());
        let realm = &realm;
        async move {
            form(
                realm,
                "/oauth2/introspect",
                Some((&id, &secret)),
                &[("token", &token)],
            )
            .await
            .1
        }
    };
    let active = introspect(access.clone()).await;
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["client_id"], id.as_str());
    assert_eq!(active["scope"], "system/Observation.r");
    // A client learns nothing about tokens that are not its own (RFC 7662 §4).
    assert_eq!(introspect(admin.clone()).await, json!({"active": false}));
    let (other_id, other_secret) = partner(&realm, &admin).await;
    let (_, theirs, _) = form(
        &realm,
        "/oauth2/introspect",
        Some((&other_id, &other_secret)),
        &[("token", &access)],
    )
    .await;
    assert_eq!(theirs, json!({"active": false}));
    let (status, body, _) = form(
        &realm,
        "/oauth2/revoke",
        Some((&other_id, &other_secret)),
        &[("token", &access)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    assert_eq!(
        introspect(access.clone()).await["active"],
        true,
        "still live"
    );
    assert_eq!(
        introspect("not-a-token".into()).await,
        json!({"active": false})
    );
    let (status, _, _) = form(&realm, "/oauth2/introspect", None, &[("token", &access)]).await;
    assert_eq!(status, 401, "introspection needs client authentication");

    let (status, _, _) = form(
        &realm,
        "/oauth2/revoke",
        Some((&id, &secret)),
        &[("token", &access)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(introspect(access.clone()).await["active"], false);
    let (status, _, _) = form(
        &realm,
        "/oauth2/revoke",
        Some((&id, &secret)),
        &[("token", "garbage")],
    )
    .await;
    assert_eq!(status, 200, "RFC 7009: nothing to revoke is still 200");

    let metadata: Value = reqwest::get(realm.url("/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["grant_types_supported"],
        json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert!(metadata["token_endpoint"]
        .as_str()
        .unwrap()
        .ends_with("/oauth2/token"));
    let actions = realm.audit_actions().await;
    assert!(actions.contains(&"oauth.client_create"), "{actions:?}");
}

#[tokio::test]
async fn bad_client_requests_get_the_exact_oauth_errors() {
    let realm = Realm::start(&[]).await;
    realm.add_user("admin@example.org", &["admin"]);
    realm.add_user("nurse@example.org", &["nurse"]);
    let (admin, _) = realm.tokens("admin@example.org").await;
    let (nurse, _) = realm.tokens("nurse@example.org").await;
    let (id, secret) = partner(&realm, &admin).await;

    let cc = [("grant_type", "client_credentials")];
    for (basic, code, status) in [
        (Some((id.as_str(), "wrong")), "invalid_client", 401),
        (Some(("nobody", secret.as_str())), "invalid_client", 401),
    ] {
        let (got, body, headers) = form(&realm, "/oauth2/token", basic, &cc).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{body}"
        );
        assert!(headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"));
    }
    let (status, body, _) = form(&realm, "/oauth2/token", None, &cc).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // Registered for Basic: the secret in the body does not authenticate it.
    let post = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let (status, body, _) = form(&realm, "/oauth2/token", None, &post).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let basic = Some((id.as_str(), secret.as_str()));
    for (params, code) in [
        (vec![], "invalid_request"),
        (vec![("grant_type", "password")], "unsupported_grant_type"),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("scope", "system/Condition.r"),
            ],
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("scope", "system/Observation.cruds"),
            ],
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("scope", "patient/*.r"),
            ],
            "invalid_scope",
        ),
        (
            vec![("grant_type", "client_credentials"), ("scope", "nonsense")],
            "invalid_scope",
        ),
    ] {
        let (status, body, _) = form(&realm, "/oauth2/token", basic, &params).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(code)),
            "{params:?}: {body}"
        );
    }
    let json_body = realm
        .client
        .post(realm.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
    assert_eq!(
        json_body.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );

    // An app registered for the authorization code flow may not use client credentials.
    let (status, app) = register(
        &realm,
        &admin,
        json!({"client_name": "Clinic app", "grant_types": ["authorization_code"],
            "redirect_uris": ["https://app.example/cb"], "scope": "openid patient/*.rs"}),
    )
    .await;
    assert_eq!(status, 201, "{app}");
    let app_basic = Some((
        app["client_id"].as_str().unwrap(),
        app["client_secret"].as_str().unwrap(),
    ));
    let (status, body, _) = form(&realm, "/oauth2/token", app_basic, &cc).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );

    // A client registered for both flows gets only its system/ scopes from client
    // credentials: patient/ and user/ scopes need a user behind them.
    let (status, both) = register(
        &realm,
        &admin,
        json!({"client_name": "Hybrid", "grant_types": ["authorization_code", "client_credentials"],
            "redirect_uris": ["https://hybrid.example/cb"], "scope": "patient/*.rs system/Patient.r"}),
    )
    .await;
    assert_eq!(status, 201, "{both}");
    let both_basic = Some((
        both["client_id"].as_str().unwrap(),
        both["client_secret"].as_str().unwrap(),
    ));
    let (_, granted, _) = form(&realm, "/oauth2/token", both_basic, &cc).await;
    assert_eq!(granted["scope"], "system/Patient.r", "{granted}");
    let asked = [
        ("grant_type", "client_credentials"),
        ("scope", "patient/*.rs"),
    ];
    let (status, body, _) = form(&realm, "/oauth2/token", both_basic, &asked).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    // Not a medvault client id at all: refused before any lookup.
    let (status, body, _) = form(&realm, "/oauth2/token", Some(("x\u{0}y", "s")), &cc).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // Basic and a body secret at once.
    let mixed = [
        ("grant_type", "client_credentials"),
        ("client_secret", secret.as_str()),
    ];
    let (status, body, _) = form(&realm, "/oauth2/token", basic, &mixed).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );

    // Registration errors (RFC 7591) and who may register.
    for (metadata, code) in [
        (
            json!({"client_name": "", "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_name": "x", "grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_name": "x", "grant_types": ["client_credentials"], "scope": "patient/*.r"}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_name": "x", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_name": "x", "token_endpoint_auth_method": "private_key_jwt", "redirect_uris": ["https://a.example/cb"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_name": "x", "grant_types": ["authorization_code"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"client_name": "x", "redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"client_name": "x", "redirect_uris": ["https://a.example/cb#frag"]}),
            "invalid_redirect_uri",
        ),
    ] {
        let (status, body) = register(&realm, &admin, metadata.clone()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(code)),
            "{metadata}: {body}"
        );
    }
    let (status, _) = register(
        &realm,
        &nurse,
        json!({"client_name": "x", "grant_types": ["client_credentials"]}),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn operators_manage_clients_at_the_cli() {
    let realm = Realm::start(&[]).await;
    let (ok, stdout, stderr) = realm.run_cli(
        &[
            "client",
            "add",
            "--name",
            "Pharma feed",
            "--grant-type",
            "client_credentials",
            "--scope",
            "system/MedicationRequest.rs",
        ],
        "",
    );
    assert!(ok, "{stderr}");
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .to_owned()
    };
    let (id, secret) = (field("client_id:"), field("client_secret:"));
    let cc = [("grant_type", "client_credentials")];
    let (status, token, _) = form(&realm, "/oauth2/token", Some((&id, &secret)), &cc).await;
    assert_eq!(status, 200, "{token}");
    let (ok, listed, _) = realm.run_cli(&["client", "list"], "");
    assert!(
        ok && listed.contains(&id) && listed.contains("Pharma feed"),
        "{listed}"
    );
    let (ok, report, stderr) = realm.run_cli(&["privacy", "report"], "");
    assert!(ok, "{stderr}");
    assert!(
        report.contains("OAuth client **Pharma feed** (client_credentials) may receive: system/MedicationRequest.rs"),
        "recipients (Art. 30(1)(d)): {report}"
    );
    let (ok, _, stderr) = realm.run_cli(&["client", "remove", "--id", &id], "");
    assert!(ok, "{stderr}");
    let (status, body, _) = form(&realm, "/oauth2/token", Some((&id, &secret)), &cc).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (ok, _, stderr) = realm.run_cli(
        &["client", "add", "--name", "x", "--grant-type", "implicit"],
        "",
    );
    assert!(
        !ok && stderr.contains("invalid_client_metadata"),
        "{stderr}"
    );
}

/// A partner system reads records within its `system/` scopes, audited as the client; it
/// writes nothing, reads nothing else, and its token dies with revocation or the client.
#[tokio::test]
async fn a_partner_reads_records_within_its_scopes_and_no_further() {
    use reqwest::Method;
    let clinic = crate::clinic::Clinic::start(&[]).await;
    let realm = &clinic.realm;
    realm.add_user("admin@example.org", &["admin"]);
    let (admin, _) = realm.tokens("admin@example.org").await;
    let ann = clinic
        .patient("Annpartner", "A", "1980-01-01", "female")
        .await;
    let obs = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let condition = clinic
        .create(
            json!({"resourceType": "Condition", "subject": {"reference": format!("Patient/{ann}")},
            "code": {"text": "asthma"}}),
        )
        .await;
    let (id, secret) = partner(realm, &admin).await;
    let (_, token, _) = form(
        realm,
        "/oauth2/token",
        Some((&id, &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let token = token["access_token"].as_str().unwrap().to_owned();

    // Scope AND policy: the scopes allow it, but until Ann consents the partner sees
    // nothing of hers, not even whether it exists.
    let unconsented = clinic
        .get(&format!("/fhir/Observation/{obs}"), &token)
        .await;
    assert_eq!(unconsented.status, 404, "{}", unconsented.body);
    let nothing = clinic.get("/fhir/Observation?code=2339-0", &token).await;
    assert_eq!(nothing.status, 200, "{}", nothing.body);
    assert!(nothing.ids().is_empty(), "{}", nothing.body);
    let ann_token = clinic.patient_user("ann@example.org", &ann).await;
    let consent = json!({"resourceType": "Consent", "status": "active",
        "scope": {"text": "patient-privacy"}, "category": [{"text": "data sharing"}],
        "patient": {"reference": format!("Patient/{ann}")},
        "provision": {"type": "permit", "actor": [{
            "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]},
            "reference": {"identifier": {
            "system": "https://medvault.dev/fhir/oauth-client", "value": id.clone()}}}]}});
    let given = clinic.post("/fhir/Consent", &ann_token, consent).await;
    assert_eq!(given.status, 201, "{}", given.body);

    let read = clinic
        .get(&format!("/fhir/Observation/{obs}"), &token)
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    let search = clinic.get("/fhir/Observation?code=2339-0", &token).await;
    assert_eq!(search.status, 200, "{}", search.body);
    assert_eq!(search.ids(), vec![obs.clone()]);
    // Patient.r: read, not search.
    assert_eq!(
        clinic
            .get(&format!("/fhir/Patient/{ann}"), &token)
            .await
            .status,
        200
    );
    assert_eq!(
        clinic
            .get("/fhir/Patient?family=Annpartner", &token)
            .await
            .status,
        403
    );
    // Not in its scopes: as if it did not exist.
    assert_eq!(
        clinic
            .get(&format!("/fhir/Condition/{condition}"), &token)
            .await
            .status,
        404
    );
    let mut body = read.body.clone();
    body["status"] = json!("amended");
    let write = clinic
        .call(
            Method::PUT,
            &format!("/fhir/Observation/{obs}"),
            &token,
            Some(body),
        )
        .await;
    assert_eq!(write.status, 403, "{}", write.body);

    let events = realm.audit_events().await;
    assert!(events.iter().any(|e| e.action.code() == "fhir.read"
        && e.actor == medvault_domain::Actor::Client { id: id.clone() }));
    // Ann sees the partner, by name, in who accessed her record.
    let log: Value = realm
        .get("/api/v1/me/access-log", &ann_token)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["who"]["kind"] == "client" && e["who"]["name"] == "Partner lab"),
        "{log}"
    );

    // Revoked: refused. A fresh token works until the client is removed.
    form(
        realm,
        "/oauth2/revoke",
        Some((&id, &secret)),
        &[("token", &token)],
    )
    .await;
    assert_eq!(
        clinic
            .get(&format!("/fhir/Observation/{obs}"), &token)
            .await
            .status,
        401
    );
    let (_, fresh, _) = form(
        realm,
        "/oauth2/token",
        Some((&id, &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let fresh = fresh["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        clinic
            .get(&format!("/fhir/Observation/{obs}"), &fresh)
            .await
            .status,
        200
    );
    let (ok, _, stderr) = realm.run_cli(&["client", "remove", "--id", &id], "");
    assert!(ok, "{stderr}");
    assert_eq!(
        clinic
            .get(&format!("/fhir/Observation/{obs}"), &fresh)
            .await
            .status,
        401
    );
}

/// SMART Backend Services: a client authenticates with a JWT signed by its registered
/// key (`private_key_jwt`, RFC 7523); malformed, foreign, stale or replayed assertions
/// are `invalid_client`.
#[tokio::test]
async fn a_backend_service_authenticates_with_a_signed_assertion_once() {
    let realm = Realm::start(&[]).await;
    realm.add_user("admin@example.org", &["admin"]);
    let (admin, _) = realm.tokens("admin@example.org").await;
    let key = medvault_crypto::jwt::SigningKey::generate("backend-1".into()).unwrap();
    let other = medvault_crypto::jwt::SigningKey::generate("backend-1".into()).unwrap();
    let jwk = serde_json::to_value(key.public_jwk()).unwrap();
    let (status, registered) = register(
        &realm,
        &admin,
        json!({"client_name": "Backend", "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [jwk]},
            "scope": "system/Observation.rs"}),
    )
    .await;
    assert_eq!(status, 201, "{registered}");
    assert!(
        registered.get("client_secret").is_none(),
        "no shared secret"
    );
    let id = registered["client_id"].as_str().unwrap().to_owned();
    let issuer = claims_of(&admin)["iss"].as_str().unwrap().to_owned();
    let audience = format!("{issuer}/oauth2/token");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let assertion = |signer: &medvault_crypto::jwt::SigningKey, jti: &str, aud: &str, exp: i64| {
        signer.sign(&json!({"iss": id, "sub": id, "aud": aud, "exp": exp, "iat": now, "jti": jti}))
    };
    let request = |assertion: String| {
        let realm = &realm;
        async move {
            form(
                realm,
                "/oauth2/token",
                None,
                &[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                ],
            )
            .await
        }
    };
    let good = assertion(&key, "a-1", &audience, now + 120);
    let (status, token, _) = request(good.clone()).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["scope"], "system/Observation.rs");
    for (bad, why) in [
        (good, "a replayed jti"),
        (
            assertion(&other, "a-2", &audience, now + 120),
            "another key",
        ),
        (
            assertion(&key, "a-3", "https://elsewhere/oauth2/token", now + 120),
            "another audience",
        ),
        (assertion(&key, "a-4", &audience, now - 3600), "expired"),
        (
            assertion(&key, "a-5", &audience, now + 3600),
            "expiring too far ahead",
        ),
        ("not-a-jwt".to_owned(), "malformed"),
    ] {
        let (status, body, _) = request(bad).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{why}: {body}"
        );
    }
    let wrong_type = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", "urn:example:other"),
        ("client_assertion", "x"),
    ];
    let (status, body, _) = form(&realm, "/oauth2/token", None, &wrong_type).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = register(
        &realm,
        &admin,
        json!({"client_name": "x", "grant_types": ["client_credentials"], "scope": "system/Patient.r",
            "token_endpoint_auth_method": "private_key_jwt"}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
}

/// A JWKS served on a loopback port: the document can change, and requests are counted.
struct JwksServer {
    url: String,
    document: std::sync::Arc<std::sync::Mutex<Value>>,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl JwksServer {
    async fn start(document: Value) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let document = std::sync::Arc::new(std::sync::Mutex::new(document));
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (served, counted) = (document.clone(), hits.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 2048];
                let _ = socket.read(&mut request).await;
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = served.lock().unwrap().to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        Self {
            url,
            document,
            hits,
        }
    }
}

/// `jwks_uri`: the client's published keys are fetched, cached, and fetched again when it
/// rotates to a key not seen yet; bad URIs and both `jwks` and `jwks_uri` are refused.
#[tokio::test]
async fn a_backend_service_publishes_its_keys_at_a_jwks_uri_and_rotates_them() {
    let realm = Realm::start(&[]).await;
    realm.add_user("admin@example.org", &["admin"]);
    let (admin, _) = realm.tokens("admin@example.org").await;
    let first = medvault_crypto::jwt::SigningKey::generate("k-1".into()).unwrap();
    let second = medvault_crypto::jwt::SigningKey::generate("k-2".into()).unwrap();
    let jwk =
        |key: &medvault_crypto::jwt::SigningKey| serde_json::to_value(key.public_jwk()).unwrap();
    let jwks = JwksServer::start(json!({"keys": [jwk(&first)]})).await;
    let base = json!({"client_name": "Backend", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt", "scope": "system/Observation.rs"});
    let with = |extra: Value| {
        let mut metadata = base.clone();
        metadata
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        metadata
    };
    for (bad, why) in [
        (
            json!({"jwks_uri": "http://partner.example/jwks.json"}),
            "plain http off loopback",
        ),
        (
            json!({"jwks_uri": "ftp://127.0.0.1/jwks.json"}),
            "not http(s)",
        ),
        (
            json!({"jwks_uri": jwks.url, "jwks": {"keys": [jwk(&first)]}}),
            "both",
        ),
        (
            json!({"jwks_uri": jwks.url, "token_endpoint_auth_method": "client_secret_basic"}),
            "not private_key_jwt",
        ),
    ] {
        let (status, body) = register(&realm, &admin, with(bad)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_client_metadata")),
            "{why}: {body}"
        );
    }
    let (status, registered) = register(&realm, &admin, with(json!({"jwks_uri": jwks.url}))).await;
    assert_eq!(status, 201, "{registered}");
    assert_eq!(registered["jwks_uri"], jwks.url.as_str());
    let id = registered["client_id"].as_str().unwrap().to_owned();
    let audience = format!(
        "{}/oauth2/token",
        claims_of(&admin)["iss"].as_str().unwrap()
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let grant = |key: &medvault_crypto::jwt::SigningKey, jti: &str| {
        let assertion = key.sign(&json!({"iss": id, "sub": id, "aud": audience, "exp": now + 120, "iat": now, "jti": jti}));
        let realm = &realm;
        async move {
            let (status, body, _) = form(
                realm,
                "/oauth2/token",
                None,
                &[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                ],
            )
            .await;
            (status, body)
        }
    };
    assert_eq!(grant(&first, "j-1").await.0, 200);
    assert_eq!(grant(&first, "j-2").await.0, 200);
    assert_eq!(
        jwks.hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "cached"
    );
    // The client rotates: the new key is fetched on first sight, the old one is gone.
    *jwks.document.lock().unwrap() = json!({"keys": [jwk(&second)]});
    let (status, body) = grant(&second, "j-3").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(jwks.hits.load(std::sync::atomic::Ordering::SeqCst), 2);
    let (status, body) = grant(&first, "j-4").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // A stranger's key does not make medvault hammer the client's server.
    let stranger = medvault_crypto::jwt::SigningKey::generate("k-9".into()).unwrap();
    for n in 0..3 {
        let (status, _) = grant(&stranger, &format!("s-{n}")).await;
        assert_eq!(status, 401);
    }
    assert_eq!(
        jwks.hits.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "refetched at most every 30 s"
    );
}
