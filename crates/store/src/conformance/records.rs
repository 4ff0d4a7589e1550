//! Conformance cases for [`RecordStore`](crate::RecordStore).

use medvault_domain::{
    Compartment, FhirId, MasterKeyId, PatientId, ResourceType, UnixMillis, WrappedDataKey,
};

use crate::{HistoryQuery, RecordQuery, RecordVersion, RecordWrite, Store, StoreError};

pub(super) fn version(
    resource_type: ResourceType,
    id: &FhirId,
    version: u64,
    compartment: Compartment,
    at: i64,
) -> RecordVersion {
    RecordVersion {
        resource_type,
        id: id.clone(),
        version,
        last_updated: UnixMillis(at),
        compartment,
        deleted: false,
        sealed: vec![u8::try_from(version % 251).unwrap_or(0); 40],
        access_epoch: 0,
    }
}

pub(super) fn create(record: RecordVersion, tokens: &[&[u8]]) -> RecordWrite {
    RecordWrite {
        record,
        expected_version: None,
        tokens: tokens.iter().map(|t| t.to_vec()).collect(),
    }
}

fn update(record: RecordVersion, expected: u64, tokens: &[&[u8]]) -> RecordWrite {
    RecordWrite {
        expected_version: Some(expected),
        ..create(record, tokens)
    }
}

pub(super) fn query(resource_type: ResourceType) -> RecordQuery {
    RecordQuery {
        resource_type: Some(resource_type),
        limit: 100,
        ..RecordQuery::default()
    }
}

fn ids(found: &[RecordVersion]) -> Vec<String> {
    found.iter().map(|r| r.id.to_string()).collect()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

pub async fn records_round_trip_by_current_and_exact_version(store: &dyn Store) {
    let patient = Compartment::Patient(PatientId::new());
    let id = FhirId::generate();
    let v1 = version(ResourceType::Observation, &id, 1, patient, 1_000);
    store
        .write_records(&[], &[create(v1.clone(), &[b"code"])])
        .await
        .expect("create");
    let v2 = version(ResourceType::Observation, &id, 2, patient, 2_000);
    store
        .write_records(&[], &[update(v2.clone(), 1, &[b"code"])])
        .await
        .expect("update");

    let current = store.record(ResourceType::Observation, &id, None).await;
    assert_eq!(current.expect("current"), v2);
    let first = store.record(ResourceType::Observation, &id, Some(1)).await;
    assert_eq!(first.expect("v1"), v1);
    let missing = store.record(ResourceType::Observation, &id, Some(3)).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    let other_type = store.record(ResourceType::Condition, &id, None).await;
    assert!(matches!(other_type, Err(StoreError::NotFound)));
}

pub async fn stale_versions_and_duplicate_ids_conflict(store: &dyn Store) {
    let id = FhirId::generate();
    let system = Compartment::System;
    let v1 = version(ResourceType::Practitioner, &id, 1, system, 1);
    store
        .write_records(&[], &[create(v1.clone(), &[])])
        .await
        .expect("create");
    let again = store.write_records(&[], &[create(v1, &[])]).await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");

    let v2 = version(ResourceType::Practitioner, &id, 2, system, 2);
    store
        .write_records(&[], &[update(v2, 1, &[])])
        .await
        .expect("update from v1");
    let stale = version(ResourceType::Practitioner, &id, 2, system, 3);
    let lost = store.write_records(&[], &[update(stale, 1, &[])]).await;
    assert!(matches!(lost, Err(StoreError::Conflict)), "{lost:?}");
    let current = store.record(ResourceType::Practitioner, &id, None).await;
    assert_eq!(current.expect("current").last_updated, UnixMillis(2));
}

pub async fn a_failed_write_batch_leaves_nothing_behind(store: &dyn Store) {
    let patient = PatientId::new();
    let compartment = Compartment::Patient(patient);
    let existing = FhirId::generate();
    store
        .write_records(
            &[],
            &[create(
                version(ResourceType::Condition, &existing, 1, compartment, 1),
                &[],
            )],
        )
        .await
        .expect("seed");

    let key = WrappedDataKey {
        patient,
        master_key_id: "00000000000000aa".parse::<MasterKeyId>().expect("id"),
        sealed: vec![7; 61],
    };
    let fresh = FhirId::generate();
    let batch = [
        create(
            version(ResourceType::Patient, &fresh, 1, compartment, 2),
            &[b"t"],
        ),
        // Conflicts: the resource exists.
        create(
            version(ResourceType::Condition, &existing, 1, compartment, 2),
            &[],
        ),
    ];
    let result = store.write_records(&[key], &batch).await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
    let fresh_read = store.record(ResourceType::Patient, &fresh, None).await;
    assert!(matches!(fresh_read, Err(StoreError::NotFound)));
    assert!(matches!(
        store.data_key(patient).await,
        Err(StoreError::NotFound)
    ));
    let by_token = RecordQuery {
        token_groups: vec![vec![b"t".to_vec()]],
        ..query(ResourceType::Patient)
    };
    assert!(store
        .find_records(&by_token)
        .await
        .expect("find")
        .is_empty());
}

pub async fn records_are_found_by_tokens_compartment_and_time(store: &dyn Store) {
    let (alice, bob) = (
        Compartment::Patient(PatientId::new()),
        Compartment::Patient(PatientId::new()),
    );
    let (a1, a2, b1) = (FhirId::generate(), FhirId::generate(), FhirId::generate());
    let t = ResourceType::Observation;
    store
        .write_records(
            &[],
            &[
                create(version(t, &a1, 1, alice, 100), &[b"glucose", b"final"]),
                create(version(t, &a2, 1, alice, 200), &[b"pulse", b"final"]),
                create(version(t, &b1, 1, bob, 300), &[b"glucose", b"draft"]),
            ],
        )
        .await
        .expect("seed");

    let found =
        |q: RecordQuery| async move { sorted(ids(&store.find_records(&q).await.expect("find"))) };
    let glucose = RecordQuery {
        token_groups: vec![vec![b"glucose".to_vec()]],
        ..query(t)
    };
    assert_eq!(
        found(glucose.clone()).await,
        sorted(vec![a1.to_string(), b1.to_string()])
    );
    let glucose_and_final = RecordQuery {
        token_groups: vec![vec![b"glucose".to_vec()], vec![b"final".to_vec()]],
        ..query(t)
    };
    assert_eq!(found(glucose_and_final).await, vec![a1.to_string()]);
    let glucose_or_pulse = RecordQuery {
        token_groups: vec![vec![b"glucose".to_vec(), b"pulse".to_vec()]],
        compartment: Some(alice),
        ..query(t)
    };
    assert_eq!(
        found(glucose_or_pulse).await,
        sorted(vec![a1.to_string(), a2.to_string()])
    );
    let recent = RecordQuery {
        updated_from: Some(UnixMillis(200)),
        updated_until: Some(UnixMillis(300)),
        ..query(t)
    };
    assert_eq!(found(recent).await, vec![a2.to_string()]);
    let by_id = RecordQuery {
        ids: vec![b1.clone()],
        ..query(t)
    };
    assert_eq!(found(by_id).await, vec![b1.to_string()]);
    let everything_of_bob = RecordQuery {
        compartment: Some(bob),
        limit: 10,
        ..RecordQuery::default()
    };
    assert_eq!(found(everything_of_bob).await, vec![b1.to_string()]);
}

pub async fn replaced_tokens_and_deleted_records_are_not_found(store: &dyn Store) {
    let patient = Compartment::Patient(PatientId::new());
    let (kept, gone) = (FhirId::generate(), FhirId::generate());
    let t = ResourceType::Condition;
    store
        .write_records(
            &[],
            &[
                create(version(t, &kept, 1, patient, 1), &[b"old"]),
                create(version(t, &gone, 1, patient, 1), &[b"old"]),
            ],
        )
        .await
        .expect("seed");
    let mut deletion = version(t, &gone, 2, patient, 2);
    deletion.deleted = true;
    deletion.sealed.clear();
    store
        .write_records(
            &[],
            &[
                update(version(t, &kept, 2, patient, 2), 1, &[b"new"]),
                update(deletion, 1, &[]),
            ],
        )
        .await
        .expect("update and delete");

    let by = |token: &[u8]| RecordQuery {
        token_groups: vec![vec![token.to_vec()]],
        ..query(t)
    };
    assert!(store
        .find_records(&by(b"old"))
        .await
        .expect("old")
        .is_empty());
    assert_eq!(
        ids(&store.find_records(&by(b"new")).await.expect("new")),
        vec![kept.to_string()]
    );
    assert_eq!(
        ids(&store.find_records(&query(t)).await.expect("all")),
        vec![kept.to_string()]
    );
    let tombstone = store.record(t, &gone, None).await.expect("current");
    assert!(tombstone.deleted);
}

pub async fn record_listings_page_by_keyset(store: &dyn Store) {
    let patient = Compartment::Patient(PatientId::new());
    let mut written = Vec::new();
    let mut writes = Vec::new();
    for n in 0..7 {
        let id = FhirId::generate();
        let t = if n % 2 == 0 {
            ResourceType::Observation
        } else {
            ResourceType::Condition
        };
        writes.push(create(version(t, &id, 1, patient, n), &[]));
        written.push((t, id));
    }
    store.write_records(&[], &writes).await.expect("seed");
    written.sort();

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .find_records(&RecordQuery {
                compartment: Some(patient),
                after: after.clone(),
                limit: 3,
                ..RecordQuery::default()
            })
            .await
            .expect("page");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        seen.extend(page.iter().map(|r| (r.resource_type, r.id.clone())));
        after = page.last().map(|r| (r.resource_type, r.id.clone()));
    }
    assert_eq!(seen, written);
}

pub async fn history_lists_versions_newest_first_in_pages(store: &dyn Store) {
    let patient = Compartment::Patient(PatientId::new());
    let t = ResourceType::Encounter;
    let (one, other) = (FhirId::generate(), FhirId::generate());
    store
        .write_records(&[], &[create(version(t, &one, 1, patient, 10), &[])])
        .await
        .expect("v1");
    store
        .write_records(&[], &[create(version(t, &other, 1, patient, 15), &[])])
        .await
        .expect("other");
    for v in 2..=4u64 {
        let at = 10 + 10 * i64::try_from(v).expect("small");
        store
            .write_records(&[], &[update(version(t, &one, v, patient, at), v - 1, &[])])
            .await
            .expect("update");
    }

    let instance = HistoryQuery {
        resource_type: t,
        id: Some(one.clone()),
        since: None,
        before: None,
        within: Vec::new(),
        limit: 2,
    };
    let first = store.record_history(&instance).await.expect("page 1");
    assert_eq!(first.iter().map(|r| r.version).collect::<Vec<_>>(), [4, 3]);
    let last = first.last().expect("full page");
    let second = store
        .record_history(&HistoryQuery {
            before: Some((last.last_updated, last.id.clone(), last.version)),
            ..instance.clone()
        })
        .await
        .expect("page 2");
    assert_eq!(second.iter().map(|r| r.version).collect::<Vec<_>>(), [2, 1]);

    // Another patient's version in the same span stays out of a listing within this one's.
    let stranger = Compartment::Patient(PatientId::new());
    store
        .write_records(
            &[],
            &[create(
                version(t, &FhirId::generate(), 1, stranger, 16),
                &[],
            )],
        )
        .await
        .expect("stranger");
    let whole_type = store
        .record_history(&HistoryQuery {
            id: None,
            since: Some(UnixMillis(15)),
            within: patient.patient().into_iter().collect(),
            limit: 10,
            ..instance
        })
        .await
        .expect("type history");
    let seen: Vec<(String, u64)> = whole_type
        .iter()
        .map(|r| (r.id.to_string(), r.version))
        .collect();
    assert_eq!(
        seen,
        [
            (one.to_string(), 4),
            (one.to_string(), 3),
            (one.to_string(), 2),
            (other.to_string(), 1)
        ]
    );
}

pub async fn a_master_key_rotation_reseals_and_switches_once(store: &dyn Store) {
    let (old, new): (MasterKeyId, MasterKeyId) = (
        "00000000000000a1".parse().expect("id"),
        "00000000000000b2".parse().expect("id"),
    );
    store.init_master_key_id(&old).await.expect("init");
    let wrong = store.replace_master_key_id(&new, &old).await;
    assert!(matches!(wrong, Err(StoreError::Conflict)), "{wrong:?}");
    store
        .replace_master_key_id(&old, &new)
        .await
        .expect("switch");
    assert_eq!(
        store.master_key_id().await.expect("read"),
        Some(new.clone())
    );
    let again = store.replace_master_key_id(&old, &new).await;
    assert!(
        matches!(again, Err(StoreError::Conflict)),
        "a second switch from the old id"
    );

    store
        .insert_signing_key(&super::signing_key("k9", crate::SigningKeyState::Active))
        .await
        .expect("signing key");
    store
        .reseal_signing_key("k9", &[7; 4])
        .await
        .expect("reseal");
    let published = store.published_signing_keys().await.expect("keys");
    assert_eq!(published[0].sealed_private, vec![7; 4]);
    let missing = store.reseal_signing_key("no-such-kid", &[1]).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    let no_audit_key = store.reseal_audit_key(&[1]).await;
    assert!(
        matches!(no_audit_key, Err(StoreError::NotFound)),
        "{no_audit_key:?}"
    );
    store
        .insert_audit_key(&crate::AuditKeyRecord {
            key_id: "k1".into(),
            sealed_private: vec![1; 8],
            public_key: vec![2; 32],
            created_at: UnixMillis(1),
        })
        .await
        .expect("audit key");
    store.reseal_audit_key(&[9; 8]).await.expect("reseal");
    let key = store.audit_key().await.expect("read").expect("present");
    assert_eq!(key.sealed_private, vec![9; 8]);
}

pub async fn a_failing_batch_in_a_group_commit_leaves_the_others_written(store: &dyn Store) {
    let patient = Compartment::Patient(PatientId::new());
    let t = ResourceType::Observation;
    let existing = FhirId::generate();
    store
        .write_records(&[], &[create(version(t, &existing, 1, patient, 1), &[])])
        .await
        .expect("seed");
    let (first, last) = (FhirId::generate(), FhirId::generate());
    let batch = |writes: Vec<RecordWrite>| crate::RecordBatch {
        new_keys: Vec::new(),
        writes,
        access_changed: Vec::new(),
    };
    let outcomes = store
        .write_record_batches(&[
            batch(vec![create(version(t, &first, 1, patient, 2), &[b"a"])]),
            // Conflicts: the resource exists. Its own second write must not land either.
            batch(vec![
                create(version(t, &FhirId::generate(), 1, patient, 2), &[]),
                create(version(t, &existing, 1, patient, 2), &[]),
            ]),
            batch(vec![create(version(t, &last, 1, patient, 2), &[b"a"])]),
        ])
        .await
        .expect("the transaction commits");
    assert!(outcomes[0].is_ok() && outcomes[2].is_ok(), "{outcomes:?}");
    assert!(
        matches!(outcomes[1], Err(StoreError::Conflict)),
        "{outcomes:?}"
    );
    let found = store
        .find_records(&RecordQuery {
            compartment: Some(patient),
            ..query(t)
        })
        .await
        .expect("find");
    assert_eq!(
        sorted(ids(&found)),
        sorted(vec![
            existing.to_string(),
            first.to_string(),
            last.to_string()
        ])
    );
}

pub async fn a_compartment_lists_every_version_in_key_order(store: &dyn Store) {
    let (mine, theirs) = (
        Compartment::Patient(PatientId::new()),
        Compartment::Patient(PatientId::new()),
    );
    let t = ResourceType::Observation;
    let (a, b) = (FhirId::generate(), FhirId::generate());
    store
        .write_records(
            &[],
            &[
                create(version(t, &a, 1, mine, 1), &[]),
                create(version(t, &b, 1, mine, 1), &[]),
                create(version(t, &FhirId::generate(), 1, theirs, 1), &[]),
            ],
        )
        .await
        .expect("seed");
    let mut deletion = version(t, &a, 2, mine, 2);
    deletion.deleted = true;
    deletion.sealed.clear();
    store
        .write_records(&[], &[update(deletion, 1, &[])])
        .await
        .expect("delete");

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .compartment_versions(mine, after.as_ref(), 2)
            .await
            .expect("page");
        if page.is_empty() {
            break;
        }
        seen.extend(page.iter().map(|r| (r.id.to_string(), r.version)));
        after = page
            .last()
            .map(|r| (r.resource_type, r.id.clone(), r.version));
    }
    let mut expected = vec![(a.to_string(), 1), (a.to_string(), 2), (b.to_string(), 1)];
    expected.sort();
    assert_eq!(
        seen, expected,
        "every version, deletions too, none of another patient's"
    );
}
