//! The tamper-evident audit trail: every kind of tampering an insider with database access
//! can do is caught by `medvault audit verify`, on SQLite and on PostgreSQL.

use medvault_crypto::audit_chain::{entry_hash, verify_checkpoint};
use medvault_store_postgres::test_support::ScratchSchema;

use crate::realm::{Realm, PASSWORD};

/// A realm with 7 audit entries (a user created, six sign-ins), stopped so its final
/// checkpoint is written. `None` when PostgreSQL is asked for but not configured.
async fn trail(postgres: bool) -> Option<(Realm, Option<ScratchSchema>)> {
    let schema = if postgres {
        Some(ScratchSchema::create().await?)
    } else {
        None
    };
    let env = schema
        .iter()
        .map(|s| ("MEDVAULT_DATABASE_URL".to_owned(), s.url()))
        .collect();
    let mut realm = Realm::start_in(&[], true, env).await;
    realm.add_user("jane@example.org", &["physician"]);
    for _ in 0..6 {
        assert_eq!(
            realm.login("jane@example.org", PASSWORD).await.status(),
            200
        );
    }
    realm.stop();
    Some((realm, schema))
}

/// Runs `medvault audit verify`; returns (exit success, the one line it printed).
fn verify(realm: &Realm) -> (bool, String) {
    let (ok, stdout, stderr) = realm.run_cli(&["audit", "verify"], "");
    let line = if ok {
        stdout
    } else {
        stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect()
    };
    (ok, line.trim().to_owned())
}

async fn assert_damage(postgres: bool, tamper: &[&str], expected: &str) {
    let Some((realm, schema)) = trail(postgres).await else {
        return;
    };
    let (ok, line) = verify(&realm);
    assert!(
        ok && line.starts_with("audit trail intact: entries 1..=7"),
        "before tampering: {line}"
    );
    realm.sql(tamper).await;
    let (ok, line) = verify(&realm);
    assert!(!ok, "tampering went unnoticed: {line}");
    assert!(
        line.contains(expected),
        "expected `{expected}`, got: {line}"
    );
    if let Some(schema) = schema {
        schema.drop_schema().await;
    }
}

const EDIT: &[&str] = &["UPDATE audit_events SET outcome = 'denied' WHERE seq = 4"];
const DELETE: &[&str] = &["DELETE FROM audit_events WHERE seq = 4"];
const SWAP: &[&str] = &[
    "UPDATE audit_events SET seq = 1000 WHERE seq = 3",
    "UPDATE audit_events SET seq = 3 WHERE seq = 5",
    "UPDATE audit_events SET seq = 5 WHERE seq = 1000",
];
/// Deletes the tail, and the checkpoints and head that would betray it.
const TRUNCATE: &[&str] = &[
    "DELETE FROM audit_events WHERE seq > 5",
    "DELETE FROM audit_checkpoints WHERE seq > 5",
    "UPDATE audit_head SET last_seq = 5, last_hash = (SELECT hash FROM audit_events WHERE seq = 5)",
];

#[tokio::test]
async fn an_untouched_trail_verifies_on_sqlite_and_an_edit_is_named() {
    assert_damage(false, EDIT, "first bad entry 4: modified").await;
}

#[tokio::test]
async fn a_deleted_entry_is_named_on_sqlite() {
    assert_damage(false, DELETE, "first bad entry 4: missing").await;
}

#[tokio::test]
async fn swapped_entries_are_named_on_sqlite() {
    assert_damage(false, SWAP, "first bad entry 3: reordered").await;
}

#[tokio::test]
async fn a_truncated_tail_is_named_on_sqlite() {
    assert_damage(
        false,
        TRUNCATE,
        "first bad entry 6: truncated after a checkpoint",
    )
    .await;
}

#[tokio::test]
async fn an_edit_is_named_on_postgres() {
    assert_damage(true, EDIT, "first bad entry 4: modified").await;
}

#[tokio::test]
async fn a_deleted_entry_is_named_on_postgres() {
    assert_damage(true, DELETE, "first bad entry 4: missing").await;
}

#[tokio::test]
async fn swapped_entries_are_named_on_postgres() {
    assert_damage(true, SWAP, "first bad entry 3: reordered").await;
}

#[tokio::test]
async fn a_truncated_tail_is_named_on_postgres() {
    assert_damage(
        true,
        TRUNCATE,
        "first bad entry 6: truncated after a checkpoint",
    )
    .await;
}

/// An insider slips a well-formed entry in at 4 (hash computed correctly) and renumbers
/// the rest to keep the sequence contiguous.
async fn assert_insertion_is_named(postgres: bool) {
    let Some((realm, schema)) = trail(postgres).await else {
        return;
    };
    let store = realm.store().await;
    let third = store.audit_links(3, 1).await.unwrap().remove(0);
    store.close().await;
    // A copy of entry 3 as entry 4, with its hash computed exactly as medvault would.
    let forged_hash = entry_hash(4, &third.hash, third.canonical.as_bytes());
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let blob = |bytes: &[u8]| {
        if postgres {
            format!("decode('{}', 'hex')", hex(bytes))
        } else {
            format!("x'{}'", hex(bytes))
        }
    };
    let insert = format!(
        "INSERT INTO audit_events (seq, prev_hash, hash, at, actor_kind, actor_id, actor_roles, action, outcome,
             resource_kind, resource_id, patient_id, purpose, session_id, source_ip, request_id)
         SELECT 4, {}, {}, at, actor_kind, actor_id, actor_roles, action, outcome, resource_kind,
             resource_id, patient_id, purpose, session_id, source_ip, request_id
           FROM audit_events WHERE seq = 3",
        blob(&third.hash),
        blob(&forged_hash)
    );
    realm
        .sql(&[
            "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 4",
            "UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1000",
            &insert,
        ])
        .await;
    let (ok, line) = verify(&realm);
    assert!(!ok, "insertion went unnoticed: {line}");
    assert!(line.contains("first bad entry 4: inserted"), "{line}");
    if let Some(schema) = schema {
        schema.drop_schema().await;
    }
}

#[tokio::test]
async fn an_inserted_entry_is_named_on_sqlite() {
    assert_insertion_is_named(false).await;
}

#[tokio::test]
async fn an_inserted_entry_is_named_on_postgres() {
    assert_insertion_is_named(true).await;
}

/// The database is restored from an older copy: the checkpoint file outside it still
/// remembers entries the copy never had.
async fn assert_rollback_is_named(postgres: bool) {
    let Some((mut realm, schema)) = trail(postgres).await else {
        return;
    };
    let tables = ["audit_events", "audit_checkpoints", "audit_head"];
    let snapshot: Vec<String> = tables
        .iter()
        .map(|t| format!("CREATE TABLE backup_{t} AS SELECT * FROM {t}"))
        .collect();
    realm
        .sql(&snapshot.iter().map(String::as_str).collect::<Vec<_>>())
        .await;

    realm.restart().await;
    for _ in 0..3 {
        assert_eq!(
            realm.login("jane@example.org", PASSWORD).await.status(),
            200
        );
    }
    realm.stop();
    assert!(verify(&realm).0, "intact before the rollback");

    let restore: Vec<String> = tables
        .iter()
        .flat_map(|t| {
            [
                format!("DELETE FROM {t}"),
                format!("INSERT INTO {t} SELECT * FROM backup_{t}"),
            ]
        })
        .collect();
    realm
        .sql(&restore.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    let (ok, line) = verify(&realm);
    assert!(!ok, "rollback went unnoticed: {line}");
    assert!(
        line.contains("first bad entry 8: truncated after a checkpoint"),
        "{line}"
    );
    if let Some(schema) = schema {
        schema.drop_schema().await;
    }
}

#[tokio::test]
async fn a_rollback_to_an_older_copy_is_named_on_sqlite() {
    assert_rollback_is_named(false).await;
}

#[tokio::test]
async fn a_rollback_to_an_older_copy_is_named_on_postgres() {
    assert_rollback_is_named(true).await;
}

#[tokio::test]
async fn concurrent_sign_ins_form_one_valid_chain() {
    let mut realm = Realm::start(&[]).await;
    realm.add_user("jane@example.org", &["physician"]);
    let body = serde_json::json!({"email": "jane@example.org", "password": PASSWORD});
    let logins: Vec<_> = (0..40)
        .map(|_| {
            let request = realm
                .client
                .post(realm.url("/api/v1/auth/login"))
                .json(&body);
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    for login in logins {
        assert_eq!(login.await.unwrap(), 200);
    }
    realm.stop();
    let (ok, line) = verify(&realm);
    assert!(ok, "{line}");
    assert!(
        line.starts_with("audit trail intact: entries 1..=41"),
        "{line}"
    );
}

#[tokio::test]
async fn when_the_trail_cannot_be_written_the_operation_fails_closed() {
    let realm = Realm::start(&[]).await;
    realm.add_user("jane@example.org", &["physician"]);
    realm
        .sql(&["CREATE TRIGGER audit_offline BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit store offline'); END"])
        .await;
    let response = realm.login("jane@example.org", PASSWORD).await;
    assert_eq!(response.status(), 500);
    let body = response.text().await.unwrap();
    assert!(
        !body.contains("access_token") && !body.contains("audit store offline"),
        "{body}"
    );

    realm.sql(&["DROP TRIGGER audit_offline"]).await;
    assert_eq!(
        realm.login("jane@example.org", PASSWORD).await.status(),
        200,
        "the trail recovers"
    );
}

#[tokio::test]
async fn a_third_party_verifies_checkpoints_with_the_published_key() {
    use base64::Engine;
    let mut realm = Realm::start(&[]).await;
    realm.add_user("jane@example.org", &["physician"]);
    realm.login("jane@example.org", PASSWORD).await;
    let jwk: serde_json::Value =
        crate::support::get_json(&realm.client, realm.url("/api/v1/audit/checkpoint-key")).await;
    realm.stop();
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    let key: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();

    let file = std::fs::read_to_string(realm.temp.path().join("audit-checkpoints.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = file
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    for line in lines {
        let head: Vec<u8> = (0..32)
            .map(|i| {
                u8::from_str_radix(&line["head_hash"].as_str().unwrap()[2 * i..2 * i + 2], 16)
                    .unwrap()
            })
            .collect();
        let signature = base64::engine::general_purpose::STANDARD
            .decode(line["signature"].as_str().unwrap())
            .unwrap();
        let (seq, at) = (line["seq"].as_u64().unwrap(), line["at"].as_i64().unwrap());
        assert!(
            verify_checkpoint(&key, seq, &head.clone().try_into().unwrap(), at, &signature),
            "{line}"
        );
        assert!(!verify_checkpoint(
            &key,
            seq + 1,
            &head.try_into().unwrap(),
            at,
            &signature
        ));
    }
}

#[tokio::test]
async fn retention_prunes_at_a_checkpoint_and_the_rest_still_verifies() {
    let Some((realm, _)) = trail(false).await else {
        return;
    };
    // Nothing is six years old: the default retention prunes nothing.
    let (ok, stdout, stderr) = realm.run_cli(&["audit", "prune"], "");
    assert!(
        ok && stdout.contains("nothing is older"),
        "{stdout}{stderr}"
    );

    // With a one-second retention, everything up to the final checkpoint (at 7) goes.
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(1100) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (ok, stdout, stderr) = realm.run_cli(&["--audit-retention", "1s", "audit", "prune"], "");
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("pruned") && stdout.contains("through"),
        "{stdout}"
    );

    let (ok, stdout, stderr) = realm.run_cli(&["--audit-retention", "1s", "audit", "verify"], "");
    assert!(
        ok,
        "the pruned chain verifies from its anchor: {stdout}{stderr}"
    );
    assert!(stdout.contains("intact"), "{stdout}");
    // Judged by the real retention, the same deletion is damage: recent entries are gone.
    let (ok, line) = verify(&realm);
    assert!(!ok && line.contains("first bad entry 1: missing"), "{line}");
}
