//! Replacing an include file of the routing daemon safely: rvsd runs as root in a
//! directory the daemon's user may be able to write.
//!
//! The new text goes into a temporary file beside the target, created exclusively
//! (`O_CREAT|O_EXCL`, which never follows a symbolic link planted at its name, and
//! `O_NOFOLLOW` as well) under a name with 64 random bits, then synced, renamed over the
//! target (a symbolic link at the target is replaced, never written through), and the
//! directory is synced so the rename survives a crash.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Mode of the written file: the routing daemon (another user) reads it.
const MODE: u32 = 0o644;

/// Replace `path` with `text` (see the module doc).
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = temp_name(path)?;
    let mut file = create_exclusive(&tmp)?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    File::open(dir)?.sync_all()
}

/// A new file at `path`, refused when anything (a file, a symbolic link) is there.
pub fn create_exclusive(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .mode(MODE)
        .open(path)
}

/// `.NAME.RANDOM.tmp` beside `path`.
fn temp_name(path: &Path) -> std::io::Result<PathBuf> {
    let mut random = [0u8; 8];
    File::open("/dev/urandom")?.read_exact(&mut random)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(path.with_file_name(format!(".{name}.{:016x}.tmp", u64::from_ne_bytes(random))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rvs-file-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A symbolic link planted where the temporary file goes is refused, and the file it
    /// points at is left as it was.
    #[test]
    fn a_planted_symlink_is_refused() {
        let dir = scratch("plant");
        let victim = dir.join("victim");
        std::fs::write(&victim, "secret\n").unwrap();
        let planted = dir.join("planted");
        symlink(&victim, &planted).unwrap();
        let err = create_exclusive(&planted).expect_err("a symlink is there");
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists, "{err}");
        // A dangling one too (O_CREAT alone would create its target).
        let dangling = dir.join("dangling");
        symlink(dir.join("nowhere"), &dangling).unwrap();
        assert!(create_exclusive(&dangling).is_err());
        assert!(!dir.join("nowhere").exists());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The target is replaced whole with mode 0644, a symbolic link at the target is
    /// replaced rather than written through, and no temporary file stays behind; two
    /// temporary names differ.
    #[test]
    fn the_target_is_replaced_not_written_through() {
        let dir = scratch("replace");
        let victim = dir.join("victim");
        std::fs::write(&victim, "secret\n").unwrap();
        let target = dir.join("vips.conf");
        symlink(&victim, &target).unwrap();
        write_atomically(&target, "route 10.0.0.1/32 blackhole;\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret\n");
        let meta = std::fs::symlink_metadata(&target).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, MODE);
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "route 10.0.0.1/32 blackhole;\n"
        );
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_ne!(temp_name(&target).unwrap(), temp_name(&target).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
