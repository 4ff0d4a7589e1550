//! Access-token verification: every forgery the issue lists is refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::realm::{claims_of, header_of, Realm};

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn forged_tokens_are_refused_and_a_faithful_forgery_proves_the_harness() {
    let realm = Realm::start(&[]).await;
    realm.add_user("jane@example.org", &["physician"]);
    let (genuine, _) = realm.tokens("jane@example.org").await;
    let (sub, sid) = {
        let claims = claims_of(&genuine);
        (
            claims["sub"].as_str().unwrap().to_owned(),
            claims["sid"].as_str().unwrap().to_owned(),
        )
    };
    let key = realm.active_signing_key().await;
    let kid = key.kid().to_owned();
    let claims = realm.claims(&sub, &sid);

    // Signed with the real key and faithful claims: accepted, so rejections below are real.
    assert_eq!(realm.me_status(&key.sign(&claims)).await, 200);

    let with = |field: &str, value: Value| {
        let mut c = claims.clone();
        c[field] = value;
        key.sign(&c)
    };
    let now = claims["iat"].as_i64().unwrap();
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some(kid.clone()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.public_jwk().x.as_deref().unwrap().as_bytes()),
    )
    .unwrap();
    let stranger = medvault_crypto::jwt::SigningKey::generate(kid.clone()).unwrap();
    let unknown_kid =
        medvault_crypto::jwt::SigningKey::generate("not-a-medvault-key".into()).unwrap();
    let forgeries = [
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "kid": kid})),
                b64(&claims)
            ),
        ),
        (
            "alg none, no kid",
            format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims)),
        ),
        ("HS256 keyed with the public key", hs256),
        ("unknown kid", unknown_kid.sign(&claims)),
        ("bad signature", stranger.sign(&claims)),
        ("wrong issuer", with("iss", json!("https://evil.example"))),
        (
            "wrong audience",
            with("aud", json!("https://other.example")),
        ),
        ("expired beyond skew", with("exp", json!(now - 61))),
        ("not yet valid", with("nbf", json!(now + 120))),
        ("missing exp", {
            let mut c = claims.clone();
            c.as_object_mut().unwrap().remove("exp");
            key.sign(&c)
        }),
        ("truncated", genuine[..genuine.len() - 5].to_owned()),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (what, token) in forgeries {
        let response = realm.get("/api/v1/me", &token).await;
        assert_eq!(response.status(), 401, "{what} was accepted");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(challenge, r#"Bearer error="invalid_token""#, "{what}");
    }
}

#[tokio::test]
async fn malformed_authorization_headers_are_client_errors() {
    let realm = Realm::start(&[]).await;
    let me = realm.url("/api/v1/me");
    let missing = realm.client.get(&me).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    for header in [
        "Basic amFuZTpwdw==",
        "Bearer",
        "Bearer ",
        "token-without-scheme",
    ] {
        let response = realm
            .client
            .get(&me)
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{header:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
}

#[tokio::test]
async fn after_key_rotation_old_tokens_live_until_expiry_and_new_ones_use_the_new_key() {
    let realm = Realm::start(&[]).await;
    realm.add_user("jane@example.org", &["physician"]);
    let (old_token, _) = realm.tokens("jane@example.org").await;
    let old_kid = header_of(&old_token)["kid"].as_str().unwrap().to_owned();
    let next_kid = realm
        .published_kids()
        .await
        .into_iter()
        .find(|k| *k != old_kid)
        .expect("a next key is published");

    let (ok, stdout, stderr) = realm.run_cli(&["keys", "rotate"], "");
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&next_kid),
        "the published next key is the one promoted: {stdout}"
    );

    // The server picks the rotation up within its sync interval; poll, never sleep blindly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let new_token = loop {
        let (token, _) = realm.tokens("jane@example.org").await;
        if header_of(&token)["kid"] == next_kid.as_str() {
            break token;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server never switched keys"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(realm.me_status(&new_token).await, 200);
    assert_eq!(
        realm.me_status(&old_token).await,
        200,
        "tokens of the retiring key stay valid"
    );

    let kids = realm.published_kids().await;
    assert_eq!(
        kids.len(),
        3,
        "retiring, active and a new next key: {kids:?}"
    );
    assert!(kids.contains(&old_kid) && kids.contains(&next_kid));
}
