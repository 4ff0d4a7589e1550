//! What the HTTP benchmarks share: the release binary on 127.0.0.1 with a physician
//! account, sign-in, server CPU accounting, and a bounded concurrent load runner.

#![allow(dead_code)] // each bench uses its own subset

use std::future::Future;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "Bench-Passphrase-Long-Enough-42";
pub const EMAIL: &str = "bench@example.org";
/// The admin who keeps the directory (clinicians do not write it).
pub const ADMIN_EMAIL: &str = "bench-admin@example.org";

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

pub struct Server {
    pub child: std::process::Child,
    pub base: String,
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Best effort: the bench is over either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn medvault(dir: &std::path::Path, env: &[(String, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medvault"));
    command
        .arg("--data-dir")
        .arg(dir)
        .env("MEDVAULT_LOG", "warn")
        // The bench user signs in with a password; a second factor costs nothing per request.
        .env("MEDVAULT_MFA_REQUIRED_ROLES", "none")
        .envs(env.iter().map(|(k, v)| (k, v)));
    command
}

/// The release server on a free port, with an admin and a physician `bench@example.org`
/// who is a Practitioner in the directory (so the patients they register are theirs to
/// treat); `env` adds configuration such as `MEDVAULT_DATABASE_URL`.
pub async fn start_server(env: &[(String, String)]) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    add_user(dir.path(), env, ADMIN_EMAIL, "admin", &[]);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let child = medvault(dir.path(), env)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .spawn()
        .expect("serve");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        env: env.to_vec(),
        dir,
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .map_or(true, |r| r.status() != 200)
    {
        assert!(Instant::now() < deadline, "server not ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let admin = login_as(&client, &server.base, ADMIN_EMAIL).await;
    let practitioner: serde_json::Value = client
        .post(format!("{}/fhir/Practitioner", server.base))
        .bearer_auth(admin)
        .header("content-type", "application/fhir+json")
        .body(r#"{"resourceType": "Practitioner", "name": [{"family": "Bench"}]}"#)
        .send()
        .await
        .expect("practitioner")
        .json()
        .await
        .expect("json");
    let id = practitioner["id"].as_str().expect("practitioner id");
    add_user(
        server.dir.path(),
        env,
        EMAIL,
        "physician",
        &["--practitioner-id", id],
    );
    server
}

/// `medvault user add` with [`PASSWORD`].
fn add_user(
    dir: &std::path::Path,
    env: &[(String, String)],
    email: &str,
    role: &str,
    extra: &[&str],
) {
    let mut add = medvault(dir, env)
        .args([
            "user",
            "add",
            "--email",
            email,
            "--role",
            role,
            "--password-stdin",
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("user add");
    add.stdin
        .take()
        .expect("stdin")
        .write_all(PASSWORD.as_bytes())
        .expect("write");
    assert!(add.wait().expect("user add").success());
}

impl Server {
    /// Another account beside the running server; returns its access token.
    pub async fn user(&self, client: &reqwest::Client, email: &str, role: &str) -> String {
        add_user(self.dir.path(), &self.env, email, role, &[]);
        login_as(client, &self.base, email).await
    }
}

pub async fn login(client: &reqwest::Client, base: &str) -> String {
    login_as(client, base, EMAIL).await
}

pub async fn login_as(client: &reqwest::Client, base: &str, email: &str) -> String {
    let response = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    body["access_token"].as_str().expect("token").to_owned()
}

/// CPU seconds the server process has used so far (user + system), from /proc.
pub fn server_cpu_secs(server: &Server) -> f64 {
    let stat =
        std::fs::read_to_string(format!("/proc/{}/stat", server.child.id())).expect("proc stat");
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat format")
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    let output = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf");
    let per_sec: f64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK");
    ticks / per_sec
}

/// What a load run measured.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub count: usize,
    pub rate: f64,
    pub p50: Duration,
    pub p99: Duration,
}

impl std::fmt::Display for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
            self.rate,
            self.p50.as_secs_f64() * 1000.0,
            self.p99.as_secs_f64() * 1000.0
        )
    }
}

/// Runs `total` operations, `concurrency` at a time; `op(n)` performs operation `n`.
/// With `pace`, each worker waits so that the whole run offers at most that rate.
pub async fn run_load<F, Fut>(total: usize, concurrency: usize, pace: Option<f64>, op: F) -> Load
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let per_worker = total / concurrency;
    let interval = pace.map(|rate| Duration::from_secs_f64(concurrency as f64 / rate));
    let tasks: Vec<_> = (0..concurrency)
        .map(|worker| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_worker);
                let mut next = Instant::now();
                for i in 0..per_worker {
                    if let Some(interval) = interval {
                        tokio::time::sleep_until(next.into()).await;
                        next += interval;
                    }
                    let sent = Instant::now();
                    op(worker * per_worker + i).await;
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    for task in tasks {
        latencies.extend(task.await.expect("load task"));
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Load {
        count: latencies.len(),
        rate,
        p50: at(0.50),
        p99: at(0.99),
    }
}
