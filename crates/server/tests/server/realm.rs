//! A running server with known secrets, users made through the CLI, and token helpers:
//! the fixture the identity tests share.

use std::io::Write;
use std::process::{Command, Stdio};

use medvault_crypto::jwt::SigningKey;
use medvault_crypto::MasterKey;
use medvault_store::{SigningKeyState, Store};
use serde_json::{json, Value};

use crate::support::{medvault, Server};

/// The master key every realm runs with, so tests can open what the server sealed.
pub const MASTER_KEY: &str = "S2V5LWZvci1tZWR2YXVsdC1pbnRlZ3JhdGlvbi10ZXM=";
pub const PASSWORD: &str = "Correct-Horse-Battery-Staple-7";

pub struct Realm {
    server: Option<Server>,
    args: Vec<String>,
    pub temp: tempfile::TempDir,
    pub client: reqwest::Client,
    fast_hashing: bool,
    /// Extra environment for the server and the CLI, e.g. a PostgreSQL URL.
    env: Vec<(String, String)>,
}

impl Realm {
    /// A server with cheap Argon2 parameters (hashing cost is not what these tests test).
    pub async fn start(args: &[&str]) -> Self {
        Self::start_with(args, true).await
    }

    pub async fn start_with(args: &[&str], fast_hashing: bool) -> Self {
        Self::start_in(args, fast_hashing, Vec::new()).await
    }

    /// A realm whose server and CLI also get `env`.
    pub async fn start_in(args: &[&str], fast_hashing: bool, env: Vec<(String, String)>) -> Self {
        let mut realm = Self {
            server: None,
            args: args.iter().map(|a| a.to_string()).collect(),
            temp: tempfile::tempdir().unwrap(),
            client: reqwest::Client::new(),
            fast_hashing,
            env,
        };
        realm.restart().await;
        realm
    }

    /// Sets an environment variable for later CLI runs and restarts (it overrides defaults).
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_owned(), value.to_owned()));
    }

    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("the server is running")
    }

    /// Stops the server gracefully (it checkpoints the audit trail on the way out).
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            let (status, logs) = server.terminate();
            assert!(status.success(), "{logs}");
        }
    }

    /// Starts the server again on the same data dir and database.
    pub async fn restart(&mut self) {
        self.stop();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.server = Some(Server::start_with(self.cli(), &args).await);
    }

    fn env_for(fast_hashing: bool) -> Vec<(&'static str, &'static str)> {
        // MFA by role is tested on its own (`mfa.rs`); other tests sign in with passwords.
        let mut env = vec![
            ("MEDVAULT_MASTER_KEY", MASTER_KEY),
            ("MEDVAULT_MFA_REQUIRED_ROLES", "none"),
        ];
        if fast_hashing {
            env.extend([
                ("MEDVAULT_ARGON2_MEMORY_KIB", "256"),
                ("MEDVAULT_ARGON2_ITERATIONS", "1"),
            ]);
        }
        env
    }

    /// `medvault` on this realm's data dir and secrets.
    pub fn cli(&self) -> Command {
        let mut command = medvault(self.temp.path());
        command.envs(Self::env_for(self.fast_hashing));
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs a CLI command with `stdin`; returns (success, stdout, stderr).
    pub fn run_cli(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        let mut child = self
            .cli()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
        (
            output.status.success(),
            text(output.stdout),
            text(output.stderr),
        )
    }

    /// Creates a user with [`PASSWORD`] through `medvault user add`.
    pub fn add_user(&self, email: &str, roles: &[&str]) {
        let mut args = vec!["user", "add", "--email", email, "--password-stdin"];
        for role in roles {
            args.extend(["--role", role]);
        }
        let (ok, _, stderr) = self.run_cli(&args, PASSWORD);
        assert!(ok, "user add failed: {stderr}");
    }

    pub fn url(&self, path: &str) -> String {
        self.server().url(path)
    }

    pub async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Signs in and returns (access token, refresh token).
    pub async fn tokens(&self, email: &str) -> (String, String) {
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status(), 200, "login of {email}");
        let body: Value = response.json().await.unwrap();
        (
            body["access_token"].as_str().unwrap().into(),
            body["refresh_token"].as_str().unwrap().into(),
        )
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/refresh",
            json!({"refresh_token": refresh_token}),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// `GET path` as `token`, its JSON body.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        self.get(path, token).await.json().await.unwrap()
    }

    pub async fn me_status(&self, token: &str) -> u16 {
        self.get("/api/v1/me", token).await.status().as_u16()
    }

    fn database_url(&self) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == "MEDVAULT_DATABASE_URL")
            .map(|(_, v)| v.as_str())
    }

    /// The realm's own database, opened beside the running server.
    pub async fn store(&self) -> Box<dyn Store> {
        match self.database_url() {
            Some(url) => Box::new(
                medvault_store_postgres::PostgresStore::connect(url)
                    .await
                    .unwrap(),
            ),
            None => Box::new(
                medvault_store_sqlite::SqliteStore::open(&self.temp.path().join("medvault.db"))
                    .await
                    .unwrap(),
            ),
        }
    }

    /// Runs SQL straight against the database, as an insider with database access would.
    pub async fn sql(&self, statements: &[&str]) {
        use sqlx::Connection;
        match self.database_url() {
            Some(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                for statement in statements {
                    sqlx::query(statement).execute(&mut conn).await.unwrap();
                }
                conn.close().await.unwrap();
            }
            None => {
                let path = self.temp.path().join("medvault.db");
                let url = format!("sqlite://{}", path.display());
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                for statement in statements {
                    sqlx::query(statement).execute(&mut conn).await.unwrap();
                }
                conn.close().await.unwrap();
            }
        }
    }

    /// Every audit event recorded so far, in chain order.
    pub async fn audit_events(&self) -> Vec<medvault_domain::AuditEvent> {
        let store = self.store().await;
        let entries = store.audit_entries(1, 10_000).await.unwrap();
        store.close().await;
        entries.into_iter().map(|e| e.event).collect()
    }

    /// The action codes of every audit event so far, in chain order.
    pub async fn audit_actions(&self) -> Vec<&'static str> {
        self.audit_events()
            .await
            .iter()
            .map(|e| e.action.code())
            .collect()
    }

    /// The PHC string stored for `email`, read straight from the database.
    pub async fn stored_password_hash(&self, email: &str) -> String {
        let store = self.store().await;
        let user = store.user_by_email(&email.parse().unwrap()).await.unwrap();
        let hash = store.password_hash(user.id).await.unwrap().unwrap();
        store.close().await;
        hash
    }

    /// The `kid`s the JWKS publishes.
    pub async fn published_kids(&self) -> Vec<String> {
        let jwks: Value =
            crate::support::get_json(&self.client, self.url("/.well-known/jwks.json")).await;
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The server's active signing key, unsealed with the realm's master key: lets a test
    /// forge tokens that differ from genuine ones in exactly one respect.
    pub async fn active_signing_key(&self) -> SigningKey {
        let store = self.store().await;
        let keys = store.published_signing_keys().await.unwrap();
        store.close().await;
        let active = keys
            .into_iter()
            .find(|k| k.state == SigningKeyState::Active)
            .unwrap();
        let master = MasterKey::from_base64(MASTER_KEY).unwrap();
        SigningKey::unseal(&master, active.kid, &active.sealed_private).unwrap()
    }

    /// Claims a genuine token for `sub` in `sid` would carry, for forging variations.
    pub fn claims(&self, sub: &str, sid: &str) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        json!({
            "iss": self.server().base_url, "aud": self.server().base_url, "sub": sub, "sid": sid,
            "iat": now, "nbf": now, "exp": now + 600, "jti": "forged", "roles": ["admin"],
            "scope": "medvault.api", "amr": ["pwd"],
        })
    }
}

/// A response body without its request id, for comparing two answers.
pub async fn body_without_request_id(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let mut body: Value = response.json().await.unwrap();
    body.as_object_mut().unwrap().remove("request_id");
    (status, body)
}

/// The claims of a JWT, without verifying it (the server does that).
pub fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn header_of(token: &str) -> Value {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
