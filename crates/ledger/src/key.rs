//! The ledger key, pseudonymous recipient ids and masked addresses.
//!
//! Owns: turning a normalised address into what the ledger may store. The ledger never stores
//! a raw address: a recipient is `HMAC-SHA256(key, "herald-recipient:v1:" ‖ channel ‖ ":" ‖
//! address)` in lowercase hex, plus a masked display form. Invariants: the key is never
//! printed (its `Debug` is redacted) and only its fingerprint is stored in a ledger; the
//! HMAC input format is versioned and must never change for `v1`.

use fs_err::os::unix::fs::OpenOptionsExt as _;
use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use hmac::{Hmac, KeyInit as _, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{LedgerError, Result};
use crate::fsutil;

/// Minimum length in bytes of a ledger key (64 hex digits decode to 32 bytes; a passphrase
/// counts its UTF-8 bytes).
pub const MIN_SECRET_LEN: usize = 32;

/// Minimum estimated strength of a ledger key in bits: its length times the Shannon entropy
/// of its own byte frequencies. 32 random bytes score about 150; a 32-letter lowercase
/// passphrase about 120 (so a passphrase must be longer or more varied).
pub const MIN_KEY_BITS: f64 = 128.0;

/// Why `key` is too weak to pseudonymise recipients, if it is: shorter than
/// [`MIN_SECRET_LEN`] bytes, a repetition of a shorter unit (`aaaa…`, `abab…`, a random half
/// said twice), or carrying fewer than [`MIN_KEY_BITS`] bits by its byte frequencies (few
/// distinct values). This cannot prove a key random; it refuses the keys that are surely not.
pub fn check_strength(key: &[u8]) -> std::result::Result<(), String> {
    if key.len() < MIN_SECRET_LEN {
        return Err(format!(
            "the key is {} bytes; at least {MIN_SECRET_LEN} are required",
            key.len()
        ));
    }
    if let Some(period) = (1..=key.len() / 2).find(|&p| key[p..] == key[..key.len() - p]) {
        return Err(format!(
            "the key repeats a {period}-byte pattern, so it holds far fewer secret bytes than its length"
        ));
    }
    let mut counts = [0u32; 256];
    for &b in key {
        counts[usize::from(b)] += 1;
    }
    let n = f64::from(u32::try_from(key.len()).unwrap_or(u32::MAX));
    let per_byte: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    let bits = per_byte * n;
    if bits < MIN_KEY_BITS {
        let distinct = counts.iter().filter(|&&c| c > 0).count();
        return Err(format!(
            "the key has too little variety ({distinct} distinct byte values, about {bits:.0} bits; at least {MIN_KEY_BITS:.0} are required)"
        ));
    }
    Ok(())
}

/// Messaging channel of a send, suppression or inbound message (the core's one type).
pub use herald_core::Channel;

/// A pseudonymous recipient: lowercase hex of the keyed HMAC of the normalised address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecipientId(String);

impl RecipientId {
    /// Wraps a stored id; returns `None` unless it is 64 lowercase hex digits.
    pub fn from_hex(s: &str) -> Option<RecipientId> {
        (s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| RecipientId(s.to_owned()))
    }

    /// The hex form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the MAC's 32 bytes.
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> RecipientId {
        RecipientId(hex::encode(bytes))
    }

    /// The MAC's 32 bytes, for compact in-memory sets.
    pub fn to_bytes(&self) -> [u8; 32] {
        recipient_bytes(&self.0).expect("a recipient id is 64 hex digits")
    }
}

/// Each byte's value as a lowercase hex digit; `0xFF` for anything else.
const HEX_DIGIT: [u8; 256] = {
    let mut table = [0xFF_u8; 256];
    let mut i = 0u8;
    while i < 10 {
        table[(b'0' + i) as usize] = i;
        i += 1;
    }
    let mut i = 0u8;
    while i < 6 {
        table[(b'a' + i) as usize] = 10 + i;
        i += 1;
    }
    table
};

/// The 32 bytes of a recipient id in hex form (64 lowercase hex digits, as stored), or `None`.
/// A table lookup per digit: a plan decodes one id per recent send and per lookup.
pub(crate) fn recipient_bytes(hex_id: &str) -> Option<[u8; 32]> {
    let digits = hex_id.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut invalid = 0u8;
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let (hi, lo) = (HEX_DIGIT[pair[0] as usize], HEX_DIGIT[pair[1] as usize]);
        invalid |= hi | lo;
        *byte = (hi << 4) | (lo & 0x0F);
    }
    (invalid & 0xF0 == 0).then_some(out)
}

impl fmt::Display for RecipientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The secret key that pseudonymises recipients. Never printed, never stored in a ledger.
#[derive(Clone)]
pub struct LedgerKey {
    bytes: Vec<u8>,
    /// HMAC-SHA256 with the key already absorbed: cloning it skips hashing the padded key
    /// twice for every MAC (a plan computes one per audience row).
    keyed: Hmac<Sha256>,
}

impl fmt::Debug for LedgerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LedgerKey(fingerprint {})", self.fingerprint())
    }
}

impl LedgerKey {
    fn from_bytes(bytes: Vec<u8>) -> LedgerKey {
        let keyed =
            <Hmac<Sha256>>::new_from_slice(&bytes).expect("HMAC accepts keys of any length");
        LedgerKey { bytes, keyed }
    }

    /// Builds a key from a secret (the value of `HERALD_LEDGER_KEY`, or a key file's text).
    ///
    /// Surrounding whitespace is ignored. A value of exactly 64 hex digits is decoded to its
    /// 32 bytes, so the contents of a key file can be copied into the variable unchanged;
    /// anything else is used as UTF-8 bytes. Either way the key must be strong enough
    /// ([`check_strength`]): at least [`MIN_SECRET_LEN`] bytes, not a repeated pattern and
    /// carrying at least [`MIN_KEY_BITS`] bits by its byte frequencies; a weak key is refused
    /// with a message naming `herald ledger keygen` (the secret is never echoed).
    pub fn from_secret(secret: &str) -> Result<LedgerKey> {
        let secret = secret.trim();
        let bytes = if secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(secret).map_err(|_| LedgerError::InvalidKey("malformed hex key".into()))?
        } else {
            secret.as_bytes().to_vec()
        };
        check_strength(&bytes).map_err(|why| {
            LedgerError::InvalidKey(format!(
                "{why}; make a strong key with `herald ledger keygen` (32 random bytes, written \
                 as 64 hex digits) and use its contents"
            ))
        })?;
        Ok(LedgerKey::from_bytes(bytes))
    }

    /// A key from any secret, without the strength check: only for reading the test
    /// fixtures written before weak keys were refused.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn from_weak_secret_for_tests(secret: &str) -> LedgerKey {
        let secret = secret.trim();
        LedgerKey::from_bytes(hex::decode(secret).unwrap_or_else(|_| secret.as_bytes().to_vec()))
    }

    /// A new random key: 32 bytes from the operating system's generator. It exists only in
    /// memory until [`LedgerKey::write_new`] stores it.
    pub fn generate() -> LedgerKey {
        let bytes: [u8; 32] = rand::random();
        LedgerKey::from_bytes(bytes.to_vec())
    }

    /// Writes this key to a new key file at `path` (mode 0600, 64 hex digits and a newline),
    /// creating the parent directory 0700 if missing. Never overwrites: an existing file is
    /// [`LedgerError::AlreadyExists`]. Keys made from a passphrase (not 32 bytes) are refused,
    /// as a key file holds exactly 64 hex digits.
    pub fn write_new(&self, path: &Path) -> Result<()> {
        if self.bytes.len() != 32 {
            return Err(LedgerError::InvalidKey(
                "only a 32-byte key can be written to a key file".into(),
            ));
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsutil::create_private_dir(parent)?;
        }
        let mut file = match fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(LedgerError::AlreadyExists {
                    what: "ledger key file",
                    name: path.display().to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        file.file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
        writeln!(file, "{}", hex::encode(&self.bytes))?;
        file.sync_all()?;
        Ok(())
    }

    /// Reads the key file at `path`, or creates it (mode 0600, 32 random bytes as hex) if absent.
    ///
    /// The parent directory is created 0700 if missing. An existing file readable by group or
    /// others is refused, as ssh does for private keys.
    pub fn load_or_create(path: &Path) -> Result<LedgerKey> {
        match LedgerKey::generate().write_new(path) {
            Ok(()) => LedgerKey::read_file(path),
            Err(LedgerError::AlreadyExists { .. }) => LedgerKey::load(path),
            Err(e) => Err(e),
        }
    }

    /// Reads an existing key file (never creates one: for environments other than the
    /// sandbox a missing key is an error, not a fresh key that would miss every opt-out).
    pub fn load(path: &Path) -> Result<LedgerKey> {
        let meta = fs_err::metadata(path)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(LedgerError::KeyFilePermissions {
                path: path.to_owned(),
                mode,
            });
        }
        LedgerKey::read_file(path)
    }

    fn read_file(path: &Path) -> Result<LedgerKey> {
        let text = fs_err::read_to_string(path)?;
        let text = text.trim();
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(LedgerError::InvalidKey(format!(
                "key file {} must hold 64 hex digits",
                path.display()
            )));
        }
        LedgerKey::from_secret(text)
    }

    /// A short public identifier of the key (16 hex digits), stored in the ledger to detect a
    /// wrong key. It is an HMAC under the key, so it reveals nothing about recipients.
    pub fn fingerprint(&self) -> String {
        let mut full = self.mac(b"herald-ledger-key-fingerprint:v1");
        full.truncate(16);
        full
    }

    /// The pseudonymous id of a recipient; `normalised` is the E.164 number or the lowercased email.
    pub fn recipient_id(&self, channel: Channel, normalised: &str) -> RecipientId {
        let mut input = Vec::with_capacity(32 + normalised.len());
        input.extend_from_slice(b"herald-recipient:v1:");
        input.extend_from_slice(channel.as_str().as_bytes());
        input.push(b':');
        input.extend_from_slice(normalised.as_bytes());
        RecipientId(self.mac(&input))
    }

    /// The keyed reference of a send's consent evidence (`ck1:` + 32 hex digits of an HMAC
    /// under a key derived from the ledger key with its own label): the same evidence always
    /// gives the same reference, so a counsel holding the consent record can match it, but
    /// the evidence cannot be read back or guessed without the ledger key.
    pub fn consent_ref(&self, evidence: &str) -> String {
        let derived = self.derive(b"herald-consent-ref-key:v1");
        let mut mac =
            <Hmac<Sha256>>::new_from_slice(&derived).expect("HMAC accepts keys of any length");
        mac.update(evidence.as_bytes());
        let full = hex::encode(mac.finalize().into_bytes());
        format!("ck1:{}", &full[..32])
    }

    /// A keyed digest of an inbound reply's text (hex HMAC-SHA256), stored instead of the
    /// text so that a replayed message id with a different text is recognised. The MAC key
    /// is derived from the ledger key under its own domain label, so a text MAC can never
    /// equal a recipient id or a chain link, and the text cannot be recovered or guessed
    /// without the ledger key.
    pub fn text_mac(&self, text: &str) -> String {
        let derived = self.derive(b"herald-inbound-text-key:v1");
        let mut mac =
            <Hmac<Sha256>>::new_from_slice(&derived).expect("HMAC accepts keys of any length");
        mac.update(text.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The Genesys contact id of one send handed to a messaging campaign: 32 hex digits of
    /// `HMAC-SHA256(derived key, len(campaign) ‖ campaign ‖ row key)` (the length as 8 bytes
    /// big-endian, so no two pairs share an input), the key derived from the ledger
    /// key under its own label. Deterministic (a retried upload rewrites the same contact,
    /// `reconcile` finds it again) and never derived from an address.
    pub fn contact_id(&self, campaign: &str, row_key: &str) -> String {
        let derived = self.derive(b"herald-contact-id:v1");
        let mut mac =
            <Hmac<Sha256>>::new_from_slice(&derived).expect("HMAC accepts keys of any length");
        mac.update(&(campaign.len() as u64).to_be_bytes());
        mac.update(campaign.as_bytes());
        mac.update(row_key.as_bytes());
        let mut id = hex::encode(mac.finalize().into_bytes());
        id.truncate(32);
        id
    }

    /// A sub-key for one purpose: `HMAC-SHA256(key, label)`; each label is used once.
    pub(crate) fn derive(&self, label: &[u8]) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256>>::new_from_slice(&self.bytes).expect("HMAC accepts keys of any length");
        mac.update(label);
        mac.finalize().into_bytes().into()
    }

    fn mac(&self, input: &[u8]) -> String {
        let mut mac = self.keyed.clone();
        mac.update(input);
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Masking for output and for stored masks: the core's one rule.
pub use herald_core::spec::{mask_email, mask_phone};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_mac_is_keyed_and_separate_from_recipient_ids() {
        let k1 = LedgerKey::from_secret(
            "aa218a321a138ab012a1c5f3ab763561fde18e715b3152e13d31f7e7717a0fe0",
        )
        .unwrap();
        let k2 = LedgerKey::from_secret(
            "c1029931f56956d2965426395698db79aca3d14f29fb5a27fa52574bac5dc94b",
        )
        .unwrap();
        let a = k1.text_mac("STOP");
        assert_eq!(a.len(), 64);
        assert_eq!(a, k1.text_mac("STOP"));
        assert_ne!(a, k1.text_mac("STOP please"));
        assert_ne!(a, k2.text_mac("STOP"));
        assert_ne!(a, k1.mac(b"STOP"));
        assert!(!a.contains("STOP"));
    }

    #[test]
    fn contact_ids_are_keyed_per_campaign_and_row() {
        let k = LedgerKey::from_weak_secret_for_tests("contact-id-key-one");
        let other = LedgerKey::from_weak_secret_for_tests("contact-id-key-two");
        let id = k.contact_id("spring", "R-1");
        assert_eq!(id.len(), 32);
        assert_eq!(id, k.contact_id("spring", "R-1"), "deterministic");
        assert_ne!(id, k.contact_id("spring", "R-2"));
        assert_ne!(id, k.contact_id("autumn", "R-1"));
        assert_ne!(id, other.contact_id("spring", "R-1"), "keyed");
        // The length prefix keeps (campaign, row key) pairs apart.
        assert_ne!(k.contact_id("a", "b\nc"), k.contact_id("a\nb", "c"));
    }

    #[test]
    fn masks_phone_keeping_country_digit_and_last_four() {
        assert_eq!(mask_phone("+15550100100"), "+1******0100");
        assert_eq!(mask_phone("+447700900123"), "+4*******0123");
        assert_eq!(mask_phone("+12345"), "+*****");
    }

    #[test]
    fn masks_email_hiding_local_part_length() {
        assert_eq!(mask_email("jane@example.com"), "j***@example.com");
        assert_eq!(mask_email("j@example.com"), "j***@example.com");
        assert_eq!(mask_email("nonsense"), "***");
        assert_eq!(mask_email("@example.com"), "***");
    }

    #[test]
    fn recipient_bytes_decode_exactly_lowercase_hex() {
        let key = LedgerKey::from_secret(
            "ddf01676fba4b84dd0dfcc7b338469357e9f70dff8ece607e087392506e81c4c",
        )
        .unwrap();
        let id = key.recipient_id(Channel::Sms, "+15550100100");
        let bytes = recipient_bytes(id.as_str()).unwrap();
        assert_eq!(hex::encode(bytes), id.as_str());
        assert_eq!(id.to_bytes(), bytes);
        // Every byte value, 32 at a time.
        for chunk in (0..=255u8).collect::<Vec<_>>().chunks_exact(32) {
            let text = hex::encode(chunk);
            assert_eq!(
                recipient_bytes(&text).map(|b| b.to_vec()),
                Some(chunk.to_vec())
            );
        }
        for bad in [
            String::new(),
            "0".repeat(63),
            "0".repeat(65),
            format!("{}A", "0".repeat(63)),
            format!("{}g", "0".repeat(63)),
            format!("{} ", "0".repeat(63)),
            format!("é{}", "0".repeat(62)),
        ] {
            assert_eq!(recipient_bytes(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn recipient_id_depends_on_key_channel_and_address() {
        let a = LedgerKey::from_secret(
            "ddf01676fba4b84dd0dfcc7b338469357e9f70dff8ece607e087392506e81c4c",
        )
        .unwrap();
        let b = LedgerKey::from_secret(
            "40b1a143d8180d5e3b7e4a9925eb10ad7eaa8e4b7f1363f60bfc1bfb32cb21e9",
        )
        .unwrap();
        let id = a.recipient_id(Channel::Sms, "+15550100100");
        assert_eq!(id.as_str().len(), 64);
        assert!(RecipientId::from_hex(id.as_str()).is_some());
        assert_eq!(id, a.recipient_id(Channel::Sms, "+15550100100"));
        assert_ne!(id, b.recipient_id(Channel::Sms, "+15550100100"));
        assert_ne!(id, a.recipient_id(Channel::Email, "+15550100100"));
        assert_ne!(id, a.recipient_id(Channel::Sms, "+15550100101"));
        assert!(!id.as_str().contains("5550100100"));
    }

    #[test]
    fn weak_secrets_are_refused_naming_keygen() {
        for weak in [
            "benchmark-ledger-key".to_owned(),
            "a-completely-different-key-123".to_owned(),
            "a".repeat(64),
            "ab".repeat(40),
            "abc".repeat(20),
            "5a".repeat(32),
            "0f".repeat(32),
            "0123456789abcdef".repeat(4),
            "aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeee".to_owned(),
            // 16 random bytes said twice: periodic.
            "3f9c1e7a20b4d86c5e1f0a9b7c3d2e48".repeat(2),
        ] {
            match LedgerKey::from_secret(&weak) {
                Err(LedgerError::InvalidKey(why)) => {
                    assert!(why.contains("herald ledger keygen"), "{weak}: {why}");
                    assert!(!why.contains(&weak), "the secret is never echoed: {why}");
                }
                other => panic!("{weak:?} was accepted: {other:?}"),
            }
        }
        // What keygen writes, and long random passphrases, pass.
        for _ in 0..200 {
            let k = LedgerKey::generate();
            LedgerKey::from_secret(&hex::encode(&k.bytes)).unwrap();
        }
        LedgerKey::from_secret("9e4b7f1c2a8d3065e1b9c4f7a2d8e3b6c0f5a1d9e7b3c8f2a4d6e0b9c1f7a3e5")
            .unwrap();
        LedgerKey::from_secret("correct horse battery staple, violet Tuesday 1979 / gravel?")
            .unwrap();
    }

    #[test]
    fn secrets_are_validated_and_hex_keys_match_key_files() {
        assert!(matches!(
            LedgerKey::from_secret("short"),
            Err(LedgerError::InvalidKey(_))
        ));
        let hex_key = "9e4b7f1c2a8d3065e1b9c4f7a2d8e3b6c0f5a1d9e7b3c8f2a4d6e0b9c1f7a3e5";
        let from_hex = LedgerKey::from_secret(hex_key).unwrap();
        let from_bytes = LedgerKey::from_bytes(hex::decode(hex_key).unwrap());
        assert_eq!(from_hex.fingerprint(), from_bytes.fingerprint());
        assert_eq!(from_hex.fingerprint().len(), 16);
        assert!(!format!("{from_hex:?}").contains(hex_key));
    }

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("ledger.key");
        let k1 = LedgerKey::load_or_create(&path).unwrap();
        let mode = fs_err::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs_err::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        let k2 = LedgerKey::load_or_create(&path).unwrap();
        assert_eq!(k1.fingerprint(), k2.fingerprint());
        assert_eq!(
            LedgerKey::load(&path).unwrap().fingerprint(),
            k1.fingerprint()
        );
        assert!(LedgerKey::load(&dir.path().join("missing.key")).is_err());

        let other = LedgerKey::generate();
        assert_ne!(other.fingerprint(), k1.fingerprint());
        assert!(matches!(
            other.write_new(&path),
            Err(LedgerError::AlreadyExists { .. })
        ));
        assert_eq!(
            LedgerKey::load(&path).unwrap().fingerprint(),
            k1.fingerprint(),
            "write_new never overwrites"
        );
        let fresh = dir.path().join("fresh.key");
        other.write_new(&fresh).unwrap();
        assert_eq!(
            LedgerKey::load(&fresh).unwrap().fingerprint(),
            other.fingerprint()
        );
        assert!(
            LedgerKey::from_secret("a passphrase of some length, 42 zebras quietly")
                .unwrap()
                .write_new(&dir.path().join("pass.key"))
                .is_err()
        );

        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            LedgerKey::load_or_create(&path),
            Err(LedgerError::KeyFilePermissions { mode: 0o644, .. })
        ));
    }
}
