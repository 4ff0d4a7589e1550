//! Argon2id on a bounded blocking pool (DESIGN.md §2.5): at most one hash per core runs at
//! once, so a login flood queues instead of starving the async executor or exhausting memory
//! (each hash holds 19 MiB).

use std::sync::Arc;

use medvault_crypto::password::{
    HashParams, Password, PasswordHashError, PasswordHasher, Verification,
};
use tokio::sync::Semaphore;

use crate::ApiError;

#[derive(Debug, Clone)]
pub struct HashingPool {
    hasher: Arc<PasswordHasher>,
    permits: Arc<Semaphore>,
}

impl HashingPool {
    pub fn new(params: HashParams) -> Result<Self, PasswordHashError> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self {
            hasher: Arc::new(PasswordHasher::new(params)?),
            permits: Arc::new(Semaphore::new(cores)),
        })
    }

    async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce(&PasswordHasher) -> R + Send + 'static,
    ) -> Result<R, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || work(&hasher))
            .await
            .map_err(ApiError::internal)
    }

    pub async fn hash(&self, password: Arc<Password>) -> Result<String, ApiError> {
        self.run(move |hasher| hasher.hash(&password)).await
    }

    /// `stored: None` (no such account, or no password) costs the same as a real check.
    pub async fn verify(
        &self,
        password: Arc<Password>,
        stored: Option<String>,
    ) -> Result<Verification, ApiError> {
        self.run(move |hasher| match stored {
            Some(stored) => hasher.verify(&password, &stored),
            None => {
                hasher.verify_dummy(&password);
                Ok(Verification::Mismatch)
            }
        })
        .await?
        .map_err(ApiError::internal)
    }
}
