//! The `medvault` command line (DESIGN.md §5). Every flag also reads its `MEDVAULT_*`
//! environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use medvault_crypto::password::HashParams;

use crate::app::HttpLimits;
use crate::audit::retention::Retention;
use crate::audit::AuditConfig;
use crate::config::{parse_public_url, Database, ServeConfig, Tls};
use crate::error::error_chain;
use crate::identity::config::{IdentityConfig, PasswordSettings};
use crate::identity::users::NewUser;
use crate::storage::Operator;
use crate::telemetry::LogTarget;

#[derive(Debug, Parser)]
#[command(
    name = "medvault",
    version,
    about = "Identity, consent, audit and encrypted FHIR records in one server"
)]
pub struct Cli {
    /// Directory for the embedded database, the master key and other local state.
    #[arg(
        long,
        global = true,
        env = "MEDVAULT_DATA_DIR",
        default_value = "./medvault-data"
    )]
    pub data_dir: PathBuf,

    /// PostgreSQL URL (postgres://…). Without it, medvault uses SQLite in the data dir.
    #[arg(
        long,
        global = true,
        env = "MEDVAULT_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// PostgreSQL URL of the key vault, which holds the per-patient key shares erasure
    /// destroys. Give it a database whose backups expire quickly, so an erasure reaches
    /// every backup of the records. Defaults to the records database; with SQLite the
    /// vault is always <data-dir>/keyvault.db.
    #[arg(
        long,
        global = true,
        env = "MEDVAULT_KEY_VAULT_URL",
        hide_env_values = true
    )]
    pub key_vault_url: Option<String>,

    /// Append-only file of signed audit checkpoints, kept apart from the database.
    /// Defaults to <data-dir>/audit-checkpoints.jsonl.
    #[arg(long, global = true, env = "MEDVAULT_AUDIT_CHECKPOINT_FILE")]
    pub audit_checkpoint_file: Option<PathBuf>,

    /// How long audit entries are kept, e.g. 6y, 90d: older ones are pruned at a checkpoint.
    #[arg(long, global = true, env = "MEDVAULT_AUDIT_RETENTION", default_value = Retention::DEFAULT)]
    pub audit_retention: Retention,

    /// Retention rules for health records, comma-separated: `Type=period` deletes a type's
    /// resources unchanged that long, `Type:PURPOSE=period` only those labelled with that
    /// v3 ActReason purpose in meta.security, `Patient=period` erases whole patients whose
    /// records are all that old. Legal holds win. E.g. Communication:HRESCH=2y,Patient=25y.
    #[arg(long, global = true, env = "MEDVAULT_RETAIN", value_delimiter = ',',
          value_parser = clap::builder::ValueParser::new(str::parse::<crate::privacy::retention::RetentionRule>))]
    pub retain: Vec<crate::privacy::retention::RetentionRule>,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    fn checkpoint_file(&self) -> PathBuf {
        self.audit_checkpoint_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("audit-checkpoints.jsonl"))
    }

    /// Audit settings for commands other than `serve`: they checkpoint when they finish.
    fn audit_config(&self) -> AuditConfig {
        AuditConfig {
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            checkpoint_interval: Duration::from_secs(DEFAULT_CHECKPOINT_SECS),
            checkpoint_file: self.checkpoint_file(),
        }
    }
}

const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;
const DEFAULT_CHECKPOINT_SECS: u64 = 60;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// TLS helpers.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage token-signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The tamper-evident audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// GDPR: the record of processing activities.
    #[command(subcommand)]
    Privacy(PrivacyCommand),
    /// Breached-password lists.
    #[command(subcommand)]
    Breach(BreachCommand),
    /// OAuth clients (partner systems, apps).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Access policies (Cedar): who may read and write which records.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Debug, Clone, Subcommand)]
pub enum PolicyCommand {
    /// Print the policy set in force (`--schema`: the schema policies are validated against).
    Show {
        #[arg(long)]
        schema: bool,
    },
    /// Validate a policy file without loading it.
    Check { file: PathBuf },
    /// Validate a policy file and put it in force (running servers follow within seconds).
    Load { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id and, for a confidential client, its secret
    /// (shown once).
    Add {
        #[arg(long)]
        name: String,
        /// authorization_code, refresh_token or client_credentials; repeatable.
        #[arg(long = "grant-type", required = true)]
        grant_types: Vec<String>,
        /// Repeatable; required with authorization_code.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Space-separated, e.g. "system/Observation.rs system/Patient.r".
        #[arg(long, default_value = "")]
        scope: String,
        /// client_secret_basic, client_secret_post, private_key_jwt (with --jwks-uri), or
        /// none (a public client).
        #[arg(long, default_value = "client_secret_basic")]
        auth_method: String,
        /// Where a private_key_jwt client publishes its keys (https).
        #[arg(long)]
        jwks_uri: Option<String>,
        /// How the client's ID tokens are signed: ES256 or RS256.
        #[arg(long, default_value = "ES256")]
        id_token_alg: String,
    },
    /// List clients.
    List,
    /// Remove a client.
    Remove {
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BreachCommand {
    /// Import the Pwned Passwords list (SHA-1): a file of `HASH:COUNT` lines ordered by hash,
    /// or a directory of 5-hex-character range files. Servers load it when they start.
    Import {
        path: PathBuf,
        /// Keep only hashes seen at least this many times.
        #[arg(long, default_value_t = 1)]
        min_count: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Print the record of processing activities (GDPR Art. 30) as Markdown, from the
    /// database and the live configuration (it reads the same flags and MEDVAULT_*
    /// variables as `serve`).
    Report(Box<ServeArgs>),
    /// Apply the --retain rules now (the server applies them hourly).
    Purge,
    /// Export everything held about a patient (GDPR Art. 15 and 20) on their behalf, as
    /// NDJSON on standard output: their account, sessions, every version of their
    /// records, and who accessed them. Audited.
    Export {
        /// The Patient id.
        #[arg(long)]
        patient: medvault_domain::PatientId,
        /// The server's settings (its MEDVAULT_* variables), for the processing record.
        #[command(flatten)]
        settings: Box<ServeArgs>,
    },
    /// Erase a patient (GDPR Art. 17) by crypto-shredding: destroys their key share, then
    /// deletes their records and account. Refused while a legal hold is in place. Servers
    /// may keep running.
    Erase {
        /// The Patient id.
        #[arg(long)]
        patient: medvault_domain::PatientId,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain, check every checkpoint signature, and compare the database
    /// with the checkpoint file. Exits 0 when intact; otherwise names the first bad entry.
    Verify {
        /// Start at this sequence number (from the checkpoint before it).
        #[arg(long, default_value_t = 1)]
        from: u64,
    },
    /// Delete entries older than the retention period now (the server does it hourly).
    Prune,
    /// Write events from a point in time on to standard output, for a SIEM.
    Export {
        /// A date (YYYY-MM-DD) or an RFC 3339 date-time.
        #[arg(long)]
        since: String,
        /// Output format; `jsonl` (one JSON object per line).
        #[arg(long, default_value = "jsonl")]
        format: String,
    },
}

/// How passwords are hashed and which are accepted.
#[derive(Debug, Clone, Args)]
pub struct PasswordArgs {
    /// Argon2id memory cost in KiB (OWASP: 19456).
    #[arg(long, env = "MEDVAULT_ARGON2_MEMORY_KIB", default_value_t = 19 * 1024)]
    pub argon2_memory_kib: u32,
    /// Argon2id iterations (OWASP: 2).
    #[arg(long, env = "MEDVAULT_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,
    /// Argon2id lanes (OWASP: 1).
    #[arg(long, env = "MEDVAULT_ARGON2_PARALLELISM", default_value_t = 1)]
    pub argon2_parallelism: u32,
    /// Minimum zxcvbn strength (0 to 4) of a new password.
    #[arg(long, env = "MEDVAULT_PASSWORD_MIN_SCORE", default_value_t = 3,
          value_parser = clap::value_parser!(u8).range(0..=4))]
    pub password_min_score: u8,
    /// A Pwned Passwords range API to check new passwords (and sign-ins) against, e.g.
    /// https://api.pwnedpasswords.com. Only 5 hex characters of the SHA-1 are sent.
    #[arg(long, env = "MEDVAULT_BREACH_API_URL")]
    pub breach_api_url: Option<String>,
    /// Milliseconds to wait for the range API.
    #[arg(long, env = "MEDVAULT_BREACH_API_TIMEOUT_MS", default_value_t = 2000)]
    pub breach_api_timeout_ms: u64,
    /// Refuse new passwords when the range API does not answer (default: accept, and log).
    #[arg(long, env = "MEDVAULT_BREACH_API_FAIL_CLOSED")]
    pub breach_api_fail_closed: bool,
    /// A password counts as breached from this many sightings in the range API.
    #[arg(long, env = "MEDVAULT_BREACH_API_MIN_COUNT", default_value_t = 1)]
    pub breach_api_min_count: u64,
}

impl From<PasswordArgs> for PasswordSettings {
    fn from(args: PasswordArgs) -> Self {
        Self {
            hash: HashParams {
                memory_kib: args.argon2_memory_kib,
                iterations: args.argon2_iterations,
                parallelism: args.argon2_parallelism,
            },
            min_score: args.password_min_score,
            breach_api: args.breach_api_url.map(|url| {
                crate::protect::breach_api::BreachApiConfig {
                    url,
                    timeout: Duration::from_millis(args.breach_api_timeout_ms),
                    fail_closed: args.breach_api_fail_closed,
                    min_count: args.breach_api_min_count,
                }
            }),
        }
    }
}

#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add {
        #[arg(long)]
        email: String,
        /// A role: patient, nurse, physician, director, admin, auditor or researcher. Repeatable.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// The FHIR Patient a patient user is.
        #[arg(long = "patient", alias = "patient-id", value_name = "ID")]
        patient_id: Option<String>,
        /// The FHIR Practitioner a clinician user is.
        #[arg(long = "practitioner", alias = "practitioner-id", value_name = "ID")]
        practitioner_id: Option<String>,
        /// The FHIR Organization a staff user works for.
        #[arg(long = "organization", alias = "organization-id", value_name = "ID")]
        organization_id: Option<String>,
        /// Read the password from standard input (never from the command line).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// List users.
    List,
    /// Disable a user and end their sessions.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Set a user's password, read from standard input.
    SetPassword {
        #[arg(long)]
        email: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        password: PasswordArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Promote the next token-signing key and publish a new next key.
    Rotate,
    /// Move the database to a new master key: re-wraps every data key and re-seals the
    /// signing and checkpoint keys, without touching records. Resumable; run it with the
    /// servers stopped. The new key comes from MEDVAULT_NEW_MASTER_KEY when the current
    /// one is in MEDVAULT_MASTER_KEY, otherwise it is generated into master.key.next.
    RotateMaster,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Plain HTTP is allowed only on loopback addresses.
    #[arg(long, env = "MEDVAULT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// External base URL: the token issuer and the base of every emitted link.
    /// Defaults to http(s)://localhost:<port>.
    #[arg(long, env = "MEDVAULT_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// PEM certificate chain; serves HTTPS together with --tls-key.
    #[arg(long, env = "MEDVAULT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "MEDVAULT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MEDVAULT_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest accepted FHIR request body, in bytes: documents travel inside records.
    #[arg(long, env = "MEDVAULT_FHIR_MAX_BODY_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub fhir_max_body_bytes: usize,

    /// Unwrapped patient data keys kept in memory at most (evicted keys are zeroized).
    #[arg(long, env = "MEDVAULT_KEY_CACHE_SIZE", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub key_cache_size: u32,

    /// FHIR elements never stored (data minimisation), stripped from every resource
    /// written, e.g. `Patient.photo,Observation.note`. Only optional R4 elements.
    #[arg(long, env = "MEDVAULT_NEVER_STORE", value_delimiter = ',',
          value_parser = clap::builder::ValueParser::new(str::parse::<crate::fhir::minimise::ElementPath>))]
    pub never_store: Vec<crate::fhir::minimise::ElementPath>,

    /// How long a break-the-glass grant lasts, in seconds.
    #[arg(long, env = "MEDVAULT_BREAK_GLASS_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub break_glass_secs: u32,

    /// Roles that must use a second factor (comma-separated, or `none`). Until they
    /// enroll one, their tokens can only enroll.
    #[arg(long, env = "MEDVAULT_MFA_REQUIRED_ROLES",
          default_value = "nurse,physician,director,admin,auditor,researcher",
          value_parser = parse_roles)]
    pub mfa_required_roles: RoleList,

    /// Sensitive operations need a second factor verified within this many seconds.
    #[arg(long, env = "MEDVAULT_STEP_UP_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(i64).range(30..=86_400))]
    pub step_up_secs: i64,

    /// Let anyone create a patient account at /api/v1/auth/register (off by default).
    #[arg(long, env = "MEDVAULT_SELF_REGISTRATION")]
    pub self_registration: bool,

    /// Security events are also POSTed here as JSON (outbox, retried until delivered).
    #[arg(long, env = "MEDVAULT_SECURITY_WEBHOOK_URL")]
    pub security_webhook_url: Option<String>,

    /// Signs webhook bodies (`X-Medvault-Signature: sha256=<hex HMAC-SHA256>`). Prefer the
    /// environment variable: command lines are visible to other local users.
    #[arg(long, env = "MEDVAULT_SECURITY_WEBHOOK_SECRET", hide_env_values = true)]
    pub security_webhook_secret: Option<crate::redact::SecretText>,

    /// Requests running longer than this many seconds are answered 503.
    #[arg(long, env = "MEDVAULT_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Seconds that in-flight requests get to finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "MEDVAULT_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    /// Seed synthetic users and patients and print their logins.
    #[arg(long, env = "MEDVAULT_DEMO")]
    pub demo: bool,

    /// Access-token lifetime in seconds (300 to 900).
    #[arg(long, env = "MEDVAULT_ACCESS_TOKEN_TTL_SECS", default_value_t = 600,
          value_parser = clap::value_parser!(i64).range(IdentityConfig::MIN_ACCESS_TOKEN_TTL_SECS..=IdentityConfig::MAX_ACCESS_TOKEN_TTL_SECS))]
    pub access_token_ttl_secs: i64,

    /// A session unused for this many seconds ends (HIPAA automatic logoff).
    #[arg(long, env = "MEDVAULT_SESSION_IDLE_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub session_idle_secs: i64,

    /// A session ends this many seconds after sign-in, however active.
    #[arg(long, env = "MEDVAULT_SESSION_ABSOLUTE_SECS", default_value_t = 12 * 3600,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub session_absolute_secs: i64,

    #[command(flatten)]
    pub password: PasswordArgs,

    /// Failed sign-ins after which an account's attempts back off exponentially.
    #[arg(long, env = "MEDVAULT_LOGIN_BACKOFF_AFTER", default_value_t = 5)]
    pub login_backoff_after: u32,

    /// Consecutive failed sign-ins that lock an account.
    #[arg(long, env = "MEDVAULT_LOGIN_LOCK_AFTER", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub login_lock_after: u32,

    /// How long a locked account stays locked, in seconds.
    #[arg(long, env = "MEDVAULT_LOGIN_LOCK_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub login_lock_secs: i64,

    /// Failed sign-ins one address may have per window, across all accounts.
    #[arg(long, env = "MEDVAULT_IP_FAILURE_LIMIT", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub ip_failure_limit: u32,

    /// The window, in seconds, over which an address's allowance refills.
    #[arg(long, env = "MEDVAULT_IP_FAILURE_WINDOW_SECS", default_value_t = 86_400,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub ip_failure_window_secs: i64,

    /// Addresses (CIDR) exempt from the per-address failure limit. Repeatable.
    #[arg(long = "ip-allow", env = "MEDVAULT_IP_ALLOW", value_delimiter = ',')]
    pub ip_allow: Vec<ipnet::IpNet>,

    /// Failed sign-ins from one address after which it must solve proof-of-work challenges.
    #[arg(long, env = "MEDVAULT_CHALLENGE_AFTER_ADDRESS_FAILURES", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub challenge_after_address_failures: u32,

    /// Consecutive failures on an account after which signing into it needs a challenge.
    #[arg(long, env = "MEDVAULT_CHALLENGE_AFTER_ACCOUNT_FAILURES", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub challenge_after_account_failures: u32,

    /// Leading zero bits a challenge asks for at first; one more each time pressure doubles (max 30).
    #[arg(long, env = "MEDVAULT_CHALLENGE_BITS", default_value_t = 16,
          value_parser = clap::value_parser!(u8).range(1..=30))]
    pub challenge_bits: u8,

    /// Distinct accounts failing from one address within an hour that signal credential stuffing.
    #[arg(long, env = "MEDVAULT_STUFFING_ACCOUNTS_PER_ADDRESS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(2..))]
    pub stuffing_accounts_per_address: u32,

    /// Distinct addresses failing on one account within an hour that signal a targeted attack.
    #[arg(long, env = "MEDVAULT_STUFFING_ADDRESSES_PER_ACCOUNT", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(2..))]
    pub stuffing_addresses_per_account: u32,

    /// Redis (redis://…) holding login limits and spent challenges for a whole fleet.
    /// Without it they stay in this process.
    #[arg(long, env = "MEDVAULT_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of every key medvault writes in Redis, so deployments can share one server.
    #[arg(long, env = "MEDVAULT_REDIS_PREFIX", default_value = "medvault")]
    pub redis_prefix: String,

    /// A proxy (CIDR) whose X-Forwarded-For is trusted. Repeatable.
    #[arg(
        long = "trusted-proxy",
        env = "MEDVAULT_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Sign an audit checkpoint after this many new entries.
    #[arg(long, env = "MEDVAULT_AUDIT_CHECKPOINT_EVERY", default_value_t = DEFAULT_CHECKPOINT_EVERY,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub audit_checkpoint_every: u64,

    /// ...or when new entries are this many seconds old.
    #[arg(long, env = "MEDVAULT_AUDIT_CHECKPOINT_SECS", default_value_t = DEFAULT_CHECKPOINT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub audit_checkpoint_secs: u64,
}

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Write a development certificate and key (cert.pem, key.pem) for localhost.
    SelfSigned {
        /// Output directory; defaults to <data-dir>/tls.
        #[arg(long)]
        out_dir: Option<PathBuf>,
        /// Host names and IP addresses the certificate covers.
        #[arg(long = "name", default_values = ["localhost", "127.0.0.1", "::1"])]
        names: Vec<String>,
    },
}

/// Parses the command line, runs the command and turns any failure into one line on
/// stderr and a non-zero exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = match cli.command {
        Command::Serve(_) => LogTarget::Stdout,
        _ => LogTarget::Stderr,
    };
    crate::telemetry::init(logs);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", error_chain(err.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> CliResult {
    let database = Database::resolve(
        &cli.data_dir,
        cli.database_url.as_deref(),
        cli.key_vault_url.as_deref(),
    )?;
    let checkpoint_file = cli.checkpoint_file();
    let retention = cli.audit_retention;
    match cli.command {
        Command::Serve(args) => {
            let webhook_config = args.security_webhook_url.clone().map(|url| {
                crate::protect::webhook::WebhookConfig {
                    url,
                    secret: args.security_webhook_secret.clone(),
                    timeout: Duration::from_secs(5),
                }
            });
            let config = ServeConfig {
                data_dir: cli.data_dir.clone(),
                database,
                listen: args.listen,
                public_url: args.public_url,
                tls: args
                    .tls_cert
                    .zip(args.tls_key)
                    .map(|(cert, key)| Tls { cert, key }),
                limits: HttpLimits {
                    max_body_bytes: args.max_body_bytes,
                    max_fhir_body_bytes: args.fhir_max_body_bytes,
                    request_timeout: Duration::from_secs(args.request_timeout_secs),
                },
                shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
                demo: args.demo,
                fhir: crate::fhir::FhirConfig {
                    key_cache_size: args.key_cache_size as usize,
                    never_stored: crate::fhir::minimise::NeverStored(args.never_store.clone()),
                    break_glass_secs: args.break_glass_secs,
                },
                audit_retention: retention,
                record_retention: cli.retain.clone(),
                protect: crate::config::ProtectArgs {
                    limits: crate::protect::LimitsConfig {
                        backoff_after: args.login_backoff_after,
                        lock_after: args.login_lock_after,
                        lock_secs: args.login_lock_secs,
                        ip_failures: args.ip_failure_limit,
                        ip_window_secs: args.ip_failure_window_secs,
                    },
                    trusted_proxies: crate::protect::TrustedProxies(args.trusted_proxies),
                    allowed: args.ip_allow,
                    challenges: crate::protect::challenge::ChallengeConfig {
                        after_address_failures: args.challenge_after_address_failures,
                        after_account_failures: args.challenge_after_account_failures,
                        base_bits: args.challenge_bits,
                        max_bits: args.challenge_bits.saturating_add(6).min(30),
                        ttl_secs: 120,
                    },
                    redis_url: args.redis_url,
                    redis_prefix: args.redis_prefix,
                    webhook: webhook_config,
                    stuffing: crate::protect::stuffing::StuffingConfig {
                        accounts_per_address: args.stuffing_accounts_per_address as usize,
                        addresses_per_account: args.stuffing_addresses_per_account as usize,
                        window_secs: 3600,
                    },
                },
                audit: AuditConfig {
                    checkpoint_every: args.audit_checkpoint_every,
                    checkpoint_interval: Duration::from_secs(args.audit_checkpoint_secs),
                    checkpoint_file,
                },
                identity: crate::config::IdentityArgs {
                    access_token_ttl_secs: args.access_token_ttl_secs,
                    session_idle_secs: args.session_idle_secs,
                    session_absolute_secs: args.session_absolute_secs,
                    password: args.password.into(),
                    self_registration: args.self_registration,
                    mfa: crate::mfa::MfaPolicy {
                        required_roles: args.mfa_required_roles.0.clone(),
                        step_up_secs: args.step_up_secs,
                    },
                },
            };
            runtime()?.block_on(crate::serve::run(config))?;
        }
        Command::User(ref command) => runtime()?.block_on(async {
            let operator = Operator::open(&cli.data_dir, &database, cli.audit_config()).await?;
            let result = user(&operator, command).await;
            operator.close().await;
            result
        })?,
        Command::Keys(KeysCommand::Rotate) => runtime()?.block_on(async {
            let operator = Operator::open(&cli.data_dir, &database, cli.audit_config()).await?;
            let (store, trail) = (operator.store.as_ref(), &operator.trail);
            let rotated = crate::identity::cli::rotate_keys(store, trail, &operator.master).await;
            operator.close().await;
            rotated
        })?,
        Command::Keys(KeysCommand::RotateMaster) => {
            let rotated = runtime()?.block_on(crate::keyring::rotate::run(
                &cli.data_dir,
                &database,
                cli.audit_config(),
            ))?;
            println!(
                "the database is now sealed to master key {} ({} data keys re-wrapped, {} keys re-sealed)",
                rotated.new_id, rotated.rewrapped, rotated.resealed
            );
            if rotated.from_env {
                println!(
                    "set MEDVAULT_MASTER_KEY to the new key (from {}) before starting servers",
                    crate::keyring::rotate::NEW_KEY_VAR
                );
            }
        }
        Command::Breach(BreachCommand::Import { path, min_count }) => {
            crate::storage::ensure_data_dir(&cli.data_dir)?;
            let target = cli.data_dir.join(crate::protect::breached::FILE_NAME);
            let kept = crate::protect::breached::import(&path, &target, min_count)?;
            println!(
                "imported {kept} breached-password hashes into {}; restart servers to use them",
                target.display()
            );
        }
        Command::Audit(AuditCommand::Prune) => runtime()?.block_on(async {
            let operator = Operator::open(&cli.data_dir, &database, cli.audit_config()).await?;
            let pruned =
                crate::audit::cli::prune(operator.store.as_ref(), &operator.trail, retention).await;
            operator.close().await;
            println!("{}", pruned?);
            Ok::<(), CliError>(())
        })?,
        Command::Privacy(PrivacyCommand::Report(ref args)) => runtime()?.block_on(async {
            let (stores, master) =
                crate::storage::open_and_unseal(&cli.data_dir, &database).await?;
            let provider = crate::keyring::provider(&cli.data_dir).describe();
            let facts = crate::privacy::report::facts(
                stores.records.as_ref(),
                format!("master key {} ({provider})", master.id()),
            )
            .await;
            stores.close().await;
            let breach_table = cli
                .data_dir
                .join(crate::protect::breached::FILE_NAME)
                .exists();
            let kept = format!("{} days", retention.0.as_secs() / 86_400);
            print!(
                "{}",
                crate::privacy::report::render(args, &kept, &cli.retain, breach_table, &facts?)
            );
            Ok::<(), CliError>(())
        })?,
        Command::Privacy(PrivacyCommand::Export {
            patient,
            ref settings,
        }) => runtime()?.block_on(async {
            let operator = Operator::open(&cli.data_dir, &database, cli.audit_config()).await?;
            let mut out = std::io::BufWriter::new(std::io::stdout());
            let sessions = (settings.session_idle_secs, settings.session_absolute_secs);
            let exported =
                crate::privacy::export::export_at_cli(&operator, patient, sessions, &mut out).await;
            drop(out);
            operator.close().await;
            exported
        })?,
        Command::Privacy(PrivacyCommand::Purge) => runtime()?.block_on(async {
            let operator = Operator::open(&cli.data_dir, &database, cli.audit_config()).await?;
            let purged = crate::privacy::retention::purge_at_cli(&operator, &cli.retain).await;
            operator.close().await;
            println!("{}", purged?);
            Ok::<(), CliError>(())
        })?,
        Command::Privacy(PrivacyCommand::Erase { patient }) => runtime()?.block_on(async {
            let operator = Operator::open(&cli.data_dir, &database, cli.audit_config()).await?;
            let erased = crate::privacy::erasure::erase_at_cli(&operator, patient).await;
            operator.close().await;
            println!("{}", erased?);
            Ok::<(), CliError>(())
        })?,
        Command::Policy(ref command) => runtime()?.block_on(async {
            let operator = Operator::open(&cli.data_dir, &database, cli.audit_config()).await?;
            let result = crate::access::policies::cli(&operator, command).await;
            operator.close().await;
            println!("{}", result?);
            Ok::<(), CliError>(())
        })?,
        Command::Client(ref command) => runtime()?.block_on(async {
            let operator = Operator::open(&cli.data_dir, &database, cli.audit_config()).await?;
            let result = crate::oauth::clients::cli(&operator, command).await;
            operator.close().await;
            println!("{}", result?);
            Ok::<(), CliError>(())
        })?,
        Command::Audit(AuditCommand::Export { since, format }) => runtime()?.block_on(async {
            let (stores, _) = crate::storage::open_and_unseal(&cli.data_dir, &database).await?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let exported =
                crate::audit::cli::export(stores.records.as_ref(), &since, &format, &mut out).await;
            stores.close().await;
            exported.map(|_| ()).map_err(CliError::from)
        })?,
        Command::Audit(AuditCommand::Verify { from }) => {
            let outcome = runtime()?.block_on(async {
                let (stores, master) =
                    crate::storage::open_and_unseal(&cli.data_dir, &database).await?;
                let outcome = crate::audit::cli::run(
                    stores.records.clone(),
                    &master,
                    &checkpoint_file,
                    from,
                    retention,
                )
                .await;
                stores.close().await;
                outcome.map_err(CliError::from)
            })?;
            match outcome {
                Ok(summary) => println!("{summary}"),
                Err(damage) => {
                    return Err(format!(
                        "audit trail damaged: first bad entry {}: {} ({})",
                        damage.seq, damage.kind, damage.detail
                    )
                    .into())
                }
            }
        }
        Command::Tls(TlsCommand::SelfSigned { out_dir, names }) => {
            let out_dir = out_dir.unwrap_or_else(|| cli.data_dir.join("tls"));
            let written = crate::tls::write_self_signed(&out_dir, &names)?;
            println!(
                "wrote {} and {}",
                written.cert.display(),
                written.key.display()
            );
            println!(
                "serve with: medvault serve --tls-cert {} --tls-key {}",
                written.cert.display(),
                written.key.display()
            );
        }
    }
    Ok(())
}

async fn user(operator: &Operator, command: &UserCommand) -> CliResult {
    use crate::identity::cli;
    let (store_ref, trail) = (operator.store.as_ref(), &operator.trail);
    match command.clone() {
        UserCommand::Add {
            email,
            roles,
            name,
            patient_id,
            practitioner_id,
            organization_id,
            password_stdin,
            password,
        } => {
            let secret = if password_stdin {
                Some(cli::password_from_stdin()?)
            } else {
                None
            };
            let new = NewUser {
                email,
                display_name: name,
                roles,
                password: secret,
                patient_id,
                practitioner_id,
                organization_id,
            };
            cli::add(store_ref, trail, password.into(), &operator.data_dir, new).await
        }
        UserCommand::List => cli::list(store_ref).await,
        UserCommand::Disable { email } => cli::disable(store_ref, trail, &email).await,
        UserCommand::SetPassword {
            email, password, ..
        } => {
            let secret = cli::password_from_stdin()?;
            cli::set_password(
                store_ref,
                trail,
                password.into(),
                &operator.data_dir,
                &email,
                secret,
            )
            .await
        }
    }
}

/// A list of roles from the command line.
#[derive(Debug, Clone)]
pub struct RoleList(pub Vec<medvault_domain::Role>);

fn parse_roles(value: &str) -> Result<RoleList, String> {
    if value.trim() == "none" || value.trim().is_empty() {
        return Ok(RoleList(Vec::new()));
    }
    value
        .split(',')
        .map(|r| r.trim().parse().map_err(|_| format!("unknown role {r:?}")))
        .collect::<Result<_, _>>()
        .map(RoleList)
}

type CliError = Box<dyn std::error::Error + Send + Sync>;
type CliResult = Result<(), CliError>;

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}
