//! Noticing that the database changed, without asking it.
//!
//! On SQLite in WAL mode, every committed transaction — from this process,
//! the CLI, or anything else — updates the WAL-index header at the start of
//! the `-shm` file (its `iChange` counter and `mxFrame`; SQLite's documented
//! WAL format). Reading those 48 bytes is one `pread`, so callers can keep
//! a cache that is exact: any change to the header means "something was
//! committed; reload". On PostgreSQL there is no such shared file (other
//! instances write from other machines), so no token is offered and callers
//! read the database.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Mutex;

/// Bytes of the WAL-index header that change on every commit.
const HEADER_LEN: usize = 48;

/// An opaque snapshot of "how far the database has been written".
pub type ChangeToken = [u8; HEADER_LEN];

#[derive(Debug)]
pub struct ChangeDetector {
    shm_path: Option<PathBuf>,
    file: Mutex<Option<File>>,
}

impl ChangeDetector {
    pub(crate) fn new(sqlite_path: Option<PathBuf>) -> Self {
        let shm_path = sqlite_path.map(|path| {
            let mut name = path.into_os_string();
            name.push("-shm");
            PathBuf::from(name)
        });
        Self {
            shm_path,
            file: Mutex::new(None),
        }
    }

    /// The current change token, or `None` when changes cannot be seen
    /// without asking the database (PostgreSQL, or the file is unreadable).
    pub fn current(&self) -> Option<ChangeToken> {
        let path = self.shm_path.as_ref()?;
        let mut file = self.file.lock().ok()?;
        if file.is_none() {
            *file = File::open(path).ok();
        }
        let mut header = [0u8; HEADER_LEN];
        match file.as_ref()?.read_exact_at(&mut header, 0) {
            Ok(()) => Some(header),
            Err(_) => {
                // Reopen next time (the file may have been recreated).
                *file = None;
                None
            }
        }
    }
}
