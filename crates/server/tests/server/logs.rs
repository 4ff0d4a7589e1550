//! Invariant 1: secrets and PHI never reach the logs.

use crate::support::{medvault, Server};

#[tokio::test]
async fn logs_are_json_lines_that_hold_no_secret_sent_or_kept() {
    let temp = tempfile::tempdir().unwrap();
    let master_key = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
    let mut command = medvault(temp.path());
    command
        .env("MEDVAULT_MASTER_KEY", master_key)
        .env("MEDVAULT_LOG", "debug");
    let server = Server::start_with(command, &[]).await;

    let secrets = [
        "eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LXRva2Vu.c2ln",
        "session=7f3a9c-cookie-secret",
        "P4ssw0rd-never-logged",
        "Jane-Q-Patientname",
    ];
    let client = reqwest::Client::new();
    for path in [
        "/healthz",
        "/api/v1/auth/login",
        &format!("/fhir/Patient?name={}", secrets[3]),
    ] {
        client
            .post(server.url(path))
            .bearer_auth(secrets[0])
            .header("cookie", secrets[1])
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"email":"jane@example.org","password":"{}"}}"#,
                secrets[2]
            ))
            .send()
            .await
            .unwrap();
    }
    let (_, logs) = server.terminate();

    assert!(
        logs.contains("\"message\":\"request\""),
        "requests were logged: {logs}"
    );
    for line in logs.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
    for secret in secrets.iter().chain([&master_key]) {
        assert!(!logs.contains(secret), "{secret} reached the logs:\n{logs}");
    }
}
