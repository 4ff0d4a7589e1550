//! Conformance cases for [`OAuthGrantStore`](crate::OAuthGrantStore).

use medvault_domain::{PatientId, SessionId, UnixMillis};

use crate::{AuthorizationCode, CodeRedemption, OAuthGrant, Store};

pub async fn authorization_codes_spend_once_and_grants_and_consent_are_kept(store: &dyn Store) {
    // Real time: a store may prune codes by its own clock.
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    let now = UnixMillis(i64::try_from(since_epoch.as_millis()).expect("in range"));
    let code = AuthorizationCode {
        digest: [7; 32],
        client_id: "client-a".into(),
        details: r#"{"redirect_uri":"https://app.example/cb"}"#.into(),
        expires_at: now.plus_secs(60),
    };
    store
        .insert_authorization_code(&code)
        .await
        .expect("insert");
    let expired = AuthorizationCode {
        digest: [8; 32],
        expires_at: UnixMillis(now.0 - 1),
        ..code.clone()
    };
    store
        .insert_authorization_code(&expired)
        .await
        .expect("insert");
    let (first, second) = (SessionId::new(), SessionId::new());
    // Two redemptions race: exactly one wins, the other sees a reuse naming the winner.
    let (a, b) = tokio::join!(
        store.redeem_authorization_code(&code.digest, first, now),
        store.redeem_authorization_code(&code.digest, second, now),
    );
    let (a, b) = (a.expect("redeem"), b.expect("redeem"));
    let redeemed = CodeRedemption::Redeemed {
        client_id: code.client_id.clone(),
        details: code.details.clone(),
    };
    let winner = match (&a, &b) {
        (r, CodeRedemption::Reused(Some(w))) if *r == redeemed => *w,
        (CodeRedemption::Reused(Some(w)), r) if *r == redeemed => *w,
        other => panic!("one redemption must win: {other:?}"),
    };
    assert!(winner == first || winner == second);
    assert_eq!(
        store
            .redeem_authorization_code(&code.digest, SessionId::new(), now)
            .await
            .expect("again"),
        CodeRedemption::Reused(Some(winner))
    );
    for unknown in [expired.digest, [9; 32]] {
        assert_eq!(
            store
                .redeem_authorization_code(&unknown, SessionId::new(), now)
                .await
                .expect("unknown"),
            CodeRedemption::Unknown
        );
    }

    let user = super::user("consent@example.org", &[medvault_domain::Role::Patient]);
    store.insert_user(&user, None).await.expect("user");
    let sso = SessionId::new();
    let grant = OAuthGrant {
        session_id: winner,
        client_id: "client-a".into(),
        sso_session_id: sso,
        scope: "openid patient/Observation.rs".into(),
        patient: Some(PatientId::new()),
    };
    let session_with_id = |id: SessionId| medvault_domain::Session {
        id,
        ..super::session_of(&user, 600, 3600)
    };
    let (first, second) = (session_with_id(winner), session_with_id(SessionId::new()));
    store
        .insert_grant_session(&grant, &first, &super::token(&first, 41, 600))
        .await
        .expect("grant");
    let other = OAuthGrant {
        session_id: second.id,
        patient: None,
        ..grant.clone()
    };
    store
        .insert_grant_session(&other, &second, &super::token(&second, 42, 600))
        .await
        .expect("grant");
    assert_eq!(store.session(winner).await.expect("session").id, winner);
    assert_eq!(store.oauth_grant(winner).await.expect("read"), Some(grant));
    assert_eq!(
        store.oauth_grant(SessionId::new()).await.expect("read"),
        None
    );
    // Live at T0, expired later; unknown tokens name no session.
    assert_eq!(
        store
            .refresh_token_session(&[42; 32], super::T0)
            .await
            .expect("read"),
        Some((second.id, true))
    );
    assert_eq!(
        store
            .refresh_token_session(&[42; 32], super::T0.plus_secs(601))
            .await
            .expect("read"),
        Some((second.id, false))
    );
    assert_eq!(
        store
            .refresh_token_session(&[43; 32], super::T0)
            .await
            .expect("read"),
        None
    );
    let mut within = vec![winner, other.session_id];
    within.sort_by_key(ToString::to_string);
    assert_eq!(store.oauth_grants_within(sso).await.expect("list"), within);
    assert!(store
        .oauth_grants_within(SessionId::new())
        .await
        .expect("list")
        .is_empty());
    let next_sso = SessionId::new();
    store.move_oauth_grants(sso, next_sso).await.expect("move");
    assert_eq!(
        store.oauth_grants_within(next_sso).await.expect("list"),
        within
    );
    assert!(store
        .oauth_grants_within(sso)
        .await
        .expect("list")
        .is_empty());

    assert_eq!(
        store
            .remembered_consent(user.id, "client-a")
            .await
            .expect("read"),
        None
    );
    for scope in ["openid", "openid patient/*.rs"] {
        store
            .remember_consent(user.id, "client-a", scope, now)
            .await
            .expect("remember");
        assert_eq!(
            store
                .remembered_consent(user.id, "client-a")
                .await
                .expect("read"),
            Some(scope.to_owned())
        );
    }
    assert_eq!(
        store
            .remembered_consent(user.id, "client-b")
            .await
            .expect("read"),
        None
    );
}
