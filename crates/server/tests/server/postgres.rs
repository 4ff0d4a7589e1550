//! The server on PostgreSQL, in a throwaway schema. Skipped (and says so) without
//! MEDVAULT_TEST_DATABASE_URL; never skipped under CI.

use medvault_store_postgres::test_support::ScratchSchema;

use crate::support::{medvault, run_to_exit, Server};

#[tokio::test]
async fn serves_on_postgres_and_refuses_an_instance_without_its_master_key() {
    let Some(schema) = ScratchSchema::create().await else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();

    let mut command = medvault(temp.path());
    command.env("MEDVAULT_DATABASE_URL", schema.url());
    let server = Server::start_with(command, &[]).await;
    let ready: serde_json::Value = reqwest::get(server.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["database"], "postgres");
    let (status, _) = server.terminate();
    assert!(status.success());

    // An instance without the fleet's master key must not join, nor mint a key of its own.
    let other = tempfile::tempdir().unwrap();
    let mut command = medvault(other.path());
    command
        .env("MEDVAULT_DATABASE_URL", schema.url())
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let output = run_to_exit(command);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("holds no master key"), "{stderr}");
    assert!(!other.path().join("master.key").exists());

    schema.drop_schema().await;
}

/// The record store on PostgreSQL: the same API, and a `pg_dump` of the database holds
/// none of the values written.
#[tokio::test]
async fn records_on_postgres_are_searchable_but_absent_from_a_dump() {
    let Some(schema) = ScratchSchema::create().await else {
        return;
    };
    let env = vec![("MEDVAULT_DATABASE_URL".to_owned(), schema.url())];
    let clinic =
        crate::clinic::Clinic::within(crate::realm::Realm::start_in(&[], true, env).await).await;
    let (marker_name, marker_note) = ("Qwertyuiop-Marker", "pg-marker-note-51d2");
    let ann = clinic
        .patient(marker_name, "Ann", "1980-01-01", "female")
        .await;
    let obs = clinic
        .create(
            serde_json::json!({"resourceType": "Observation", "status": "final",
            "code": {"text": marker_note}, "valueString": marker_note,
            "subject": {"reference": format!("Patient/{ann}")}}),
        )
        .await;
    let found = clinic
        .get(
            &format!("/fhir/Patient?family={marker_name}"),
            &clinic.doctor,
        )
        .await;
    assert_eq!(found.ids(), vec![ann.clone()]);
    let read = clinic
        .get(&format!("/fhir/Observation/{obs}"), &clinic.doctor)
        .await;
    assert_eq!(read.body["valueString"], marker_note);

    let base = std::env::var(medvault_store_postgres::test_support::TEST_DATABASE_URL).unwrap();
    let dump = std::process::Command::new("pg_dump")
        .args(["--dbname", &base, "--schema", &schema.name])
        .output()
        .expect("pg_dump runs");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(
        text.contains("fhir_versions"),
        "the dump holds the record tables"
    );
    for marker in [marker_name, &marker_name.to_lowercase(), marker_note] {
        assert!(!text.contains(marker), "{marker} found in the dump");
    }
    schema.drop_schema().await;
}

/// On PostgreSQL the key vault can be a database of its own (here a schema): the shares
/// live there, not beside the records, and erasure destroys them there.
#[tokio::test]
async fn erasure_on_postgres_destroys_the_share_in_a_separate_key_vault() {
    let (Some(records), Some(vault)) =
        (ScratchSchema::create().await, ScratchSchema::create().await)
    else {
        return;
    };
    let env = vec![
        ("MEDVAULT_DATABASE_URL".to_owned(), records.url()),
        ("MEDVAULT_KEY_VAULT_URL".to_owned(), vault.url()),
    ];
    let clinic =
        crate::clinic::Clinic::within(crate::realm::Realm::start_in(&[], true, env).await).await;
    let ann = clinic.patient("Annpg", "A", "1980-01-01", "female").await;
    let obs = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let token = clinic.patient_user("ann@example.org", &ann).await;
    let patient: medvault_domain::PatientId = ann.parse().unwrap();

    use medvault_store::{KeyShareStore, Store};
    let vault_store = medvault_store_postgres::PostgresStore::connect(&vault.url())
        .await
        .unwrap();
    let records_store = clinic.realm.store().await;
    assert!(
        vault_store.key_share(patient).await.is_ok(),
        "the share is in the vault"
    );
    assert!(
        records_store.key_share(patient).await.is_err(),
        "and not beside the records"
    );

    let response = clinic
        .realm
        .client
        .delete(clinic.realm.url("/api/v1/me"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"confirm": "ann@example.org"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(vault_store.key_share(patient).await.is_err());
    assert!(records_store.data_key(patient).await.is_err());
    let read = clinic
        .get(&format!("/fhir/Observation/{obs}"), &clinic.doctor)
        .await;
    assert_eq!(read.status, 404);

    vault_store.close().await;
    records_store.close().await;
    drop(clinic);
    records.drop_schema().await;
    vault.drop_schema().await;
}

/// Two instances of a fleet on one database: a consent withdrawn through one is enforced
/// by the other on the very next request, and a policy set loaded through one is followed
/// by the other within seconds.
#[tokio::test]
async fn a_fleet_enforces_consent_and_policy_changes_made_on_another_instance() {
    use serde_json::json;
    let Some(schema) = ScratchSchema::create().await else {
        return;
    };
    let env = vec![("MEDVAULT_DATABASE_URL".to_owned(), schema.url())];
    // One issuer for the fleet, so each instance accepts the other's tokens.
    let args = ["--public-url", "http://medvault.fleet.test"];
    let clinic =
        crate::clinic::Clinic::within(crate::realm::Realm::start_in(&args, true, env).await).await;
    let other = Server::start_with(clinic.realm.cli(), &args).await;
    let (practitioner, physician) = clinic
        .clinician("phys@example.org", "physician", None)
        .await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let obs = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let read_on_other = |token: String| {
        let url = other.url(&format!("/fhir/Observation/{obs}"));
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(read_on_other(physician.clone()).await, 404);
    let ann_token = clinic.patient_user("ann@example.org", &ann).await;
    let consent = json!({"resourceType": "Consent", "status": "active",
        "scope": {"text": "patient-privacy"}, "category": [{"text": "treatment"}],
        "patient": {"reference": format!("Patient/{ann}")},
        "provision": {"type": "permit", "actor": [{
            "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
            "reference": {"reference": format!("Practitioner/{practitioner}")}}]}});
    let given = clinic.post("/fhir/Consent", &ann_token, consent).await;
    assert_eq!(given.status, 201, "{}", given.body);
    assert_eq!(read_on_other(physician.clone()).await, 200);
    let id = given.body["id"].as_str().unwrap();
    let withdrawn = clinic
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/me/consents/{id}"),
            &ann_token,
            None,
        )
        .await;
    assert_eq!(withdrawn.status, 204);
    assert_eq!(
        read_on_other(physician.clone()).await,
        404,
        "withdrawn on one instance, enforced on the other at once"
    );

    // A policy set loaded through the first instance reaches the second.
    assert_eq!(read_on_other(clinic.doctor.clone()).await, 200);
    let current: serde_json::Value = clinic
        .realm
        .get("/api/v1/admin/policies", &clinic.registrar)
        .await
        .json()
        .await
        .unwrap();
    let stricter = format!(
        "{}\n@id(\"fleet-test\")\nforbid (principal, action, resource)\n\
         when {{ resource.resourceType == \"Observation\" }};\n",
        current["policies"].as_str().unwrap()
    );
    let loaded = clinic
        .realm
        .client
        .put(clinic.realm.url("/api/v1/admin/policies"))
        .bearer_auth(&clinic.registrar)
        .json(&json!({"policies": stricter}))
        .send()
        .await
        .unwrap();
    assert_eq!(loaded.status(), 200);
    let mut status = 200;
    for _ in 0..60 {
        status = read_on_other(clinic.doctor.clone()).await;
        if status == 404 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 404, "the other instance follows the new policy set");
    let (exit, _) = other.terminate();
    assert!(exit.success());
    drop(clinic);
    schema.drop_schema().await;
}

/// A fleet serves one OAuth flow across instances: the user signs in on one, the app
/// exchanges the code, refreshes and reads FHIR on another (RS256 keys made on the first
/// included), and signing out on the first stops the app's tokens on the second.
#[tokio::test]
async fn an_app_signs_in_on_one_instance_and_is_served_and_signed_out_by_another() {
    use crate::oauth_flows::{approve, authorize_url, register, Browser, REDIRECT, VERIFIER};
    use serde_json::{json, Value};
    let Some(schema) = ScratchSchema::create().await else {
        return;
    };
    let env = vec![("MEDVAULT_DATABASE_URL".to_owned(), schema.url())];
    let args = ["--public-url", "http://medvault.fleet.test"];
    let clinic =
        crate::clinic::Clinic::within(crate::realm::Realm::start_in(&args, true, env).await).await;
    let realm = &clinic.realm;
    let other = Server::start_with(realm.cli(), &args).await;
    let scope = "openid offline_access user/Patient.rs";
    let app = register(
        realm,
        &clinic.registrar,
        json!({"client_name": "Fleet portal", "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"], "scope": scope,
            "id_token_signed_response_alg": "RS256"}),
    )
    .await;
    let secret = app.secret.clone().unwrap();
    let mut browser = Browser::new();
    let params = approve(
        &mut browser,
        realm,
        authorize_url(realm, &app, scope, &[]),
        "doctor@example.org",
        &[],
    )
    .await;
    let http = reqwest::Client::new();
    let token_at_other = |form: Vec<(&'static str, String)>| {
        let request = http
            .post(other.url("/oauth2/token"))
            .basic_auth(&app.id, Some(&secret))
            .form(&form);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, tokens) = token_at_other(vec![
        ("grant_type", "authorization_code".into()),
        ("code", params["code"].clone()),
        ("redirect_uri", REDIRECT.into()),
        ("code_verifier", VERIFIER.into()),
    ])
    .await;
    assert_eq!(status, 200, "{tokens}");
    let header = jsonwebtoken::decode_header(tokens["id_token"].as_str().unwrap()).unwrap();
    let jwks: Value = http
        .get(other.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| Some(k["kid"].as_str().unwrap()) == header.kid.as_deref()),
        "the RS256 key made on the first instance is published by the second: {jwks}"
    );
    let (status, refreshed) = token_at_other(vec![
        ("grant_type", "refresh_token".into()),
        (
            "refresh_token",
            tokens["refresh_token"].as_str().unwrap().into(),
        ),
    ])
    .await;
    assert_eq!(status, 200, "{refreshed}");
    let access = refreshed["access_token"].as_str().unwrap().to_owned();
    let read = || {
        let request = http.get(other.url("/fhir/Patient")).bearer_auth(&access);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(read().await, 200);

    // Signing out on the first instance ends the grant on the second.
    let page = browser.get(realm.url("/oauth2/logout")).await;
    let done = browser.submit(realm, &page, "/oauth2/logout", &[]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let mut status = 200;
    for _ in 0..100 {
        status = read().await;
        if status == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 401, "the other instance learns of the sign-out");
    let (exit, _) = other.terminate();
    assert!(exit.success());
    drop(clinic);
    schema.drop_schema().await;
}
