//! A host or server name held inline (no allocation), normalised for matching.

/// The longest name accepted (a DNS name is at most 253 bytes; an IPv6 literal with
/// its brackets, far less).
pub const MAX_NAME: usize = 255;

/// A host name or IP literal, lowercased, one trailing dot removed.
#[derive(Clone, Copy)]
pub struct Name {
    bytes: [u8; MAX_NAME],
    len: u8,
}

impl Name {
    /// The name of `raw` (as sent) when every byte may appear in a host name, IP
    /// literal or `reg-name` (RFC 3986: letters, digits, `-._~!$&'()*+,;=%`, and `[]:` of
    /// IPv6 literals), it is not empty and at most [`MAX_NAME`] bytes long.
    pub fn parse(raw: &[u8]) -> Option<Name> {
        let raw = raw.strip_suffix(b".").unwrap_or(raw);
        if raw.is_empty() || raw.len() > MAX_NAME || !raw.iter().all(|&b| host_byte(b)) {
            return None;
        }
        let mut n = Name {
            bytes: [0; MAX_NAME],
            len: raw.len() as u8,
        };
        for (d, s) in n.bytes.iter_mut().zip(raw) {
            *d = s.to_ascii_lowercase();
        }
        Some(n)
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// A byte a host (RFC 3986 `host`) may hold.
fn host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%[]:".contains(&b)
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Name {}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Name({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

/// A [`Name`] filled a byte at a time (a server name split over TLS records).
pub(crate) struct NameBuilder {
    bytes: [u8; MAX_NAME],
    len: usize,
}

impl NameBuilder {
    /// An empty builder.
    pub(crate) fn new() -> Self {
        Self {
            bytes: [0; MAX_NAME],
            len: 0,
        }
    }

    /// Add a byte; `false` when the name would be too long.
    pub(crate) fn push(&mut self, b: u8) -> bool {
        if self.len == MAX_NAME {
            return false;
        }
        self.bytes[self.len] = b;
        self.len += 1;
        true
    }

    /// The name, when the bytes make one ([`Name::parse`]).
    pub(crate) fn finish(&self) -> Option<Name> {
        Name::parse(&self.bytes[..self.len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercased_without_trailing_dot_and_checked() {
        assert_eq!(
            Name::parse(b"WWW.Example.COM.").unwrap().as_bytes(),
            b"www.example.com"
        );
        assert_eq!(
            Name::parse(b"[2001:DB8::1]").unwrap().as_bytes(),
            b"[2001:db8::1]"
        );
        assert!(Name::parse(b"").is_none());
        assert!(Name::parse(b".").is_none());
        assert!(Name::parse(b"a b").is_none());
        assert!(Name::parse(b"a/b").is_none());
        assert!(Name::parse(&[b'a'; 255]).is_some());
        assert!(Name::parse(&[b'a'; 256]).is_none());
    }
}
