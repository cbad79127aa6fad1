//! Atomic file output: write a temporary file beside the target, then rename it over the
//! target, so an interrupted run leaves either the old file or the new one, never half of one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_all(&[(path, bytes.to_vec())])
}

/// Writes several files as one: every file goes to a temporary first, and only when all of
/// them are written are they renamed into place. A failure leaves every target untouched.
pub fn write_all<P: AsRef<Path>>(files: &[(P, Vec<u8>)]) -> Result<()> {
    let mut written: Vec<PathBuf> = Vec::new();
    let cleanup = |written: &[PathBuf]| written.iter().for_each(|t| drop(fs::remove_file(t)));
    for (path, bytes) in files {
        let path = path.as_ref();
        let tmp = temp_path(path);
        let result = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            cleanup(&written);
            return Err(Error::io(path, e));
        }
        written.push(tmp);
    }
    for ((path, _), tmp) in files.iter().zip(&written) {
        if let Err(e) = fs::rename(tmp, path.as_ref()) {
            cleanup(&written);
            return Err(Error::io(path.as_ref(), e));
        }
    }
    Ok(())
}

/// `dir/.name.tmp-PID` beside the target: same file system, so the rename is atomic.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        write(&p, b"one").unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failing_file_leaves_the_others_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.bin");
        write(&a, b"old").unwrap();
        let bad = dir.path().join("missing/b.bin");
        let e = write_all(&[(&a, b"new".to_vec()), (&bad, b"x".to_vec())]).unwrap_err();
        assert!(e.to_string().contains("missing/b.bin"), "{e}");
        assert_eq!(fs::read(&a).unwrap(), b"old");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp files left"
        );
    }

    #[test]
    fn failure_names_the_path() {
        let e = write(Path::new("/nonexistent-dir/x.npy"), b"x").unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent-dir/x.npy: "), "{e}");
    }
}
