//! `Debug` for types that carry PHI or secrets: it names the type and nothing else, so a
//! stray `{:?}` can never print a record, a code or a token (DESIGN.md §2.1).

/// Implements `Debug` as `Type(<redacted>)` for each listed type.
macro_rules! redacted_debug {
    ($($t:ty),* $(,)?) => {
        $(
            impl std::fmt::Debug for $t {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str(concat!(stringify!($t), "(<redacted>)"))
                }
            }
        )*
    };
}
pub(crate) use redacted_debug;

/// A secret given on the command line or in the environment (e.g. a webhook's signing
/// secret): zeroized on drop, redacted from `Debug`.
#[derive(Clone)]
pub struct SecretText(zeroize::Zeroizing<String>);

impl SecretText {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SecretText {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(zeroize::Zeroizing::new(s.to_owned())))
    }
}

redacted_debug!(SecretText);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_names_the_type_only() {
        let secret: SecretText = "s3cret-value".parse().unwrap_or_else(|e| match e {});
        assert_eq!(format!("{secret:?}"), "SecretText(<redacted>)");
        assert_eq!(secret.expose(), "s3cret-value");
    }
}
