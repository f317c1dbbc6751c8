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
//!
//! The `-shm` file does not live for ever: when the last connection to the
//! database closes (an idle pool lets all of its connections go), SQLite
//! deletes `-wal` and `-shm`, and the next connection creates new ones. A
//! handle kept on the old file would then read a header that never moves
//! again. So every reading is confirmed afterwards against the path: the
//! file the path names now must be the very file that was read (same device
//! and inode), otherwise the handle is reopened, and while the path names
//! nothing the answer is "unknown" — callers then ask the database. The
//! token includes the file's identity, so a token read from one file never
//! equals a token read from another.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::Mutex;

/// Bytes of the WAL-index header that change on every commit.
const HEADER_LEN: usize = 48;

/// An opaque snapshot of "how far the database has been written": which
/// `-shm` file (device, inode) and the header read from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeToken {
    file: (u64, u64),
    header: [u8; HEADER_LEN],
}

#[derive(Debug)]
pub struct ChangeDetector {
    shm_path: Option<PathBuf>,
    open: Mutex<Option<OpenShm>>,
}

/// The `-shm` file as opened, with the identity it had then.
#[derive(Debug)]
struct OpenShm {
    file: File,
    identity: (u64, u64),
}

impl OpenShm {
    fn open(path: &std::path::Path) -> Option<Self> {
        let file = File::open(path).ok()?;
        let meta = file.metadata().ok()?;
        Some(Self {
            file,
            identity: (meta.dev(), meta.ino()),
        })
    }
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
            open: Mutex::new(None),
        }
    }

    /// The current change token, or `None` when changes cannot be seen
    /// without asking the database (PostgreSQL; or the `-shm` file is
    /// missing, unreadable, or was replaced while being read). `None` is
    /// never a claim that nothing changed.
    pub fn current(&self) -> Option<ChangeToken> {
        let path = self.shm_path.as_ref()?;
        let mut open = self.open.lock().ok()?;
        // Two tries: the first may find a stale handle and reopen.
        for _ in 0..2 {
            if open.is_none() {
                *open = OpenShm::open(path);
            }
            let shm = open.as_ref()?;
            let mut header = [0u8; HEADER_LEN];
            let read = shm.file.read_exact_at(&mut header, 0).is_ok();
            // Checked after the read: if the path still names the file
            // read, that file was the live one when it was read (a deleted
            // file is never linked again).
            let live = std::fs::metadata(path)
                .ok()
                .map(|meta| (meta.dev(), meta.ino()));
            match live {
                Some(identity) if identity == shm.identity && read => {
                    return Some(ChangeToken {
                        file: identity,
                        header,
                    });
                }
                // Replaced (or unreadable): reopen and read again.
                Some(_) => *open = None,
                // No file: no connection has the database open. Unknown.
                None => {
                    *open = None;
                    return None;
                }
            }
        }
        None
    }
}
