//! The `medvault` command line (DESIGN.md §5). Every flag also reads its `MEDVAULT_*`
//! environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::app::HttpLimits;
use crate::config::{parse_public_url, Database, ServeConfig, Tls};
use crate::error::error_chain;

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

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// TLS helpers.
    #[command(subcommand)]
    Tls(TlsCommand),
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

    /// Requests running longer than this many seconds are answered 503.
    #[arg(long, env = "MEDVAULT_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Seconds that in-flight requests get to finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "MEDVAULT_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    /// Seed synthetic users and patients and print their logins.
    #[arg(long, env = "MEDVAULT_DEMO")]
    pub demo: bool,
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
    crate::telemetry::init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", error_chain(err.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let database = Database::resolve(&cli.data_dir, cli.database_url.as_deref())?;
    match cli.command {
        Command::Serve(args) => {
            let config = ServeConfig {
                data_dir: cli.data_dir,
                database,
                listen: args.listen,
                public_url: args.public_url,
                tls: args
                    .tls_cert
                    .zip(args.tls_key)
                    .map(|(cert, key)| Tls { cert, key }),
                limits: HttpLimits {
                    max_body_bytes: args.max_body_bytes,
                    request_timeout: Duration::from_secs(args.request_timeout_secs),
                },
                shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
                demo: args.demo,
            };
            runtime()?.block_on(crate::serve::run(config))?;
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

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}
