//! The FHIR R4 context: the encrypted record store behind the PHI gate, and the REST API
//! under `/fhir` (JSON only; errors are OperationOutcome resources).

pub mod api;
pub mod body;
pub mod bundle;
pub mod capability;
pub mod dates;
pub mod demo;
pub mod gate;
pub mod minimise;
pub mod outcome;
mod records;
pub mod render;
pub mod resource;
pub mod schema;
pub mod search;

use std::sync::Arc;

use medvault_crypto::MasterKey;

pub use outcome::OperationOutcome;

use self::gate::keys::KeyError;
use self::gate::Gate;
use crate::audit::AuditTrail;

pub const CONTENT_TYPE: &str = "application/fhir+json";

#[derive(Debug, Clone)]
pub struct FhirConfig {
    /// Unwrapped data keys kept in memory at most.
    pub key_cache_size: usize,
    /// Elements stripped from every resource written (data minimisation).
    pub never_stored: minimise::NeverStored,
    /// How long a break-the-glass grant lasts.
    pub break_glass_secs: u32,
}

/// The record store and what its routes need.
#[derive(Debug)]
pub struct Fhir {
    pub gate: Gate,
    pub never_stored: minimise::NeverStored,
    pub break_glass_secs: u32,
    /// `<public URL>/fhir`, the base of every link and `fullUrl`.
    pub base: String,
}

impl Fhir {
    pub async fn start(
        stores: &crate::storage::Stores,
        master: Arc<MasterKey>,
        audit: Arc<AuditTrail>,
        access: Arc<crate::access::Engine>,
        public_url: &str,
        config: &FhirConfig,
    ) -> Result<Self, KeyError> {
        Ok(Self {
            gate: Gate::start(stores, master, audit, access, config.key_cache_size).await?,
            never_stored: config.never_stored.clone(),
            break_glass_secs: config.break_glass_secs,
            base: format!("{}/fhir", public_url.trim_end_matches('/')),
        })
    }
}
