//! HTTPS with a development certificate from `medvault tls self-signed`.

use std::os::unix::fs::PermissionsExt;

use crate::support::{medvault, run_to_exit, Server};

#[tokio::test]
async fn self_signed_pair_serves_https_with_hsts() {
    let temp = tempfile::tempdir().unwrap();
    let tls_dir = temp.path().join("tls");
    let mut command = medvault(temp.path());
    command
        .args(["tls", "self-signed", "--out-dir"])
        .arg(&tls_dir);
    let output = run_to_exit(command);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let key_mode = std::fs::metadata(tls_dir.join("key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600, "the private key is private");

    let cert = tls_dir.join("cert.pem");
    let key = tls_dir.join("key.pem");
    let server = Server::start_with(
        medvault(temp.path()),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    )
    .await;
    assert!(server.base_url.starts_with("https://"));

    let root = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    server.wait_ready(&client).await;
    let response = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );

    let plain = reqwest::get(format!("http://localhost:{}/healthz", server.addr.port())).await;
    assert!(
        plain.is_err() || plain.unwrap().status() != 200,
        "plain HTTP is not served on the TLS port"
    );
}

#[tokio::test]
async fn an_unreadable_certificate_stops_start_up() {
    let temp = tempfile::tempdir().unwrap();
    let missing = temp.path().join("missing.pem");
    let mut command = medvault(temp.path());
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&missing)
        .arg("--tls-key")
        .arg(&missing);
    let output = run_to_exit(command);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("error: cannot read TLS certificate"),
        "{stderr}"
    );
}
