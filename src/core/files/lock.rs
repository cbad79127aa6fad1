//! One writer per output: an advisory lock (`flock`) on a small file beside the output,
//! `.NAME.lock`, held while a command writes the output and removed when it is done. The lock
//! is on a file of its own because an output is replaced by a rename, which would leave a lock
//! on the output itself behind on the old inode. The holder writes its process id into the
//! file, so the writer that is refused can say who holds it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::temps;
use crate::core::error::{Error, Result};

/// A held lock; dropping it removes the lock file and releases the lock.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    _file: File,
}

/// `.NAME.lock` beside `target`.
fn lock_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    target.with_file_name(format!(".{name}.lock"))
}

impl Lock {
    /// Takes the lock of `target` (the output's real path, symbolic links resolved), or
    /// refuses, naming `shown` (the path as the user gave it) and the process holding it.
    pub fn acquire(target: &Path, shown: &Path) -> Result<Lock> {
        let path = lock_path(target);
        // A few rounds at most: a round is lost only when the holder removed the file between
        // our open and our lock, and then the next open creates a fresh one.
        for _ in 0..8 {
            let mut file = open_lock_file(&path, shown)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    let who = match text.trim().parse::<u32>() {
                        Ok(pid) => format!("another qlab process (pid {pid})"),
                        Err(_) => "another qlab process".to_string(),
                    };
                    return Err(Error::file(
                        shown,
                        format!(
                            "{who} is writing this file; wait for it to finish, or choose \
                             another output"
                        ),
                    ));
                }
                Err(fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
            if !same_file(&file, &path) {
                continue;
            }
            temps::register(&path);
            // The process id, for the message of a writer that is refused; best effort.
            let _ = file
                .set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| writeln!(file, "{}", std::process::id()));
            return Ok(Lock { path, _file: file });
        }
        Err(Error::file(
            shown,
            "could not take the output's lock: its lock file keeps being replaced",
        ))
    }
}

/// Opens (or creates) the lock file without following a symbolic link and without truncating
/// it, and refuses anything but a plain file of one link: the lock file's contents are replaced
/// by our process id, so a link planted at its path would otherwise overwrite the file it leads
/// to — the command's own input, perhaps.
fn open_lock_file(path: &Path, shown: &Path) -> Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let name = crate::core::text::echo(&name);
    let refuse = |what: &str| {
        Error::file(
            shown,
            format!(
                "its lock file {name} (beside it) is {what}, not a lock qlab made; remove it or \
                 choose another output"
            ),
        )
    };
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) => {
            return Err(match fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_symlink() => refuse("a symbolic link"),
                Ok(m) if m.is_dir() => refuse("a directory"),
                _ => Error::io(shown, e),
            });
        }
    };
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(refuse("not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() > 1 {
            return Err(refuse("a second name of another file (a hard link)"));
        }
    }
    Ok(file)
}

/// Whether `path` still names the file `file` has open (the lock's holder may have removed it
/// between our open and our lock).
fn same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still locked, so no other process can take this inode's lock and
        // believe it holds the output's.
        temps::remove(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_and_named_and_the_lock_file_goes_away() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("o.csv");
        let lock = Lock::acquire(&out, Path::new("o.csv")).unwrap();
        // Locks are per open file description: a second open in this process conflicts too.
        let e = Lock::acquire(&out, Path::new("o.csv")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "o.csv: another qlab process (pid {}) is writing this file; wait for it to \
                 finish, or choose another output",
                std::process::id()
            )
        );
        drop(lock);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
        drop(Lock::acquire(&out, Path::new("o.csv")).unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn a_link_or_a_directory_at_the_lock_path_is_refused_and_its_target_kept() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("w.npy");
        fs::write(&victim, b"precious").unwrap();
        let out = d.path().join("o.npy");
        let lock = d.path().join(".o.npy.lock");
        std::os::unix::fs::symlink(&victim, &lock).unwrap();
        let e = Lock::acquire(&out, Path::new("o.npy"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("o.npy: its lock file .o.npy.lock (beside it) is a symbolic link"),
            "{e}"
        );
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert!(
            fs::symlink_metadata(&lock)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        fs::remove_file(&lock).unwrap();
        fs::hard_link(&victim, &lock).unwrap();
        let e = Lock::acquire(&out, Path::new("o.npy"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("(a hard link)"), "{e}");
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        fs::remove_file(&lock).unwrap();
        fs::create_dir(&lock).unwrap();
        let e = Lock::acquire(&out, Path::new("o.npy"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a directory, not a lock qlab made"), "{e}");
    }
}
