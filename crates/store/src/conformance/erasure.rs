//! Conformance cases for [`KeyShareStore`](crate::KeyShareStore) and
//! [`ErasureStore`](crate::ErasureStore).

use medvault_domain::{Compartment, FhirId, PatientId, ResourceType, Role, UnixMillis};

use super::records::{create, query, version};
use crate::{ErasedRows, KeyShareRecord, LegalHold, Store, StoreError};

fn share(patient: PatientId, subject: &str) -> KeyShareRecord {
    KeyShareRecord {
        patient,
        share: zeroize::Zeroizing::new(vec![9; 32]),
        subject: subject.to_owned(),
        created_at: super::T0,
    }
}

pub async fn key_shares_round_trip_resolve_subjects_and_are_destroyed(store: &dyn Store) {
    let (a, b) = (PatientId::new(), PatientId::new());
    store
        .insert_key_share(&share(a, "subject-a"))
        .await
        .expect("a");
    store
        .insert_key_share(&share(b, "subject-b"))
        .await
        .expect("b");
    let again = store.insert_key_share(&share(a, "subject-a2")).await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");

    let read = store.key_share(a).await.expect("read");
    assert_eq!(
        (read.share.to_vec(), read.subject),
        (vec![9; 32], "subject-a".to_owned())
    );
    let found = store
        .patients_by_subject(&["subject-b".into(), "nobody".into(), "subject-a".into()])
        .await
        .expect("resolve");
    assert_eq!(
        found,
        vec![("subject-b".into(), b), ("subject-a".into(), a)]
    );

    let c = PatientId::new();
    let mut with = store
        .patients_with_shares(&[a, c, b])
        .await
        .expect("with shares");
    with.sort_by_key(|p| p.to_string());
    let mut expected = vec![a, b];
    expected.sort_by_key(|p| p.to_string());
    assert_eq!(with, expected);
    assert!(store
        .patients_with_shares(&[])
        .await
        .expect("none")
        .is_empty());

    store.destroy_key_share(a).await.expect("destroy");
    store
        .destroy_key_share(a)
        .await
        .expect("destroying twice is fine");
    assert!(matches!(
        store.key_share(a).await,
        Err(StoreError::NotFound)
    ));
    let found = store
        .patients_by_subject(&["subject-a".into()])
        .await
        .expect("resolve");
    assert!(found.is_empty(), "an erased subject resolves to nobody");
    assert!(store.key_share(b).await.is_ok(), "other shares survive");
}

pub async fn a_legal_hold_blocks_erasure_until_released(store: &dyn Store) {
    let admin = super::user("holds@example.org", &[Role::Admin]);
    store.insert_user(&admin, None).await.expect("admin");
    let patient = PatientId::new();
    let hold = LegalHold {
        patient,
        reason: "litigation".into(),
        placed_by: admin.id,
        placed_at: UnixMillis(5),
    };
    store.place_legal_hold(&hold).await.expect("hold");
    let replaced = LegalHold {
        reason: "litigation, case 2".into(),
        ..hold.clone()
    };
    store.place_legal_hold(&replaced).await.expect("replace");
    assert_eq!(
        store.legal_hold(patient).await.expect("read"),
        Some(replaced.clone())
    );
    assert_eq!(store.legal_holds().await.expect("list"), vec![replaced]);

    let blocked = store.begin_erasure(patient, UnixMillis(6)).await;
    assert!(matches!(blocked, Err(StoreError::Conflict)), "{blocked:?}");
    assert!(store.pending_erasures().await.expect("pending").is_empty());

    store.release_legal_hold(patient).await.expect("release");
    let twice = store.release_legal_hold(patient).await;
    assert!(matches!(twice, Err(StoreError::NotFound)), "{twice:?}");
    store
        .begin_erasure(patient, UnixMillis(7))
        .await
        .expect("begin");
    store
        .begin_erasure(patient, UnixMillis(8))
        .await
        .expect("begin again resumes");
    assert_eq!(
        store.pending_erasures().await.expect("pending"),
        vec![patient]
    );
}

pub async fn completing_an_erasure_deletes_that_patients_rows_only(store: &dyn Store) {
    let (erased, kept) = (PatientId::new(), PatientId::new());
    let mut writes = Vec::new();
    for (patient, name) in [(erased, "e"), (kept, "k")] {
        let compartment = Compartment::Patient(patient);
        let id: FhirId = format!("{name}-obs").parse().expect("id");
        writes.push(create(
            version(ResourceType::Observation, &id, 1, compartment, 1),
            &[b"code-1"],
        ));
        let mut user = super::user(&format!("{name}@example.org"), &[Role::Patient]);
        user.patient_id = Some(patient);
        store.insert_user(&user, None).await.expect("user");
    }
    let keys = [erased, kept].map(|p| super::wrapped(p, &super::master_key_id(1), 1));
    store.write_records(&keys, &writes).await.expect("write");

    let linked = crate::UserFilter {
        patient: Some(erased),
        ..crate::UserFilter::default()
    };
    let linked = store.list_users(&linked, None, 10).await.expect("list");
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].email.as_str(), "e@example.org");

    let unqueued = store.complete_erasure(erased).await;
    assert!(
        matches!(unqueued, Err(StoreError::NotFound)),
        "{unqueued:?}"
    );
    store
        .begin_erasure(erased, UnixMillis(1))
        .await
        .expect("begin");
    let rows = store.complete_erasure(erased).await.expect("complete");
    assert_eq!(
        rows,
        ErasedRows {
            resources: 1,
            versions: 1,
            users: 1
        }
    );
    assert!(store.pending_erasures().await.expect("pending").is_empty());
    assert!(matches!(
        store.data_key(erased).await,
        Err(StoreError::NotFound)
    ));
    assert!(store
        .user_by_email(&"e@example.org".parse().expect("email"))
        .await
        .is_err());
    let left = store
        .find_records(&query(ResourceType::Observation))
        .await
        .expect("find");
    let left: Vec<_> = left.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(left, ["k-obs"]);
    assert!(store.data_key(kept).await.is_ok());
    assert!(store
        .user_by_email(&"k@example.org".parse().expect("email"))
        .await
        .is_ok());
}

pub async fn retention_expires_old_records_and_patients_outside_holds(store: &dyn Store) {
    let (old, recent, held) = (PatientId::new(), PatientId::new(), PatientId::new());
    let admin = super::user("retention@example.org", &[Role::Admin]);
    store.insert_user(&admin, None).await.expect("admin");
    let mut writes = Vec::new();
    for (patient, name, at) in [
        (old, "a-old", 10),
        (recent, "b-recent", 500),
        (held, "c-held", 10),
    ] {
        let compartment = Compartment::Patient(patient);
        let id: FhirId = name.parse().expect("id");
        writes.push(create(
            version(ResourceType::Observation, &id, 1, compartment, at),
            &[b"label", name.as_bytes()],
        ));
    }
    let keys = [old, recent, held].map(|p| super::wrapped(p, &super::master_key_id(1), 1));
    store.write_records(&keys, &writes).await.expect("write");
    store
        .place_legal_hold(&LegalHold {
            patient: held,
            reason: "kept".into(),
            placed_by: admin.id,
            placed_at: UnixMillis(1),
        })
        .await
        .expect("hold");

    let expired = store
        .expired_records(ResourceType::Observation, UnixMillis(100), None, None, 10)
        .await
        .expect("expired");
    assert_eq!(expired, vec![("a-old".parse().expect("id"), Some(old))]);
    let labelled = store
        .expired_records(
            ResourceType::Observation,
            UnixMillis(1000),
            Some(b"b-recent"),
            None,
            10,
        )
        .await
        .expect("by token");
    assert_eq!(
        labelled,
        vec![("b-recent".parse().expect("id"), Some(recent))]
    );
    let after = store
        .expired_records(
            ResourceType::Observation,
            UnixMillis(1000),
            None,
            Some(&"a-old".parse().expect("id")),
            10,
        )
        .await
        .expect("paged");
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(
        store
            .expired_patients(UnixMillis(100), None, 10)
            .await
            .expect("patients"),
        vec![old]
    );

    let purged = store
        .purge_records(
            ResourceType::Observation,
            &["a-old".parse().expect("id"), "c-held".parse().expect("id")],
        )
        .await
        .expect("purge");
    assert_eq!(purged, (1, 1), "the held patient's record stays");
    let left = store
        .find_records(&query(ResourceType::Observation))
        .await
        .expect("find");
    let mut left: Vec<String> = left.iter().map(|r| r.id.to_string()).collect();
    left.sort();
    assert_eq!(left, ["b-recent", "c-held"]);
    assert!(store
        .expired_patients(UnixMillis(100), None, 10)
        .await
        .expect("none")
        .is_empty());
}
