//! Identifiers. Every id is lowercase (compat): pod ids are 14 characters of `[a-z0-9]`,
//! machine ids 12; each machine also carries 8 hex characters used in `podHostId`.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn random_token(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Length of every generated id of this kind.
            pub const LEN: usize = $len;

            /// A fresh random id.
            pub fn generate() -> Self {
                Self(random_token(Self::LEN))
            }

            /// Wraps an id received from a client or the store, as it is. Ids that were never
            /// generated simply match nothing.
            pub fn new(raw: impl Into<String>) -> Self {
                Self(raw.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A pod's id, 14 characters.
    PodId,
    14
);
id_type!(
    /// A machine's id, 12 characters.
    MachineId,
    12
);
id_type!(
    /// A user's id, 14 characters prefixed by nothing: users are never shown to others.
    UserId,
    14
);

/// 8 random lowercase hex characters, the machine part of a `podHostId`.
pub fn generate_host_hex() -> String {
    let mut rng = rand::rng();
    format!("{:08x}", rng.random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_lowercase_alphanumeric_of_fixed_length() {
        for _ in 0..100 {
            let pod = PodId::generate();
            assert_eq!(pod.as_str().len(), 14);
            assert!(pod
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
            assert_eq!(MachineId::generate().as_str().len(), 12);
            let hex = generate_host_hex();
            assert_eq!(hex.len(), 8);
            assert!(hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
    }
}
