//! Conformance cases for [`AccessStore`](crate::AccessStore).

use medvault_domain::{Compartment, FhirId, PatientId, ResourceType, UnixMillis, UserId};

use super::records::{create, query, version};
use crate::{BreakGlassGrant, RecordBatch, RecordQuery, Store, StoreError};

pub async fn policy_sets_are_versioned_and_racing_loads_conflict(store: &dyn Store) {
    assert_eq!(store.policy_version().await.expect("version"), 0);
    assert!(store.policy_set().await.expect("none").is_none());
    let at = UnixMillis(1_800_000_000_000);
    assert_eq!(
        store
            .insert_policy_set(0, "permit(principal, action, resource);", at, "operator")
            .await
            .expect("first"),
        1
    );
    // A second load from the same version lost the race.
    assert!(matches!(
        store.insert_policy_set(0, "x", at, "operator").await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store
            .insert_policy_set(1, "forbid(principal, action, resource);", at, "u")
            .await
            .expect("second"),
        2
    );
    let newest = store.policy_set().await.expect("read").expect("some");
    assert_eq!(
        (
            newest.version,
            newest.text.as_str(),
            newest.created_by.as_str()
        ),
        (2, "forbid(principal, action, resource);", "u")
    );
    assert_eq!(store.policy_version().await.expect("version"), 2);
}

pub async fn access_epochs_move_with_batches_and_break_glass_grants(store: &dyn Store) {
    let (patient, other) = (PatientId::new(), PatientId::new());
    assert_eq!(store.access_epoch(patient).await.expect("epoch"), 0);
    let team = version(
        ResourceType::CareTeam,
        &FhirId::generate(),
        1,
        Compartment::Patient(patient),
        1,
    );
    let batch = RecordBatch {
        new_keys: Vec::new(),
        writes: vec![create(team, &[])],
        access_changed: vec![patient],
    };
    let outcomes = store
        .write_record_batches(&[batch.clone(), batch])
        .await
        .expect("commit");
    // The second batch conflicted: its epoch bump was undone with it.
    assert!(outcomes[0].is_ok() && outcomes[1].is_err(), "{outcomes:?}");
    assert_eq!(store.access_epoch(patient).await.expect("epoch"), 1);
    assert_eq!(store.access_epoch(other).await.expect("epoch"), 0);

    let grant = |expires: i64| BreakGlassGrant {
        id: FhirId::generate().to_string(),
        user_id: UserId::new(),
        patient,
        reason_sealed: vec![7; 30],
        created_at: UnixMillis(expires - 100),
        expires_at: UnixMillis(expires),
    };
    let (old, live) = (grant(1_000), grant(5_000));
    store.insert_break_glass(&old).await.expect("old");
    store.insert_break_glass(&live).await.expect("live");
    assert_eq!(store.access_epoch(patient).await.expect("epoch"), 3);
    let found = store
        .live_break_glass(patient, UnixMillis(2_000))
        .await
        .expect("live");
    assert_eq!(found, vec![live.clone()]);
    assert!(store
        .live_break_glass(other, UnixMillis(0))
        .await
        .expect("none")
        .is_empty());
    assert_eq!(
        store
            .break_glass_patients(live.user_id, UnixMillis(2_000))
            .await
            .expect("patients"),
        vec![patient]
    );
    assert!(store
        .break_glass_patients(old.user_id, UnixMillis(2_000))
        .await
        .expect("expired")
        .is_empty());
    let all = store.break_glass_grants(None, 10).await.expect("all");
    assert_eq!(all, vec![live.clone(), old.clone()]);
    let older = store
        .break_glass_grants(Some((live.created_at, live.id.clone())), 10)
        .await
        .expect("page");
    assert_eq!(older, vec![old]);
}

pub async fn listings_stay_within_the_given_compartments(store: &dyn Store) {
    let t = ResourceType::Observation;
    let patients = [PatientId::new(), PatientId::new(), PatientId::new()];
    let ids: Vec<FhirId> = patients.iter().map(|_| FhirId::generate()).collect();
    let writes: Vec<_> = patients
        .iter()
        .zip(&ids)
        .map(|(p, id)| create(version(t, id, 1, Compartment::Patient(*p), 1), &[]))
        .collect();
    store.write_records(&[], &writes).await.expect("seed");
    let found = store
        .find_records(&RecordQuery {
            within: vec![patients[0], patients[2]],
            ..query(t)
        })
        .await
        .expect("find");
    let mut found: Vec<FhirId> = found.into_iter().map(|r| r.id).collect();
    found.sort();
    let mut expected = vec![ids[0].clone(), ids[2].clone()];
    expected.sort();
    assert_eq!(found, expected);
}
