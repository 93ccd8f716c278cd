//! Key material: master keys (Argon2id hashes only), per-tenant store-key encryption
//! (HKDF-SHA256 → AES-256-GCM with associated data binding tenant and store).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

/// Why a cryptographic operation failed. Deliberately vague: callers learn nothing about
/// which byte was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("ciphertext could not be decrypted (wrong key, tampered, or moved)")]
    Decrypt,
    #[error("malformed stored secret")]
    Malformed,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Argon2id PHC string for a master key (OWASP's minimum parameters are the crate default:
/// 19 MiB, 2 passes, 1 lane).
pub fn hash_master_key(master_key: &str, salt: &[u8; 16]) -> Result<String, CryptoError> {
    let salt = SaltString::encode_b64(salt).map_err(|e| CryptoError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(master_key.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CryptoError::Hash(e.to_string()))
}

/// Constant-time verification against a stored PHC string.
pub fn verify_master_key(master_key: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(master_key.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The tenant's store-key encryption key: HKDF-SHA256(master key, tenant salt).
pub fn derive_key(master_key: &str, salt: &[u8]) -> [u8; 32] {
    let hk = Hkdf::<Sha256>::new(Some(salt), master_key.as_bytes());
    let mut okm = [0u8; 32];
    hk.expand(b"orderdesk-mcp/store-api-key/v1", &mut okm)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    okm
}

/// Associated data: a ciphertext only opens for the tenant and store it was sealed for.
pub fn associated_data(tenant_id: &str, store_id: &str) -> Vec<u8> {
    format!("orderdesk-mcp/v1|tenant={tenant_id}|store={store_id}").into_bytes()
}

/// AES-256-GCM; returns hex of `nonce || ciphertext+tag`.
pub fn seal(key: &[u8; 32], nonce: &[u8; 12], plaintext: &[u8], aad: &[u8]) -> String {
    let cipher = Aes256Gcm::new(key.into());
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encryption of a short message cannot fail");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    hex::encode(out)
}

/// Inverse of [`seal`].
pub fn open(key: &[u8; 32], sealed_hex: &str, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let bytes = hex::decode(sealed_hex).map_err(|_| CryptoError::Malformed)?;
    if bytes.len() < 12 + 16 {
        return Err(CryptoError::Malformed);
    }
    let (nonce, ciphertext) = bytes.split_at(12);
    Aes256Gcm::new(key.into())
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Decrypt)
}

/// Fast fingerprint of a high-entropy secret, for lookups (never for passwords).
pub fn fingerprint(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: [u8; 12] = [7; 12];

    #[test]
    fn master_key_hash_verifies_only_the_right_key() {
        let phc = hash_master_key("odmk_abc_secret", &[1; 16]).unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(!phc.contains("secret"));
        assert!(verify_master_key("odmk_abc_secret", &phc));
        assert!(!verify_master_key("odmk_abc_secreT", &phc));
        assert!(!verify_master_key("odmk_abc_secret", "not a phc string"));
    }

    #[test]
    fn round_trip() {
        let key = derive_key("master", b"salt-1");
        let aad = associated_data("t1", "s1");
        let sealed = seal(&key, &NONCE, b"api-key-123", &aad);
        assert!(!sealed.contains(&hex::encode(b"api-key-123")));
        assert_eq!(open(&key, &sealed, &aad).unwrap(), b"api-key-123");
    }

    #[test]
    fn tampered_ciphertext_is_refused() {
        let key = derive_key("master", b"salt-1");
        let aad = associated_data("t1", "s1");
        let sealed = seal(&key, &NONCE, b"api-key-123", &aad);
        let mut bytes = hex::decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            open(&key, &hex::encode(&bytes), &aad),
            Err(CryptoError::Decrypt)
        );
        let mut bytes = hex::decode(&sealed).unwrap();
        bytes[14] ^= 0x80; // a ciphertext byte, not the tag
        assert_eq!(
            open(&key, &hex::encode(&bytes), &aad),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(open(&key, "zz", &aad), Err(CryptoError::Malformed));
        assert_eq!(open(&key, &sealed[..20], &aad), Err(CryptoError::Malformed));
    }

    #[test]
    fn wrong_tenant_key_is_refused() {
        let aad = associated_data("t1", "s1");
        let sealed = seal(&derive_key("master-a", b"salt"), &NONCE, b"k", &aad);
        assert_eq!(
            open(&derive_key("master-b", b"salt"), &sealed, &aad),
            Err(CryptoError::Decrypt)
        );
        // Same master key, other tenant salt: another key.
        assert_eq!(
            open(&derive_key("master-a", b"salt2"), &sealed, &aad),
            Err(CryptoError::Decrypt)
        );
    }

    #[test]
    fn swapped_associated_data_is_refused() {
        let key = derive_key("master", b"salt");
        let sealed = seal(&key, &NONCE, b"k", &associated_data("t1", "s1"));
        assert_eq!(
            open(&key, &sealed, &associated_data("t1", "s2")),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(
            open(&key, &sealed, &associated_data("t2", "s1")),
            Err(CryptoError::Decrypt)
        );
    }

    #[test]
    fn derivation_is_deterministic_and_salted() {
        assert_eq!(derive_key("m", b"s"), derive_key("m", b"s"));
        assert_ne!(derive_key("m", b"s"), derive_key("m", b"t"));
        assert_ne!(fingerprint("a"), fingerprint("b"));
    }
}
