/// A cryptographic operation failed. Deliberately carries no detail: telling a caller
/// *why* authenticated decryption failed helps an attacker and nobody else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("decryption failed: wrong key, wrong context, or tampered ciphertext")]
    Decrypt,
    #[error("ciphertext is malformed or of an unknown version")]
    Malformed,
}
