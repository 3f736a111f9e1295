//! The authentication of sync messages: HMAC-SHA256 (RFC 2104 over FIPS 180-4's
//! SHA-256) keyed with `[ha.sync] key_file`, over the whole message with the tag field
//! zeroed, carried in the header's tag field. A receiver recomputes it and compares in
//! constant time.

use std::fmt;

use hmac::digest::Key;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::header::{HEADER_LEN, TAG_AT, TAG_LEN};

/// HMAC-SHA256.
type HmacSha256 = Hmac<Sha256>;

/// A key that signs and checks sync messages. Its `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct MessageAuth {
    /// The HMAC keyed once; each message starts from a copy.
    keyed: HmacSha256,
}

impl fmt::Debug for MessageAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageAuth(HMAC-SHA256)")
    }
}

impl MessageAuth {
    /// Sign and check with `key` (any length; `[ha.sync] key_file` gives 16 bytes or
    /// more).
    pub fn new(key: &[u8]) -> Self {
        Self { keyed: keyed(key) }
    }

    /// The tag of `msg` (a whole message): the HMAC of its bytes, its tag field taken as
    /// zero.
    fn tag_of(&self, msg: &[u8]) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(&msg[..TAG_AT]);
        mac.update(&[0u8; TAG_LEN]);
        mac.update(&msg[TAG_AT + TAG_LEN..]);
        mac
    }

    /// Writes the tag of `msg` (a whole message, at least a header long) into its tag
    /// field.
    pub fn sign(&self, msg: &mut [u8]) {
        if msg.len() < HEADER_LEN {
            return;
        }
        let tag = self.tag_of(msg).finalize().into_bytes();
        msg[TAG_AT..TAG_AT + TAG_LEN].copy_from_slice(&tag);
    }

    /// True when the tag field of `msg` (a whole message) is its tag under this key;
    /// compared in constant time.
    pub fn verify(&self, msg: &[u8]) -> bool {
        msg.len() >= HEADER_LEN
            && self
                .tag_of(msg)
                .verify_slice(&msg[TAG_AT..TAG_AT + TAG_LEN])
                .is_ok()
    }
}

/// HMAC-SHA256 keyed with `key` as RFC 2104 says: a key longer than SHA-256's 64-byte
/// block is hashed first, and the key is padded with zeros to the block.
fn keyed(key: &[u8]) -> HmacSha256 {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <HmacSha256 as Mac>::new(Key::<HmacSha256>::from_slice(&block))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(key: &[u8], data: &[u8]) -> String {
        let mut mac = keyed(key);
        mac.update(data);
        let tag = mac.finalize().into_bytes();
        tag.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 4231's test cases 2 (a short key) and 6 (a key longer than the block).
    #[test]
    fn the_hmac_is_rfc_4231s() {
        assert_eq!(
            hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn a_signed_message_verifies_and_any_change_does_not() {
        let auth = MessageAuth::new(b"0123456789abcdef");
        let mut msg = vec![7u8; HEADER_LEN + 40];
        msg[TAG_AT..TAG_AT + TAG_LEN].fill(0);
        auth.sign(&mut msg);
        assert_ne!(&msg[TAG_AT..TAG_AT + TAG_LEN], &[0u8; TAG_LEN]);
        assert!(auth.verify(&msg));
        // The tag covers every byte but itself.
        for i in [0, TAG_AT - 1, TAG_AT, TAG_AT + TAG_LEN, msg.len() - 1] {
            let mut bad = msg.clone();
            bad[i] ^= 1;
            assert!(!auth.verify(&bad), "byte {i} changed");
        }
        assert!(!auth.verify(&msg[..msg.len() - 1]));
        let other = MessageAuth::new(b"0123456789abcdeF");
        assert!(!other.verify(&msg));
        assert!(!auth.verify(&msg[..HEADER_LEN - 1]));
        assert_eq!(format!("{auth:?}"), "MessageAuth(HMAC-SHA256)");
    }
}
