//! Users and their API keys. Keys are stored as SHA-256 hashes only; the plain key exists
//! once, in the answer to the command that created it.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::UserId;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub email: String,
    /// SSH public key handed to pods started with `startSsh`.
    pub pub_key: String,
    /// The operator's user, created at first start; may add users.
    #[serde(default)]
    pub admin: bool,
    pub created_at: DateTime<Utc>,
}

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyAccess {
    ReadWrite,
    ReadOnly,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Lowercase hex SHA-256 of the key.
    pub hash: String,
    pub user_id: UserId,
    pub access: KeyAccess,
    pub created_at: DateTime<Utc>,
}

/// A new random key: a recognisable prefix and 40 characters of `[A-Z0-9]`.
pub fn generate_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    let body: String = (0..40)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("pyd_{body}")
}

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A random password for Jupyter, generated when the user gives none.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_hash_deterministically() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a, b);
        assert_eq!(hash_key(&a), hash_key(&a));
        assert_ne!(hash_key(&a), hash_key(&b));
        assert_eq!(hash_key(&a).len(), 64);
    }
}
