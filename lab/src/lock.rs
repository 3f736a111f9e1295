//! One lab at a time on the machine: busy-polling workers of two labs would starve each
//! other on a small machine, whichever test binary or demo started them.

use std::fs::File;

/// An exclusive lock on a file in the temporary directory, held until dropped (the
/// kernel releases it when the process dies, so a killed run leaves nothing locked).
pub struct LabLock {
    _file: File,
}

impl LabLock {
    /// Waits for the machine-wide lab lock.
    pub fn acquire() -> LabLock {
        let path = std::env::temp_dir().join("rvs-lab.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        file.lock()
            .unwrap_or_else(|e| panic!("lock {}: {e}", path.display()));
        LabLock { _file: file }
    }
}
