//! `[ha.sync] key_file`: the secret the directors of one virtual router share to
//! authenticate their connection sync messages.
//!
//! The file's bytes are the key, less one trailing newline (so `openssl rand -hex 32 >
//! FILE` and an editor's final newline both work). A key is refused unless the file is a
//! regular file that neither group nor others may read, write or execute (as ssh
//! requires of a private key) and holds at least [`MIN_SYNC_KEY_LEN`] bytes.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Shortest key accepted, in bytes (128 bits when the bytes are random).
pub const MIN_SYNC_KEY_LEN: usize = 16;

/// Longest key file read, in bytes: a key needs far less, and a bound keeps a wrong
/// path (a log, a device) from being read whole.
pub const MAX_SYNC_KEY_FILE: u64 = 4096;

/// The sync key: the bytes of `[ha.sync] key_file`. Its `Debug` shows only its length,
/// so a configuration can be logged without it.
#[derive(Clone, PartialEq, Eq)]
pub struct SyncKey(Box<[u8]>);

impl SyncKey {
    /// A key of `bytes`; refused when shorter than [`MIN_SYNC_KEY_LEN`].
    pub fn new(bytes: &[u8]) -> Result<Self, KeyFileProblem> {
        if bytes.len() < MIN_SYNC_KEY_LEN {
            return Err(KeyFileProblem::Short { len: bytes.len() });
        }
        Ok(Self(bytes.into()))
    }

    /// The key's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SyncKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SyncKey({} bytes)", self.0.len())
    }
}

/// Why a key file cannot serve as the sync key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileProblem {
    /// The file could not be opened or read.
    #[error("cannot read it: {0}")]
    Read(Box<str>),
    /// A directory, a device, a socket...
    #[error("it is not a regular file")]
    NotAFile,
    /// Group or others have some access to it.
    #[error(
        "its mode {mode:04o} gives group or others access to the key; \
         make it private to rvsd's user (chmod 600), as ssh requires of a private key"
    )]
    Open {
        /// The file's permission bits.
        mode: u32,
    },
    /// Longer than [`MAX_SYNC_KEY_FILE`].
    #[error("it holds {len} bytes; a key file holds at most {MAX_SYNC_KEY_FILE}")]
    Long {
        /// The file's length.
        len: u64,
    },
    /// Fewer than [`MIN_SYNC_KEY_LEN`] bytes (after the trailing newline is taken off).
    #[error("the key is {len} bytes long; at least {MIN_SYNC_KEY_LEN} are needed")]
    Short {
        /// The key's length.
        len: usize,
    },
}

/// Reads the key in `path` (see the module documentation for what is refused).
pub fn read_key_file(path: &Path) -> Result<SyncKey, KeyFileProblem> {
    let read_error = |e: std::io::Error| KeyFileProblem::Read(e.to_string().into());
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    let meta = file.metadata().map_err(read_error)?;
    if !meta.is_file() {
        return Err(KeyFileProblem::NotAFile);
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileProblem::Open { mode });
    }
    if meta.len() > MAX_SYNC_KEY_FILE {
        return Err(KeyFileProblem::Long { len: meta.len() });
    }
    let mut bytes = Vec::new();
    file.by_ref()
        .take(MAX_SYNC_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_SYNC_KEY_FILE {
        return Err(KeyFileProblem::Long {
            len: bytes.len() as u64,
        });
    }
    let key = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    SyncKey::new(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::PathBuf;

    /// A file of `bytes` with `mode` in a directory of its own.
    fn key_file(name: &str, bytes: &[u8], mode: u32) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rvs-key-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn one_trailing_newline_is_not_part_of_the_key() {
        let p = key_file("nl", b"0123456789abcdef\n", 0o600);
        assert_eq!(read_key_file(&p).unwrap().bytes(), b"0123456789abcdef");
        let p = key_file("two-nl", b"0123456789abcdef\n\n", 0o400);
        assert_eq!(read_key_file(&p).unwrap().bytes(), b"0123456789abcdef\n");
        let p = key_file("raw", &[0xff; 32], 0o600);
        assert_eq!(read_key_file(&p).unwrap().bytes(), &[0xff; 32]);
    }

    #[test]
    fn refusals() {
        let p = key_file("short", b"0123456789abcde\n", 0o600);
        assert_eq!(read_key_file(&p), Err(KeyFileProblem::Short { len: 15 }));
        let p = key_file("group", b"0123456789abcdef", 0o640);
        let e = read_key_file(&p).unwrap_err();
        assert_eq!(e, KeyFileProblem::Open { mode: 0o640 });
        assert!(e.to_string().contains("0640"), "{e}");
        let p = key_file("others", b"0123456789abcdef", 0o604);
        assert_eq!(read_key_file(&p), Err(KeyFileProblem::Open { mode: 0o604 }));
        let p = key_file("long", &[b'k'; 5000], 0o600);
        assert_eq!(read_key_file(&p), Err(KeyFileProblem::Long { len: 5000 }));
        let missing = p.with_file_name("missing");
        assert!(matches!(
            read_key_file(&missing),
            Err(KeyFileProblem::Read(_))
        ));
        let dir = p.parent().unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(read_key_file(dir), Err(KeyFileProblem::NotAFile));
        assert_eq!(
            format!("{:?}", SyncKey::new(b"secret-secret-secret").unwrap()),
            "SyncKey(20 bytes)"
        );
    }
}
