//! Start-up: the key hierarchy on disk, and refusals that name their problem in one line.

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use crate::support::{medvault, run_to_exit, Server};

/// A refused start: non-zero exit and exactly one `error:` line on stderr, which is returned.
fn refused(output: Output) -> String {
    assert!(
        !output.status.success(),
        "expected a refusal, got {:?}",
        output.status
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<_> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_owned()
}

fn master_key_id_in(logs: &str) -> String {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["message"] == "listening")
        .and_then(|e| e["master_key_id"].as_str().map(str::to_owned))
        .expect("listening line with master_key_id")
}

#[tokio::test]
async fn first_start_creates_a_private_master_key_and_data_dir() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let server = Server::start_with(medvault(&data_dir), &[]).await;

    let key = std::fs::metadata(data_dir.join("master.key")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    let dir = std::fs::metadata(&data_dir).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o700);
    assert!(data_dir.join("medvault.db").exists());
    drop(server);
}

#[tokio::test]
async fn a_restart_unseals_with_the_same_master_key() {
    let temp = tempfile::tempdir().unwrap();
    let (_, first_logs) = Server::start_with(medvault(temp.path()), &[])
        .await
        .terminate();
    let (_, second_logs) = Server::start_with(medvault(temp.path()), &[])
        .await
        .terminate();
    assert_eq!(
        master_key_id_in(&first_logs),
        master_key_id_in(&second_logs)
    );
    assert!(!second_logs.contains("created a new master key"));
}

#[tokio::test]
async fn a_missing_master_key_for_an_existing_database_stops_start_up() {
    let temp = tempfile::tempdir().unwrap();
    Server::start_with(medvault(temp.path()), &[])
        .await
        .terminate();
    std::fs::remove_file(temp.path().join("master.key")).unwrap();

    let mut command = medvault(temp.path());
    command.args(["serve", "--listen", "127.0.0.1:0"]);
    let line = refused(run_to_exit(command));
    assert!(line.contains("holds no master key"), "{line}");
    assert!(
        !temp.path().join("master.key").exists(),
        "no silent new key was created"
    );
}

#[tokio::test]
async fn a_wrong_master_key_stops_start_up() {
    let temp = tempfile::tempdir().unwrap();
    Server::start_with(medvault(temp.path()), &[])
        .await
        .terminate();

    let other_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let mut command = medvault(temp.path());
    command
        .env("MEDVAULT_MASTER_KEY", other_key)
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let line = refused(run_to_exit(command));
    assert!(line.contains("wrong master key"), "{line}");
    assert!(!line.contains(other_key));
}

#[tokio::test]
async fn a_malformed_master_key_stops_start_up_without_echoing_it() {
    let temp = tempfile::tempdir().unwrap();
    let mut command = medvault(temp.path());
    command
        .env("MEDVAULT_MASTER_KEY", "c2hvcnQta2V5")
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let line = refused(run_to_exit(command));
    assert!(
        line.contains("MEDVAULT_MASTER_KEY does not hold a valid master key"),
        "{line}"
    );
    assert!(!line.contains("c2hvcnQta2V5"));
}

#[tokio::test]
async fn a_world_readable_master_key_stops_start_up() {
    let temp = tempfile::tempdir().unwrap();
    Server::start_with(medvault(temp.path()), &[])
        .await
        .terminate();
    let key = temp.path().join("master.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();

    let mut command = medvault(temp.path());
    command.args(["serve", "--listen", "127.0.0.1:0"]);
    let line = refused(run_to_exit(command));
    assert!(line.contains("readable by other users"), "{line}");
}

#[tokio::test]
async fn a_corrupt_database_file_stops_start_up() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(temp.path().join("medvault.db"), vec![0x42; 8192]).unwrap();
    let mut command = medvault(temp.path());
    command.args(["serve", "--listen", "127.0.0.1:0"]);
    let line = refused(run_to_exit(command));
    assert!(
        line.contains("medvault.db is corrupt or is not a SQLite database"),
        "{line}"
    );
}

#[tokio::test]
async fn plain_http_on_a_non_loopback_address_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let mut command = medvault(temp.path());
    command.args(["serve", "--listen", "0.0.0.0:0"]);
    let line = refused(run_to_exit(command));
    assert!(
        line.contains("refusing to serve plain HTTP on non-loopback address 0.0.0.0:0"),
        "{line}"
    );
    assert!(
        !temp.path().join("master.key").exists(),
        "refused before touching any state"
    );
}

#[tokio::test]
async fn a_database_url_that_is_not_postgres_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let mut command = medvault(temp.path());
    command.args(["serve", "--database-url", "mysql://root@127.0.0.1/test"]);
    let line = refused(run_to_exit(command));
    assert!(
        line.contains("--database-url must start with postgres://"),
        "{line}"
    );
}

#[tokio::test]
async fn an_unreachable_postgres_is_named_without_its_password() {
    let temp = tempfile::tempdir().unwrap();
    let mut command = medvault(temp.path());
    command
        .env(
            "MEDVAULT_DATABASE_URL",
            "postgres://medvault:hunter2secret@127.0.0.1:1/medvault",
        )
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let line = refused(run_to_exit(command));
    assert!(
        line.contains("cannot reach PostgreSQL database \"medvault\" at 127.0.0.1:1"),
        "{line}"
    );
    assert!(!line.contains("hunter2secret"));
}
