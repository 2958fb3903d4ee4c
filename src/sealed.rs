//! Secrets at rest (SP private keys, later OIDC client secrets): sealed with
//! AES-256-GCM under a key derived from `secrets_key` (or the session
//! secret when no separate key is configured). Stored as
//! `v1:` + base64(nonce ‖ ciphertext ‖ tag).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};
use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct SealingKey([u8; 32]);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("no secrets_key or session_secret is configured, so secrets cannot be stored encrypted")]
    NoKey,
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value cannot be opened with the configured key (was secrets_key changed?)")]
    WrongKey,
    #[error("encryption failed: {0}")]
    Crypto(String),
}

const AAD: &[u8] = b"gatehouse-sealed-v1";

impl SealingKey {
    pub fn derive(secret: &str) -> SealingKey {
        let mut h = Sha256::new();
        h.update(b"gatehouse secrets at rest v1\0");
        h.update(secret.as_bytes());
        SealingKey(h.finalize().into())
    }

    pub fn seal(&self, plain: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; 12];
        openssl::rand::rand_bytes(&mut nonce).map_err(|e| SealError::Crypto(e.to_string()))?;
        let mut tag = [0u8; 16];
        let ct = encrypt_aead(Cipher::aes_256_gcm(), &self.0, Some(&nonce), AAD, plain, &mut tag)
            .map_err(|e| SealError::Crypto(e.to_string()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out.extend_from_slice(&tag);
        Ok(format!("v1:{}", STANDARD.encode(out)))
    }

    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SealError> {
        let raw = sealed.strip_prefix("v1:").ok_or(SealError::Malformed)?;
        let bytes = STANDARD.decode(raw).map_err(|_| SealError::Malformed)?;
        if bytes.len() < 12 + 16 {
            return Err(SealError::Malformed);
        }
        let (nonce, rest) = bytes.split_at(12);
        let (ct, tag) = rest.split_at(rest.len() - 16);
        decrypt_aead(Cipher::aes_256_gcm(), &self.0, Some(nonce), AAD, ct, tag).map_err(|_| SealError::WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let k = SealingKey::derive("one secret that is long enough....");
        let sealed = k.seal(b"private key").expect("seal");
        assert!(!sealed.contains("private"));
        assert_eq!(k.open(&sealed).expect("open"), b"private key");
        let other = SealingKey::derive("another secret that is long enough");
        assert!(matches!(other.open(&sealed), Err(SealError::WrongKey)));
        assert!(matches!(k.open("v1:!!!"), Err(SealError::Malformed)));
        // Flip one bit of the tag: authentication must fail.
        let mut raw = STANDARD.decode(sealed.trim_start_matches("v1:")).expect("base64");
        if let Some(last) = raw.last_mut() {
            *last ^= 0x01;
        }
        let tampered = format!("v1:{}", STANDARD.encode(raw));
        assert!(matches!(k.open(&tampered), Err(SealError::WrongKey)));
    }
}
