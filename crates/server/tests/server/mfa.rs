//! Second factors through HTTP: TOTP enrollment and sign-in, recovery codes, MFA by role,
//! and step-up. TOTP codes come from an implementation of RFC 6238 written here, apart
//! from the server's.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use crate::realm::{claims_of, Realm, PASSWORD};

/// RFC 4648 base32 decoding (no padding), as an authenticator app does it.
fn decode_base32(text: &str) -> Vec<u8> {
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.chars() {
        buffer = (buffer << 5) | alphabet.find(c).unwrap() as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// The 6-digit TOTP code of `secret` for time step `step` (RFC 6238 / RFC 4226).
pub(crate) fn totp(secret: &str, step: u64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&decode_base32(secret)).unwrap();
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0xf) as usize;
    let value = u32::from_be_bytes(digest[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!("{:06}", value % 1_000_000)
}

pub(crate) fn step_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30
}

async fn post(
    realm: &Realm,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = realm.client.post(realm.url(path)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
    )
}

/// Enrolls TOTP for a signed-in user; returns (secret, recovery codes).
pub(crate) async fn enroll(realm: &Realm, token: &str) -> (String, Vec<String>) {
    let (status, started, _) = post(realm, "/api/v1/me/mfa/totp", Some(token), json!({})).await;
    assert_eq!(status, 200, "{started}");
    let secret = started["secret"].as_str().unwrap().to_owned();
    assert!(started["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/medvault%3A"));
    assert!(started["qr_svg"].as_str().unwrap().contains("<svg"));
    let wrong = post(
        realm,
        "/api/v1/me/mfa/totp/confirm",
        Some(token),
        json!({"code": "000000"}),
    )
    .await;
    assert_eq!(wrong.0, 401, "a wrong first code does not enroll");
    let (status, confirmed, _) = post(
        realm,
        "/api/v1/me/mfa/totp/confirm",
        Some(token),
        json!({"code": totp(&secret, step_now())}),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    let codes: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

async fn password_step(realm: &Realm, email: &str) -> Value {
    realm.login(email, PASSWORD).await.json().await.unwrap()
}

#[tokio::test]
async fn with_totp_a_password_alone_no_longer_signs_in() {
    // Wrong codes count as failed sign-ins; this test makes more than back-off allows.
    let realm = Realm::start(&[
        "--login-backoff-after",
        "50",
        "--login-lock-after",
        "60",
        "--challenge-after-account-failures",
        "50",
    ])
    .await;
    realm.add_user("nurse@example.org", &["nurse"]);
    let (token, _) = realm.tokens("nurse@example.org").await;
    let (secret, codes) = enroll(&realm, &token).await;

    let first = password_step(&realm, "nurse@example.org").await;
    assert_eq!(first["mfa_required"], true, "{first}");
    assert!(first.get("access_token").is_none());
    assert_eq!(first["methods"], json!(["totp", "recovery_code"]));
    let mfa_token = first["mfa_token"].as_str().unwrap();

    // The code of an independent implementation signs in, once.
    let code = totp(&secret, step_now() + 1);
    let (status, tokens, _) = post(
        &realm,
        "/api/v1/auth/mfa",
        None,
        json!({"mfa_token": mfa_token, "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let claims = claims_of(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "urn:medvault:acr:mfa");
    let reused = post(
        &realm,
        "/api/v1/auth/mfa",
        None,
        json!({"mfa_token": mfa_token, "code": code}),
    )
    .await;
    assert_eq!(
        (reused.0, reused.1["error"].as_str()),
        (401, Some("invalid_mfa_token"))
    );

    // The same code in a new sign-in is a replay.
    let second = password_step(&realm, "nurse@example.org").await;
    let replay = post(
        &realm,
        "/api/v1/auth/mfa",
        None,
        json!({"mfa_token": second["mfa_token"], "code": code}),
    )
    .await;
    assert_eq!(
        (replay.0, replay.1["error"].as_str()),
        (401, Some("invalid_code"))
    );
    // Codes two steps away are outside the window; a wrong secret's codes never work.
    for stale in [
        totp(&secret, step_now() - 2),
        totp(&secret, step_now() + 2),
        totp("JBSWY3DPEHPK3PXP", step_now()),
    ] {
        let refused = post(
            &realm,
            "/api/v1/auth/mfa",
            None,
            json!({"mfa_token": second["mfa_token"], "code": stale}),
        )
        .await;
        assert_eq!(refused.0, 401);
    }

    // A recovery code works exactly once.
    let with_code = post(
        &realm,
        "/api/v1/auth/mfa",
        None,
        json!({"mfa_token": second["mfa_token"], "recovery_code": codes[0].to_lowercase()}),
    )
    .await;
    assert_eq!(with_code.0, 200, "{}", with_code.1);
    let third = password_step(&realm, "nurse@example.org").await;
    assert_eq!(third["mfa_required"], true, "{third}");
    let again = post(
        &realm,
        "/api/v1/auth/mfa",
        None,
        json!({"mfa_token": third["mfa_token"], "recovery_code": codes[0]}),
    )
    .await;
    assert_eq!(again.0, 401);

    let actions = realm.audit_actions().await;
    for action in [
        "mfa.enroll",
        "mfa.success",
        "mfa.failure",
        "mfa.recovery_code_used",
    ] {
        assert!(actions.contains(&action), "{action} audited: {actions:?}");
    }
}

#[tokio::test]
async fn five_wrong_codes_kill_the_sign_in() {
    let realm = Realm::start(&[]).await;
    realm.add_user("doc@example.org", &["physician"]);
    let (token, _) = realm.tokens("doc@example.org").await;
    let (secret, _) = enroll(&realm, &token).await;
    let first = password_step(&realm, "doc@example.org").await;
    for _ in 0..5 {
        let wrong = post(
            &realm,
            "/api/v1/auth/mfa",
            None,
            json!({"mfa_token": first["mfa_token"], "code": "999999"}),
        )
        .await;
        assert_eq!(wrong.0, 401);
    }
    let right = post(
        &realm,
        "/api/v1/auth/mfa",
        None,
        json!({"mfa_token": first["mfa_token"], "code": totp(&secret, step_now())}),
    )
    .await;
    assert_eq!(
        (right.0, right.1["error"].as_str()),
        (401, Some("invalid_mfa_token"))
    );
    let unknown = post(
        &realm,
        "/api/v1/auth/mfa",
        None,
        json!({"mfa_token": "not-a-token", "code": totp(&secret, step_now())}),
    )
    .await;
    assert_eq!(unknown.0, 401);
    // Guessing codes counts against the account like guessing passwords.
    assert_eq!(realm.login("doc@example.org", PASSWORD).await.status(), 429);
}

#[tokio::test]
async fn roles_that_need_mfa_can_only_enroll_until_they_do() {
    let env = vec![(
        "MEDVAULT_MFA_REQUIRED_ROLES".to_owned(),
        "physician,admin".to_owned(),
    )];
    let realm = Realm::start_in(&[], true, env).await;
    realm.add_user("doc@example.org", &["physician"]);
    realm.add_user("pat@example.org", &["patient"]);
    let (token, refresh) = realm.tokens("doc@example.org").await;
    assert_eq!(claims_of(&token)["scope"], "medvault.mfa-enroll");
    let me = realm.get("/api/v1/me", &token).await;
    assert_eq!(me.status(), 403);
    let problem: Value = me.json().await.unwrap();
    assert_eq!(problem["error"], "mfa_enrollment_required");
    assert_eq!(realm.get("/fhir/Patient", &token).await.status(), 403);
    let status: Value = realm
        .get("/api/v1/me/mfa", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (status["required"].as_bool(), status["totp"].as_bool()),
        (Some(true), Some(false))
    );

    enroll(&realm, &token).await;
    let refreshed: Value = realm.refresh(&refresh).await.json().await.unwrap();
    let full = refreshed["access_token"].as_str().unwrap();
    assert_eq!(claims_of(full)["scope"], "medvault.api");
    assert_eq!(realm.me_status(full).await, 200);

    // Patients are offered MFA, not required to use it.
    let (patient, _) = realm.tokens("pat@example.org").await;
    assert_eq!(claims_of(&patient)["scope"], "medvault.api");
    assert_eq!(realm.me_status(&patient).await, 200);
}

#[tokio::test]
async fn removing_a_factor_needs_a_fresh_one() {
    let realm = Realm::start(&[]).await;
    realm.add_user("admin@example.org", &["admin"]);
    let (token, _) = realm.tokens("admin@example.org").await;
    let (secret, _) = enroll(&realm, &token).await;

    // A token whose second factor is older than the step-up window, forged with the
    // server's own key so it differs from a genuine one in that respect only.
    let genuine = claims_of(&token);
    let mut claims = realm.claims(
        genuine["sub"].as_str().unwrap(),
        genuine["sid"].as_str().unwrap(),
    );
    claims["acr"] = json!("urn:medvault:acr:mfa");
    claims["amr"] = json!(["pwd", "otp", "mfa"]);
    claims["auth_time"] = json!(claims["iat"].as_i64().unwrap() - 3600);
    let stale = realm.active_signing_key().await.sign(&claims);
    let removal = realm
        .client
        .delete(realm.url("/api/v1/me/mfa/totp"))
        .bearer_auth(&stale)
        .send()
        .await
        .unwrap();
    assert_eq!(removal.status(), 401);
    let challenge = removal.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("error=\"insufficient_user_authentication\""),
        "{challenge}"
    );
    assert!(challenge.contains("max_age=300"), "{challenge}");
    let role_change = realm
        .client
        .patch(realm.url(&format!(
            "/api/v1/admin/users/{}",
            genuine["sub"].as_str().unwrap()
        )))
        .bearer_auth(&stale)
        .json(&json!({"roles": ["admin", "auditor"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        role_change.status(),
        401,
        "role changes need a fresh factor too"
    );

    let wrong = post(
        &realm,
        "/api/v1/auth/step-up",
        Some(&stale),
        json!({"code": "123456"}),
    )
    .await;
    assert_eq!(wrong.0, 401);
    let (status, stepped, _) = post(
        &realm,
        "/api/v1/auth/step-up",
        Some(&stale),
        json!({"code": totp(&secret, step_now() + 1)}),
    )
    .await;
    assert_eq!(status, 200, "{stepped}");
    let fresh = stepped["access_token"].as_str().unwrap();
    assert_eq!(claims_of(fresh)["acr"], "urn:medvault:acr:mfa");
    let removal = realm
        .client
        .delete(realm.url("/api/v1/me/mfa/totp"))
        .bearer_auth(fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(removal.status(), 204);
    let status: Value = realm
        .get("/api/v1/me/mfa", fresh)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["totp"], false);
    let actions = realm.audit_actions().await;
    assert!(
        actions.contains(&"mfa.step_up") && actions.contains(&"security.mfa_removed"),
        "{actions:?}"
    );
    // Signing in is back to a password alone.
    assert!(password_step(&realm, "admin@example.org")
        .await
        .get("access_token")
        .is_some());
}

#[tokio::test]
async fn an_admin_resets_a_lost_device_and_it_is_a_security_event() {
    let realm = Realm::start(&[]).await;
    realm.add_user("admin@example.org", &["admin"]);
    realm.add_user("nurse@example.org", &["nurse"]);
    let (admin, _) = realm.tokens("admin@example.org").await;
    let (nurse, _) = realm.tokens("nurse@example.org").await;
    enroll(&realm, &nurse).await;
    assert_eq!(
        password_step(&realm, "nurse@example.org").await["mfa_required"],
        true
    );
    let nurse_id = claims_of(&nurse)["sub"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/admin/users/{nurse_id}/mfa");

    let by_nurse = realm
        .client
        .delete(realm.url(&path))
        .bearer_auth(&nurse)
        .send()
        .await
        .unwrap();
    assert_eq!(by_nurse.status(), 403);
    let reset = realm
        .client
        .delete(realm.url(&path))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204);
    assert_eq!(
        realm.me_status(&nurse).await,
        401,
        "the user's sessions end"
    );
    assert!(password_step(&realm, "nurse@example.org")
        .await
        .get("access_token")
        .is_some());
    let again = realm
        .client
        .delete(realm.url(&path))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404, "nothing left to reset");

    let events: Value = realm
        .get("/api/v1/admin/security-events", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        events.to_string().contains("security.mfa_removed"),
        "{events}"
    );
}
