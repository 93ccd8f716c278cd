//! Key material: master-key verifiers (salted HMAC-SHA256; Argon2id PHC strings of older
//! records are still read), per-tenant store-key encryption (HKDF-SHA256 → AES-256-GCM
//! with associated data binding tenant and store), webhook signatures.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The prefix of the master-key verifiers written today.
const KEYED_PREFIX: &str = "hmac-sha256$";

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

/// How a tenant record keeps its master key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHashKind {
    /// `hmac-sha256$<salt hex>$<mac hex>`: one HMAC checks it.
    Keyed,
    /// An Argon2id PHC string written by earlier versions: checked with Argon2, then
    /// replaced by a keyed verifier.
    LegacyArgon2id,
    /// Anything else: never verifies.
    Unknown,
}

/// Which verifier `stored` is.
pub fn key_hash_kind(stored: &str) -> KeyHashKind {
    if stored.starts_with(KEYED_PREFIX) {
        KeyHashKind::Keyed
    } else if stored.starts_with("$argon2id$") {
        KeyHashKind::LegacyArgon2id
    } else {
        KeyHashKind::Unknown
    }
}

/// `hmac-sha256$<salt hex>$<mac hex>`: HMAC-SHA256 of the master key keyed by a random
/// per-record salt. Master keys carry 256 random bits, so a fast hash protects them as
/// well as a password hash and costs a bad bearer's guess no more CPU than it costs us.
pub fn keyed_master_key_hash(master_key: &str, salt: &[u8; 16]) -> String {
    let mac = keyed_mac(salt, master_key).finalize().into_bytes();
    format!("{KEYED_PREFIX}{}${}", hex::encode(salt), hex::encode(mac))
}

/// Whether `master_key` matches a [`keyed_master_key_hash`] verifier, compared in
/// constant time; anything malformed never matches.
pub fn verify_keyed_master_key(master_key: &str, stored: &str) -> bool {
    let Some((salt, mac)) = stored
        .strip_prefix(KEYED_PREFIX)
        .and_then(|rest| rest.split_once('$'))
    else {
        return false;
    };
    match (hex::decode(salt), hex::decode(mac)) {
        (Ok(salt), Ok(mac)) => keyed_mac(&salt, master_key).verify_slice(&mac).is_ok(),
        _ => false,
    }
}

fn keyed_mac(salt: &[u8], master_key: &str) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(salt).expect("HMAC takes a key of any length");
    mac.update(master_key.as_bytes());
    mac
}

/// Argon2id PHC string for a master key (OWASP's minimum parameters are the crate default:
/// 19 MiB, 2 passes, 1 lane). Legacy: records are no longer written this way; kept to
/// build such records in tests and tools.
pub fn hash_master_key(master_key: &str, salt: &[u8; 16]) -> Result<String, CryptoError> {
    let salt = SaltString::encode_b64(salt).map_err(|e| CryptoError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(master_key.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CryptoError::Hash(e.to_string()))
}

/// Constant-time verification against a legacy Argon2id PHC string (slow on purpose:
/// callers rate-limit failures).
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

/// The key that wraps store API keys for unattended use (background sync, webhook
/// verification): HKDF-SHA256 of the server's unattended secret.
pub fn unattended_key(secret: &str) -> [u8; 32] {
    let hk = Hkdf::<Sha256>::new(Some(b"orderdesk-mcp/unattended"), secret.as_bytes());
    let mut okm = [0u8; 32];
    hk.expand(b"orderdesk-mcp/unattended-store-key/v1", &mut okm)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    okm
}

/// A short public name of an unattended secret, so a record says which secret sealed it
/// (and a rotation knows what to re-wrap) without revealing anything about the secret.
pub fn secret_id(secret: &str) -> String {
    let hk = Hkdf::<Sha256>::new(Some(b"orderdesk-mcp/secret-id"), secret.as_bytes());
    let mut id = [0u8; 8];
    hk.expand(b"id", &mut id)
        .expect("8 bytes is a valid HKDF output length");
    hex::encode(id)
}

/// Associated data of an unattended copy: it opens only for its tenant and store.
pub fn unattended_associated_data(tenant_id: &str, store_id: &str) -> Vec<u8> {
    format!("orderdesk-mcp/unattended/v1|tenant={tenant_id}|store={store_id}").into_bytes()
}

/// Whether `signature_hex` is the hex HMAC-SHA256 of `body` keyed by `api_key`, as
/// OrderDesk signs webhooks (`X-ORDER-DESK-HASH`). The comparison takes the same time
/// wherever the bytes differ.
pub fn webhook_signature_matches(api_key: &str, body: &[u8], signature_hex: &str) -> bool {
    let Ok(signature) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let mut mac = <HmacSha256 as Mac>::new_from_slice(api_key.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// Fast fingerprint of a high-entropy secret, for lookups (never for passwords).
pub fn fingerprint(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HMAC-SHA256 test vector 2 of RFC 4231 (key "Jefe").
    #[test]
    fn webhook_signatures_follow_hmac_sha256() {
        let body = b"what do ya want for nothing?";
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert!(webhook_signature_matches("Jefe", body, expected));
        assert!(webhook_signature_matches(
            "Jefe",
            body,
            &expected.to_uppercase()
        ));
        let mut wrong = expected.to_string();
        wrong.replace_range(63.., "4");
        assert!(!webhook_signature_matches("Jefe", body, &wrong));
        assert!(!webhook_signature_matches("jefe", body, expected));
        assert!(!webhook_signature_matches(
            "Jefe",
            b"what do ya want for nothing!",
            expected
        ));
        assert!(!webhook_signature_matches("Jefe", body, &expected[..62]));
        assert!(!webhook_signature_matches("Jefe", body, "not hex"));
        assert!(!webhook_signature_matches("Jefe", body, ""));
    }

    #[test]
    fn unattended_keys_and_ids_depend_on_the_secret() {
        assert_eq!(unattended_key("a"), unattended_key("a"));
        assert_ne!(unattended_key("a"), unattended_key("b"));
        assert_ne!(
            unattended_key("a"),
            derive_key("a", b"orderdesk-mcp/unattended")
        );
        assert_eq!(secret_id("a").len(), 16);
        assert_ne!(secret_id("a"), secret_id("b"));
        assert!(!secret_id("a").contains(&hex::encode(unattended_key("a"))[..16]));
    }

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
    fn keyed_master_key_hash_verifies_only_the_right_key() {
        let key = format!("odmk_0123456789abcdef_{}", "a".repeat(64));
        let stored = keyed_master_key_hash(&key, &[3; 16]);
        assert!(stored.starts_with("hmac-sha256$03030303"), "{stored}");
        assert_eq!(stored.split('$').count(), 3);
        assert!(!stored.contains(&"a".repeat(64)));
        assert_eq!(key_hash_kind(&stored), KeyHashKind::Keyed);
        assert!(verify_keyed_master_key(&key, &stored));
        // Every single-character change of the key is refused.
        for i in 0..key.len() {
            let mut wrong = key.clone().into_bytes();
            wrong[i] = if wrong[i] == b'b' { b'c' } else { b'b' };
            let wrong = String::from_utf8(wrong).unwrap();
            assert!(!verify_keyed_master_key(&wrong, &stored), "{i}");
        }
        // Another salt makes another verifier for the same key.
        assert_ne!(keyed_master_key_hash(&key, &[4; 16]), stored);
        for broken in [
            "",
            "hmac-sha256$",
            "hmac-sha256$zz$00",
            &stored[..stored.len() - 2],
            &stored.replace("hmac-sha256", "hmac-sha512"),
        ] {
            assert!(!verify_keyed_master_key(&key, broken), "{broken}");
        }
    }

    #[test]
    fn verifier_kinds() {
        let phc = hash_master_key("odmk_abc_secret", &[1; 16]).unwrap();
        assert_eq!(key_hash_kind(&phc), KeyHashKind::LegacyArgon2id);
        assert_eq!(key_hash_kind("plain"), KeyHashKind::Unknown);
        assert_eq!(key_hash_kind("$argon2i$v=19$x"), KeyHashKind::Unknown);
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
