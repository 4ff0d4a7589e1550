//! Conformance cases for [`MfaStore`](crate::MfaStore).

use medvault_domain::{UnixMillis, UserId};

use crate::{MfaChallengeRecord, Store, StoreError};

async fn a_user(store: &dyn Store, email: &str) -> UserId {
    let user = super::user(email, &[medvault_domain::Role::Nurse]);
    store.insert_user(&user, None).await.expect("user");
    user.id
}

pub async fn totp_enrollment_confirms_once_and_steps_are_single_use(store: &dyn Store) {
    let user = a_user(store, "totp@example.org").await;
    assert_eq!(store.totp(user).await.expect("read"), None);
    store
        .put_pending_totp(user, &[1; 40], UnixMillis(1))
        .await
        .expect("start");
    // Restarting a pending enrollment replaces its secret.
    store
        .put_pending_totp(user, &[2; 40], UnixMillis(2))
        .await
        .expect("restart");
    let pending = store.totp(user).await.expect("read").expect("pending");
    assert_eq!(
        (pending.sealed_secret, pending.confirmed_at),
        (vec![2; 40], None)
    );
    let steps_before_confirming = store.use_totp_step(user, 5).await;
    assert!(matches!(steps_before_confirming, Err(StoreError::Conflict)));

    store
        .confirm_totp(user, 10, UnixMillis(3), &[[7; 32], [8; 32]])
        .await
        .expect("confirm");
    let again = store.confirm_totp(user, 11, UnixMillis(4), &[]).await;
    assert!(matches!(again, Err(StoreError::NotFound)), "{again:?}");
    let replace = store.put_pending_totp(user, &[3; 40], UnixMillis(5)).await;
    assert!(
        matches!(replace, Err(StoreError::Conflict)),
        "a confirmed factor stays"
    );
    assert_eq!(store.unused_recovery_codes(user).await.expect("count"), 2);

    assert!(
        matches!(
            store.use_totp_step(user, 10).await,
            Err(StoreError::Conflict)
        ),
        "replay"
    );
    store.use_totp_step(user, 11).await.expect("next step");
    assert!(
        matches!(
            store.use_totp_step(user, 9).await,
            Err(StoreError::Conflict)
        ),
        "older"
    );

    let codes_before = store.unused_recovery_codes(user).await.expect("count");
    store.delete_totp(user).await.expect("remove");
    assert_eq!(store.totp(user).await.expect("read"), None);
    assert_eq!(
        store.unused_recovery_codes(user).await.expect("count"),
        codes_before,
        "the codes belong to the account's factors, not to TOTP alone"
    );
    assert!(matches!(
        store.delete_totp(user).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn recovery_codes_are_spent_once_and_replaced_wholesale(store: &dyn Store) {
    let user = a_user(store, "codes@example.org").await;
    let other = a_user(store, "other@example.org").await;
    store
        .replace_recovery_codes(user, &[[1; 32], [2; 32]])
        .await
        .expect("codes");
    store
        .replace_recovery_codes(other, &[[3; 32]])
        .await
        .expect("codes");
    store
        .use_recovery_code(user, &[1; 32], UnixMillis(1))
        .await
        .expect("spend");
    let twice = store.use_recovery_code(user, &[1; 32], UnixMillis(2)).await;
    assert!(matches!(twice, Err(StoreError::NotFound)));
    let theirs = store.use_recovery_code(user, &[3; 32], UnixMillis(2)).await;
    assert!(
        matches!(theirs, Err(StoreError::NotFound)),
        "another user's code"
    );
    assert_eq!(store.unused_recovery_codes(user).await.expect("count"), 1);
    store
        .replace_recovery_codes(user, &[[9; 32]])
        .await
        .expect("regenerate");
    let old = store.use_recovery_code(user, &[2; 32], UnixMillis(3)).await;
    assert!(
        matches!(old, Err(StoreError::NotFound)),
        "the old set is void"
    );
    store
        .use_recovery_code(user, &[9; 32], UnixMillis(3))
        .await
        .expect("new code");
}

pub async fn mfa_challenges_expire_die_after_failures_and_spend_once(store: &dyn Store) {
    let user = a_user(store, "challenge@example.org").await;
    let challenge = |digest: u8, expires: i64| MfaChallengeRecord {
        digest: [digest; 32],
        user_id: user,
        expires_at: UnixMillis(expires),
    };
    store
        .insert_mfa_challenge(&challenge(1, 1_000), UnixMillis(0))
        .await
        .expect("insert");
    let found = store
        .mfa_challenge(&[1; 32], UnixMillis(10), 5)
        .await
        .expect("live");
    assert_eq!(found, challenge(1, 1_000));
    let expired = store.mfa_challenge(&[1; 32], UnixMillis(1_000), 5).await;
    assert!(matches!(expired, Err(StoreError::NotFound)));

    for _ in 0..5 {
        store
            .fail_mfa_challenge(&[1; 32])
            .await
            .expect("count failure");
    }
    let dead = store.mfa_challenge(&[1; 32], UnixMillis(10), 5).await;
    assert!(
        matches!(dead, Err(StoreError::NotFound)),
        "dead after five failures"
    );

    store
        .insert_mfa_challenge(&challenge(2, 1_000), UnixMillis(0))
        .await
        .expect("insert");
    store
        .spend_mfa_challenge(&[2; 32], UnixMillis(20))
        .await
        .expect("spend");
    let twice = store.spend_mfa_challenge(&[2; 32], UnixMillis(21)).await;
    assert!(matches!(twice, Err(StoreError::NotFound)));
    let spent = store.mfa_challenge(&[2; 32], UnixMillis(22), 5).await;
    assert!(matches!(spent, Err(StoreError::NotFound)));

    // Inserting sweeps expired challenges.
    store
        .insert_mfa_challenge(&challenge(3, 5_000), UnixMillis(2_000))
        .await
        .expect("insert");
    let swept = store.fail_mfa_challenge(&[1; 32]).await;
    assert!(matches!(swept, Err(StoreError::NotFound)), "{swept:?}");
}

pub async fn a_session_records_its_second_factor(store: &dyn Store) {
    let (user, session) = super::signed_in(store, "session-mfa@example.org").await;
    let _ = user;
    assert_eq!(store.session(session.id).await.expect("read").mfa_at, None);
    let amr = vec!["pwd".to_owned(), "otp".to_owned(), "mfa".to_owned()];
    store
        .record_session_mfa(session.id, UnixMillis(77), &amr)
        .await
        .expect("record");
    let read = store.session(session.id).await.expect("read");
    assert_eq!((read.mfa_at, read.amr), (Some(UnixMillis(77)), amr));
}

pub async fn a_password_change_can_be_required_and_cleared(store: &dyn Store) {
    let user = a_user(store, "leaked@example.org").await;
    assert!(!store.password_change_required(user).await.expect("read"));
    store
        .set_password_change_required(user, true)
        .await
        .expect("require");
    assert!(store.password_change_required(user).await.expect("read"));
    store
        .set_password_change_required(user, false)
        .await
        .expect("clear");
    assert!(!store.password_change_required(user).await.expect("read"));
    let unknown = store
        .set_password_change_required(UserId::new(), true)
        .await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
}

pub async fn the_outbox_leases_messages_and_retries_until_delivered(store: &dyn Store) {
    store
        .enqueue_outbox("m1", "{}", UnixMillis(100))
        .await
        .expect("enqueue");
    store
        .enqueue_outbox("m2", "{}", UnixMillis(200))
        .await
        .expect("enqueue");
    assert!(
        store
            .claim_outbox(UnixMillis(50), 1_000, 10)
            .await
            .expect("claim")
            .is_empty(),
        "not due"
    );
    let claimed = store
        .claim_outbox(UnixMillis(300), 1_000, 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    assert!(
        store
            .claim_outbox(UnixMillis(400), 1_000, 10)
            .await
            .expect("claim")
            .is_empty(),
        "leased"
    );
    store
        .outbox_delivered("m1", UnixMillis(500))
        .await
        .expect("delivered");
    store
        .outbox_failed("m2", UnixMillis(2_000))
        .await
        .expect("failed");
    assert!(
        store
            .claim_outbox(UnixMillis(1_500), 1_000, 10)
            .await
            .expect("claim")
            .is_empty(),
        "backing off"
    );
    let retried = store
        .claim_outbox(UnixMillis(2_000), 1_000, 10)
        .await
        .expect("claim");
    assert_eq!(
        retried
            .iter()
            .map(|m| (m.id.as_str(), m.attempts))
            .collect::<Vec<_>>(),
        [("m2", 1)]
    );
    // A lease that runs out frees the message for another deliverer.
    let again = store
        .claim_outbox(UnixMillis(3_001), 1_000, 10)
        .await
        .expect("claim");
    assert_eq!(again.len(), 1);
}

pub async fn passkeys_are_unique_updated_by_compare_and_swap_and_ceremonies_spend_once(
    store: &dyn Store,
) {
    use crate::{Ceremony, CeremonyKind, WebAuthnCredential};
    let (ann, bob) = (
        a_user(store, "ann-passkey@example.org").await,
        a_user(store, "bob-passkey@example.org").await,
    );
    let credential = |id: &str, user| WebAuthnCredential {
        id: id.to_owned(),
        user_id: user,
        nickname: "laptop".into(),
        passkey: "{\"counter\":0}".into(),
        created_at: UnixMillis(1),
        last_used_at: None,
    };
    store
        .insert_webauthn_credential(&credential("cred-1", ann))
        .await
        .expect("insert");
    let stolen = store
        .insert_webauthn_credential(&credential("cred-1", bob))
        .await;
    assert!(matches!(stolen, Err(StoreError::Conflict)), "{stolen:?}");
    store
        .insert_webauthn_credential(&credential("cred-2", ann))
        .await
        .expect("second");
    assert_eq!(
        store.webauthn_credentials(ann).await.expect("list").len(),
        2
    );
    assert!(store
        .webauthn_credentials(bob)
        .await
        .expect("list")
        .is_empty());

    store
        .use_webauthn_credential(
            "cred-1",
            "{\"counter\":0}",
            "{\"counter\":5}",
            UnixMillis(9),
        )
        .await
        .expect("use");
    let raced = store
        .use_webauthn_credential(
            "cred-1",
            "{\"counter\":0}",
            "{\"counter\":4}",
            UnixMillis(9),
        )
        .await;
    assert!(matches!(raced, Err(StoreError::Conflict)), "{raced:?}");
    let used = store.webauthn_credential("cred-1").await.expect("read");
    assert_eq!(
        (used.passkey.as_str(), used.last_used_at),
        ("{\"counter\":5}", Some(UnixMillis(9)))
    );

    let not_bobs = store.delete_webauthn_credential(bob, "cred-1").await;
    assert!(
        matches!(not_bobs, Err(StoreError::NotFound)),
        "{not_bobs:?}"
    );
    store
        .delete_webauthn_credential(ann, "cred-1")
        .await
        .expect("delete");
    assert_eq!(
        store.delete_webauthn_credentials(ann).await.expect("reset"),
        1
    );
    assert!(matches!(
        store.webauthn_credential("cred-2").await,
        Err(StoreError::NotFound)
    ));

    let ceremony = Ceremony {
        digest: [4; 32],
        kind: CeremonyKind::SignIn,
        user_id: Some(ann),
        session_id: None,
        state: "first".into(),
        // Far ahead: storing a ceremony prunes those expired by the wall clock.
        expires_at: UnixMillis(4_000_000_000_000),
    };
    store.put_ceremony(&ceremony).await.expect("put");
    let restarted = Ceremony {
        state: "second".into(),
        ..ceremony.clone()
    };
    store.put_ceremony(&restarted).await.expect("restart");
    let wrong_kind = store
        .take_ceremony(&[4; 32], CeremonyKind::StepUp, UnixMillis(50))
        .await;
    assert!(matches!(wrong_kind, Err(StoreError::NotFound)));
    let taken = store
        .take_ceremony(&[4; 32], CeremonyKind::SignIn, UnixMillis(50))
        .await
        .expect("take");
    assert_eq!((taken.state.as_str(), taken.user_id), ("second", Some(ann)));
    let twice = store
        .take_ceremony(&[4; 32], CeremonyKind::SignIn, UnixMillis(51))
        .await;
    assert!(matches!(twice, Err(StoreError::NotFound)), "single use");
    store
        .put_ceremony(&restarted)
        .await
        .expect("a retry revives it");
    let retried = store
        .take_ceremony(&[4; 32], CeremonyKind::SignIn, UnixMillis(52))
        .await
        .expect("retry");
    assert_eq!(retried.state, "second");
    let hijack = Ceremony {
        user_id: Some(bob),
        ..restarted.clone()
    };
    let hijacked = store.put_ceremony(&hijack).await;
    assert!(
        matches!(hijacked, Err(StoreError::Conflict)),
        "{hijacked:?}"
    );
    let late = Ceremony {
        digest: [5; 32],
        kind: CeremonyKind::Passwordless,
        user_id: None,
        expires_at: UnixMillis(100),
        ..ceremony
    };
    store.put_ceremony(&late).await.expect("put");
    let expired = store
        .take_ceremony(&[5; 32], CeremonyKind::Passwordless, UnixMillis(100))
        .await;
    assert!(matches!(expired, Err(StoreError::NotFound)), "expired");
}

pub async fn oauth_clients_round_trip_and_revoked_token_ids_are_remembered(store: &dyn Store) {
    use crate::OAuthClient;
    let client = OAuthClient {
        client_id: "partner-lab".into(),
        client_name: "Partner lab".into(),
        secret_digest: Some([7; 32]),
        token_endpoint_auth_method: "client_secret_basic".into(),
        grant_types: vec!["client_credentials".into()],
        redirect_uris: vec![],
        scope: "system/Observation.rs system/Patient.r".into(),
        jwks: None,
        jwks_uri: Some("https://partner.example/jwks.json".into()),
        id_token_signed_response_alg: "ES256".into(),
        created_at: UnixMillis(3),
    };
    store.insert_oauth_client(&client).await.expect("insert");
    let again = store.insert_oauth_client(&client).await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    let public = OAuthClient {
        client_id: "mobile".into(),
        secret_digest: None,
        jwks: Some("{\"keys\":[]}".into()),
        jwks_uri: None,
        id_token_signed_response_alg: "RS256".into(),
        token_endpoint_auth_method: "none".into(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        redirect_uris: vec![
            "https://app.example/cb".into(),
            "http://localhost:5000/cb".into(),
        ],
        ..client.clone()
    };
    store.insert_oauth_client(&public).await.expect("public");
    assert_eq!(
        store.oauth_client("partner-lab").await.expect("read"),
        client
    );
    assert_eq!(
        store.oauth_clients().await.expect("list"),
        vec![public.clone(), client]
    );
    store.delete_oauth_client("mobile").await.expect("delete");
    assert!(matches!(
        store.oauth_client("mobile").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_oauth_client("mobile").await,
        Err(StoreError::NotFound)
    ));

    assert!(!store.token_id_revoked("jti-1").await.expect("check"));
    store
        .revoke_token_id("jti-1", UnixMillis(i64::MAX))
        .await
        .expect("revoke");
    store
        .revoke_token_id("jti-1", UnixMillis(i64::MAX))
        .await
        .expect("twice");
    assert!(store.token_id_revoked("jti-1").await.expect("check"));

    let far = UnixMillis(i64::MAX);
    assert!(store.claim_assertion_id("c1:a1", far).await.expect("first"));
    assert!(!store
        .claim_assertion_id("c1:a1", far)
        .await
        .expect("replay"));
    assert!(store
        .claim_assertion_id("c2:a1", far)
        .await
        .expect("other client"));
}
