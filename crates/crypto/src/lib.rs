//! medvault's key hierarchy (DESIGN.md §3) as thin wrappers over vetted crates.
//!
//! This is the only crate that holds key material. Every type that carries a key or a
//! plaintext secret zeroizes it on drop and redacts it from `Debug`.
//!
//! - [`MasterKey`]: the key-encryption key (KEK), loaded through a [`KeyProvider`].
//! - [`PurposeKey`]: keys derived from the KEK with HKDF, one per [`KeyPurpose`].
//! - [`DataKey`]: a per-patient data key (DEK), stored only wrapped by the KEK.

pub mod audit_chain;
pub mod blind_index;
pub mod client_assertion;
mod data_key;
mod derive;
mod envelope;
mod error;
pub mod jwt;
mod key_share;
pub mod mac;
mod master_key;
mod opaque;
pub mod password;
mod provider;
pub mod recovery_code;
pub mod tls;
pub mod totp;

pub use data_key::{rewrap, DataKey};
pub use derive::{KeyPurpose, PurposeKey};
pub use error::CryptoError;
pub use key_share::KeyShare;
pub use master_key::MasterKey;
pub use medvault_domain::WrappedDataKey;
pub use opaque::OpaqueToken;
pub use provider::{EnvKeyProvider, FileKeyProvider, KeyProvider, KeyProviderError};
