//! The one conformance suite every backend runs (DESIGN.md §4).
//!
//! A backend's test file provides a [`Fixture`] and invokes [`conformance_tests!`], which
//! expands to one `#[tokio::test]` per case below, each on a fresh, empty store.

use medvault_domain::{MasterKeyId, PatientId, WrappedDataKey};

use crate::{Store, StoreError};

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
