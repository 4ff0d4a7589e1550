//! Passkeys (WebAuthn) against a software authenticator written here from the spec
//! (WebAuthn Level 3 §6.1 authenticator data, CTAP2 CBOR, COSE ES256), independent of the
//! server's library: registration, a passkey as second factor, passwordless sign-in,
//! step-up, and the attacks: no user verification, a wrong origin, a counter that goes
//! backwards, a ceremony from another session, someone else's credential, replays and
//! malformed payloads.

use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::realm::{claims_of, Realm, PASSWORD};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

/// CBOR (RFC 8949) heads for the few shapes an attestation needs.
fn cbor_head(major: u8, len: usize) -> Vec<u8> {
    match len {
        0..=23 => vec![(major << 5) | len as u8],
        24..=255 => vec![(major << 5) | 24, len as u8],
        _ => {
            let mut head = vec![(major << 5) | 25];
            head.extend_from_slice(&(len as u16).to_be_bytes());
            head
        }
    }
}

fn cbor_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = cbor_head(2, bytes.len());
    out.extend_from_slice(bytes);
    out
}

fn cbor_text(text: &str) -> Vec<u8> {
    let mut out = cbor_head(3, text.len());
    out.extend_from_slice(text.as_bytes());
    out
}

/// A passkey authenticator in software: one ES256 key, a signature counter, and switches
/// for what a hostile or broken one would do.
pub(crate) struct Authenticator {
    key: SigningKey,
    credential_id: Vec<u8>,
    counter: u32,
    origin: String,
    user_verified: bool,
    user_handle: Option<Vec<u8>>,
}

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

impl Authenticator {
    pub(crate) fn new(origin: &str) -> Self {
        let seed = Sha256::digest(uuid::Uuid::new_v4().as_bytes());
        Self {
            key: SigningKey::from_slice(&seed).unwrap(),
            credential_id: uuid::Uuid::new_v4().as_bytes().to_vec(),
            counter: 0,
            origin: origin.to_owned(),
            user_verified: true,
            user_handle: None,
        }
    }

    fn flags(&self) -> u8 {
        if self.user_verified {
            UP | UV
        } else {
            UP
        }
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        json!({"type": kind, "challenge": options["publicKey"]["challenge"], "origin": self.origin,
            "crossOrigin": false})
        .to_string()
        .into_bytes()
    }

    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_sec1_point(false);
        let bytes = point.as_bytes();
        let (x, y) = (&bytes[1..33], &bytes[33..65]);
        // {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}
        let mut out = vec![0xA5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
        out.extend(cbor_bytes(x));
        out.push(0x22);
        out.extend(cbor_bytes(y));
        out
    }

    /// `navigator.credentials.create()`: the credential JSON for `options`.
    fn create(&mut self, options: &Value) -> Value {
        let rp_id = options["publicKey"]["rp"]["id"].as_str().unwrap();
        self.user_handle = Some(unb64(options["publicKey"]["user"]["id"].as_str().unwrap()));
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags() | AT);
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        auth_data.extend_from_slice(&[0; 16]);
        auth_data.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend(self.cose_key());
        let mut attestation = vec![0xA3];
        attestation.extend(cbor_text("fmt"));
        attestation.extend(cbor_text("none"));
        attestation.extend(cbor_text("attStmt"));
        attestation.push(0xA0);
        attestation.extend(cbor_text("authData"));
        attestation.extend(cbor_bytes(&auth_data));
        json!({"id": b64(&self.credential_id), "rawId": b64(&self.credential_id), "type": "public-key",
            "response": {"attestationObject": b64(&attestation),
                "clientDataJSON": b64(&self.client_data("webauthn.create", options))},
            "extensions": {}})
    }

    /// `navigator.credentials.get()`: an assertion for `options`, counting up first.
    pub(crate) fn get(&mut self, options: &Value, rp_id: &str) -> Value {
        self.counter += 1;
        self.assert(options, rp_id, self.counter)
    }

    /// An assertion with a chosen counter value.
    fn assert(&self, options: &Value, rp_id: &str, counter: u32) -> Value {
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags());
        auth_data.extend_from_slice(&counter.to_be_bytes());
        let client_data = self.client_data("webauthn.get", options);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = self.key.sign(&signed);
        json!({"id": b64(&self.credential_id), "rawId": b64(&self.credential_id), "type": "public-key",
            "response": {"authenticatorData": b64(&auth_data), "clientDataJSON": b64(&client_data),
                "signature": b64(signature.to_der().as_bytes()),
                "userHandle": self.user_handle.as_deref().map(b64)},
            "extensions": {}})
    }
}

/// The relying party's origin: the default public URL, `http://localhost:<port>`.
pub(crate) fn origin(realm: &Realm) -> String {
    let url = realm.url("/");
    let port = url.rsplit(':').next().unwrap().trim_end_matches('/');
    format!("http://localhost:{port}")
}

async fn call(
    realm: &Realm,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut request = realm.client.request(method, realm.url(path)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn post(realm: &Realm, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    call(realm, Method::POST, path, token, body).await
}

/// Registers `authenticator` for the holder of `token`; returns the finish response.
pub(crate) async fn register(
    realm: &Realm,
    token: &str,
    authenticator: &mut Authenticator,
) -> (u16, Value) {
    let (status, options) = post(
        realm,
        "/api/v1/me/webauthn/register/start",
        Some(token),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{options}");
    let selection = &options["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["userVerification"], "required", "{options}");
    assert_eq!(
        selection["residentKey"], "preferred",
        "discoverable, for passwordless"
    );
    let credential = authenticator.create(&options);
    post(
        realm,
        "/api/v1/me/webauthn/register/finish",
        Some(token),
        json!({"ceremony": options["ceremony"], "nickname": "test key", "credential": credential}),
    )
    .await
}

/// Signs in with the password; returns the `mfa_token` the second step needs.
async fn password_step(realm: &Realm, email: &str) -> String {
    let body: Value = realm.login(email, PASSWORD).await.json().await.unwrap();
    assert_eq!(body["mfa_required"], true, "{body}");
    assert!(body["methods"]
        .as_array()
        .unwrap()
        .contains(&json!("webauthn")));
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn passkey_sign_in(
    realm: &Realm,
    email: &str,
    answer: impl FnOnce(&Value) -> Value,
) -> (u16, Value) {
    let mfa_token = password_step(realm, email).await;
    let (status, options) = post(
        realm,
        "/api/v1/auth/webauthn/start",
        None,
        json!({"mfa_token": mfa_token}),
    )
    .await;
    assert_eq!(status, 200, "{options}");
    let credential = answer(&options);
    post(
        realm,
        "/api/v1/auth/webauthn/finish",
        None,
        json!({"mfa_token": mfa_token, "credential": credential}),
    )
    .await
}

#[tokio::test]
async fn passkeys_register_then_sign_in_as_second_factor_and_passwordless() {
    let realm = Realm::start(&[]).await;
    realm.add_user("doc@example.org", &["physician"]);
    let (token, _) = realm.tokens("doc@example.org").await;
    let mut phone = Authenticator::new(&origin(&realm));

    let (status, registered) = register(&realm, &token, &mut phone).await;
    assert_eq!(status, 201, "{registered}");
    assert_eq!(registered["credential"]["nickname"], "test key");
    assert_eq!(
        registered["recovery_codes"].as_array().unwrap().len(),
        10,
        "first factor"
    );
    let (_, listed) = call(
        &realm,
        Method::GET,
        "/api/v1/me/credentials",
        Some(&token),
        Value::Null,
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0]["last_used_at"].is_null());

    // A second factor after the password.
    let (status, signed_in) =
        passkey_sign_in(&realm, "doc@example.org", |o| phone.get(o, "localhost")).await;
    assert_eq!(status, 200, "{signed_in}");
    let claims = claims_of(signed_in["access_token"].as_str().unwrap());
    for method in ["pwd", "hwk", "user", "mfa"] {
        assert!(
            claims["amr"].as_array().unwrap().contains(&json!(method)),
            "{claims}"
        );
    }
    assert_eq!(claims["acr"], "urn:medvault:acr:mfa");

    // Passwordless: the passkey names the user.
    let (status, options) = post(&realm, "/api/v1/auth/passkey/start", None, json!({})).await;
    assert_eq!(status, 200, "{options}");
    assert!(options["publicKey"]["allowCredentials"]
        .as_array()
        .is_none_or(|a| a.is_empty()));
    let credential = phone.get(&options, "localhost");
    let (status, signed_in) = post(
        &realm,
        "/api/v1/auth/passkey/finish",
        None,
        json!({"ceremony": options["ceremony"], "credential": credential}),
    )
    .await;
    assert_eq!(status, 200, "{signed_in}");
    let claims = claims_of(signed_in["access_token"].as_str().unwrap());
    assert!(
        !claims["amr"].as_array().unwrap().contains(&json!("pwd")),
        "{claims}"
    );
    assert_eq!(claims["acr"], "urn:medvault:acr:mfa");
    // The ceremony is spent.
    let credential = phone.get(&options, "localhost");
    let (status, _) = post(
        &realm,
        "/api/v1/auth/passkey/finish",
        None,
        json!({"ceremony": options["ceremony"], "credential": credential}),
    )
    .await;
    assert_eq!(status, 401, "a replayed ceremony");

    // A clone of the authenticator shows a counter that went backwards: refused.
    let stale = phone.counter - 1;
    let (status, _) = passkey_sign_in(&realm, "doc@example.org", |o| {
        phone.assert(o, "localhost", stale)
    })
    .await;
    assert_eq!(status, 401, "a counter that went backwards");
    let (_, listed) = call(
        &realm,
        Method::GET,
        "/api/v1/me/credentials",
        Some(&token),
        Value::Null,
    )
    .await;
    assert!(listed[0]["last_used_at"].is_string());
    let actions = realm.audit_actions().await;
    assert!(
        actions.contains(&"mfa.enroll") && actions.contains(&"mfa.failure"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn passkey_attacks_are_refused_and_weaken_nothing() {
    let realm = Realm::start(&[]).await;
    realm.add_user("ann@example.org", &["nurse"]);
    realm.add_user("bob@example.org", &["nurse"]);
    let (ann, _) = realm.tokens("ann@example.org").await;
    let (ann_elsewhere, _) = realm.tokens("ann@example.org").await;
    let (bob, _) = realm.tokens("bob@example.org").await;
    let origin = origin(&realm);

    // No user verification (no biometric or PIN): refused.
    let mut lax = Authenticator::new(&origin);
    lax.user_verified = false;
    let (status, body) = register(&realm, &ann, &mut lax).await;
    assert_eq!(status, 422, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("user verified bit is not set"), "{body}");
    // Another origin (a phishing site relaying the ceremony): refused.
    let mut phished = Authenticator::new("https://medvault.evil.example");
    let (status, body) = register(&realm, &ann, &mut phished).await;
    assert_eq!(status, 422, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("origin does not match"), "{body}");
    // A ceremony started in another session.
    let mut key = Authenticator::new(&origin);
    let (_, options) = post(
        &realm,
        "/api/v1/me/webauthn/register/start",
        Some(&ann),
        json!({}),
    )
    .await;
    let credential = key.create(&options);
    let body = json!({"ceremony": options["ceremony"], "credential": credential});
    let (status, _) = post(
        &realm,
        "/api/v1/me/webauthn/register/finish",
        Some(&ann_elsewhere),
        body.clone(),
    )
    .await;
    assert_eq!(status, 422, "another session's ceremony");
    // Malformed payloads.
    for bad in [
        json!({"ceremony": "x", "credential": {"id": 1}}),
        json!({"credential": credential}),
        json!("nope"),
    ] {
        let (status, _) = post(
            &realm,
            "/api/v1/me/webauthn/register/finish",
            Some(&ann),
            bad.clone(),
        )
        .await;
        assert!((400..500).contains(&status), "{bad}: {status}");
    }
    let (_, listed) = call(
        &realm,
        Method::GET,
        "/api/v1/me/credentials",
        Some(&ann),
        Value::Null,
    )
    .await;
    assert!(
        listed.as_array().unwrap().is_empty(),
        "nothing was registered"
    );

    // Ann registers properly; Bob cannot register her credential as his.
    let (status, _) = register(&realm, &ann, &mut key).await;
    assert_eq!(status, 201);
    let (status, _) = register(&realm, &bob, &mut key).await;
    assert_eq!(status, 409, "a credential registered to another user");

    // Assertions: without user verification, from another origin, by a credential that
    // is not hers (Bob's) are all refused, and her sign-in still works afterwards.
    key.user_verified = false;
    let (status, _) = passkey_sign_in(&realm, "ann@example.org", |o| key.get(o, "localhost")).await;
    assert_eq!(status, 401);
    key.user_verified = true;
    let mut relayed = Authenticator {
        origin: "https://medvault.evil.example".into(),
        ..Authenticator::new(&origin)
    };
    std::mem::swap(&mut relayed.key, &mut key.key);
    relayed.credential_id = key.credential_id.clone();
    relayed.counter = 100;
    let (status, _) =
        passkey_sign_in(&realm, "ann@example.org", |o| relayed.get(o, "localhost")).await;
    assert_eq!(status, 401, "wrong origin");
    std::mem::swap(&mut relayed.key, &mut key.key);
    let mut bobs = Authenticator::new(&origin);
    assert_eq!(register(&realm, &bob, &mut bobs).await.0, 201);
    let (status, _) =
        passkey_sign_in(&realm, "ann@example.org", |o| bobs.get(o, "localhost")).await;
    assert_eq!(status, 401, "Bob's passkey is not Ann's");
    key.counter = 200;
    let (status, body) =
        passkey_sign_in(&realm, "ann@example.org", |o| key.get(o, "localhost")).await;
    assert_eq!(status, 200, "{body}");

    // Passwordless: Ann's passkey presenting Bob's user handle names Bob, whose
    // credential it is not.
    let (_, options) = post(&realm, "/api/v1/auth/passkey/start", None, json!({})).await;
    let mut impostor = Authenticator {
        user_handle: bobs.user_handle.clone(),
        ..Authenticator::new(&origin)
    };
    std::mem::swap(&mut impostor.key, &mut key.key);
    impostor.credential_id = key.credential_id.clone();
    impostor.counter = 300;
    let credential = impostor.get(&options, "localhost");
    std::mem::swap(&mut impostor.key, &mut key.key);
    let (status, body) = post(
        &realm,
        "/api/v1/auth/passkey/finish",
        None,
        json!({"ceremony": options["ceremony"], "credential": credential}),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_credential", "{body}");
}

#[tokio::test]
async fn a_clone_finishing_an_old_ceremony_is_refused_and_a_failed_step_can_be_retried() {
    let realm = Realm::start(&[]).await;
    realm.add_user("doc@example.org", &["physician"]);
    let (token, _) = realm.tokens("doc@example.org").await;
    let mut device = Authenticator::new(&origin(&realm));
    assert_eq!(register(&realm, &token, &mut device).await.0, 201);

    // The clone starts a sign-in and waits; the real device then signs in twice.
    let stalled = password_step(&realm, "doc@example.org").await;
    let (_, stalled_options) = post(
        &realm,
        "/api/v1/auth/webauthn/start",
        None,
        json!({"mfa_token": stalled}),
    )
    .await;
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let (status, signed_in) =
            passkey_sign_in(&realm, "doc@example.org", |o| device.get(o, "localhost")).await;
        assert_eq!(status, 200);
        sessions.push(signed_in["access_token"].as_str().unwrap().to_owned());
    }
    // Its counter is above the one saved with its ceremony, below the device's now.
    let cloned = device.assert(&stalled_options, "localhost", device.counter - 1);
    let (status, _) = post(
        &realm,
        "/api/v1/auth/webauthn/finish",
        None,
        json!({"mfa_token": stalled, "credential": cloned}),
    )
    .await;
    assert_eq!(
        status, 401,
        "a clone's counter that did not grow past the stored one"
    );

    // A failed passkey step (no user verification) can be retried with the same token.
    let mfa_token = password_step(&realm, "doc@example.org").await;
    let start = json!({"mfa_token": mfa_token});
    device.user_verified = false;
    let (_, options) = post(&realm, "/api/v1/auth/webauthn/start", None, start.clone()).await;
    let refused = device.get(&options, "localhost");
    let body = json!({"mfa_token": mfa_token, "credential": refused});
    assert_eq!(
        post(&realm, "/api/v1/auth/webauthn/finish", None, body)
            .await
            .0,
        401
    );
    device.user_verified = true;
    let (status, options) = post(&realm, "/api/v1/auth/webauthn/start", None, start).await;
    assert_eq!(status, 200, "{options}");
    let credential = device.get(&options, "localhost");
    let body = json!({"mfa_token": mfa_token, "credential": credential});
    let (status, signed_in) = post(&realm, "/api/v1/auth/webauthn/finish", None, body).await;
    assert_eq!(status, 200, "{signed_in}");

    // A step-up ceremony belongs to the session that started it.
    let (first, second) = (&sessions[0], &sessions[1]);
    let (_, options) = post(
        &realm,
        "/api/v1/auth/step-up/webauthn/start",
        Some(first),
        json!({}),
    )
    .await;
    let credential = device.get(&options, "localhost");
    let body = json!({"ceremony": options["ceremony"], "credential": credential});
    let (status, _) = post(
        &realm,
        "/api/v1/auth/step-up/webauthn/finish",
        Some(second),
        body,
    )
    .await;
    assert_eq!(status, 401, "another session's step-up ceremony");
}

#[tokio::test]
async fn a_passkey_steps_up_and_removing_the_last_factor_raises_a_security_event() {
    let realm = Realm::start(&[]).await;
    realm.add_user("doc@example.org", &["physician"]);
    let (token, _) = realm.tokens("doc@example.org").await;
    let mut key = Authenticator::new(&origin(&realm));
    let (status, registered) = register(&realm, &token, &mut key).await;
    assert_eq!(status, 201);
    let id = registered["credential"]["id"].as_str().unwrap().to_owned();

    // Removing a factor needs a recent one: this session's password sign-in is not.
    let path = format!("/api/v1/me/credentials/{id}");
    let (status, _) = call(&realm, Method::DELETE, &path, Some(&token), Value::Null).await;
    assert_eq!(status, 401);
    let (status, options) = post(
        &realm,
        "/api/v1/auth/step-up/webauthn/start",
        Some(&token),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{options}");
    let credential = key.get(&options, "localhost");
    let (status, stepped) = post(
        &realm,
        "/api/v1/auth/step-up/webauthn/finish",
        Some(&token),
        json!({"ceremony": options["ceremony"], "credential": credential}),
    )
    .await;
    assert_eq!(status, 200, "{stepped}");
    let fresh = stepped["access_token"].as_str().unwrap();
    assert_eq!(claims_of(fresh)["acr"], "urn:medvault:acr:mfa");
    let (status, _) = call(&realm, Method::DELETE, &path, Some(fresh), Value::Null).await;
    assert_eq!(status, 204);
    let (status, _) = call(&realm, Method::DELETE, &path, Some(fresh), Value::Null).await;
    assert_eq!(status, 404);
    let actions = realm.audit_actions().await;
    for action in ["mfa.step_up", "mfa.remove", "security.mfa_removed"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    // Back to a password alone.
    let body: Value = realm
        .login("doc@example.org", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert!(body["access_token"].is_string(), "{body}");
}
