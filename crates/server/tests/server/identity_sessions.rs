//! Refresh rotation, reuse detection, logout, session listing and the automatic-logoff timeouts.

use std::time::Duration;

use serde_json::Value;

use crate::realm::{claims_of, Realm};

async fn pair(response: reqwest::Response) -> (String, String) {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().into(),
        body["refresh_token"].as_str().unwrap().into(),
    )
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn refresh_rotates_and_reusing_a_spent_token_revokes_the_whole_family() {
    let realm = Realm::start(&[]).await;
    realm.add_user("jane@example.org", &["physician"]);
    let (_, first) = realm.tokens("jane@example.org").await;

    let (access, second) = pair(realm.refresh(&first).await).await;
    assert_ne!(first, second);
    assert_eq!(realm.me_status(&access).await, 200);

    // An attacker replays the stolen, already spent token...
    assert_eq!(
        error_of(realm.refresh(&first).await).await,
        (401, "invalid_grant".into())
    );
    // ...and the whole family dies: the legitimate holder's newer tokens too.
    assert_eq!(
        error_of(realm.refresh(&second).await).await,
        (401, "invalid_grant".into())
    );
    assert_eq!(realm.me_status(&access).await, 401);
}

#[tokio::test]
async fn a_refresh_token_that_was_never_issued_is_refused() {
    let realm = Realm::start(&[]).await;
    for token in ["", "made-up", &"A".repeat(43)] {
        assert_eq!(
            error_of(realm.refresh(token).await).await,
            (401, "invalid_grant".into()),
            "{token:?}"
        );
    }
}

#[tokio::test]
async fn logout_takes_effect_on_the_very_next_request() {
    let realm = Realm::start(&[]).await;
    realm.add_user("jane@example.org", &["physician"]);
    let (access, refresh) = realm.tokens("jane@example.org").await;
    let (other_access, _) = realm.tokens("jane@example.org").await;

    let logout = realm
        .client
        .post(realm.url("/api/v1/auth/logout"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(realm.me_status(&access).await, 401);
    assert_eq!(
        error_of(realm.refresh(&refresh).await).await,
        (401, "invalid_grant".into())
    );
    assert_eq!(
        realm.me_status(&other_access).await,
        200,
        "other sessions are untouched"
    );
}

#[tokio::test]
async fn a_user_lists_their_sessions_and_ends_another_device() {
    let realm = Realm::start(&[]).await;
    realm.add_user("jane@example.org", &["physician"]);
    realm.add_user("joe@example.org", &["nurse"]);
    let (laptop, _) = realm.tokens("jane@example.org").await;
    let (phone, _) = realm.tokens("jane@example.org").await;
    let (joe, _) = realm.tokens("joe@example.org").await;

    let list: Value = realm
        .get("/api/v1/me/sessions", &laptop)
        .await
        .json()
        .await
        .unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let phone_sid = claims_of(&phone)["sid"].as_str().unwrap().to_owned();
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_ne!(current[0]["id"], phone_sid.as_str());
    assert_eq!(sessions[0]["ip"], "127.0.0.1");

    let end = |token: String, sid: String| {
        let client = realm.client.clone();
        let url = realm.url(&format!("/api/v1/me/sessions/{sid}"));
        async move {
            client
                .delete(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Joe cannot end Jane's session, nor learn that it exists.
    assert_eq!(end(joe.clone(), phone_sid.clone()).await, 404);
    assert_eq!(
        end(laptop.clone(), uuid::Uuid::new_v4().to_string()).await,
        404
    );
    assert_eq!(end(laptop.clone(), "not-an-id".into()).await, 404);
    assert_eq!(end(laptop.clone(), phone_sid).await, 204);
    assert_eq!(realm.me_status(&phone).await, 401);
    assert_eq!(realm.me_status(&laptop).await, 200);
}

#[tokio::test]
async fn an_idle_session_ends_and_activity_keeps_it_alive() {
    let realm = Realm::start(&["--session-idle-secs", "2"]).await;
    realm.add_user("jane@example.org", &["physician"]);
    let response = realm
        .login("jane@example.org", crate::realm::PASSWORD)
        .await;
    let body: Value = response.json().await.unwrap();
    assert!(
        body["expires_in"].as_i64().unwrap() <= 2,
        "access tokens never outlive the idle window"
    );
    let mut refresh = body["refresh_token"].as_str().unwrap().to_owned();

    // Activity inside the window extends it past the original deadline.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        refresh = pair(realm.refresh(&refresh).await).await.1;
    }
    // Then idleness beyond the window ends the session.
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    assert_eq!(
        error_of(realm.refresh(&refresh).await).await,
        (401, "invalid_grant".into())
    );
}

#[tokio::test]
async fn the_absolute_timeout_ends_even_an_active_session() {
    let realm = Realm::start(&["--session-idle-secs", "2", "--session-absolute-secs", "3"]).await;
    realm.add_user("jane@example.org", &["physician"]);
    let (_, mut refresh) = realm.tokens("jane@example.org").await;
    let started = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let response = realm.refresh(&refresh).await;
        if response.status() != 200 {
            assert_eq!(error_of(response).await, (401, "invalid_grant".into()));
            break;
        }
        let body: Value = response.json().await.unwrap();
        let remaining = 3.0 - started.elapsed().as_secs_f64();
        assert!(
            body["expires_in"].as_f64().unwrap() <= remaining.ceil() + 1.0,
            "capped by the absolute deadline"
        );
        refresh = body["refresh_token"].as_str().unwrap().to_owned();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "kept refreshing past the absolute timeout"
        );
    }
    assert!(
        started.elapsed() >= Duration::from_millis(2_500),
        "ended early: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_user_changes_their_password_and_their_other_sessions_end() {
    let realm = Realm::start(&[]).await;
    realm.add_user("jane@example.org", &["physician"]);
    let (laptop, laptop_refresh) = realm.tokens("jane@example.org").await;
    let (phone, _) = realm.tokens("jane@example.org").await;
    let change = |current: &str, new: &str| {
        let request = realm
            .client
            .post(realm.url("/api/v1/me/password"))
            .bearer_auth(&laptop)
            .json(&serde_json::json!({"current_password": current, "new_password": new}));
        async move { request.send().await.unwrap() }
    };
    let new_password = "Freshly-Chosen-Passphrase-64";

    assert_eq!(
        error_of(change("Not-My-Password-0", new_password).await).await,
        (401, "invalid_credentials".into())
    );
    let weak = change(crate::realm::PASSWORD, "short").await;
    assert_eq!(weak.status(), 422);
    assert_eq!(
        change(crate::realm::PASSWORD, new_password).await.status(),
        204
    );

    assert_eq!(
        realm.me_status(&phone).await,
        401,
        "other devices are signed out"
    );
    assert_eq!(
        realm.me_status(&laptop).await,
        200,
        "this device keeps working"
    );
    assert_eq!(realm.refresh(&laptop_refresh).await.status(), 200);
    assert_eq!(
        realm
            .login("jane@example.org", crate::realm::PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(
        realm.login("jane@example.org", new_password).await.status(),
        200
    );
    assert!(realm
        .audit_actions()
        .await
        .contains(&"user.password_change"));
}
