//! TLS for `serve` (rustls with the ring provider) and `medvault tls self-signed`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use crate::config::Tls;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS certificate {0}")]
    Cert(String, #[source] rustls::pki_types::pem::Error),
    #[error("cannot read TLS private key {0}")]
    Key(String, #[source] rustls::pki_types::pem::Error),
    #[error("the TLS certificate and key do not form a usable pair")]
    Config(#[from] rustls::Error),
    #[error(transparent)]
    Generate(#[from] medvault_crypto::tls::TlsGenerationError),
    #[error("cannot write {0}")]
    Write(String, #[source] std::io::Error),
}

pub fn server_config(tls: &Tls) -> Result<Arc<ServerConfig>, TlsError> {
    let shown = |p: &Path| p.display().to_string();
    let certs = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Cert(shown(&tls.cert), e))?;
    let key =
        PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| TlsError::Key(shown(&tls.key), e))?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[derive(Debug)]
pub struct WrittenPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Writes `cert.pem` (0644) and `key.pem` (0600) into `dir`.
pub fn write_self_signed(dir: &Path, names: &[String]) -> Result<WrittenPair, TlsError> {
    let pair = medvault_crypto::tls::self_signed(names)?;
    let written = WrittenPair {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    let write = |path: &Path, mode: u32, contents: &str| {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(path)
            .and_then(|mut file| file.write_all(contents.as_bytes()))
            .map_err(|e| TlsError::Write(path.display().to_string(), e))
    };
    crate::storage::ensure_data_dir(dir)
        .map_err(|e| TlsError::Write(dir.display().to_string(), e))?;
    write(&written.key, 0o600, &pair.key_pem)?;
    // `mode` applies only on creation; an older key file keeps its mode, so set it.
    fs::set_permissions(
        &written.key,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .map_err(|e| TlsError::Write(written.key.display().to_string(), e))?;
    write(&written.cert, 0o644, &pair.cert_pem)?;
    Ok(written)
}
