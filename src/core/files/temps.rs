//! The files this process creates only for a while (staged outputs, lock files) and must
//! not leave behind: they are registered while they live, and on SIGINT, SIGTERM or SIGHUP a
//! handler removes every one before the process dies of the signal. Temporaries left by a
//! process that could not clean up (SIGKILL, a power cut) are removed by the next run that
//! writes beside them.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, Once};

static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static HANDLER: Once = Once::new();
static NEXT: AtomicU64 = AtomicU64::new(0);
static DYING: AtomicBool = AtomicBool::new(false);
static NOTE: Mutex<Option<String>> = Mutex::new(None);

/// What a signal leaves of the output being written (`r.csv is as it was before this run`),
/// printed by the handler as the process ends; `None` for nothing to say.
pub fn on_signal_say(note: Option<String>) {
    HANDLER.call_once(install_handler);
    *NOTE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = note;
}

/// Whether a signal is ending the process: its temporaries are being removed under the
/// main thread's feet, and what fails because of that is not worth a message.
pub fn dying() -> bool {
    DYING.load(Ordering::SeqCst)
}

/// Adds `path` to the files removed on a signal, installing the handler on first use.
pub fn register(path: &Path) {
    HANDLER.call_once(install_handler);
    live().push(path.to_path_buf());
}

/// Takes `path` off the list (it was renamed into place, or removed).
pub fn forget(path: &Path) {
    live().retain(|p| p != path);
}

/// Removes `path` and takes it off the list.
pub fn remove(path: &Path) {
    let _ = fs::remove_file(path);
    forget(path);
}

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // A panic while the list was held cannot leave it inconsistent (a Vec of paths).
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(unix)]
fn install_handler() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            DYING.store(true, Ordering::SeqCst);
            for p in live().drain(..) {
                let _ = fs::remove_file(p);
            }
            let note = NOTE
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(note) = note {
                use std::io::{IsTerminal, Write};
                let mut err = std::io::stderr().lock();
                // Below a progress line, not over it.
                let lead = if err.is_terminal() { "\n" } else { "" };
                let _ = writeln!(err, "{lead}qlab: interrupted; {note}");
            }
            // Die of the signal, as if there were no handler, so a shell sees what happened.
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            std::process::exit(128 + signal);
        }
    });
}

#[cfg(not(unix))]
fn install_handler() {}

/// The name of a new temporary for `target`: `.NAME.tmp-PID-N` in the target's directory (the
/// same file system, so the rename that commits it is atomic). N makes the names of one
/// process unique, even for two outputs that name the same file.
pub fn temp_name(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Removes the temporaries for `target` that processes no longer running left beside it
/// (`.NAME.tmp-PID` and `.NAME.tmp-PID-N`). Only where a process table can be read
/// (/proc): elsewhere nothing is removed, since a live writer cannot be told from a dead one.
pub fn remove_stale(target: &Path) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(rest) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let pid = rest.split_once('-').map_or(rest, |(pid, _)| pid);
        let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let seq_ok = rest.split_once('-').is_none_or(|(_, n)| numeric(n));
        if !numeric(pid) || !seq_ok || pid == std::process::id().to_string() {
            continue;
        }
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && !proc.join(pid).exists() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_unique_within_a_process() {
        let a = temp_name(Path::new("d/x.npy"));
        let b = temp_name(Path::new("d/x.npy"));
        assert_ne!(a, b);
        let pid = std::process::id().to_string();
        assert!(
            a.to_string_lossy()
                .starts_with(&format!("d/.x.npy.tmp-{pid}-"))
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("y.npy");
        // PIDs above the kernel's limit (2^22) belong to no process.
        let dead = d.path().join(".y.npy.tmp-99999999-0");
        let dead_old_style = d.path().join(".y.npy.tmp-99999998");
        let mine = temp_name(&target);
        let other_file = d.path().join(".z.npy.tmp-99999999-0");
        let not_ours = d.path().join(".y.npy.tmp-abc");
        for p in [&dead, &dead_old_style, &mine, &other_file, &not_ours] {
            fs::write(p, b"x").unwrap();
        }
        remove_stale(&target);
        assert!(!dead.exists() && !dead_old_style.exists());
        assert!(mine.exists() && other_file.exists() && not_ours.exists());
    }
}
