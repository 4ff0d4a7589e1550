//! Where the master key comes from (DESIGN.md §3). A KMS or HSM provider implements
//! [`KeyProvider`] too; nothing else in medvault knows which provider is in use.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::MasterKey;

pub trait KeyProvider: Send + Sync + std::fmt::Debug {
    /// A short name for messages: `file`, `env`, ...
    fn describe(&self) -> String;

    /// The master key, or `None` when this provider holds none yet.
    fn load(&self) -> Result<Option<MasterKey>, KeyProviderError>;

    /// Creates and persists a fresh master key. Only called for a brand-new database.
    fn create(&self) -> Result<MasterKey, KeyProviderError>;
}

#[derive(Debug, thiserror::Error)]
pub enum KeyProviderError {
    #[error("{0} holds no master key")]
    Missing(String),
    #[error("{0} does not hold a valid master key (expected 32 bytes, base64-encoded)")]
    Malformed(String),
    #[error("{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen { path: String, mode: u32 },
    #[error("{0} cannot create master keys; provide one")]
    CannotCreate(String),
    #[error("cannot access {path}")]
    Io { path: String, source: io::Error },
}

/// `<data-dir>/master.key`: base64 text, mode 0600, created on first start.
#[derive(Debug, Clone)]
pub struct FileKeyProvider {
    path: PathBuf,
}

impl FileKeyProvider {
    pub const FILE_NAME: &'static str = "master.key";

    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(Self::FILE_NAME),
        }
    }

    /// A key file at another path, e.g. the next key of a rotation in progress.
    pub fn at(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_error(&self, source: io::Error) -> KeyProviderError {
        KeyProviderError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }
}

impl KeyProvider for FileKeyProvider {
    fn describe(&self) -> String {
        format!("master key file {}", self.path.display())
    }

    fn load(&self) -> Result<Option<MasterKey>, KeyProviderError> {
        let metadata = match fs::metadata(&self.path) {
            Ok(metadata) => metadata,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(self.io_error(err)),
        };
        // Like ssh with private keys: a key other users can read is already compromised.
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyProviderError::TooOpen {
                path: self.path.display().to_string(),
                mode,
            });
        }
        let text = Zeroizing::new(fs::read_to_string(&self.path).map_err(|e| self.io_error(e))?);
        MasterKey::from_base64(&text)
            .map(Some)
            .map_err(|_| KeyProviderError::Malformed(self.describe()))
    }

    fn create(&self) -> Result<MasterKey, KeyProviderError> {
        let key = MasterKey::generate();
        // Write to a private temp file, make it durable, then link it into place:
        // `hard_link` fails if a key appeared meanwhile, so an existing key is never replaced,
        // and a crash never leaves a half-written `master.key`.
        let tmp = self.path.with_extension("key.tmp");
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| self.io_error(e))?;
        let written = file
            .write_all(key.to_base64().as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .and_then(|()| fs::hard_link(&tmp, &self.path));
        let removed = fs::remove_file(&tmp);
        written.map_err(|e| self.io_error(e))?;
        removed.map_err(|e| self.io_error(e))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| self.io_error(e))?;
        }
        Ok(key)
    }
}

/// `MEDVAULT_MASTER_KEY`: base64 in the environment, for containers and secret managers.
#[derive(Clone)]
pub struct EnvKeyProvider {
    value: Option<Zeroizing<String>>,
}

impl EnvKeyProvider {
    pub const VAR: &'static str = "MEDVAULT_MASTER_KEY";

    /// Reads the variable now. `None` when it is unset, so callers can fall back.
    pub fn from_env() -> Option<Self> {
        std::env::var(Self::VAR).ok().map(|v| Self {
            value: Some(Zeroizing::new(v)),
        })
    }
}

impl std::fmt::Debug for EnvKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnvKeyProvider(<redacted>)")
    }
}

impl KeyProvider for EnvKeyProvider {
    fn describe(&self) -> String {
        format!("environment variable {}", Self::VAR)
    }

    fn load(&self) -> Result<Option<MasterKey>, KeyProviderError> {
        match &self.value {
            None => Ok(None),
            Some(value) => MasterKey::from_base64(value)
                .map(Some)
                .map_err(|_| KeyProviderError::Malformed(self.describe())),
        }
    }

    fn create(&self) -> Result<MasterKey, KeyProviderError> {
        Err(KeyProviderError::CannotCreate(self.describe()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_provider_creates_a_private_key_and_loads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let provider = FileKeyProvider::in_data_dir(dir.path());
        assert!(provider.load().unwrap().is_none());

        let created = provider.create().unwrap();
        let mode = fs::metadata(dir.path().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(provider.load().unwrap().unwrap().id(), created.id());
        assert!(!dir.path().join("master.key.tmp").exists());
    }

    #[test]
    fn file_provider_never_replaces_an_existing_key() {
        let dir = tempfile::tempdir().unwrap();
        let provider = FileKeyProvider::in_data_dir(dir.path());
        let first = provider.create().unwrap();
        assert!(matches!(
            provider.create(),
            Err(KeyProviderError::Io { .. })
        ));
        assert_eq!(provider.load().unwrap().unwrap().id(), first.id());
    }

    #[test]
    fn file_provider_refuses_a_key_others_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let provider = FileKeyProvider::in_data_dir(dir.path());
        provider.create().unwrap();
        let path = dir.path().join("master.key");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            provider.load(),
            Err(KeyProviderError::TooOpen { mode: 0o644, .. })
        ));
    }

    #[test]
    fn file_provider_reports_a_corrupt_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap()
            .write_all(b"garbage")
            .unwrap();
        let err = FileKeyProvider::in_data_dir(dir.path()).load().unwrap_err();
        assert!(matches!(err, KeyProviderError::Malformed(_)));
    }

    #[test]
    fn env_provider_parses_and_cannot_create() {
        let key = MasterKey::generate();
        let provider = EnvKeyProvider {
            value: Some(key.to_base64()),
        };
        assert_eq!(provider.load().unwrap().unwrap().id(), key.id());
        assert!(matches!(
            provider.create(),
            Err(KeyProviderError::CannotCreate(_))
        ));
        assert!(!format!("{provider:?}").contains(key.to_base64().as_str()));
    }
}
