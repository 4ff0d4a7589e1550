//! Development TLS material for `medvault tls self-signed`.

use std::fmt;

use zeroize::Zeroizing;

/// A certificate and its private key, both PEM-encoded.
pub struct SelfSignedPair {
    pub cert_pem: String,
    pub key_pem: Zeroizing<String>,
}

impl fmt::Debug for SelfSignedPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelfSignedPair").finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot generate a self-signed certificate: {0}")]
pub struct TlsGenerationError(#[from] rcgen::Error);

/// An ECDSA P-256 certificate for `names`; names that parse as IP addresses become IP SANs.
pub fn self_signed(names: &[String]) -> Result<SelfSignedPair, TlsGenerationError> {
    let certified = rcgen::generate_simple_self_signed(names.to_vec())?;
    Ok(SelfSignedPair {
        cert_pem: certified.cert.pem(),
        key_pem: Zeroizing::new(certified.key_pair.serialize_pem()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produces_pem_certificate_and_key() {
        let pair = self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap();
        assert!(pair.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pair.key_pem.contains("PRIVATE KEY"));
        assert!(!format!("{pair:?}").contains("PRIVATE"));
    }
}
