//! Sealing `snaptrade_users.snaptrade_user_secret`: AES-256-GCM under a key from `TRIBUTARY_SECRET_KEY`.
//!
//! A sealed value is text: `v1:<key id>:<base64 of nonce || ciphertext || tag>`. The nonce is 96 random bits,
//! fresh for every seal. The key id is configured (`TRIBUTARY_SECRET_KEY_ID`, e.g. `k2`) or, when it is not,
//! derived from the key (the first 8 hex digits of a SHA-256 over a label and the key), so it names a key without
//! revealing it. The authenticated data binds
//! the value to its header and to the user who owns it: a sealed secret copied onto another user's row does not
//! open.
//!
//! Keys rotate through the [`Keyring`]: it seals under its current key and opens values sealed under any key it
//! holds, so old rows keep working after `TRIBUTARY_SECRET_KEY` changes as long as the old key is listed in
//! `TRIBUTARY_SECRET_KEYS_PREVIOUS` (comma-separated, each `<key id>:<base64>`, or bare `<base64>` for a derived
//! id). Rows are re-sealed under the current key the next time they are written, or all at once by
//! [`crate::SecretRepository::reseal_secrets`], after which the old key can be dropped from the keyring.
//!
//! Key material is zeroized when dropped: the key bytes live in a [`SecretBox`], and the AES key schedule and
//! GHASH key derivation of every cipher built from them are zeroized (`aes` and `aes-gcm` are built with their
//! `zeroize` features).

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use tributary_domain::{ProviderItemId, SnapTradeUserSecret, UserId};

/// The format tag at the start of every sealed value.
const FORMAT: &str = "v1";
/// Bytes in an AES-GCM nonce.
const NONCE_BYTES: usize = 12;
/// Bytes in an AES-GCM authentication tag.
const TAG_BYTES: usize = 16;

/// Why a key could not be loaded or a secret could not be sealed or opened. Never carries key material or a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The environment variable holding the key is not set.
    #[error(
        "{variable} is not set: it must hold a 32-byte key in base64 (e.g. `openssl rand -base64 32`)"
    )]
    MissingKey {
        /// The variable, e.g. `"TRIBUTARY_SECRET_KEY"`.
        variable: &'static str,
    },
    /// A key that is not 32 bytes of base64.
    #[error("{source_name} is not a usable key: {reason}")]
    InvalidKey {
        /// Where the key came from (an environment variable, or `"key"` when built in code).
        source_name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not a sealed value of a format this crate writes.
    #[error("snaptrade_user_secret is not a sealed value: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Sealed under a key the keyring does not hold: add it to `TRIBUTARY_SECRET_KEYS_PREVIOUS`.
    #[error(
        "snaptrade_user_secret was sealed under key {key_id}, which this keyring does not hold"
    )]
    UnknownKey {
        /// The key id written in the sealed value.
        key_id: String,
    },
    /// The value does not open under the key it names: it was tampered with, sealed for another user, or sealed
    /// under a different key that happens to share the id.
    #[error(
        "snaptrade_user_secret does not open under key {key_id}: tampered, or sealed for another user"
    )]
    Unopenable {
        /// The key id written in the sealed value.
        key_id: String,
    },
}

/// A 32-byte AES-256 key. `Debug` shows only its id; the bytes are zeroed when dropped.
pub struct SecretKey {
    id: String,
    bytes: SecretBox<[u8; 32]>,
}

impl SecretKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let id = key_id(&bytes);
        Self {
            id,
            bytes: SecretBox::new(Box::new(bytes)),
        }
    }

    /// A key from base64 text (standard alphabet, padded), as `TRIBUTARY_SECRET_KEY` holds it.
    ///
    /// # Errors
    /// [`SecretError::InvalidKey`] when the text is not base64 or not 32 bytes.
    pub fn from_base64(text: &SecretString) -> Result<Self, SecretError> {
        Self::decode(text, "key")
    }

    /// A fresh random key (for tests and for generating a first key).
    pub fn generate() -> Self {
        Self::from_bytes(Aes256Gcm::generate_key(&mut OsRng).into())
    }

    /// The key's id as written into sealed values: the configured one, or 8 hex digits derived from the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The same key under a configured id: 1 to 32 ASCII letters, digits, `-` or `_`.
    ///
    /// # Errors
    /// [`SecretError::InvalidKey`] when the id is empty, too long or has other characters.
    pub fn with_id(self, id: &str) -> Result<Self, SecretError> {
        self.with_id_from(id, "key id")
    }

    fn with_id_from(mut self, id: &str, source_name: &str) -> Result<Self, SecretError> {
        let valid = (1..=32).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(SecretError::InvalidKey {
                source_name: source_name.to_owned(),
                reason: "a key id is 1 to 32 ASCII letters, digits, '-' or '_'",
            });
        }
        self.id = id.to_owned();
        Ok(self)
    }

    fn decode(text: &SecretString, source_name: &str) -> Result<Self, SecretError> {
        let invalid = |reason| SecretError::InvalidKey {
            source_name: source_name.to_owned(),
            reason,
        };
        let decoded = Zeroizing::new(
            BASE64
                .decode(text.expose_secret().trim())
                .map_err(|_| invalid("not base64"))?,
        );
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| invalid("must decode to exactly 32 bytes"))?;
        Ok(Self::from_bytes(bytes))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.bytes.expose_secret()))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey {{ id: {:?}, bytes: [REDACTED] }}", self.id)
    }
}

/// The key id: enough of a keyed-by-label SHA-256 to tell keys apart, too little to say anything about the key.
fn key_id(bytes: &[u8; 32]) -> String {
    let digest = Sha256::new()
        .chain_update(b"tributary secret key id\0")
        .chain_update(bytes)
        .finalize();
    digest[..4]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The keys that seal and open SnapTrade user secrets: one current key, which seals, and any previous keys,
/// which only open. `Debug` shows key ids only.
#[derive(Debug)]
pub struct Keyring {
    current: SecretKey,
    previous: Vec<SecretKey>,
}

impl Keyring {
    /// The variable holding the current key: 32 bytes in base64.
    pub const KEY_VARIABLE: &'static str = "TRIBUTARY_SECRET_KEY";
    /// The optional variable naming the current key's id (otherwise derived from the key).
    pub const KEY_ID_VARIABLE: &'static str = "TRIBUTARY_SECRET_KEY_ID";
    /// The optional variable holding older keys that still open values sealed before a rotation:
    /// comma-separated, each `<key id>:<base64>` or bare `<base64>` (derived id).
    pub const PREVIOUS_KEYS_VARIABLE: &'static str = "TRIBUTARY_SECRET_KEYS_PREVIOUS";

    /// A keyring that seals and opens under `current` alone (the test and embedding constructor).
    pub fn new(current: SecretKey) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    /// Adds an older key that opens values but never seals.
    ///
    /// # Errors
    /// [`SecretError::InvalidKey`] when the keyring already holds a key with the same id.
    pub fn with_previous(mut self, key: SecretKey) -> Result<Self, SecretError> {
        if self.keys().any(|held| held.id == key.id) {
            return Err(SecretError::InvalidKey {
                source_name: format!("key {}", key.id),
                reason: "the keyring already holds a key with this id",
            });
        }
        self.previous.push(key);
        Ok(self)
    }

    /// The keyring from [`Self::KEY_VARIABLE`], [`Self::KEY_ID_VARIABLE`] and [`Self::PREVIOUS_KEYS_VARIABLE`].
    ///
    /// # Errors
    /// [`SecretError::MissingKey`] or [`SecretError::InvalidKey`], naming the variable.
    pub fn from_env() -> Result<Self, SecretError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The keyring from any variable lookup (the environment, a config map in tests).
    ///
    /// # Errors
    /// As [`Self::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SecretError> {
        let current = lookup(Self::KEY_VARIABLE)
            .filter(|value| !value.trim().is_empty())
            .ok_or(SecretError::MissingKey {
                variable: Self::KEY_VARIABLE,
            })?;
        let mut key = SecretKey::decode(&SecretString::from(current), Self::KEY_VARIABLE)?;
        if let Some(id) = lookup(Self::KEY_ID_VARIABLE).filter(|id| !id.trim().is_empty()) {
            key = key.with_id_from(id.trim(), Self::KEY_ID_VARIABLE)?;
        }
        let mut keyring = Self::new(key);
        let previous = SecretString::from(lookup(Self::PREVIOUS_KEYS_VARIABLE).unwrap_or_default());
        for entry in previous.expose_secret().split(',') {
            if !entry.trim().is_empty() {
                keyring = keyring.with_previous(previous_key(entry.trim())?)?;
            }
        }
        Ok(keyring)
    }

    /// The id of the key new values are sealed under.
    pub fn current_key_id(&self) -> &str {
        self.current.id()
    }

    /// Seals `secret` for `owner` under the current key, with a fresh random nonce.
    pub fn seal(&self, secret: &SnapTradeUserSecret, owner: UserId) -> String {
        self.seal_bytes(
            SNAPTRADE_USER_SECRET,
            secret.expose_secret().as_bytes(),
            owner,
        )
    }

    /// Opens a value sealed for `owner` by [`Self::seal`] under any key this keyring holds.
    ///
    /// # Errors
    /// [`SecretError::Malformed`], [`SecretError::UnknownKey`] or [`SecretError::Unopenable`].
    pub fn open(&self, sealed: &str, owner: UserId) -> Result<SnapTradeUserSecret, SecretError> {
        let plaintext = self.open_bytes(SNAPTRADE_USER_SECRET, sealed, owner)?;
        let unopenable = || SecretError::Unopenable {
            key_id: sealed.split(':').nth(1).unwrap_or_default().to_owned(),
        };
        let text = std::str::from_utf8(&plaintext).map_err(|_| unopenable())?;
        SnapTradeUserSecret::new(SecretString::from(text)).map_err(|_| unopenable())
    }

    /// Seals a Plaid Item's access token for `owner` and `item` under the current key: the value opens only for
    /// that owner, that Item and `plaid_items.access_token_encrypted`.
    pub fn seal_plaid_access_token(
        &self,
        token: &SecretString,
        owner: UserId,
        item: &ProviderItemId,
    ) -> String {
        self.seal_bytes(
            &plaid_access_token_context(item),
            token.expose_secret().as_bytes(),
            owner,
        )
    }

    /// Opens a value sealed by [`Self::seal_plaid_access_token`] for the same owner and Item.
    ///
    /// # Errors
    /// [`SecretError::Malformed`], [`SecretError::UnknownKey`] or [`SecretError::Unopenable`] (tampered, or
    /// sealed for another owner or Item).
    pub fn open_plaid_access_token(
        &self,
        sealed: &str,
        owner: UserId,
        item: &ProviderItemId,
    ) -> Result<SecretString, SecretError> {
        let plaintext = self.open_bytes(&plaid_access_token_context(item), sealed, owner)?;
        let text = std::str::from_utf8(&plaintext).map_err(|_| SecretError::Unopenable {
            key_id: sealed.split(':').nth(1).unwrap_or_default().to_owned(),
        })?;
        Ok(SecretString::from(text))
    }

    /// The value sealed for `owner` in `column` (`"<table>.<column>"`, part of what the tag authenticates), sealed
    /// again under the current key; `None` when it is under the current key already. The owner binding is kept:
    /// the new value opens for `owner` only, in `column` only. The plaintext never leaves this function unzeroized.
    ///
    /// # Errors
    /// As [`Self::open`]: a value that does not open under a key this keyring holds is not re-sealed.
    pub fn reseal(
        &self,
        column: &str,
        sealed: &str,
        owner: UserId,
    ) -> Result<Option<String>, SecretError> {
        if !self.needs_reseal(sealed) {
            return Ok(None);
        }
        let plaintext = self.open_bytes(column, sealed, owner)?;
        Ok(Some(self.seal_bytes(column, &plaintext, owner)))
    }

    fn seal_bytes(&self, column: &str, plaintext: &[u8], owner: UserId) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let header = header(&self.current.id);
        let aad = associated_data(column, &header, owner);
        let ciphertext = self
            .current
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            // AES-GCM refuses only messages beyond 64 GiB; a sealed secret is a few dozen bytes.
            .expect("AES-256-GCM seals any message under 64 GiB");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        format!("{header}:{}", BASE64.encode(sealed))
    }

    fn open_bytes(
        &self,
        column: &str,
        sealed: &str,
        owner: UserId,
    ) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let malformed = |reason| SecretError::Malformed { reason };
        let mut parts = sealed.splitn(3, ':');
        let (format, key_id, body) = match (parts.next(), parts.next(), parts.next()) {
            (Some(format), Some(key_id), Some(body)) => (format, key_id, body),
            _ => return Err(malformed("expected v1:<key id>:<base64>")),
        };
        if format != FORMAT {
            return Err(malformed("unknown format version"));
        }
        let key =
            self.keys()
                .find(|key| key.id == key_id)
                .ok_or_else(|| SecretError::UnknownKey {
                    key_id: key_id.to_owned(),
                })?;
        let bytes = BASE64.decode(body).map_err(|_| malformed("not base64"))?;
        if bytes.len() < NONCE_BYTES + TAG_BYTES {
            return Err(malformed("too short to hold a nonce and a tag"));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let aad = associated_data(column, &header(key_id), owner);
        key.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SecretError::Unopenable {
                key_id: key_id.to_owned(),
            })
    }

    /// Whether a sealed value is under an older key and should be re-sealed under the current one.
    pub fn needs_reseal(&self, sealed: &str) -> bool {
        sealed.split(':').nth(1) != Some(self.current.id())
    }

    /// The MAC that keys holdings' content digests (migration 0012): HMAC-SHA256 under a key derived from the
    /// current key, so a client that can write its own holdings rows cannot compute one. A rotation changes every
    /// digest, which costs each user one full comparison on their next sync, not a rewrite of their rows.
    pub(crate) fn holdings_digest_mac(&self) -> Hmac<Sha256> {
        let derived: Zeroizing<[u8; 32]> = Zeroizing::new(
            hmac_sha256(self.current.bytes.expose_secret())
                .chain_update(b"tributary holdings content digest v1")
                .finalize()
                .into_bytes()
                .into(),
        );
        hmac_sha256(derived.as_slice())
    }

    fn keys(&self) -> impl Iterator<Item = &SecretKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }
}

fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length")
}

/// One entry of [`Keyring::PREVIOUS_KEYS_VARIABLE`]: base64 never contains `:`, so a colon means an id.
fn previous_key(entry: &str) -> Result<SecretKey, SecretError> {
    let source = Keyring::PREVIOUS_KEYS_VARIABLE;
    match entry.split_once(':') {
        Some((id, key)) => {
            SecretKey::decode(&SecretString::from(key), source)?.with_id_from(id, source)
        }
        None => SecretKey::decode(&SecretString::from(entry), source),
    }
}

fn header(key_id: &str) -> String {
    format!("{FORMAT}:{key_id}")
}

/// The sealed column SnapTrade user secrets live in, as the tag authenticates it.
pub const SNAPTRADE_USER_SECRET: &str = "snaptrade_users.snaptrade_user_secret";

/// The sealed column Plaid Items' access tokens live in.
pub const PLAID_ACCESS_TOKEN: &str = "plaid_items.access_token_encrypted";

/// What a Plaid access token's tag authenticates as its column: the column and the Item, length-prefixed so no
/// Item id can pose as another binding.
pub(crate) fn plaid_access_token_context(item: &ProviderItemId) -> String {
    format!(
        "{PLAID_ACCESS_TOKEN}#{}:{}",
        item.as_str().len(),
        item.as_str()
    )
}

/// What the tag authenticates besides the secret: the column (so a value cannot be moved to another sealed
/// column), the header (so a key id cannot be swapped) and the row's owner (so a sealed value cannot be moved to
/// another user).
fn associated_data(column: &str, header: &str, owner: UserId) -> String {
    format!("{column}:{header}:{owner}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAINTEXT: &str = "5f0a7b3e-secret-from-snaptrade";

    fn secret() -> SnapTradeUserSecret {
        SnapTradeUserSecret::new(SecretString::from(PLAINTEXT)).unwrap()
    }

    fn base64_key(byte: u8) -> String {
        BASE64.encode([byte; 32])
    }

    #[test]
    fn a_sealed_secret_opens_to_the_same_secret_and_holds_no_plaintext() {
        let keyring = Keyring::new(SecretKey::generate());
        let owner = UserId::generate();
        let sealed = keyring.seal(&secret(), owner);
        assert!(!sealed.contains(PLAINTEXT));
        assert!(sealed.starts_with(&format!("v1:{}:", keyring.current_key_id())));
        assert_eq!(
            keyring.open(&sealed, owner).unwrap().expose_secret(),
            PLAINTEXT
        );
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let keyring = Keyring::new(SecretKey::generate());
        let owner = UserId::generate();
        assert_ne!(
            keyring.seal(&secret(), owner),
            keyring.seal(&secret(), owner)
        );
    }

    #[test]
    fn a_value_sealed_under_an_unknown_key_names_that_key() {
        let sealed =
            Keyring::new(SecretKey::from_bytes([1; 32])).seal(&secret(), UserId::generate());
        let other = Keyring::new(SecretKey::from_bytes([2; 32]));
        let error = other.open(&sealed, UserId::generate()).unwrap_err();
        assert_eq!(
            error,
            SecretError::UnknownKey {
                key_id: SecretKey::from_bytes([1; 32]).id().to_owned()
            }
        );
    }

    #[test]
    fn a_tampered_value_does_not_open() {
        let keyring = Keyring::new(SecretKey::generate());
        let owner = UserId::generate();
        let sealed = keyring.seal(&secret(), owner);
        let (head, body) = sealed.rsplit_once(':').unwrap();
        let mut bytes = BASE64.decode(body).unwrap();
        bytes[NONCE_BYTES] ^= 1;
        let tampered = format!("{head}:{}", BASE64.encode(bytes));
        assert!(matches!(
            keyring.open(&tampered, owner),
            Err(SecretError::Unopenable { .. })
        ));
    }

    #[test]
    fn a_value_moved_to_another_users_row_does_not_open() {
        let keyring = Keyring::new(SecretKey::generate());
        let sealed = keyring.seal(&secret(), UserId::generate());
        assert!(matches!(
            keyring.open(&sealed, UserId::generate()),
            Err(SecretError::Unopenable { .. })
        ));
    }

    #[test]
    fn plaintext_in_the_column_is_malformed_not_a_secret() {
        let keyring = Keyring::new(SecretKey::generate());
        for stored in [PLAINTEXT, "v2:abcd:AAAA", "v1:only-two-parts"] {
            assert!(
                matches!(
                    keyring.open(stored, UserId::generate()),
                    Err(SecretError::Malformed { .. })
                ),
                "{stored}"
            );
        }
    }

    #[test]
    fn after_a_rotation_old_values_open_and_new_ones_use_the_new_key() {
        let owner = UserId::generate();
        let old = Keyring::new(SecretKey::from_bytes([1; 32]));
        let sealed_before = old.seal(&secret(), owner);
        let rotated = Keyring::new(SecretKey::from_bytes([2; 32]))
            .with_previous(SecretKey::from_bytes([1; 32]))
            .unwrap();
        assert_eq!(
            rotated.open(&sealed_before, owner).unwrap().expose_secret(),
            PLAINTEXT
        );
        assert!(rotated.needs_reseal(&sealed_before));
        let sealed_after = rotated.seal(&secret(), owner);
        assert!(!rotated.needs_reseal(&sealed_after));
        assert!(matches!(
            old.open(&sealed_after, owner),
            Err(SecretError::UnknownKey { .. })
        ));
    }

    #[test]
    fn a_reseal_moves_a_value_to_the_current_key_for_the_same_owner_and_column_only() {
        let owner = UserId::generate();
        let old = Keyring::new(SecretKey::from_bytes([1; 32]));
        let sealed_before = old.seal(&secret(), owner);
        let rotated = Keyring::new(SecretKey::from_bytes([2; 32]))
            .with_previous(SecretKey::from_bytes([1; 32]))
            .unwrap();

        let resealed = rotated
            .reseal(SNAPTRADE_USER_SECRET, &sealed_before, owner)
            .unwrap()
            .expect("a value under the old key is re-sealed");

        let new_only = Keyring::new(SecretKey::from_bytes([2; 32]));
        assert_eq!(
            new_only.open(&resealed, owner).unwrap().expose_secret(),
            PLAINTEXT
        );
        assert!(matches!(
            new_only.open(&resealed, UserId::generate()),
            Err(SecretError::Unopenable { .. })
        ));
        assert!(matches!(
            new_only.open_bytes(
                "user_investment_accounts.access_token_encrypted",
                &resealed,
                owner
            ),
            Err(SecretError::Unopenable { .. })
        ));
        assert_eq!(
            rotated.reseal(SNAPTRADE_USER_SECRET, &resealed, owner),
            Ok(None),
            "a value under the current key is left as it is"
        );
    }

    #[test]
    fn a_plaid_access_token_opens_only_for_its_owner_and_item() {
        let keyring = Keyring::new(SecretKey::generate());
        let owner = UserId::generate();
        let item = ProviderItemId::parse("eVBnVMp7zdTJLkRNr33Rs6zr7KNJqBFL9DrE6").unwrap();
        let token = SecretString::from("access-sandbox-de3ce8ef-33f8-452c-a685-8671031fc0f6");
        let sealed = keyring.seal_plaid_access_token(&token, owner, &item);
        assert!(!sealed.contains("access-sandbox"));
        assert_eq!(
            keyring
                .open_plaid_access_token(&sealed, owner, &item)
                .unwrap()
                .expose_secret(),
            token.expose_secret()
        );
        let other_item = ProviderItemId::parse("another-item").unwrap();
        for (who, which) in [(UserId::generate(), &item), (owner, &other_item)] {
            assert!(matches!(
                keyring.open_plaid_access_token(&sealed, who, which),
                Err(SecretError::Unopenable { .. })
            ));
        }
        assert!(matches!(
            keyring.open(&sealed, owner),
            Err(SecretError::Unopenable { .. })
        ));
    }

    #[test]
    fn a_value_under_a_key_no_longer_held_is_not_resealed() {
        let owner = UserId::generate();
        let sealed = Keyring::new(SecretKey::from_bytes([1; 32])).seal(&secret(), owner);
        let without_it = Keyring::new(SecretKey::from_bytes([2; 32]));
        assert!(matches!(
            without_it.reseal(SNAPTRADE_USER_SECRET, &sealed, owner),
            Err(SecretError::UnknownKey { .. })
        ));
    }

    #[test]
    fn key_material_and_every_cipher_built_from_it_are_zeroized_on_drop() {
        fn zeroized_on_drop<T: secrecy::zeroize::ZeroizeOnDrop>() {}
        zeroized_on_drop::<SecretBox<[u8; 32]>>();
        zeroized_on_drop::<aes::Aes256>();
    }

    #[test]
    fn the_keyring_reads_current_and_previous_keys_from_the_environment() {
        let keyring = Keyring::from_lookup(|name| match name {
            "TRIBUTARY_SECRET_KEY" => Some(base64_key(2)),
            "TRIBUTARY_SECRET_KEYS_PREVIOUS" => {
                Some(format!("{}, {}", base64_key(1), base64_key(0)))
            }
            _ => None,
        })
        .unwrap();
        assert_eq!(
            keyring.current_key_id(),
            SecretKey::from_bytes([2; 32]).id()
        );
        assert_eq!(keyring.previous.len(), 2);
    }

    #[test]
    fn configured_key_ids_are_written_and_used_to_open_after_a_rotation() {
        let owner = UserId::generate();
        let before = Keyring::from_lookup(|name| match name {
            "TRIBUTARY_SECRET_KEY" => Some(base64_key(1)),
            "TRIBUTARY_SECRET_KEY_ID" => Some("k1".to_owned()),
            _ => None,
        })
        .unwrap();
        let sealed = before.seal(&secret(), owner);
        assert!(sealed.starts_with("v1:k1:"), "{sealed}");

        let after = Keyring::from_lookup(|name| match name {
            "TRIBUTARY_SECRET_KEY" => Some(base64_key(2)),
            "TRIBUTARY_SECRET_KEY_ID" => Some("k2".to_owned()),
            "TRIBUTARY_SECRET_KEYS_PREVIOUS" => Some(format!("k1:{}", base64_key(1))),
            _ => None,
        })
        .unwrap();
        assert_eq!(after.current_key_id(), "k2");
        assert_eq!(
            after.open(&sealed, owner).unwrap().expose_secret(),
            PLAINTEXT
        );
        assert!(after.needs_reseal(&sealed));
    }

    #[test]
    fn a_key_id_with_a_colon_or_nothing_in_it_is_refused_naming_the_variable() {
        for id in ["k:1", "   x y", &"k".repeat(33)] {
            let error = Keyring::from_lookup(|name| match name {
                "TRIBUTARY_SECRET_KEY" => Some(base64_key(1)),
                "TRIBUTARY_SECRET_KEY_ID" => Some(id.to_owned()),
                _ => None,
            })
            .unwrap_err();
            assert!(
                matches!(&error, SecretError::InvalidKey { source_name, .. } if source_name == "TRIBUTARY_SECRET_KEY_ID"),
                "{id}: {error:?}"
            );
        }
    }

    #[test]
    fn a_missing_key_names_the_variable() {
        let error = Keyring::from_lookup(|_| None).unwrap_err();
        assert_eq!(
            error,
            SecretError::MissingKey {
                variable: "TRIBUTARY_SECRET_KEY"
            }
        );
        assert!(error.to_string().contains("TRIBUTARY_SECRET_KEY"));
    }

    #[test]
    fn a_short_or_non_base64_key_names_the_variable_without_echoing_it() {
        for bad in [BASE64.encode([9; 16]), "not base64 at all!".to_owned()] {
            let error =
                Keyring::from_lookup(|name| (name == "TRIBUTARY_SECRET_KEY").then(|| bad.clone()))
                    .unwrap_err();
            assert!(
                matches!(&error, SecretError::InvalidKey { source_name, .. } if source_name == "TRIBUTARY_SECRET_KEY")
            );
            assert!(!error.to_string().contains(&bad));
        }
        let error = Keyring::from_lookup(|name| match name {
            "TRIBUTARY_SECRET_KEY" => Some(base64_key(2)),
            "TRIBUTARY_SECRET_KEYS_PREVIOUS" => Some("short".to_owned()),
            _ => None,
        })
        .unwrap_err();
        assert!(
            matches!(&error, SecretError::InvalidKey { source_name, .. } if source_name == "TRIBUTARY_SECRET_KEYS_PREVIOUS")
        );
    }

    #[test]
    fn the_same_key_twice_in_a_keyring_is_refused() {
        let error = Keyring::new(SecretKey::from_bytes([3; 32]))
            .with_previous(SecretKey::from_bytes([3; 32]))
            .unwrap_err();
        assert!(matches!(error, SecretError::InvalidKey { .. }));
    }

    #[test]
    fn keys_and_keyrings_never_show_key_material() {
        let key_text = base64_key(7);
        let keyring = Keyring::from_lookup(|name| match name {
            "TRIBUTARY_SECRET_KEY" => Some(key_text.clone()),
            "TRIBUTARY_SECRET_KEYS_PREVIOUS" => Some(base64_key(8)),
            _ => None,
        })
        .unwrap();
        let shown = format!("{keyring:?} {:?}", SecretKey::from_bytes([7; 32]));
        assert!(!shown.contains(&key_text) && !shown.contains(&base64_key(8)));
        assert!(!shown.contains("7, 7") && !shown.contains("[7"));
        assert!(shown.contains(keyring.current_key_id()) && shown.contains("REDACTED"));
    }
}
