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
