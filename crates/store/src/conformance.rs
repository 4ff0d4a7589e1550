//! The one conformance suite every backend runs (DESIGN.md §4).
//!
//! A backend's test file provides a [`Fixture`] and invokes [`conformance_tests!`], which
//! expands to one `#[tokio::test]` per case below, each on a fresh, empty store.

use medvault_domain::{
    Actor, AuditAction, AuditEvent, AuditedResource, Email, MasterKeyId, Outcome, PatientId, Role,
    Roles, Session, SessionId, UnixMillis, User, UserId, UserStatus, WrappedDataKey,
};

use crate::{
    RefreshTokenRecord, Rotation, SigningKeyRecord, SigningKeyState, Store, StoreError, UserFilter,
};

mod access;
mod erasure;
mod mfa;
mod oauth;
mod records;
pub use access::*;
pub use erasure::*;
pub use mfa::*;
pub use oauth::*;
pub use records::*;

/// A fresh, empty store for one test case.
#[allow(async_fn_in_trait)] // used only by tests, never as `dyn`
pub trait Fixture: Sized {
    /// `None` when the backend is not configured here; the case then reports itself skipped.
    async fn create() -> Option<Self>;
    fn store(&self) -> &dyn Store;
    async fn teardown(self);
}

/// Expands to one test per conformance case. Keep the list in step with the functions below.
#[macro_export]
macro_rules! conformance_tests {
    ($fixture:ty) => {
        $crate::conformance_tests!(@cases $fixture;
            ping_answers,
            fresh_database_has_no_master_key_id,
            master_key_id_is_recorded_once,
            data_key_round_trips,
            second_data_key_for_a_patient_conflicts,
            concurrent_first_data_keys_have_one_winner,
            missing_data_key_is_not_found,
            rewrap_replaces_only_the_expected_wrapping,
            rewrap_of_a_missing_key_is_not_found,
            data_keys_wrapped_by_lists_one_master_key_in_batches,
            destroyed_data_key_is_gone,
            user_round_trips_by_id_and_email,
            duplicate_email_conflicts,
            password_hash_is_kept_apart_and_replaceable,
            update_replaces_mutable_fields,
            deleting_a_user_deletes_their_sessions,
            users_list_by_filter_in_pages,
            only_active_admins_are_counted,
            live_sessions_exclude_revoked_and_expired,
            a_refresh_token_is_spent_exactly_once,
            concurrent_refreshes_have_one_winner,
            an_unknown_refresh_token_is_not_found,
            tokens_of_dead_sessions_do_not_rotate,
            rotation_never_extends_past_the_absolute_deadline,
            revocation_is_reported_and_listed,
            signing_keys_rotate_through_their_states,
            at_most_one_active_and_one_next_signing_key,
            audit_events_chain_in_append_order,
            concurrent_appends_form_one_chain,
            checkpoints_and_the_checkpoint_key_are_kept,
            audit_search_filters_and_pages,
            pruning_keeps_the_anchor_checkpoint,
            records_round_trip_by_current_and_exact_version,
            stale_versions_and_duplicate_ids_conflict,
            a_failed_write_batch_leaves_nothing_behind,
            records_are_found_by_tokens_compartment_and_time,
            replaced_tokens_and_deleted_records_are_not_found,
            record_listings_page_by_keyset,
            history_lists_versions_newest_first_in_pages,
            a_compartment_lists_every_version_in_key_order,
            a_master_key_rotation_reseals_and_switches_once,
            a_failing_batch_in_a_group_commit_leaves_the_others_written,
            totp_enrollment_confirms_once_and_steps_are_single_use,
            recovery_codes_are_spent_once_and_replaced_wholesale,
            mfa_challenges_expire_die_after_failures_and_spend_once,
            a_session_records_its_second_factor,
            a_password_change_can_be_required_and_cleared,
            the_outbox_leases_messages_and_retries_until_delivered,
            passkeys_are_unique_updated_by_compare_and_swap_and_ceremonies_spend_once,
            oauth_clients_round_trip_and_revoked_token_ids_are_remembered,
            authorization_codes_spend_once_and_grants_and_consent_are_kept,
            key_shares_round_trip_resolve_subjects_and_are_destroyed,
            a_legal_hold_blocks_erasure_until_released,
            completing_an_erasure_deletes_that_patients_rows_only,
            retention_expires_old_records_and_patients_outside_holds,
            policy_sets_are_versioned_and_racing_loads_conflict,
            access_epochs_move_with_batches_and_break_glass_grants,
            listings_stay_within_the_given_compartments,
        );
    };
    (@cases $fixture:ty; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                use $crate::conformance::Fixture as _;
                let Some(fixture) = <$fixture>::create().await else { return };
                $crate::conformance::$case(fixture.store()).await;
                fixture.teardown().await;
            }
        )*
    };
}

fn master_key_id(n: u8) -> MasterKeyId {
    format!("{n:016x}").parse().expect("16 hex characters")
}

fn wrapped(patient: PatientId, master: &MasterKeyId, fill: u8) -> WrappedDataKey {
    WrappedDataKey {
        patient,
        master_key_id: master.clone(),
        sealed: vec![fill; 61],
    }
}

pub async fn ping_answers(store: &dyn Store) {
    store.ping().await.expect("ping");
    assert!(["sqlite", "postgres"].contains(&store.backend()));
}

pub async fn fresh_database_has_no_master_key_id(store: &dyn Store) {
    assert_eq!(store.master_key_id().await.expect("read"), None);
}

pub async fn master_key_id_is_recorded_once(store: &dyn Store) {
    store
        .init_master_key_id(&master_key_id(1))
        .await
        .expect("first init");
    let second = store.init_master_key_id(&master_key_id(2)).await;
    assert!(matches!(second, Err(StoreError::Conflict)), "{second:?}");
    assert_eq!(
        store.master_key_id().await.expect("read"),
        Some(master_key_id(1))
    );
}

pub async fn data_key_round_trips(store: &dyn Store) {
    let key = wrapped(PatientId::new(), &master_key_id(1), 0xab);
    store.insert_data_key(&key).await.expect("insert");
    assert_eq!(store.data_key(key.patient).await.expect("read"), key);
}

pub async fn second_data_key_for_a_patient_conflicts(store: &dyn Store) {
    let patient = PatientId::new();
    let first = wrapped(patient, &master_key_id(1), 1);
    store.insert_data_key(&first).await.expect("insert");
    let second = store
        .insert_data_key(&wrapped(patient, &master_key_id(1), 2))
        .await;
    assert!(matches!(second, Err(StoreError::Conflict)), "{second:?}");
    assert_eq!(
        store.data_key(patient).await.expect("read"),
        first,
        "first key kept"
    );
}

pub async fn concurrent_first_data_keys_have_one_winner(store: &dyn Store) {
    let patient = PatientId::new();
    let (a, b) = (
        wrapped(patient, &master_key_id(1), 1),
        wrapped(patient, &master_key_id(1), 2),
    );
    let (ra, rb) = tokio::join!(store.insert_data_key(&a), store.insert_data_key(&b));
    let winners = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "{ra:?} {rb:?}");
    assert!(matches!(ra, Err(StoreError::Conflict)) || matches!(rb, Err(StoreError::Conflict)));
    let stored = store.data_key(patient).await.expect("read");
    assert_eq!(stored, if ra.is_ok() { a } else { b });
}

pub async fn missing_data_key_is_not_found(store: &dyn Store) {
    let missing = store.data_key(PatientId::new()).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

pub async fn rewrap_replaces_only_the_expected_wrapping(store: &dyn Store) {
    let patient = PatientId::new();
    let (old, new) = (master_key_id(1), master_key_id(2));
    store
        .insert_data_key(&wrapped(patient, &old, 1))
        .await
        .expect("insert");

    let rewrapped = wrapped(patient, &new, 2);
    let stale = store.rewrap_data_key(&new, &rewrapped).await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");

    store
        .rewrap_data_key(&old, &rewrapped)
        .await
        .expect("rewrap");
    assert_eq!(store.data_key(patient).await.expect("read"), rewrapped);
    let again = store
        .rewrap_data_key(&old, &wrapped(patient, &new, 3))
        .await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
}

pub async fn rewrap_of_a_missing_key_is_not_found(store: &dyn Store) {
    let key = wrapped(PatientId::new(), &master_key_id(2), 1);
    let result = store.rewrap_data_key(&master_key_id(1), &key).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
}

pub async fn data_keys_wrapped_by_lists_one_master_key_in_batches(store: &dyn Store) {
    let (old, new) = (master_key_id(1), master_key_id(2));
    for fill in 0..5 {
        store
            .insert_data_key(&wrapped(PatientId::new(), &old, fill))
            .await
            .expect("insert");
    }
    store
        .insert_data_key(&wrapped(PatientId::new(), &new, 9))
        .await
        .expect("insert");

    let batch = store.data_keys_wrapped_by(&old, 3).await.expect("list");
    assert_eq!(batch.len(), 3);
    assert!(batch.iter().all(|k| k.master_key_id == old));
    assert_eq!(
        store
            .data_keys_wrapped_by(&old, 100)
            .await
            .expect("list")
            .len(),
        5
    );
    assert_eq!(
        store
            .data_keys_wrapped_by(&new, 100)
            .await
            .expect("list")
            .len(),
        1
    );
    assert!(store
        .data_keys_wrapped_by(&master_key_id(3), 100)
        .await
        .expect("list")
        .is_empty());

    // Every slot, in pages.
    let first = store.data_key_slots(None, 4).await.expect("slots");
    let rest = store
        .data_key_slots(first.last().copied(), 4)
        .await
        .expect("slots");
    assert_eq!((first.len(), rest.len()), (4, 2));
    let mut all: Vec<String> = first.iter().chain(&rest).map(|p| p.to_string()).collect();
    let listed = all.clone();
    all.sort();
    assert_eq!(listed, all, "in order, without repeats");
    all.dedup();
    assert_eq!(all.len(), 6);
}

pub async fn destroyed_data_key_is_gone(store: &dyn Store) {
    let (kept, shredded) = (PatientId::new(), PatientId::new());
    store
        .insert_data_key(&wrapped(kept, &master_key_id(1), 1))
        .await
        .expect("insert");
    store
        .insert_data_key(&wrapped(shredded, &master_key_id(1), 2))
        .await
        .expect("insert");

    store.destroy_data_key(shredded).await.expect("destroy");
    assert!(matches!(
        store.data_key(shredded).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.destroy_data_key(shredded).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store.data_key(kept).await.is_ok(),
        "other patients' keys survive"
    );
}

const T0: UnixMillis = UnixMillis(1_800_000_000_000);

fn user(email: &str, roles: &[Role]) -> User {
    User {
        id: UserId::new(),
        email: email.parse().expect("email"),
        display_name: Some("Dr Test".parse().expect("name")),
        status: UserStatus::Active,
        roles: Roles::new(roles.iter().copied()).expect("roles"),
        patient_id: None,
        practitioner_id: None,
        organization_id: None,
        created_at: T0,
        updated_at: T0,
    }
}

fn session_of(user: &User, idle_secs: i64, absolute_secs: i64) -> Session {
    Session {
        id: SessionId::new(),
        user_id: user.id,
        created_at: T0,
        last_seen_at: T0,
        idle_expires_at: T0.plus_secs(idle_secs),
        absolute_expires_at: T0.plus_secs(absolute_secs),
        ip: Some("127.0.0.1".into()),
        user_agent: Some("conformance".into()),
        amr: vec!["pwd".into()],
        revoked_at: None,
        mfa_at: None,
    }
}

fn token(session: &Session, n: u8, ttl_secs: i64) -> RefreshTokenRecord {
    RefreshTokenRecord {
        digest: [n; 32],
        session_id: session.id,
        issued_at: T0,
        expires_at: T0.plus_secs(ttl_secs),
    }
}

/// A user with a live session (15 min idle, 12 h absolute) and its first refresh token.
async fn signed_in(store: &dyn Store, email: &str) -> (User, Session) {
    let user = user(email, &[Role::Physician]);
    store
        .insert_user(&user, Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"))
        .await
        .expect("user");
    let session = session_of(&user, 900, 43_200);
    store
        .insert_session(&session, &token(&session, 1, 86_400))
        .await
        .expect("session");
    (user, session)
}

pub async fn user_round_trips_by_id_and_email(store: &dyn Store) {
    let mut jane = user("jane@example.org", &[Role::Patient]);
    jane.patient_id = Some(PatientId::new());
    jane.practitioner_id = Some(medvault_domain::FhirId::generate());
    store.insert_user(&jane, None).await.expect("insert");
    assert_eq!(store.user(jane.id).await.expect("by id"), jane);
    assert_eq!(
        store.user_by_email(&jane.email).await.expect("by email"),
        jane
    );
    let missing: Email = "nobody@example.org".parse().expect("email");
    assert!(matches!(
        store.user_by_email(&missing).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.user(UserId::new()).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn duplicate_email_conflicts(store: &dyn Store) {
    store
        .insert_user(&user("dup@example.org", &[Role::Nurse]), None)
        .await
        .expect("first");
    let second = store
        .insert_user(&user("dup@example.org", &[Role::Admin]), None)
        .await;
    assert!(matches!(second, Err(StoreError::Conflict)), "{second:?}");
}

pub async fn password_hash_is_kept_apart_and_replaceable(store: &dyn Store) {
    let jane = user("jane@example.org", &[Role::Nurse]);
    store
        .insert_user(&jane, Some("$argon2id$first"))
        .await
        .expect("insert");
    assert_eq!(
        store.password_hash(jane.id).await.expect("read").as_deref(),
        Some("$argon2id$first")
    );
    store
        .set_password_hash(jane.id, "$argon2id$second", T0.plus_secs(5))
        .await
        .expect("set");
    assert_eq!(
        store.password_hash(jane.id).await.expect("read").as_deref(),
        Some("$argon2id$second")
    );
    assert_eq!(
        store.user(jane.id).await.expect("read").updated_at,
        T0.plus_secs(5)
    );
    let missing = store
        .set_password_hash(UserId::new(), "$argon2id$x", T0)
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

pub async fn update_replaces_mutable_fields(store: &dyn Store) {
    let mut jane = user("jane@example.org", &[Role::Nurse]);
    store.insert_user(&jane, None).await.expect("insert");
    jane.roles = Roles::new([Role::Physician, Role::Director]).expect("roles");
    jane.status = UserStatus::Disabled;
    jane.display_name = None;
    jane.updated_at = T0.plus_secs(60);
    store.update_user(&jane).await.expect("update");
    assert_eq!(store.user(jane.id).await.expect("read"), jane);
    let ghost = user("ghost@example.org", &[Role::Nurse]);
    assert!(matches!(
        store.update_user(&ghost).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn deleting_a_user_deletes_their_sessions(store: &dyn Store) {
    let (jane, session) = signed_in(store, "jane@example.org").await;
    store.delete_user(jane.id).await.expect("delete");
    assert!(matches!(
        store.user(jane.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.session(session.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_user(jane.id).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn users_list_by_filter_in_pages(store: &dyn Store) {
    for (email, role) in [
        ("a@example.org", Role::Nurse),
        ("b@example.org", Role::Physician),
        ("c@example.org", Role::Nurse),
        ("d@example.org", Role::Admin),
    ] {
        store
            .insert_user(&user(email, &[role]), None)
            .await
            .expect("insert");
    }
    let emails = |users: Vec<User>| {
        users
            .into_iter()
            .map(|u| u.email.to_string())
            .collect::<Vec<_>>()
    };
    let all = UserFilter::default();
    let first = store.list_users(&all, None, 2).await.expect("page 1");
    assert_eq!(emails(first.clone()), ["a@example.org", "b@example.org"]);
    let second = store
        .list_users(&all, Some(&first[1].email), 2)
        .await
        .expect("page 2");
    assert_eq!(emails(second), ["c@example.org", "d@example.org"]);

    let nurses = UserFilter {
        role: Some(Role::Nurse),
        ..UserFilter::default()
    };
    assert_eq!(
        emails(store.list_users(&nurses, None, 10).await.expect("nurses")),
        ["a@example.org", "c@example.org"]
    );
    let by_email = UserFilter {
        email: Some("b@example.org".parse().expect("email")),
        ..UserFilter::default()
    };
    assert_eq!(
        emails(store.list_users(&by_email, None, 10).await.expect("email")),
        ["b@example.org"]
    );
    let disabled = UserFilter {
        status: Some(UserStatus::Disabled),
        ..UserFilter::default()
    };
    assert!(store
        .list_users(&disabled, None, 10)
        .await
        .expect("disabled")
        .is_empty());
}

pub async fn only_active_admins_are_counted(store: &dyn Store) {
    assert_eq!(store.count_active_admins().await.expect("count"), 0);
    store
        .insert_user(
            &user("root@example.org", &[Role::Admin, Role::Auditor]),
            None,
        )
        .await
        .expect("admin");
    let mut former = user("former@example.org", &[Role::Admin]);
    former.status = UserStatus::Disabled;
    store
        .insert_user(&former, None)
        .await
        .expect("disabled admin");
    // "administrator" must not match "admin".
    store
        .insert_user(&user("nurse@example.org", &[Role::Nurse]), None)
        .await
        .expect("nurse");
    assert_eq!(store.count_active_admins().await.expect("count"), 1);
}

pub async fn live_sessions_exclude_revoked_and_expired(store: &dyn Store) {
    let (jane, live) = signed_in(store, "jane@example.org").await;
    let revoked = session_of(&jane, 900, 43_200);
    store
        .insert_session(&revoked, &token(&revoked, 2, 60))
        .await
        .expect("insert");
    store.revoke_session(revoked.id, T0).await.expect("revoke");
    let idle = session_of(&jane, 10, 43_200);
    store
        .insert_session(&idle, &token(&idle, 3, 60))
        .await
        .expect("insert");

    let sessions = store
        .live_sessions(jane.id, T0.plus_secs(60))
        .await
        .expect("list");
    assert_eq!(sessions, vec![live.clone()]);
    assert_eq!(store.session(live.id).await.expect("read"), live);
}

pub async fn a_refresh_token_is_spent_exactly_once(store: &dyn Store) {
    let (_, session) = signed_in(store, "jane@example.org").await;
    let now = T0.plus_secs(60);
    let rotated = store
        .rotate_refresh_token(&[1; 32], &[2; 32], now, now.plus_secs(900))
        .await
        .expect("rotate");
    let Rotation::Rotated(touched) = rotated else {
        panic!("expected rotation, got {rotated:?}")
    };
    assert_eq!(touched.last_seen_at, now);
    assert_eq!(touched.idle_expires_at, now.plus_secs(900));
    assert_eq!(store.session(session.id).await.expect("read"), touched);

    let replay = store
        .rotate_refresh_token(&[1; 32], &[3; 32], now, now)
        .await
        .expect("replay");
    assert_eq!(replay, Rotation::Reused(session.id));
    let chained = store
        .rotate_refresh_token(&[2; 32], &[4; 32], now, now.plus_secs(900))
        .await;
    assert!(
        matches!(chained, Ok(Rotation::Rotated(_))),
        "the new token works: {chained:?}"
    );
}

pub async fn concurrent_refreshes_have_one_winner(store: &dyn Store) {
    let (_, session) = signed_in(store, "jane@example.org").await;
    let now = T0.plus_secs(1);
    let (ra, rb) = tokio::join!(
        store.rotate_refresh_token(&[1; 32], &[7; 32], now, now.plus_secs(900)),
        store.rotate_refresh_token(&[1; 32], &[8; 32], now, now.plus_secs(900)),
    );
    let outcomes = [ra.expect("a"), rb.expect("b")];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Rotation::Rotated(_)))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&Rotation::Reused(session.id)),
        "{outcomes:?}"
    );
}

pub async fn an_unknown_refresh_token_is_not_found(store: &dyn Store) {
    let _ = signed_in(store, "jane@example.org").await;
    let result = store.rotate_refresh_token(&[9; 32], &[2; 32], T0, T0).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
}

pub async fn tokens_of_dead_sessions_do_not_rotate(store: &dyn Store) {
    let (_, session) = signed_in(store, "jane@example.org").await;
    // Past the 15-minute idle deadline: the session is over, the token is not spent.
    let late = T0.plus_secs(901);
    let result = store
        .rotate_refresh_token(&[1; 32], &[2; 32], late, late.plus_secs(900))
        .await;
    assert_eq!(result.expect("rotate"), Rotation::Dead(session.id));

    // A revoked session's live token is dead too: logout kills the whole family.
    let joe = user("joe@example.org", &[Role::Nurse]);
    store.insert_user(&joe, None).await.expect("user");
    let revoked = session_of(&joe, 900, 43_200);
    store
        .insert_session(&revoked, &token(&revoked, 5, 86_400))
        .await
        .expect("session");
    store.revoke_session(revoked.id, T0).await.expect("revoke");
    let result = store
        .rotate_refresh_token(&[5; 32], &[6; 32], T0, T0.plus_secs(900))
        .await;
    assert_eq!(result.expect("rotate"), Rotation::Dead(revoked.id));

    // An expired token of a live session is dead, and stays unspent.
    let (_, live) = (joe.clone(), session_of(&joe, 900, 43_200));
    store
        .insert_session(&live, &token(&live, 7, 10))
        .await
        .expect("session");
    let after = T0.plus_secs(11);
    let result = store
        .rotate_refresh_token(&[7; 32], &[8; 32], after, after)
        .await;
    assert_eq!(result.expect("rotate"), Rotation::Dead(live.id));
}

pub async fn rotation_never_extends_past_the_absolute_deadline(store: &dyn Store) {
    let jane = user("jane@example.org", &[Role::Nurse]);
    store.insert_user(&jane, None).await.expect("user");
    let session = session_of(&jane, 900, 1_000);
    store
        .insert_session(&session, &token(&session, 1, 86_400))
        .await
        .expect("session");
    let now = T0.plus_secs(800);
    let rotated = store
        .rotate_refresh_token(&[1; 32], &[2; 32], now, now.plus_secs(900))
        .await;
    let Ok(Rotation::Rotated(touched)) = rotated else {
        panic!("{rotated:?}")
    };
    assert_eq!(touched.idle_expires_at, session.absolute_expires_at);
}

pub async fn revocation_is_reported_and_listed(store: &dyn Store) {
    let (jane, first) = signed_in(store, "jane@example.org").await;
    let second = session_of(&jane, 900, 43_200);
    store
        .insert_session(&second, &token(&second, 2, 60))
        .await
        .expect("insert");

    assert!(store
        .revoke_session(first.id, T0.plus_secs(1))
        .await
        .expect("revoke"));
    assert!(
        !store
            .revoke_session(first.id, T0.plus_secs(2))
            .await
            .expect("again"),
        "already revoked"
    );
    assert!(matches!(
        store.revoke_session(SessionId::new(), T0).await,
        Err(StoreError::NotFound)
    ));

    let third = session_of(&jane, 900, 43_200);
    store
        .insert_session(&third, &token(&third, 3, 60))
        .await
        .expect("insert");
    let rest = store
        .revoke_sessions_of(jane.id, Some(third.id), T0.plus_secs(3))
        .await
        .expect("revoke all but one");
    assert_eq!(rest, vec![second.id]);
    assert!(
        store
            .session(third.id)
            .await
            .expect("read")
            .revoked_at
            .is_none(),
        "the exception survives"
    );
    let mut since = store.sessions_revoked_since(T0).await.expect("since");
    since.sort();
    let mut expected = vec![first.id, second.id];
    expected.sort();
    assert_eq!(since, expected);
    assert_eq!(
        store
            .sessions_revoked_since(T0.plus_secs(2))
            .await
            .expect("later"),
        vec![second.id]
    );
}

fn signing_key(kid: &str, state: SigningKeyState) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        alg: "ES256".into(),
        sealed_private: vec![1, 2, 3],
        public_jwk: format!(r#"{{"kid":"{kid}"}}"#),
        state,
        created_at: T0,
        state_since: T0,
        publish_until: None,
    }
}

fn states(keys: &[SigningKeyRecord]) -> Vec<(String, SigningKeyState)> {
    let mut states: Vec<_> = keys.iter().map(|k| (k.kid.clone(), k.state)).collect();
    states.sort_by(|a, b| a.0.cmp(&b.0));
    states
}

pub async fn signing_keys_rotate_through_their_states(store: &dyn Store) {
    store
        .insert_signing_key(&signing_key("k1", SigningKeyState::Active))
        .await
        .expect("k1");
    store
        .insert_signing_key(&signing_key("k2", SigningKeyState::Next))
        .await
        .expect("k2");
    let until = T0.plus_secs(960);
    store
        .rotate_signing_keys(&signing_key("k3", SigningKeyState::Next), T0, until)
        .await
        .expect("rotate");

    let keys = store.published_signing_keys().await.expect("list");
    assert_eq!(
        states(&keys),
        [
            ("k1".into(), SigningKeyState::Retiring),
            ("k2".into(), SigningKeyState::Active),
            ("k3".into(), SigningKeyState::Next)
        ]
    );
    assert_eq!(
        keys.iter()
            .find(|k| k.kid == "k1")
            .expect("k1")
            .publish_until,
        Some(until)
    );

    assert_eq!(
        store
            .retire_signing_keys(until.plus_secs(-1))
            .await
            .expect("early"),
        0
    );
    assert_eq!(store.retire_signing_keys(until).await.expect("due"), 1);
    let keys = store.published_signing_keys().await.expect("list");
    assert_eq!(
        states(&keys),
        [
            ("k2".into(), SigningKeyState::Active),
            ("k3".into(), SigningKeyState::Next)
        ]
    );
}

pub async fn at_most_one_active_and_one_next_signing_key(store: &dyn Store) {
    store
        .insert_signing_key(&signing_key("k1", SigningKeyState::Active))
        .await
        .expect("k1");
    let second = store
        .insert_signing_key(&signing_key("k2", SigningKeyState::Active))
        .await;
    assert!(matches!(second, Err(StoreError::Conflict)), "{second:?}");
    // With no next key there is nothing to promote.
    let rotate = store
        .rotate_signing_keys(&signing_key("k3", SigningKeyState::Next), T0, T0)
        .await;
    assert!(matches!(rotate, Err(StoreError::Conflict)), "{rotate:?}");
    assert_eq!(
        states(&store.published_signing_keys().await.expect("list")),
        [("k1".into(), SigningKeyState::Active)]
    );
}

fn audit_event(n: i64) -> AuditEvent {
    AuditEvent {
        at: T0.plus_secs(n),
        actor: Actor::User {
            id: UserId::new(),
            roles: vec![Role::Nurse, Role::Physician],
        },
        action: AuditAction::LoginSuccess,
        outcome: Outcome::Success,
        resource: Some(AuditedResource {
            kind: "User".into(),
            id: format!("u{n}"),
        }),
        patient: Some(medvault_domain::AuditSubject(format!("subject-{n}"))),
        purpose: Some(medvault_domain::PurposeOfUse::Treatment),
        session: Some(SessionId::new()),
        source_ip: Some("192.0.2.7".into()),
        request_id: Some(format!("req-{n}")),
        policy: Some(format!("policy-{n} consent-deny")),
    }
}

/// A stand-in for the real SHA-256 chain hash that still depends on every input byte.
fn test_hash(seq: u64, prev: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
    let mut hash = *prev;
    hash[0] = hash[0].wrapping_add(1);
    hash[1..9].copy_from_slice(&seq.to_be_bytes());
    for (i, byte) in canonical.iter().enumerate() {
        hash[9 + i % 23] = hash[9 + i % 23].rotate_left(3) ^ byte;
    }
    hash
}

pub async fn audit_events_chain_in_append_order(store: &dyn Store) {
    assert_eq!(store.audit_head().await.expect("head"), (0, [0; 32]));
    let anonymous = AuditEvent {
        actor: Actor::Anonymous,
        resource: None,
        patient: None,
        purpose: None,
        session: None,
        source_ip: None,
        request_id: None,
        policy: None,
        ..audit_event(0)
    };
    let first = store
        .append_audit_events(&[anonymous.clone(), audit_event(1)], test_hash)
        .await
        .expect("append");
    let last = audit_event(2);
    let second = store
        .append_audit_events(std::slice::from_ref(&last), test_hash)
        .await
        .expect("append");
    assert_eq!((first, second), (vec![1, 2], vec![3]));

    let entries = store.audit_entries(1, 10).await.expect("read");
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].event, anonymous);
    assert_eq!(entries[2].event, last);
    // The database's canonical form of each stored entry is exactly what was hashed.
    let links = store.audit_links(1, 10).await.expect("links");
    let mut prev = [0; 32];
    for (entry, link) in entries.iter().zip(&links) {
        assert_eq!(
            (link.seq, link.prev_hash, link.hash),
            (entry.seq, entry.prev_hash, entry.hash)
        );
        assert_eq!(entry.prev_hash, prev);
        assert_eq!(
            entry.hash,
            test_hash(entry.seq, &prev, link.canonical.as_bytes())
        );
        prev = entry.hash;
    }
    assert!(
        links[0].canonical.contains(";9:anonymous;-;-;"),
        "{}",
        links[0].canonical
    );
    assert_eq!(store.audit_head().await.expect("head"), (3, prev));
    assert_eq!(store.audit_entries(3, 10).await.expect("tail").len(), 1);
}

pub async fn concurrent_appends_form_one_chain(store: &dyn Store) {
    let batches: Vec<Vec<AuditEvent>> = (0..8)
        .map(|b| (0..5).map(|i| audit_event(b * 10 + i)).collect())
        .collect();
    let appends = batches
        .iter()
        .map(|batch| store.append_audit_events(batch, test_hash));
    let mut seqs: Vec<u64> = futures_join_all(appends)
        .await
        .into_iter()
        .flat_map(|r| r.expect("append"))
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
    let entries = store.audit_entries(1, 100).await.expect("read");
    let mut prev = [0; 32];
    for entry in &entries {
        assert_eq!(entry.prev_hash, prev, "seq {}", entry.seq);
        prev = entry.hash;
    }
}

/// Polls every future together on this task, like `futures::future::join_all`.
async fn futures_join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for future in futures {
        set.push(Box::pin(future));
    }
    let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in set.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

pub async fn checkpoints_and_the_checkpoint_key_are_kept(store: &dyn Store) {
    assert!(store.audit_key().await.expect("key").is_none());
    let key = crate::AuditKeyRecord {
        key_id: "k1".into(),
        sealed_private: vec![1; 40],
        public_key: vec![2; 32],
        created_at: T0,
    };
    store.insert_audit_key(&key).await.expect("insert key");
    let again = crate::AuditKeyRecord {
        key_id: "k2".into(),
        ..key.clone()
    };
    assert!(matches!(
        store.insert_audit_key(&again).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.audit_key().await.expect("key"), Some(key));

    let checkpoint = crate::AuditCheckpoint {
        seq: 5,
        head_hash: [9; 32],
        at: T0,
        key_id: "k1".into(),
        signature: vec![3; 64],
    };
    store
        .insert_audit_checkpoint(&checkpoint)
        .await
        .expect("checkpoint");
    let duplicate = store.insert_audit_checkpoint(&checkpoint).await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict)),
        "{duplicate:?}"
    );
    let later = crate::AuditCheckpoint {
        seq: 9,
        ..checkpoint.clone()
    };
    store
        .insert_audit_checkpoint(&later)
        .await
        .expect("checkpoint");
    assert_eq!(
        store.audit_checkpoints().await.expect("list"),
        vec![checkpoint, later]
    );
}

pub async fn audit_search_filters_and_pages(store: &dyn Store) {
    let events: Vec<AuditEvent> = (0..6).map(audit_event).collect();
    let mut failure = audit_event(6);
    failure.outcome = Outcome::Denied;
    failure.action = AuditAction::LoginFailure;
    store
        .append_audit_events(&events, test_hash)
        .await
        .expect("append");
    store
        .append_audit_events(std::slice::from_ref(&failure), test_hash)
        .await
        .expect("append");
    let seqs =
        |entries: Vec<crate::ChainedEntry>| entries.into_iter().map(|e| e.seq).collect::<Vec<_>>();

    let all = crate::AuditFilter::default();
    assert_eq!(
        seqs(
            store
                .search_audit_entries(&all, 0, 3)
                .await
                .expect("page 1")
        ),
        [1, 2, 3]
    );
    assert_eq!(
        seqs(
            store
                .search_audit_entries(&all, 3, 10)
                .await
                .expect("page 2")
        ),
        [4, 5, 6, 7]
    );

    let patient = crate::AuditFilter {
        patient: events[2].patient.as_ref().map(|p| p.0.clone()),
        ..all.clone()
    };
    assert_eq!(
        seqs(
            store
                .search_audit_entries(&patient, 0, 10)
                .await
                .expect("patient")
        ),
        [3]
    );
    let Actor::User { id, .. } = &events[4].actor else {
        unreachable!()
    };
    let agent = crate::AuditFilter {
        agent: Some(id.to_string()),
        ..all.clone()
    };
    assert_eq!(
        seqs(
            store
                .search_audit_entries(&agent, 0, 10)
                .await
                .expect("agent")
        ),
        [5]
    );
    let denied = crate::AuditFilter {
        outcome: Some("denied"),
        ..all.clone()
    };
    assert_eq!(
        seqs(
            store
                .search_audit_entries(&denied, 0, 10)
                .await
                .expect("outcome")
        ),
        [7]
    );
    let actions = crate::AuditFilter {
        actions: vec!["login.failure", "keys.rotate"],
        ..all.clone()
    };
    assert_eq!(
        seqs(
            store
                .search_audit_entries(&actions, 0, 10)
                .await
                .expect("action")
        ),
        [7]
    );
    let window = crate::AuditFilter {
        since: Some(T0.plus_secs(2)),
        until: Some(T0.plus_secs(3)),
        ..all
    };
    assert_eq!(
        seqs(
            store
                .search_audit_entries(&window, 0, 10)
                .await
                .expect("date")
        ),
        [3, 4]
    );
}

pub async fn pruning_keeps_the_anchor_checkpoint(store: &dyn Store) {
    let events: Vec<AuditEvent> = (0..5).map(audit_event).collect();
    store
        .append_audit_events(&events, test_hash)
        .await
        .expect("append");
    let checkpoint = |seq| crate::AuditCheckpoint {
        seq,
        head_hash: [seq as u8; 32],
        at: T0,
        key_id: "k".into(),
        signature: vec![1],
    };
    for seq in [2, 3] {
        store
            .insert_audit_checkpoint(&checkpoint(seq))
            .await
            .expect("checkpoint");
    }
    assert!(
        matches!(
            store.prune_audit_entries(4).await,
            Err(StoreError::NotFound)
        ),
        "no anchor at 4"
    );
    assert_eq!(store.prune_audit_entries(3).await.expect("prune"), 3);
    let left: Vec<u64> = store
        .audit_entries(1, 10)
        .await
        .expect("read")
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(left, [4, 5]);
    assert_eq!(
        store.audit_checkpoints().await.expect("checkpoints"),
        vec![checkpoint(3)]
    );
    assert_eq!(
        store.audit_head().await.expect("head").0,
        5,
        "the head is untouched"
    );
}
