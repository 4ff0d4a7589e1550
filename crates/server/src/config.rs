//! Validated configuration. The CLI parses flags and environment into these types once;
//! nothing downstream re-checks them.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::app::HttpLimits;

/// Where the data lives. `Postgres` holds URLs that may embed a password, so its `Debug`
/// names only the scheme.
#[derive(Clone)]
pub enum Database {
    /// The embedded default: `<data-dir>/medvault.db`, and the key vault beside it in
    /// `<data-dir>/keyvault.db`.
    Sqlite(PathBuf),
    Postgres {
        url: String,
        /// The key vault's own database; `None` keeps the vault in the records database.
        key_vault: Option<String>,
    },
}

/// Where the key vault lives (see `medvault_store::KeyShareStore`).
pub enum KeyVault<'a> {
    Sqlite(PathBuf),
    Postgres(&'a str),
    /// The records database itself.
    Shared,
}

impl fmt::Debug for KeyVault<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(_) => f.write_str("Postgres(<redacted url>)"),
            Self::Shared => f.write_str("Shared"),
        }
    }
}

impl Database {
    pub const SQLITE_FILE: &'static str = "medvault.db";
    pub const KEY_VAULT_FILE: &'static str = "keyvault.db";

    pub fn resolve(
        data_dir: &std::path::Path,
        url: Option<&str>,
        key_vault: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let postgres =
            |url: &str| url.starts_with("postgres://") || url.starts_with("postgresql://");
        match (url, key_vault) {
            (None, None) => Ok(Self::Sqlite(data_dir.join(Self::SQLITE_FILE))),
            (None, Some(_)) => Err(ConfigError::KeyVaultWithoutPostgres),
            (Some(url), vault) if postgres(url) => match vault {
                Some(vault) if !postgres(vault) => Err(ConfigError::DatabaseScheme),
                _ => Ok(Self::Postgres {
                    url: url.to_owned(),
                    key_vault: vault.filter(|v| *v != url).map(str::to_owned),
                }),
            },
            (Some(_), _) => Err(ConfigError::DatabaseScheme),
        }
    }

    pub fn key_vault(&self) -> KeyVault<'_> {
        match self {
            Self::Sqlite(path) => KeyVault::Sqlite(path.with_file_name(Self::KEY_VAULT_FILE)),
            Self::Postgres {
                key_vault: Some(url),
                ..
            } => KeyVault::Postgres(url),
            Self::Postgres {
                key_vault: None, ..
            } => KeyVault::Shared,
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres { key_vault, .. } => write!(
                f,
                "Postgres(<redacted url>, key vault {})",
                if key_vault.is_some() {
                    "apart"
                } else {
                    "shared"
                }
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub database: Database,
    pub listen: SocketAddr,
    /// `None` means `http(s)://localhost:<bound port>`, known only once bound.
    pub public_url: Option<String>,
    pub tls: Option<Tls>,
    pub limits: HttpLimits,
    pub shutdown_grace: Duration,
    pub demo: bool,
    pub fhir: crate::fhir::FhirConfig,
    pub audit: crate::audit::AuditConfig,
    pub audit_retention: crate::audit::retention::Retention,
    pub record_retention: Vec<crate::privacy::retention::RetentionRule>,
    pub protect: ProtectArgs,
    pub identity: IdentityArgs,
}

/// Attack-protection settings.
#[derive(Debug, Clone)]
pub struct ProtectArgs {
    pub limits: crate::protect::LimitsConfig,
    pub trusted_proxies: crate::protect::TrustedProxies,
    pub allowed: Vec<ipnet::IpNet>,
    pub challenges: crate::protect::challenge::ChallengeConfig,
    pub stuffing: crate::protect::stuffing::StuffingConfig,
    /// Shares limits and spent challenges across a fleet.
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    pub webhook: Option<crate::protect::webhook::WebhookConfig>,
}

/// Identity settings known before the public URL (and so the token issuer) is.
#[derive(Debug, Clone)]
pub struct IdentityArgs {
    pub access_token_ttl_secs: i64,
    pub session_idle_secs: i64,
    pub session_absolute_secs: i64,
    pub password: crate::identity::config::PasswordSettings,
    pub mfa: crate::mfa::MfaPolicy,
    pub self_registration: bool,
}

impl ServeConfig {
    /// Plain HTTP would expose tokens and PHI to the network; on loopback it cannot.
    pub fn check_transport(&self) -> Result<(), ConfigError> {
        if self.tls.is_none() && !self.listen.ip().is_loopback() {
            return Err(ConfigError::PlainHttpOnNetwork(self.listen));
        }
        Ok(())
    }

    pub fn identity_for(&self, public_url: &str) -> crate::identity::config::IdentityConfig {
        crate::identity::config::IdentityConfig {
            issuer: public_url.to_owned(),
            audience: public_url.to_owned(),
            access_token_ttl_secs: self.identity.access_token_ttl_secs,
            session_idle_secs: self.identity.session_idle_secs,
            session_absolute_secs: self.identity.session_absolute_secs,
            password: self.identity.password.clone(),
            data_dir: self.data_dir.clone(),
            mfa: self.identity.mfa.clone(),
            self_registration: self.identity.self_registration,
        }
    }

    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let scheme = if self.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://localhost:{}", bound.port())
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "refusing to serve plain HTTP on non-loopback address {0}: configure --tls-cert and \
         --tls-key, or listen on 127.0.0.1"
    )]
    PlainHttpOnNetwork(SocketAddr),
    #[error("--database-url must start with postgres:// (omit it to use the embedded SQLite); so must --key-vault-url")]
    DatabaseScheme,
    #[error(
        "--key-vault-url needs --database-url: with SQLite the key vault is <data-dir>/keyvault.db"
    )]
    KeyVaultWithoutPostgres,
    #[error("--public-url must be an absolute http:// or https:// URL without a query")]
    PublicUrl,
}

/// `--public-url` becomes the token issuer and the WebAuthn origin, so it must be exact.
pub fn parse_public_url(value: &str) -> Result<String, ConfigError> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or(ConfigError::PublicUrl)?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || value.contains(['?', '#', ' ']) {
        return Err(ConfigError::PublicUrl);
    }
    Ok(value.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_debug_never_shows_the_url() {
        let db = Database::resolve(
            std::path::Path::new("."),
            Some("postgres://u:s3cret@db/medvault"),
            Some("postgres://u:v4ult@db/keys"),
        )
        .unwrap();
        let shown = format!("{db:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("v4ult"),
            "{shown}"
        );
    }

    #[test]
    fn the_key_vault_is_apart_from_the_records_unless_told_otherwise() {
        let dir = std::path::Path::new("/data");
        let sqlite = Database::resolve(dir, None, None).unwrap();
        assert!(matches!(sqlite.key_vault(), KeyVault::Sqlite(p) if p == dir.join("keyvault.db")));
        let shared = Database::resolve(dir, Some("postgres://db/a"), None).unwrap();
        assert!(matches!(shared.key_vault(), KeyVault::Shared));
        let same =
            Database::resolve(dir, Some("postgres://db/a"), Some("postgres://db/a")).unwrap();
        assert!(matches!(same.key_vault(), KeyVault::Shared));
        let apart =
            Database::resolve(dir, Some("postgres://db/a"), Some("postgres://db/k")).unwrap();
        assert!(matches!(
            apart.key_vault(),
            KeyVault::Postgres("postgres://db/k")
        ));
        assert!(Database::resolve(dir, None, Some("postgres://db/k")).is_err());
        assert!(Database::resolve(dir, Some("postgres://db/a"), Some("mysql://k")).is_err());
    }

    #[test]
    fn public_urls_must_be_absolute_http() {
        assert_eq!(
            parse_public_url("https://mv.example/").unwrap(),
            "https://mv.example"
        );
        for bad in [
            "mv.example",
            "ftp://x",
            "https://",
            "https://x/?a=1",
            "https://x/#f",
        ] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }
}
