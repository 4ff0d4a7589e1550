//! Reading the trail: auditors search it as FHIR AuditEvent; operators export it for a SIEM.

use serde_json::Value;

use crate::realm::{claims_of, Realm};

async fn fhir(realm: &Realm, query: &str, token: &str) -> (u16, Value) {
    let response = realm.get(&format!("/fhir/AuditEvent{query}"), token).await;
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "application/fhir+json");
    (status, response.json().await.unwrap())
}

fn subtypes(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let codes = e["resource"]["subtype"].as_array().unwrap();
            codes.last().unwrap()["code"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// An auditor, a physician who signed in twice, and one failed sign-in.
async fn audited_realm() -> (Realm, String, String) {
    let realm = Realm::start(&[]).await;
    realm.add_user("audrey@example.org", &["auditor"]);
    realm.add_user("doc@example.org", &["physician"]);
    let (doc, _) = realm.tokens("doc@example.org").await;
    realm.tokens("doc@example.org").await;
    realm.login("doc@example.org", "Wrong-Password-1234").await;
    let (auditor, _) = realm.tokens("audrey@example.org").await;
    let doc_id = claims_of(&doc)["sub"].as_str().unwrap().to_owned();
    (realm, auditor, doc_id)
}

#[tokio::test]
async fn only_auditors_may_search_audit_events() {
    let (realm, _, _) = audited_realm().await;
    realm.add_user("root@example.org", &["admin"]);
    for email in ["doc@example.org", "root@example.org"] {
        let (token, _) = realm.tokens(email).await;
        let (status, outcome) = fhir(&realm, "", &token).await;
        assert_eq!(status, 403, "{email}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(outcome["issue"][0]["code"], "forbidden");
    }
    let anonymous = realm
        .client
        .get(realm.url("/fhir/AuditEvent"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let outcome: Value = anonymous.json().await.unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
}

#[tokio::test]
async fn an_auditor_searches_by_agent_action_outcome_and_date_as_fhir() {
    let (realm, auditor, doc_id) = audited_realm().await;

    let (status, bundle) = fhir(&realm, &format!("?agent={doc_id}"), &auditor).await;
    assert_eq!(status, 200, "{bundle}");
    assert_eq!(
        (bundle["resourceType"].as_str(), bundle["type"].as_str()),
        (Some("Bundle"), Some("searchset"))
    );
    assert_eq!(subtypes(&bundle), ["login.success", "login.success"]);
    let event = &bundle["entry"][0]["resource"];
    assert_eq!(event["resourceType"], "AuditEvent");
    assert_eq!(event["type"]["code"], "110114");
    assert_eq!(event["action"], "E");
    assert_eq!(event["outcome"], "0");
    assert_eq!(
        event["agent"][0]["who"]["identifier"]["value"],
        doc_id.as_str()
    );
    assert_eq!(event["agent"][0]["network"]["address"], "127.0.0.1");

    let (_, failures) = fhir(&realm, "?outcome=4", &auditor).await;
    assert_eq!(subtypes(&failures), ["login.failure"]);
    let (_, created) = fhir(&realm, "?action=C", &auditor).await;
    assert_eq!(subtypes(&created), ["user.create", "user.create"]);
    let (_, by_subtype) = fhir(&realm, "?subtype=login.failure&outcome=0", &auditor).await;
    assert!(
        by_subtype["entry"].as_array().unwrap().is_empty(),
        "filters combine"
    );

    let (_, today) = fhir(&realm, "?date=ge2000-01-01&date=le2999-12-31", &auditor).await;
    assert_eq!(today["entry"].as_array().unwrap().len(), 6);
    let (_, future) = fhir(&realm, "?date=gt2999-01-01", &auditor).await;
    assert!(future["entry"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn audit_search_pages_through_next_links() {
    let (realm, auditor, _) = audited_realm().await;
    let (_, first) = fhir(&realm, "?_count=4", &auditor).await;
    assert_eq!(first["entry"].as_array().unwrap().len(), 4);
    let next = first["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .expect("a next link");
    let url = next["url"].as_str().unwrap();
    let path = &url[url.find("/fhir/").unwrap()..];
    let (_, second) = fhir(&realm, &path["/fhir/AuditEvent".len()..], &auditor).await;
    assert_eq!(second["entry"].as_array().unwrap().len(), 2);
    assert!(second["link"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["relation"] != "next"));
    let ids = |b: &Value| {
        b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(
        ids(&first).iter().all(|id| !ids(&second).contains(id)),
        "pages do not overlap"
    );
}

#[tokio::test]
async fn unsupported_or_malformed_parameters_are_refused_not_ignored() {
    let (realm, auditor, _) = audited_realm().await;
    for query in [
        "?name=Smith",
        "?date=yesterday",
        "?outcome=2",
        "?action=X",
        "?_count=0",
        "?subtype=nope",
    ] {
        let (status, outcome) = fhir(&realm, query, &auditor).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{query}");
    }
}

#[tokio::test]
async fn the_trail_exports_as_json_lines_for_a_siem() {
    let (realm, _, doc_id) = audited_realm().await;
    let (ok, stdout, stderr) = realm.run_cli(
        &[
            "audit",
            "export",
            "--since",
            "2000-01-01",
            "--format",
            "jsonl",
        ],
        "",
    );
    assert!(ok, "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(lines[2]["event"]["action"], "login.success");
    assert_eq!(lines[2]["event"]["actor"]["id"], doc_id.as_str());
    assert_eq!(lines[2]["hash"].as_str().unwrap().len(), 64);

    let (ok, stdout, _) =
        realm.run_cli(&["audit", "export", "--since", "2999-01-01T00:00:00Z"], "");
    assert!(ok && stdout.is_empty());
    let (ok, _, stderr) = realm.run_cli(
        &[
            "audit",
            "export",
            "--since",
            "2000-01-01",
            "--format",
            "csv",
        ],
        "",
    );
    assert!(!ok && stderr.contains("--format must be jsonl"), "{stderr}");
    assert!(
        !realm
            .run_cli(&["audit", "export", "--since", "last week"], "")
            .0
    );
}

/// Records accesses to patients' records as the FHIR context will, through the real chain.
async fn record_accesses(realm: &Realm, accesses: &[(&str, &str, medvault_domain::PurposeOfUse)]) {
    let store = realm.store().await;
    let mut events = Vec::new();
    for (email, patient, purpose) in accesses {
        let user = store.user_by_email(&email.parse().unwrap()).await.unwrap();
        events.push(medvault_domain::AuditEvent {
            at: medvault_domain::UnixMillis(1_800_000_000_000),
            actor: medvault_domain::Actor::User {
                id: user.id,
                roles: user.roles.iter().collect(),
            },
            action: medvault_domain::AuditAction::FhirRead,
            outcome: medvault_domain::Outcome::Success,
            resource: Some(medvault_domain::AuditedResource {
                kind: "Observation".into(),
                id: "obs-1".into(),
            }),
            // Entries written before audit subjects named patients by their ids.
            patient: Some(medvault_domain::AuditSubject(patient.to_string())),
            purpose: Some(*purpose),
            session: None,
            source_ip: Some("10.1.2.3".into()),
            request_id: None,
            policy: None,
        });
    }
    store
        .append_audit_events(&events, medvault_crypto::audit_chain::entry_hash)
        .await
        .unwrap();
    store.close().await;
}

#[tokio::test]
async fn a_patient_sees_who_accessed_their_record_and_nothing_about_others() {
    use medvault_domain::PurposeOfUse::{BreakGlass, Treatment};
    let mut realm = Realm::start(&[]).await;
    let (jane_record, joe_record) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    for (email, record) in [
        ("jane@example.org", &jane_record),
        ("joe@example.org", &joe_record),
    ] {
        let args = [
            "user",
            "add",
            "--email",
            email,
            "--role",
            "patient",
            "--patient-id",
            record,
            "--password-stdin",
        ];
        assert!(realm.run_cli(&args, crate::realm::PASSWORD).0);
    }
    let args = [
        "user",
        "add",
        "--email",
        "doc@example.org",
        "--role",
        "physician",
        "--name",
        "Dr Grey",
        "--password-stdin",
    ];
    assert!(realm.run_cli(&args, crate::realm::PASSWORD).0);
    realm.add_user("nia@example.org", &["nurse"]);
    record_accesses(
        &realm,
        &[
            ("doc@example.org", &jane_record, Treatment),
            ("nia@example.org", &joe_record, Treatment),
            ("doc@example.org", &jane_record, BreakGlass),
        ],
    )
    .await;

    let (jane, _) = realm.tokens("jane@example.org").await;
    let log: Value = realm
        .get("/api/v1/me/access-log", &jane)
        .await
        .json()
        .await
        .unwrap();
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{log}");
    assert_eq!(entries[0]["who"]["name"], "Dr Grey");
    assert_eq!(entries[0]["who"]["roles"], serde_json::json!(["physician"]));
    assert_eq!(entries[0]["record"], "Observation");
    assert_eq!(
        (
            entries[0]["purpose"].as_str(),
            entries[0]["break_glass"].as_bool()
        ),
        (Some("treatment"), Some(false))
    );
    assert_eq!(
        (
            entries[1]["purpose"].as_str(),
            entries[1]["break_glass"].as_bool()
        ),
        (Some("break_glass"), Some(true))
    );

    let (joe, _) = realm.tokens("joe@example.org").await;
    let log: Value = realm
        .get("/api/v1/me/access-log", &joe)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log["entries"].as_array().unwrap().len(), 1);
    assert_eq!(
        log["entries"][0]["who"]["roles"],
        serde_json::json!(["nurse"])
    );

    let (doc, _) = realm.tokens("doc@example.org").await;
    let log: Value = realm
        .get("/api/v1/me/access-log", &doc)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        log["entries"].as_array().unwrap().is_empty(),
        "no record, no accesses: {log}"
    );

    realm.stop();
    let (ok, stdout, stderr) = realm.run_cli(&["audit", "verify"], "");
    assert!(
        ok,
        "the seeded accesses are proper links of the chain: {stdout}{stderr}"
    );
}

/// Invariant: events hold ids and codes only. Every documented route gets PHI-looking values
/// in its path, query and body, as admin and as anonymous; none reaches the audit store.
#[tokio::test]
async fn phi_sent_to_any_route_never_reaches_the_audit_trail() {
    let mut realm = Realm::start(&[]).await;
    realm.add_user("root@example.org", &["admin", "auditor"]);
    let (admin, _) = realm.tokens("root@example.org").await;
    let phi = [
        "Jane-Q-Patientname",
        "HIV-positive-result",
        "1970-01-31-DOB",
        "555-12-3456",
    ];
    let body = serde_json::json!({
        "email": format!("{}@example.org", phi[0]), "password": phi[1], "display_name": phi[0],
        "roles": ["patient"], "refresh_token": phi[3], "note": phi[1], "birthDate": phi[2],
    });
    // One request that succeeds with PHI-looking data, so an event about it is certainly written.
    let created = realm
        .client
        .post(realm.url("/api/v1/admin/users"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"email": "p1@example.org", "display_name": phi[0], "roles": ["patient"], "password": "Long-Enough-Passphrase-31"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let spec: Value = crate::support::get_json(&realm.client, realm.url("/openapi.json")).await;
    let mut calls = 0;
    for (path, operations) in spec["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", phi[0]);
        for method in operations.as_object().unwrap().keys() {
            for token in [Some(admin.as_str()), None] {
                let url = realm.url(&format!("{concrete}?name={}&q={}", phi[0], phi[2]));
                let mut request = realm
                    .client
                    .request(method.to_uppercase().parse().unwrap(), url)
                    .json(&body);
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let status = request.send().await.unwrap().status();
                assert!(
                    !status.is_server_error(),
                    "{method} {path} answered {status}"
                );
                calls += 1;
            }
        }
    }
    assert!(
        calls >= 20,
        "every documented route was exercised ({calls} calls)"
    );
    realm.stop();

    let (ok, exported, stderr) = realm.run_cli(&["audit", "export", "--since", "2000-01-01"], "");
    assert!(ok, "{stderr}");
    assert!(
        exported.lines().count() >= 3,
        "the calls were audited: {exported}"
    );
    for value in phi {
        assert!(
            !exported.contains(value),
            "{value} reached the audit trail:\n{exported}"
        );
    }
}
