//! NIST SP 800-63B §5.1.1.2 memorized secrets: length, not composition; refuse guessable
//! and known-breached passwords. Messages say what is wrong, never echo the password.

use std::path::Path;
use std::sync::Arc;

use medvault_crypto::password::Password;

use crate::protect::breach_api::BreachApi;
use crate::protect::breached::{self, BreachError, BreachedPasswords};

/// NIST asks for at least 8 and recommends more for high-value accounts; health records are.
pub const MIN_CHARS: usize = 12;
/// NIST: accept at least 64. The cap bounds hashing work per request.
pub const MAX_CHARS: usize = 256;
/// zxcvbn's cost grows quickly with length; its authors suggest scoring a prefix.
const SCORED_PREFIX: usize = 100;

/// Passwords of at least 12 characters that top breach corpora; the attack-protection
/// context adds the full breached-password list.
static COMMON: &str = include_str!("common_passwords.txt");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejection {
    #[error("the password is empty")]
    Empty,
    #[error("the password must have at least {MIN_CHARS} characters")]
    TooShort,
    #[error("the password must have at most {MAX_CHARS} characters")]
    TooLong,
    #[error("the password appears in lists of breached passwords; choose another")]
    Breached,
    /// The remote breached-password check did not answer and is configured to fail closed.
    #[error("the breached-password check is unavailable; try again later")]
    CheckUnavailable,
    #[error(
        "the password is too easy to guess (strength {score} of 4, {required} required){hint}"
    )]
    Guessable {
        score: u8,
        required: u8,
        hint: String,
    },
}

#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    pub min_score: u8,
    /// The imported Pwned Passwords table, when `medvault breach import` has run.
    pub breached: Option<Arc<BreachedPasswords>>,
    /// A remote range API, when configured.
    pub remote: Option<BreachApi>,
}

impl PasswordPolicy {
    /// The policy for `min_score`, with the breached-password table from `data_dir` if any.
    pub fn load(
        min_score: u8,
        data_dir: &Path,
        remote: Option<BreachApi>,
    ) -> Result<Self, BreachError> {
        let path = data_dir.join(breached::FILE_NAME);
        let breached = if path.exists() {
            Some(Arc::new(BreachedPasswords::open(&path)?))
        } else {
            None
        };
        Ok(Self {
            min_score,
            breached,
            remote,
        })
    }

    /// The remote check of a new password, after [`PasswordPolicy::check`] passed.
    pub async fn check_remote(&self, password: &Password) -> Result<(), PasswordRejection> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        match remote.is_breached(password).await {
            Ok(false) => Ok(()),
            Ok(true) => Err(PasswordRejection::Breached),
            Err(err) if remote.fail_closed() => {
                tracing::warn!(error = %err, "breached-password service unavailable; refusing the new password");
                Err(PasswordRejection::CheckUnavailable)
            }
            Err(err) => {
                tracing::warn!(error = %err, "breached-password service unavailable; accepting the password unchecked");
                Ok(())
            }
        }
    }

    /// Whether a password presented at sign-in is known breached, locally or remotely. An
    /// unanswered remote check never blocks a sign-in; it is logged.
    pub async fn is_breached_anywhere(&self, password: &Password) -> bool {
        if self.is_breached(password) {
            return true;
        }
        match &self.remote {
            None => false,
            Some(remote) => remote.is_breached(password).await.unwrap_or_else(|err| {
                tracing::warn!(error = %err, "breached-password service unavailable at sign-in");
                false
            }),
        }
    }

    /// Whether `password` is in the built-in common list or the imported breach table.
    /// A table that cannot be read counts as a match: better to refuse a password than to
    /// accept a breached one unchecked.
    pub fn is_breached(&self, password: &Password) -> bool {
        let lowered = password.expose().to_lowercase();
        if COMMON.lines().any(|common| common == lowered) {
            return true;
        }
        match self
            .breached
            .as_ref()
            .map(|table| table.contains(password.expose()))
        {
            Some(Ok(found)) => found,
            Some(Err(err)) => {
                tracing::error!(error = %err, "cannot read the breached-password table; refusing the password");
                true
            }
            None => false,
        }
    }

    /// `context` holds words the password must not lean on, such as the email and name.
    pub fn check(&self, password: &Password, context: &[&str]) -> Result<(), PasswordRejection> {
        let text = password.expose();
        let chars = text.chars().count();
        if chars == 0 {
            return Err(PasswordRejection::Empty);
        }
        if chars < MIN_CHARS {
            return Err(PasswordRejection::TooShort);
        }
        if chars > MAX_CHARS {
            return Err(PasswordRejection::TooLong);
        }
        if self.is_breached(password) {
            return Err(PasswordRejection::Breached);
        }
        let prefix: String = text.chars().take(SCORED_PREFIX).collect();
        let entropy = zxcvbn::zxcvbn(&prefix, context);
        let score = u8::from(entropy.score());
        if score < self.min_score {
            let hint = entropy
                .feedback()
                .and_then(|f| f.warning())
                .map(|w| format!(": {w}"))
                .unwrap_or_default();
            return Err(PasswordRejection::Guessable {
                score,
                required: self.min_score,
                hint,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str) -> Result<(), PasswordRejection> {
        PasswordPolicy {
            min_score: 3,
            breached: None,
            remote: None,
        }
        .check(&Password::new(password.into()), &["jane@example.org"])
    }

    #[test]
    fn long_unpredictable_passphrases_pass() {
        assert_eq!(check("correct-horse-battery-staple-42"), Ok(()));
        assert_eq!(check("Tk9#vq2!Lm8@zR"), Ok(()));
    }

    #[test]
    fn length_rules_apply_to_characters() {
        assert_eq!(check(""), Err(PasswordRejection::Empty));
        assert_eq!(check("ab3$Zq!"), Err(PasswordRejection::TooShort));
        assert_eq!(check(&"x".repeat(257)), Err(PasswordRejection::TooLong));
        assert_eq!(check(&"é".repeat(11)), Err(PasswordRejection::TooShort));
    }

    #[test]
    fn breached_and_guessable_passwords_are_refused_without_echo() {
        assert_eq!(check("Password1234"), Err(PasswordRejection::Breached));
        let err = check("aaaaaaaaaaaaaaaa").unwrap_err();
        assert!(
            matches!(err, PasswordRejection::Guessable { .. }),
            "{err:?}"
        );
        let err = check("jane@example.org1").unwrap_err();
        assert!(!err.to_string().contains("jane"), "{err}");
    }
}
