//! `medvault serve`: start-up checks, listening (plain or TLS), graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;

use crate::app::{self, AppState};
use crate::config::{ConfigError, ServeConfig};
use crate::http::metrics::Metrics;
use crate::keyring::{self, UnsealError};
use crate::storage;
use crate::tls::{self, TlsError};

/// Why the server could not start or stopped abnormally. Each is one line for an operator.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot create the data dir {0}")]
    DataDir(String, #[source] std::io::Error),
    #[error(transparent)]
    Open(#[from] medvault_store::OpenError),
    #[error(transparent)]
    Unseal(#[from] UnsealError),
    #[error("cannot listen on {0}")]
    Listen(SocketAddr, #[source] std::io::Error),
    #[error("cannot install signal handlers")]
    Signals(#[source] std::io::Error),
    #[error("the server failed")]
    Serve(#[source] std::io::Error),
}

pub async fn run(config: ServeConfig) -> Result<(), ServeError> {
    config.check_transport()?;
    let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
    storage::ensure_data_dir(&config.data_dir)
        .map_err(|e| ServeError::DataDir(config.data_dir.display().to_string(), e))?;
    let store = storage::open(&config.database).await?;
    let provider = keyring::provider(&config.data_dir);
    let master_key = match keyring::unseal(store.as_ref(), provider.as_ref()).await {
        Ok(key) => key,
        Err(err) => {
            store.close().await;
            return Err(err.into());
        }
    };
    if config.demo {
        tracing::warn!("--demo: no demo data is seeded yet; the identity and FHIR contexts add it");
    }

    let state = AppState {
        store: store.clone(),
        metrics: Arc::new(Metrics::new()),
    };
    let app = app::router(state, config.limits, tls.is_some())
        .into_make_service_with_connect_info::<SocketAddr>();
    let listener = std::net::TcpListener::bind(config.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| ServeError::Listen(config.listen, e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| ServeError::Listen(config.listen, e))?;
    let stopping = shutdown_on_signal()?;
    tracing::info!(
        addr = %bound,
        public_url = %config.public_url_for(bound),
        tls = tls.is_some(),
        database = store.backend(),
        master_key_id = %master_key.id(),
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
    store.close().await;
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
