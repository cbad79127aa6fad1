//! Reading the files a user names. Only regular files are read: a FIFO, a device, a socket or
//! a directory is refused by what `stat` says, before it is opened (opening a FIFO waits for a
//! writer; reading /dev/zero never ends; opening some devices has effects of its own). The
//! file is then opened without blocking and checked again, so a path swapped in between is
//! caught too. A file is read up to a bound (half the memory available), never without one.
//! The one exception is `-`, standard input, for the inputs read whole ([`read`]): once per
//! process, never from a terminal, within the same bound.

use std::fs::{self, File, Metadata};
use std::io::Read;
use std::path::Path;

use crate::core::error::{Error, Result};
use crate::core::system::{available_memory, gib};

/// Which file a path names, to tell whether two paths are the same file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The file `path` names now (following symbolic links), if it exists.
    pub fn of_path(path: &Path) -> Option<FileId> {
        let meta = fs::metadata(path).ok()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Some(FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            })
        }
        #[cfg(not(unix))]
        {
            // No inode numbers: the file is known by its canonical path.
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            fs::canonicalize(path).ok()?.hash(&mut h);
            Some(FileId {
                dev: meta.len(),
                ino: h.finish(),
            })
        }
    }
}

/// What kind of file `meta` describes, for messages: "a directory", "a FIFO (named pipe)", ...
pub fn kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    if t.is_file() {
        return "a regular file";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

fn not_regular(path: &Path, meta: &Metadata) -> Error {
    Error::file(path, format!("is {}; expected a regular file", kind(meta)))
}

/// Refuses a path that exists and is not a regular file, before anything else is said about
/// it (a directory named `x.npy` is a directory, not a broken array).
pub fn check_regular(path: &Path) -> Result<()> {
    match fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(not_regular(path, &meta)),
        _ => Ok(()),
    }
}

/// Opens `path` for reading: a regular file (through symbolic links), and nothing else.
pub fn open(path: &Path) -> Result<(File, Metadata)> {
    if is_stdin_path(path) {
        return Err(Error::file(
            path,
            "this file is read in pieces, which standard input cannot be; give a file path",
        ));
    }
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(not_regular(path, &meta));
    }
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Never wait in open(): if the path became a FIFO since the stat, this returns at once
        // and the check below refuses it.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(not_regular(path, &meta));
    }
    Ok((file, meta))
}

/// The most a whole-file read takes: half the memory available now.
pub(crate) fn read_limit() -> u64 {
    available_memory() / 2
}

fn too_large(path: &Path, len: u64, limit: u64) -> Error {
    Error::file(
        path,
        format!(
            "the file is {}, more than half the {} of memory available",
            gib(len),
            gib(limit.saturating_mul(2))
        ),
    )
}

/// Reads a whole regular file (or standard input, for `-`), refusing one larger than half the
/// memory available, by its size before reading and by what is read (a file that grows while
/// it is read).
pub fn read(path: &Path) -> Result<Vec<u8>> {
    if is_stdin_path(path) {
        return read_stdin(path);
    }
    let (file, meta) = open(path)?;
    let limit = read_limit();
    if meta.len() > limit {
        return Err(too_large(path, meta.len(), limit));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(path, bytes.len() as u64, limit));
    }
    Ok(bytes)
}

/// `-`: standard input, for the arguments read whole (a scenario, a sweep, a `.npy`, a CSV).
pub fn is_stdin_path(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Whether standard input has been read: it can be read once, so a second `-` is an error
/// rather than an empty file.
static STDIN_TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Reads all of standard input, up to the same bound as a file. A terminal is refused (it
/// would wait for typing, which is never what `-` meant), and so is a second read.
fn read_stdin(path: &Path) -> Result<Vec<u8>> {
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Error::file(
            path,
            "standard input is a terminal; pipe or redirect a file into it (… - < file)",
        ));
    }
    if STDIN_TAKEN.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return Err(Error::file(
            path,
            "standard input was already read for another argument; give this one a file path",
        ));
    }
    let limit = read_limit();
    let mut bytes = Vec::new();
    stdin
        .lock()
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(Error::file(
            path,
            format!(
                "standard input holds more than half the {} of memory available",
                gib(limit.saturating_mul(2))
            ),
        ));
    }
    Ok(bytes)
}

/// Reads a whole regular file as UTF-8 text.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = read(path)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let text = &e.as_bytes()[..at];
        let line = text.iter().filter(|&&b| b == b'\n').count() + 1;
        Error::file(
            path,
            format!("is not UTF-8 text (the first bad byte is on line {line}, at offset {at})"),
        )
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_refused_before_reading() {
        let e = read(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/dev/zero: is a character device; expected a regular file"
        );
        let d = tempfile::tempdir().unwrap();
        let e = read(d.path()).unwrap_err();
        assert!(
            e.to_string()
                .ends_with(": is a directory; expected a regular file")
        );
    }

    #[test]
    fn text_that_is_not_utf8_names_the_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.toml");
        fs::write(&p, b"a = 1\nb = \"\xff\"\n").unwrap();
        let e = read_text(&p).unwrap_err().to_string();
        assert!(
            e.ends_with(": is not UTF-8 text (the first bad byte is on line 2, at offset 11)"),
            "{e}"
        );
    }
}
