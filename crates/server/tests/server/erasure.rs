//! GDPR erasure by crypto-shredding: after it, nothing of the patient reads, their login
//! fails, a backup of the database taken before it no longer decrypts, the audit trail
//! still verifies and no longer names them; a legal hold blocks it.

use medvault_store::{DataKeyStore, KeyShareStore, RecordStore, Store};
use reqwest::Method;
use serde_json::{json, Value};

use crate::clinic::{Answer, Clinic};

async fn delete_me(clinic: &Clinic, token: &str, confirm: &str) -> Answer {
    let response = clinic
        .realm
        .client
        .delete(clinic.realm.url("/api/v1/me"))
        .bearer_auth(token)
        .json(&json!({ "confirm": confirm }))
        .send()
        .await
        .unwrap();
    Clinic::answer(response).await
}

async fn admin_call(
    clinic: &Clinic,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Answer {
    let mut request = clinic
        .realm
        .client
        .request(method, clinic.realm.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    Clinic::answer(request.send().await.unwrap()).await
}

/// Places (or replaces) a legal hold through `path`, as the holder of `token`.
async fn hold(clinic: &Clinic, path: &str, token: &str, reason: &str) -> Answer {
    let body = Some(json!({ "reason": reason }));
    admin_call(clinic, Method::PUT, path, token, body).await
}

/// Copies the records database aside with the server stopped (a consistent backup).
fn back_up(clinic: &mut Clinic) -> std::path::PathBuf {
    clinic.realm.stop();
    let dir = clinic.realm.temp.path();
    let backup = dir.join("backup-medvault.db");
    std::fs::copy(dir.join("medvault.db"), &backup).unwrap();
    backup
}

#[tokio::test]
async fn an_erased_patient_is_gone_everywhere_even_from_backups_and_the_trail_still_verifies() {
    let mut clinic = Clinic::start(&[]).await;
    let ann = clinic
        .patient("Annerased", "A", "1980-01-01", "female")
        .await;
    let bob = clinic.patient("Bobkept", "B", "1970-01-01", "male").await;
    let ann_obs = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let bob_obs = clinic
        .observation(&bob, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    clinic.patient_user("ann@example.org", &ann).await;
    clinic.realm.add_user("auditor@example.org", &["auditor"]);

    let backup = back_up(&mut clinic);
    clinic.realm.restart().await;
    // A restart binds a new port, which is part of the token issuer.
    clinic.doctor = clinic.realm.tokens("doctor@example.org").await.0;
    let (token, refresh) = clinic.realm.tokens("ann@example.org").await;
    let auditor = clinic.realm.tokens("auditor@example.org").await.0;
    let before = clinic
        .get(&format!("/fhir/AuditEvent?patient={ann}"), &auditor)
        .await;
    assert_eq!(before.status, 200);
    assert!(
        !before.ids().is_empty(),
        "the trail names Ann's accesses while she exists"
    );

    // The confirmation must be the caller's email.
    let wrong = delete_me(&clinic, &token, "someone@example.org").await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    let erased = delete_me(&clinic, &token, "Ann@Example.org").await;
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert_eq!(erased.body["patient"], ann.as_str());
    // Her Patient, the Observation and the care team her physician registered her with.
    assert_eq!(erased.body["resources"], 3, "{}", erased.body);
    assert_eq!(erased.body["users"], 1);

    // Nothing of Ann reads, lists or signs in any more; Bob is untouched.
    for path in [
        format!("/fhir/Patient/{ann}"),
        format!("/fhir/Observation/{ann_obs}"),
    ] {
        let read = clinic.get(&path, &clinic.doctor).await;
        assert!([404, 410].contains(&read.status), "{path}: {}", read.body);
    }
    let listed = clinic
        .get("/fhir/Observation?code=2339-0", &clinic.doctor)
        .await;
    assert_eq!(listed.ids(), vec![bob_obs.clone()]);
    let everything = clinic
        .get(&format!("/fhir/Patient/{ann}/$everything"), &clinic.doctor)
        .await;
    assert!(everything.ids().is_empty(), "{}", everything.body);
    assert_eq!(
        clinic
            .realm
            .login("ann@example.org", crate::realm::PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(
        clinic.realm.me_status(&token).await,
        401,
        "her sessions are revoked"
    );
    assert_eq!(clinic.realm.refresh(&refresh).await.status(), 401);

    // The trail keeps its entries, verifiable, but none names Ann or can be traced to her.
    let erasure_events: Vec<_> = clinic
        .realm
        .audit_events()
        .await
        .into_iter()
        .filter(|e| e.action.code() == "erase")
        .collect();
    assert_eq!(erasure_events.len(), 1);
    let events = serde_json::to_string(&clinic.realm.audit_events().await).unwrap();
    assert!(!events.contains(&ann), "the trail never holds Ann's id");
    let after = clinic
        .get(&format!("/fhir/AuditEvent?patient={ann}"), &auditor)
        .await;
    assert!(after.ids().is_empty(), "{}", after.body);
    let shown = clinic.get("/fhir/AuditEvent?subtype=erase", &auditor).await;
    let entity = &shown.body["entry"][0]["resource"]["entity"][0]["what"];
    assert_eq!(
        entity["identifier"]["system"], "urn:medvault:audit-subject",
        "{entity}"
    );
    let (ok, stdout, stderr) = clinic.realm.run_cli(&["audit", "verify"], "");
    assert!(ok, "{stdout}{stderr}");

    // A backup taken before the erasure and restored: Ann's rows come back, but her key
    // share does not, so at start the server erases them again. Bob's rows are served.
    clinic.realm.stop();
    let dir = clinic.realm.temp.path().to_owned();
    for stale in ["medvault.db-wal", "medvault.db-shm"] {
        let _ = std::fs::remove_file(dir.join(stale));
    }
    std::fs::copy(&backup, dir.join("medvault.db")).unwrap();
    clinic.realm.restart().await;
    let doctor = clinic.realm.tokens("doctor@example.org").await.0;
    let restored = clinic
        .get(&format!("/fhir/Observation/{ann_obs}"), &doctor)
        .await;
    assert_eq!(restored.status, 404, "{}", restored.body);
    let login = clinic
        .realm
        .login("ann@example.org", crate::realm::PASSWORD)
        .await;
    assert_eq!(
        login.status(),
        401,
        "nothing erased comes back with a backup"
    );
    let kept = clinic
        .get(&format!("/fhir/Observation/{bob_obs}"), &doctor)
        .await;
    assert_eq!(kept.status, 200, "{}", kept.body);
}

#[tokio::test]
async fn a_restored_backup_does_not_decrypt_even_before_the_server_sweeps_it() {
    let mut clinic = Clinic::start(&[]).await;
    let ann = clinic
        .patient("Annbackup", "A", "1980-01-01", "female")
        .await;
    let obs = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let backup = back_up(&mut clinic);
    clinic.realm.restart().await;
    let (ok, _, stderr) = clinic
        .realm
        .run_cli(&["privacy", "erase", "--patient", &ann], "");
    assert!(ok, "{stderr}");
    clinic.realm.stop();
    // An attacker with the backup, the master key and the current key vault.
    let backup = medvault_store_sqlite::SqliteStore::open(&backup)
        .await
        .unwrap();
    let vault_file = clinic.realm.temp.path().join("keyvault.db");
    let vault = medvault_store_sqlite::SqliteStore::open(&vault_file)
        .await
        .unwrap();
    let patient = ann.parse().unwrap();
    let wrapped = backup
        .data_key(patient)
        .await
        .expect("the backup holds the wrapped key");
    let stored = backup
        .record(
            medvault_domain::ResourceType::Observation,
            &obs.parse().unwrap(),
            None,
        )
        .await
        .expect("and the sealed record");
    assert!(!stored.sealed.is_empty());
    assert!(matches!(
        vault.key_share(patient).await,
        Err(medvault_store::StoreError::NotFound)
    ));
    let master = medvault_crypto::MasterKey::from_base64(crate::realm::MASTER_KEY).unwrap();
    assert!(
        medvault_crypto::DataKey::unwrap(&master, &wrapped, None).is_err(),
        "the master key alone does not open it"
    );
    backup.close().await;
    vault.close().await;
}

#[tokio::test]
async fn data_keys_from_before_key_shares_are_adopted_not_erased() {
    let mut clinic = Clinic::start(&[]).await;
    let master = medvault_crypto::MasterKey::from_base64(crate::realm::MASTER_KEY).unwrap();
    let patient = medvault_domain::PatientId::new();
    let key = medvault_crypto::DataKey::generate();
    let store = clinic.realm.store().await;
    store
        .insert_data_key(&key.wrap(&master, patient, None))
        .await
        .unwrap();
    store.close().await;
    clinic.realm.restart().await;
    clinic.realm.stop();
    let store = clinic.realm.store().await;
    let vault_file = clinic.realm.temp.path().join("keyvault.db");
    let vault = medvault_store_sqlite::SqliteStore::open(&vault_file)
        .await
        .unwrap();
    let share = vault
        .key_share(patient)
        .await
        .expect("a share was made for it");
    let share = medvault_crypto::KeyShare::from_bytes(&share.share).unwrap();
    let wrapped = store.data_key(patient).await.expect("the key is kept");
    let adopted = medvault_crypto::DataKey::unwrap(&master, &wrapped, Some(&share)).unwrap();
    let sealed = key.seal(b"ctx", b"record");
    assert_eq!(adopted.open(b"ctx", &sealed).unwrap().as_slice(), b"record");
    store.close().await;
    vault.close().await;
}

#[tokio::test]
async fn a_legal_hold_blocks_erasure_until_an_admin_releases_it() {
    let clinic = Clinic::start(&[]).await;
    let ann = clinic.patient("Annheld", "A", "1980-01-01", "female").await;
    let token = clinic.patient_user("ann@example.org", &ann).await;
    let admin = clinic.user("admin@example.org", "admin").await;
    let hold_path = format!("/api/v1/admin/patients/{ann}/legal-hold");

    let refused = hold(&clinic, &hold_path, &clinic.doctor, "x").await;
    assert_eq!(refused.status, 403);
    let empty = hold(&clinic, &hold_path, &admin, " ").await;
    assert_eq!(empty.status, 422);
    let nobody = format!("/api/v1/admin/patients/{}/legal-hold", uuid::Uuid::new_v4());
    let unknown = hold(&clinic, &nobody, &admin, "x").await;
    assert_eq!(unknown.status, 404);

    let placed = hold(&clinic, &hold_path, &admin, "malpractice claim 2026-17").await;
    assert_eq!(placed.status, 200, "{}", placed.body);
    let holds = admin_call(
        &clinic,
        Method::GET,
        "/api/v1/admin/legal-holds",
        &admin,
        None,
    )
    .await;
    assert_eq!(holds.body[0]["patient"], ann.as_str());
    assert_eq!(holds.body[0]["reason"], "malpractice claim 2026-17");

    let blocked = delete_me(&clinic, &token, "ann@example.org").await;
    assert_eq!(blocked.status, 409, "{}", blocked.body);
    assert!(blocked.body["detail"]
        .as_str()
        .unwrap()
        .contains("legal hold"));
    let erase_path = format!("/api/v1/admin/patients/{ann}/erase");
    let blocked = admin_call(&clinic, Method::POST, &erase_path, &admin, None).await;
    assert_eq!(blocked.status, 409);
    assert_eq!(
        clinic
            .get(&format!("/fhir/Patient/{ann}"), &clinic.doctor)
            .await
            .status,
        200
    );
    let audit = serde_json::to_string(&clinic.realm.audit_events().await).unwrap();
    assert!(
        !audit.contains("malpractice"),
        "hold reasons stay out of the trail"
    );

    let released = admin_call(&clinic, Method::DELETE, &hold_path, &admin, None).await;
    assert_eq!(released.status, 204);
    assert_eq!(
        admin_call(&clinic, Method::DELETE, &hold_path, &admin, None)
            .await
            .status,
        404
    );
    let erased = admin_call(&clinic, Method::POST, &erase_path, &admin, None).await;
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert_eq!(
        clinic
            .get(&format!("/fhir/Patient/{ann}"), &clinic.doctor)
            .await
            .status,
        404
    );
    let again = admin_call(&clinic, Method::POST, &erase_path, &admin, None).await;
    assert_eq!(again.status, 404, "nothing is left to erase");
    // The reserved key slots (the directory's key, the blind-index root) are no patient.
    for reserved in [
        "00000000-0000-0000-0000-000000000000",
        "00000000-0000-0000-0000-000000000001",
    ] {
        let path = format!("/api/v1/admin/patients/{reserved}/erase");
        assert_eq!(
            admin_call(&clinic, Method::POST, &path, &admin, None)
                .await
                .status,
            404
        );
        let path = format!("/api/v1/admin/patients/{reserved}/legal-hold");
        let held = hold(&clinic, &path, &admin, "x").await;
        assert_eq!(held.status, 404);
    }
    let actions = clinic.realm.audit_actions().await;
    for action in ["privacy.legal_hold", "privacy.legal_hold_release", "erase"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

#[tokio::test]
async fn only_patients_erase_themselves_and_operators_erase_at_the_cli() {
    let clinic = Clinic::start(&[]).await;
    let staff = delete_me(&clinic, &clinic.doctor, "doctor@example.org").await;
    assert_eq!(
        staff.status, 403,
        "staff accounts are removed by an administrator"
    );
    assert_eq!(clinic.realm.me_status(&clinic.doctor).await, 200);

    let ann = clinic.patient("Anncli", "A", "1980-01-01", "female").await;
    let obs = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    // The server has Ann's keys cached; the CLI erases beside it.
    assert_eq!(
        clinic
            .get(&format!("/fhir/Observation/{obs}"), &clinic.doctor)
            .await
            .status,
        200
    );
    let (ok, stdout, stderr) = clinic
        .realm
        .run_cli(&["privacy", "erase", "--patient", &ann], "");
    assert!(ok, "{stderr}");
    assert!(stdout.contains("3 resources"), "{stdout}");
    assert_eq!(
        clinic
            .get(&format!("/fhir/Observation/{obs}"), &clinic.doctor)
            .await
            .status,
        404
    );
    let (ok, _, stderr) = clinic
        .realm
        .run_cli(&["privacy", "erase", "--patient", &ann], "");
    assert!(!ok && stderr.contains("no such patient"), "{stderr}");
}

fn communication(patient: &str, purpose: Option<&str>) -> Value {
    let mut resource = json!({"resourceType": "Communication", "status": "completed",
        "subject": {"reference": format!("Patient/{patient}")},
        "payload": [{"contentString": "study follow-up"}]});
    if let Some(code) = purpose {
        resource["meta"] = json!({"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": code}]});
    }
    resource
}

#[tokio::test]
async fn retention_purges_expired_records_by_type_and_purpose_and_whole_patients_but_not_held_ones()
{
    let clinic = Clinic::start(&[]).await;
    let admin = clinic.user("admin@example.org", "admin").await;
    let (ann, bob, carl) = (
        clinic.patient("Annret", "A", "1980-01-01", "female").await,
        clinic.patient("Bobret", "B", "1970-01-01", "male").await,
        clinic.patient("Carlret", "C", "1960-01-01", "male").await,
    );
    let ann_obs = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let bob_obs = clinic
        .observation(&bob, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let research = clinic.create(communication(&ann, Some("HRESCH"))).await;
    let care = clinic.create(communication(&ann, Some("TREAT"))).await;
    let labelled = clinic
        .get(
            "/fhir/Communication?_security=http://terminology.hl7.org/CodeSystem/v3-ActReason%7CHRESCH",
            &clinic.doctor,
        )
        .await;
    assert_eq!(
        labelled.ids(),
        vec![research.clone()],
        "searchable by purpose"
    );
    let bob_hold = format!("/api/v1/admin/patients/{bob}/legal-hold");
    let held = hold(&clinic, &bob_hold, &admin, "records retention statute").await;
    assert_eq!(held.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;

    let (ok, stdout, stderr) = clinic.realm.run_cli(
        &[
            "privacy",
            "purge",
            "--retain",
            "Observation=1s,Communication:HRESCH=1s",
        ],
        "",
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("purged 2 resources"), "{stdout}");
    let clinic = &clinic;
    let status = |path: String| async move { clinic.get(&path, &clinic.doctor).await.status };
    assert_eq!(status(format!("/fhir/Observation/{ann_obs}")).await, 404);
    assert_eq!(
        status(format!("/fhir/Observation/{ann_obs}/_history/1")).await,
        404
    );
    assert_eq!(status(format!("/fhir/Communication/{research}")).await, 404);
    assert_eq!(
        status(format!("/fhir/Communication/{care}")).await,
        200,
        "another purpose"
    );
    assert_eq!(
        status(format!("/fhir/Observation/{bob_obs}")).await,
        200,
        "held"
    );
    let purges = clinic
        .realm
        .audit_actions()
        .await
        .into_iter()
        .filter(|a| *a == "privacy.retention_purge")
        .count();
    assert_eq!(purges, 2);

    // Whole patients: Carl's records are all old, Ann's just changed, Bob is held.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let mut touched = clinic
        .get(&format!("/fhir/Patient/{ann}"), &clinic.doctor)
        .await
        .body;
    touched["gender"] = json!("other");
    let put = clinic
        .call(
            Method::PUT,
            &format!("/fhir/Patient/{ann}"),
            &clinic.doctor,
            Some(touched),
        )
        .await;
    assert_eq!(put.status, 200);
    let (ok, stdout, stderr) = clinic
        .realm
        .run_cli(&["privacy", "purge", "--retain", "Patient=2s"], "");
    assert!(ok, "{stderr}");
    assert!(stdout.contains("erased 1 patients"), "{stdout}");
    assert_eq!(status(format!("/fhir/Patient/{carl}")).await, 404);
    assert_eq!(status(format!("/fhir/Patient/{ann}")).await, 200);
    assert_eq!(status(format!("/fhir/Patient/{bob}")).await, 200);

    for bad in [
        "Observation",
        "Nope=1y",
        "Patient:HRESCH=1y",
        "Observation=0s",
        "Practitioner=1y",
    ] {
        let (ok, _, stderr) = clinic
            .realm
            .run_cli(&["privacy", "purge", "--retain", bad], "");
        assert!(!ok && stderr.contains("--retain"), "{bad}: {stderr}");
    }
}

#[tokio::test]
async fn a_server_refuses_to_start_with_a_key_vault_that_is_not_its_own() {
    let mut clinic = Clinic::start(&[]).await;
    let ann = clinic
        .patient("Annvault", "A", "1980-01-01", "female")
        .await;
    clinic.realm.stop();
    // The key vault is lost (or another one is configured): nothing may be deleted on
    // that guess, and nothing served as if every patient were erased.
    let dir = clinic.realm.temp.path().to_owned();
    for file in ["keyvault.db", "keyvault.db-wal", "keyvault.db-shm"] {
        let _ = std::fs::remove_file(dir.join(file));
    }
    let mut serve = clinic.realm.cli();
    serve.args(["serve", "--listen", "127.0.0.1:0"]);
    let output = crate::support::run_to_exit(serve);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("is it the right one"), "{stderr}");
    let store = clinic.realm.store().await;
    assert!(
        store.data_key(ann.parse().unwrap()).await.is_ok(),
        "Ann's key is untouched"
    );
    store.close().await;
}
