//! `medvault serve`: start-up checks, listening (plain or TLS), graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;

use crate::app::{self, AppState};
use crate::config::{ConfigError, ServeConfig};
use crate::http::metrics::Metrics;
use crate::identity::Identity;
use crate::storage;
use crate::tls::{self, TlsError};

/// Why the server could not start or stopped abnormally. Each is one line for an operator.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Start(#[from] storage::StartError),
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    #[error(transparent)]
    Audit(#[from] crate::audit::checkpoints::CheckpointError),
    #[error("cannot set up the security webhook client")]
    Webhook(#[source] reqwest::Error),
    #[error("cannot seed the demo data")]
    Demo(#[source] crate::fhir::demo::DemoError),
    #[error("cannot prepare the record store's keys")]
    Records(#[source] crate::fhir::gate::keys::KeyError),
    #[error("cannot reach Redis for the shared login limits")]
    Redis(#[source] redis::RedisError),
    #[error("cannot listen on {0}")]
    Listen(SocketAddr, #[source] std::io::Error),
    #[error("cannot install signal handlers")]
    Signals(#[source] std::io::Error),
    #[error("the server failed")]
    Serve(#[source] std::io::Error),
    #[error("cannot settle erasures")]
    Erasures(#[source] crate::privacy::erasure::EraseError),
    #[error("{0}")]
    Policies(String),
}

pub async fn run(config: ServeConfig) -> Result<(), ServeError> {
    config.check_transport()?;
    let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
    let (stores, master_key) = storage::open_and_unseal(&config.data_dir, &config.database).await?;
    let store = stores.records.clone();
    if matches!(config.database.key_vault(), crate::config::KeyVault::Shared) {
        tracing::warn!(
            "the key vault shares the records database: its backups hold the key shares, so an \
             erasure reaches them only once they expire; give --key-vault-url a database of its own"
        );
    }
    let master_key_id = master_key.id();
    let challenge_signer = medvault_crypto::mac::MessageSigner::new(
        &master_key,
        medvault_crypto::KeyPurpose::Challenge,
    );
    // The issuer is the public URL, which may name the port: bind before anything else.
    let listener = std::net::TcpListener::bind(config.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| ServeError::Listen(config.listen, e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| ServeError::Listen(config.listen, e))?;
    let public_url = config.public_url_for(bound);
    let trail =
        match crate::audit::AuditTrail::start(store.clone(), &master_key, config.audit.clone())
            .await
        {
            Ok(trail) => Arc::new(trail),
            Err(err) => {
                stores.close().await;
                return Err(err.into());
            }
        };
    let identity_config = config.identity_for(&public_url);
    let master_key = Arc::new(master_key);
    let access = match crate::access::policies::open(store.as_ref()).await {
        Ok(engine) => engine,
        Err(err) => {
            trail.close().await;
            stores.close().await;
            return Err(ServeError::Policies(err));
        }
    };
    let fhir = match crate::fhir::Fhir::start(
        &stores,
        master_key.clone(),
        trail.clone(),
        access.clone(),
        &public_url,
        &config.fhir,
    )
    .await
    {
        Ok(fhir) => Arc::new(fhir),
        Err(err) => {
            trail.close().await;
            stores.close().await;
            return Err(ServeError::Records(err));
        }
    };
    let identity = match Identity::start(store.as_ref(), master_key, identity_config).await {
        Ok(identity) => Arc::new(identity),
        Err(err) => {
            trail.close().await;
            stores.close().await;
            return Err(err.into());
        }
    };
    let admins = store
        .count_active_admins()
        .await
        .map_err(crate::identity::IdentityError::from)?;
    if admins == 0 {
        tracing::warn!(
            "no admin exists yet; create one with: medvault user add --email you@example.org \
             --role admin --password-stdin"
        );
    }

    let limits = match &config.protect.redis_url {
        None => {
            crate::protect::Limits::Local(crate::protect::LoginLimits::new(config.protect.limits))
        }
        Some(url) => {
            let prefix = config.protect.redis_prefix.clone();
            match crate::protect::shared::SharedLimits::connect(url, prefix, config.protect.limits)
                .await
            {
                Ok(shared) => crate::protect::Limits::Shared(shared),
                Err(err) => {
                    trail.close().await;
                    stores.close().await;
                    return Err(ServeError::Redis(err));
                }
            }
        }
    };
    let webhook = match config
        .protect
        .webhook
        .clone()
        .map(crate::protect::webhook::Webhook::new)
    {
        None => None,
        Some(Ok(webhook)) => Some(Arc::new(webhook)),
        Some(Err(err)) => {
            trail.close().await;
            stores.close().await;
            return Err(ServeError::Webhook(err));
        }
    };
    let state = AppState {
        store: store.clone(),
        metrics: Arc::new(Metrics::new()),
        identity,
        audit: trail.clone(),
        protect: Arc::new(crate::protect::Protect {
            limits,
            trusted_proxies: config.protect.trusted_proxies.clone(),
            allowed: config.protect.allowed.clone(),
            challenges: crate::protect::challenge::Challenges::new(
                challenge_signer,
                config.protect.challenges,
            ),
            stuffing: crate::protect::stuffing::StuffingDetector::new(config.protect.stuffing),
            webhook: webhook.clone(),
        }),
        fhir,
        access: access.clone(),
        client_keys: Arc::default(),
    };
    crate::access::policies::follow(access, store.clone());
    if config.demo {
        match crate::fhir::demo::seed(&state, crate::fhir::demo::DEMO_PATIENTS).await {
            Ok(logins) => print_demo_logins(&logins),
            Err(err) => {
                trail.close().await;
                stores.close().await;
                return Err(ServeError::Demo(err));
            }
        }
    }
    if let Err(err) = resume_erasures(&state).await {
        trail.close().await;
        stores.close().await;
        return Err(ServeError::Erasures(err));
    }
    let sync = tokio::spawn(keep_in_sync(state.clone()));
    let pruning = tokio::spawn(apply_retention(
        state.clone(),
        config.audit_retention,
        config.record_retention.clone(),
    ));
    let delivering = webhook.map(|webhook| {
        tokio::spawn(crate::protect::webhook::deliver_forever(
            state.clone(),
            webhook,
        ))
    });
    let app = app::router(state, config.limits, tls.is_some())
        .into_make_service_with_connect_info::<SocketAddr>();
    let stopping = shutdown_on_signal()?;
    tracing::info!(
        addr = %bound,
        public_url = %public_url,
        tls = tls.is_some(),
        database = store.backend(),
        master_key_id = %master_key_id,
        "listening"
    );

    let grace = config.shutdown_grace;
    let deadline = {
        let mut stopping = stopping.clone();
        async move {
            // An error means the signal task is gone, which it never is before sending.
            let _ = stopping.wait_for(|stop| *stop).await;
            tokio::time::sleep(grace).await;
        }
    };
    let served = match tls {
        None => {
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| ServeError::Listen(config.listen, e))?;
            let mut stopping = stopping.clone();
            let server = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            });
            tokio::select! {
                served = server => served,
                () = deadline => { tracing::warn!("grace period over; dropping open connections"); Ok(()) }
            }
        }
        Some(tls) => {
            let handle = axum_server::Handle::new();
            let mut stopping = stopping.clone();
            let on_stop = handle.clone();
            tokio::spawn(async move {
                let _ = stopping.wait_for(|stop| *stop).await;
                on_stop.graceful_shutdown(Some(grace));
            });
            axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(tls))
                .handle(handle)
                .serve(app)
                .await
        }
    };
    sync.abort();
    pruning.abort();
    if let Some(delivering) = delivering {
        delivering.abort();
    }
    // Flush the trail and checkpoint its head, so the file records where it ended.
    trail.close().await;
    stores.close().await;
    served.map_err(ServeError::Serve)?;
    tracing::info!("shutdown complete");
    Ok(())
}

/// A flag that turns true on the first SIGTERM or SIGINT (Ctrl-C).
fn shutdown_on_signal() -> Result<watch::Receiver<bool>, ServeError> {
    let mut term = signal(SignalKind::terminate()).map_err(ServeError::Signals)?;
    let mut int: Signal = signal(SignalKind::interrupt()).map_err(ServeError::Signals)?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "shutting down: finishing in-flight requests");
        // Receivers live as long as the server; a send error would mean it already stopped.
        let _ = tx.send(true);
        // Keep the sender alive so waiters never see a closed channel.
        std::future::pending::<()>().await;
    });
    Ok(rx)
}

/// How soon a revocation or key rotation made elsewhere (CLI, other instances) takes effect here.
const SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

async fn keep_in_sync(state: AppState) {
    let mut tick = tokio::time::interval(SYNC_INTERVAL);
    tick.tick().await;
    loop {
        tick.tick().await;
        state.protect.limits.prune(crate::clock::now());
        state.protect.challenges.prune(crate::clock::now());
        state.protect.stuffing.prune(crate::clock::now());
        if let Err(err) = state.identity.sync(state.store.as_ref()).await {
            tracing::error!(error = %crate::error::error_chain(&err), "identity sync failed; retrying");
        }
    }
}

/// How often the retention period is applied.
const PRUNE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

async fn apply_retention(
    state: AppState,
    retention: crate::audit::retention::Retention,
    rules: Vec<crate::privacy::retention::RetentionRule>,
) {
    let mut tick = tokio::time::interval(PRUNE_INTERVAL);
    loop {
        tick.tick().await;
        match crate::audit::cli::prune(state.store.as_ref(), &state.audit, retention).await {
            Ok(summary) => tracing::info!(summary = %summary, "audit retention applied"),
            Err(err) => {
                tracing::error!(error = %crate::error::error_chain(&err), "audit retention failed; retrying")
            }
        }
        if rules.is_empty() {
            continue;
        }
        let eraser = crate::privacy::erasure::Eraser::of(&state);
        match crate::privacy::retention::purge(&eraser, &rules).await {
            Ok(purged) => tracing::info!(summary = %purged, "record retention applied"),
            Err(err) => {
                tracing::error!(error = %crate::error::error_chain(&err), "record retention failed; retrying")
            }
        }
    }
}

/// The demo logins, on standard output for the operator (demo data only).
fn print_demo_logins(logins: &[crate::fhir::demo::DemoLogin]) {
    if logins.is_empty() {
        println!(
            "demo data was seeded at an earlier start; to sign in again, reset a password with \
             `medvault user set-password --email physician@demo.medvault.test --password-stdin`"
        );
        return;
    }
    println!("demo logins (shown once):");
    for login in logins {
        println!(
            "  {:<11} {:<32} {}",
            login.role,
            login.email,
            login.password.expose()
        );
    }
}

/// Finishes erasures a crash interrupted, and erases again what a restored backup brought
/// back, before serving, so nothing erased is ever served. A vault that does not match the
/// records stops the start: every patient would read as erased.
async fn resume_erasures(state: &AppState) -> Result<(), crate::privacy::erasure::EraseError> {
    let eraser = crate::privacy::erasure::Eraser::of(state);
    let resumed = eraser.resume().await?;
    if resumed > 0 {
        tracing::info!(resumed, "finished interrupted erasures");
    }
    let (adopted, erased) = eraser.reconcile().await?;
    if adopted + erased > 0 {
        tracing::info!(
            adopted,
            erased,
            "data keys without key shares: adopted from before shares, or erased again after a restore"
        );
    }
    Ok(())
}
