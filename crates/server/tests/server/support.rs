//! Shared fixtures: start the server, wait for readiness (never a sleep), read its logs.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The binary under test, with no `MEDVAULT_*` configuration inherited from the caller.
pub fn medvault(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medvault"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MEDVAULT_") {
            command.env_remove(name);
        }
    }
    command.arg("--data-dir").arg(data_dir);
    command
}

/// Runs a command that is expected to exit (a CLI command or a refused start-up).
pub fn run_to_exit(mut command: Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn medvault");
    let deadline = Instant::now() + START_TIMEOUT;
    while child.try_wait().expect("poll child").is_none() {
        if Instant::now() > deadline {
            child.kill().expect("kill");
            panic!("medvault did not exit within {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect output")
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub base_url: String,
    logs: Arc<Mutex<Vec<String>>>,
    _temp: Option<tempfile::TempDir>,
}

impl Server {
    /// A server on a fresh temp data dir with embedded defaults.
    pub async fn start() -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_with(medvault(temp.path()), &[]).await;
        server._temp = Some(temp);
        server
    }

    /// Starts `command` (from [`medvault`]) as `serve` on 127.0.0.1:0 with `args`,
    /// then waits for its "listening" log line and for `/readyz`.
    pub async fn start_with(mut command: Command, args: &[&str]) -> Self {
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn medvault");

        let logs = Arc::new(Mutex::new(Vec::new()));
        let (listening_tx, listening) = mpsc::channel();
        collect_lines(
            child.stdout.take().expect("stdout"),
            logs.clone(),
            Some(listening_tx),
        );
        collect_lines(child.stderr.take().expect("stderr"), logs.clone(), None);

        let (addr, tls) = match listening.recv_timeout(START_TIMEOUT) {
            Ok(found) => found,
            Err(_) => {
                let status = child.try_wait().ok().flatten();
                let _ = child.kill();
                panic!(
                    "server never listened (exit: {status:?}); output:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        let scheme = if tls { "https" } else { "http" };
        let server = Self {
            child,
            addr,
            base_url: format!("{scheme}://localhost:{}", addr.port()),
            logs,
            _temp: None,
        };
        if !tls {
            server.wait_ready(&reqwest::Client::new()).await;
        }
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Polls `/readyz` until it answers 200.
    pub async fn wait_ready(&self, client: &reqwest::Client) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(response) = client.get(self.url("/readyz")).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "server never became ready:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(self) -> (ExitStatus, String) {
        self.send_sigterm();
        self.wait_for_exit()
    }

    pub fn send_sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit, then returns its status and every line it printed.
    pub fn wait_for_exit(mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + START_TIMEOUT;
        let exit = loop {
            if let Some(exit) = self.child.try_wait().expect("poll child") {
                break exit;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader threads end at EOF, after the last line; wait for them to drop their handles.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&self.logs) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        (exit, self.logs())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect_lines(
    stream: impl std::io::Read + Send + 'static,
    logs: Arc<Mutex<Vec<String>>>,
    listening: Option<mpsc::Sender<(SocketAddr, bool)>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &listening {
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) {
                    if event["message"] == "listening" {
                        let addr = event["addr"]
                            .as_str()
                            .expect("addr")
                            .parse()
                            .expect("socket addr");
                        let _ = tx.send((addr, event["tls"] == true));
                    }
                }
            }
            logs.lock().unwrap().push(line);
        }
    });
}

/// The body of a problem+json response, after checking its content type.
pub async fn problem(response: reqwest::Response) -> serde_json::Value {
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    response.json().await.expect("problem body")
}

/// GETs `url` and parses the JSON body.
pub async fn get_json(client: &reqwest::Client, url: String) -> serde_json::Value {
    client
        .get(url)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON body")
}
