//! Argon2id password hashing (RFC 9106) in PHC string form, e.g. `$argon2id$v=19$m=19456,t=2,p=1$…`.
//!
//! CPU-heavy: callers run these on a bounded blocking pool, never on the async executor
//! (DESIGN.md §2.5).

use std::fmt;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

/// A password as typed. Zeroized on drop; never printed.
pub struct Password(Zeroizing<String>);

impl Password {
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Deserializes straight into zeroizing storage, for JSON request bodies.
impl<'de> serde::Deserialize<'de> for Password {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashParams {
    /// OWASP Password Storage Cheat Sheet: m=19 MiB, t=2, p=1.
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordHashError {
    #[error("invalid Argon2 parameters")]
    Params,
    #[error("stored password hash is malformed")]
    Malformed,
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Mismatch,
    Match,
    /// Correct, but hashed with other parameters or another algorithm: store a new hash.
    MatchNeedsRehash,
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: HashParams,
    argon2: Argon2<'static>,
    /// A hash of a random password with the current parameters, verified against when
    /// the account does not exist so that timing does not reveal which accounts exist.
    dummy: String,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    pub fn new(params: HashParams) -> Result<Self, PasswordHashError> {
        let argon_params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|_| PasswordHashError::Params)?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
        let random = SaltString::generate(&mut OsRng);
        let dummy = argon2
            .hash_password(
                random.as_str().as_bytes(),
                &SaltString::generate(&mut OsRng),
            )
            .map_err(|_| PasswordHashError::Params)?
            .to_string();
        Ok(Self {
            params,
            argon2,
            dummy,
        })
    }

    pub fn params(&self) -> HashParams {
        self.params
    }

    /// A fresh PHC string with a random 128-bit salt.
    pub fn hash(&self, password: &Password) -> String {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2
            .hash_password(password.expose().as_bytes(), &salt)
            .expect("valid parameters hash any input")
            .to_string()
    }

    /// Checks `password` against `stored`, in constant time with respect to the password.
    pub fn verify(
        &self,
        password: &Password,
        stored: &str,
    ) -> Result<Verification, PasswordHashError> {
        let parsed = PasswordHash::new(stored).map_err(|_| PasswordHashError::Malformed)?;
        // Verify with the parameters the hash records, which may be older than ours.
        if Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_err()
        {
            return Ok(Verification::Mismatch);
        }
        let current = parsed.algorithm == argon2::ARGON2ID_IDENT
            && Params::try_from(&parsed).is_ok_and(|p| {
                p.m_cost() == self.params.memory_kib
                    && p.t_cost() == self.params.iterations
                    && p.p_cost() == self.params.parallelism
            });
        Ok(if current {
            Verification::Match
        } else {
            Verification::MatchNeedsRehash
        })
    }

    /// Spends the same effort as [`PasswordHasher::verify`] on an account that does not exist.
    pub fn verify_dummy(&self, password: &Password) {
        let parsed = PasswordHash::new(&self.dummy).expect("the dummy hash is well formed");
        // The result is meaningless by construction; only the time spent matters.
        let _ = self
            .argon2
            .verify_password(password.expose().as_bytes(), &parsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small parameters keep unit tests fast; the defaults are exercised end to end.
    fn hasher(memory_kib: u32) -> PasswordHasher {
        PasswordHasher::new(HashParams {
            memory_kib,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    #[test]
    fn hashes_are_salted_argon2id_phc_strings() {
        let hasher = hasher(256);
        let password = Password::new("correct horse battery staple".into());
        let (a, b) = (hasher.hash(&password), hasher.hash(&password));
        assert!(a.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{a}");
        assert_ne!(a, b, "a fresh salt every time");
    }

    #[test]
    fn verification_tells_match_from_mismatch() {
        let hasher = hasher(256);
        let stored = hasher.hash(&Password::new("correct horse battery staple".into()));
        assert_eq!(
            hasher.verify(
                &Password::new("correct horse battery staple".into()),
                &stored
            ),
            Ok(Verification::Match)
        );
        assert_eq!(
            hasher.verify(
                &Password::new("Correct horse battery staple".into()),
                &stored
            ),
            Ok(Verification::Mismatch)
        );
        assert_eq!(
            hasher.verify(&Password::new("x".into()), "not a hash"),
            Err(PasswordHashError::Malformed)
        );
    }

    #[test]
    fn changed_parameters_ask_for_a_rehash() {
        let stored = hasher(256).hash(&Password::new("correct horse battery staple".into()));
        let stronger = hasher(512);
        assert_eq!(
            stronger.verify(
                &Password::new("correct horse battery staple".into()),
                &stored
            ),
            Ok(Verification::MatchNeedsRehash)
        );
    }

    #[test]
    fn passwords_never_print() {
        assert_eq!(
            format!("{:?}", Password::new("hunter2".into())),
            "Password(<redacted>)"
        );
    }
}
