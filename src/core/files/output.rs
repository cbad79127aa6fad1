//! Writing a command's outputs, all of them or none.
//!
//! Every output is resolved before any work starts ([`Outputs::add`]): `-` and /dev/stdout
//! mean standard output; a FIFO, a terminal, /dev/null or /dev/fd/N is written in place, as a
//! stream; a regular file (or a symbolic link to one, which is written through: the link
//! stays, its target gets the content) is replaced atomically. Directories, block devices,
//! sockets and dangling links are refused, as are two outputs that are one file and an output
//! that is one of the command's inputs. [`Outputs::commit`] then takes each file's lock,
//! stages every file in a temporary beside it, writes the streams, and only when all of that
//! worked renames the temporaries into place, keeping the mode of a file it replaces.

use std::fs::{self, File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::input::{FileId, kind};
use super::lock::Lock;
use super::temps;
use crate::core::error::{Error, Result};
use crate::core::text;

/// What an output holds, for the one refusal that depends on it: binary data is not written
/// to a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    Text,
    Binary,
}

/// Where an output goes.
#[derive(Debug)]
pub enum Sink {
    Stdout,
    /// A device, FIFO or inherited descriptor, written in place; `terminal` when it is one.
    Stream {
        file: File,
        terminal: bool,
    },
    /// A regular file, new or replaced: `real` is the path with symbolic links resolved, where
    /// the temporary is staged and what it is renamed over.
    File {
        real: PathBuf,
        existing: Option<fs::Metadata>,
    },
}

/// One resolved output.
#[derive(Debug)]
pub struct Output {
    /// The option that named it (`--out`), for messages.
    pub flag: String,
    /// The path as given.
    pub path: PathBuf,
    pub sink: Sink,
    pub content: Content,
    id: Option<FileId>,
    /// For a new file: its directory's identity and its name, to tell two spellings apart.
    new_key: Option<(FileId, std::ffi::OsString)>,
}

impl Output {
    pub fn is_stdout(&self) -> bool {
        matches!(self.sink, Sink::Stdout)
    }

    /// The output for a message: the option and its path (`--out a.npy`), or just "standard
    /// output" where the command writes there of itself.
    fn named(&self) -> String {
        let path = text::echo(&self.path.display().to_string());
        if self.flag == "standard output" {
            self.flag.clone()
        } else {
            format!("{} {path}", self.flag)
        }
    }

    /// Whether the output is a regular file (resumable, lockable), not a stream.
    pub fn is_file(&self) -> bool {
        matches!(self.sink, Sink::File { .. })
    }
}

/// The paths that mean this process's standard output.
pub fn is_stdout_path(p: &Path) -> bool {
    let s = p.as_os_str();
    s == "-" || s == "/dev/stdout" || s == "/dev/fd/1" || s == "/proc/self/fd/1"
}

/// Inherited descriptors: written through the descriptor, whatever file it is.
fn is_descriptor_path(p: &Path) -> bool {
    p.starts_with("/dev/fd") || p.starts_with("/proc/self/fd") || p == Path::new("/dev/stderr")
}

/// Resolves one output path (see the module docs).
pub fn resolve(flag: &str, path: &Path, content: Content) -> Result<Output> {
    let out = |sink, id, new_key| Output {
        flag: flag.to_string(),
        path: path.to_path_buf(),
        sink,
        content,
        id,
        new_key,
    };
    if path.as_os_str().is_empty() {
        return Err(Error::Invalid(format!(
            "{flag}: the path is empty; expected a file name (or - for standard output)"
        )));
    }
    if is_stdout_path(path) {
        if content == Content::Binary && std::io::stdout().is_terminal() {
            return Err(Error::Invalid(format!(
                "{flag} {}: standard output is a terminal; a binary .npy is not written to \
                 one (redirect it: > FILE.npy, or pipe it)",
                path.display()
            )));
        }
        // What standard output is (a file `> w.npy` made it, a pipe, a terminal), to refuse
        // writing into an input through it.
        let id = FileId::of_path(Path::new("/dev/fd/1"));
        return Ok(out(Sink::Stdout, id, None));
    }
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() && !is_descriptor_path(path) => {
            let real = fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
            Ok(out(
                Sink::File {
                    real,
                    existing: Some(meta),
                },
                FileId::of_path(path),
                None,
            ))
        }
        Ok(meta) if meta.is_dir() => Err(Error::file(
            path,
            format!("{flag} is a directory; expected a file path"),
        )),
        Ok(meta) => {
            let file = open_stream(path, &meta, flag)?;
            let terminal = file.is_terminal();
            if terminal && content == Content::Binary {
                return Err(Error::file(
                    path,
                    format!(
                        "{flag} is a terminal; a binary .npy is not written to one (give a \
                         file, or - and a pipe)"
                    ),
                ));
            }
            Ok(out(
                Sink::Stream { file, terminal },
                FileId::of_path(path),
                None,
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Ok(link) = fs::symlink_metadata(path)
                && link.file_type().is_symlink()
            {
                let to =
                    fs::read_link(path).map_or_else(|_| "?".into(), |t| t.display().to_string());
                return Err(Error::file(
                    path,
                    format!(
                        "{flag} is a symbolic link to {to}, which does not exist; qlab writes \
                         through links to existing files only"
                    ),
                ));
            }
            if path.as_os_str().as_encoded_bytes().ends_with(b"/") {
                return Err(Error::file(
                    path,
                    format!(
                        "{flag} ends in /, which names a directory, and there is none; expected \
                         a file path"
                    ),
                ));
            }
            let name = path.file_name().ok_or_else(|| {
                Error::file(
                    path,
                    format!("{flag} names a directory; expected a file path"),
                )
            })?;
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let dir = fs::canonicalize(parent).map_err(|e| Error::io(path, e))?;
            let key = FileId::of_path(&dir).map(|d| (d, name.to_os_string()));
            Ok(out(
                Sink::File {
                    real: dir.join(name),
                    existing: None,
                },
                None,
                key,
            ))
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Opens a device, FIFO or descriptor path for writing, or refuses it.
fn open_stream(path: &Path, meta: &fs::Metadata, flag: &str) -> Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        let t = meta.file_type();
        if t.is_block_device() || t.is_socket() {
            return Err(Error::file(
                path,
                format!(
                    "{flag} is {}; expected a file, a FIFO, a terminal or -",
                    kind(meta)
                ),
            ));
        }
        if t.is_fifo() {
            // A FIFO without a reader would block the open until one comes: find out first.
            let probe = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path);
            match probe {
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                    return Err(Error::file(
                        path,
                        format!("{flag} is a FIFO with no reader; start the reader first"),
                    ));
                }
                Err(e) => return Err(Error::io(path, e)),
                // A reader is there: the blocking open below returns at once.
                Ok(_probe) => {
                    return OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(|e| Error::io(path, e));
                }
            }
        }
    }
    let _ = (meta, flag);
    OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

/// A command's outputs, resolved and checked; filled with [`Outputs::put`], written with
/// [`Outputs::commit`].
#[derive(Debug, Default)]
pub struct Outputs {
    items: Vec<(Output, Option<Vec<u8>>)>,
    inputs: Vec<(PathBuf, FileId)>,
}

/// Which output of an [`Outputs`] (returned by [`Outputs::add`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(usize);

impl Outputs {
    /// Outputs of a command that reads `inputs` (none of which may be written).
    pub fn new<P: AsRef<Path>>(inputs: &[P]) -> Outputs {
        Outputs {
            items: Vec::new(),
            inputs: inputs
                .iter()
                .filter_map(|p| Some((p.as_ref().to_path_buf(), FileId::of_path(p.as_ref())?)))
                .collect(),
        }
    }

    /// Resolves an output and checks it against the inputs and the outputs added before.
    pub fn add(&mut self, flag: &str, path: &Path, content: Content) -> Result<Slot> {
        let out = resolve(flag, path, content)?;
        check_input(&out, &self.inputs)?;
        for (other, _) in &self.items {
            if same_target(&out, other) {
                let message =
                    if out.is_file() && other.is_file() || out.is_stdout() && other.is_stdout() {
                        format!(
                            "{flag} and {} name the same file; give each output its own path",
                            other.flag
                        )
                    } else {
                        format!(
                            "{} and {} lead into the same file, and one would destroy the \
                             other; give each output its own file",
                            out.named(),
                            other.named(),
                        )
                    };
                return Err(Error::file(path, message));
            }
        }
        self.items.push((out, None));
        Ok(Slot(self.items.len() - 1))
    }

    /// Sets what an output will hold.
    pub fn put(&mut self, slot: Slot, bytes: Vec<u8>) {
        self.items[slot.0].1 = Some(bytes);
    }

    /// The output of a slot.
    pub fn get(&self, slot: Slot) -> &Output {
        &self.items[slot.0].0
    }

    /// Writes every output that was given content: all of them, or (on any failure) none of
    /// the files. Streams cannot be taken back: they are written after every file is staged,
    /// so a failure to stage writes nothing anywhere.
    pub fn commit(self) -> Result<()> {
        let items: Vec<(Output, Vec<u8>)> = self
            .items
            .into_iter()
            .filter_map(|(o, b)| Some((o, b?)))
            .collect();
        let mut locks = Vec::new();
        for (o, _) in &items {
            if let Sink::File { real, .. } = &o.sink {
                locks.push(Lock::acquire(real, &o.path)?);
            }
        }
        let mut staged: Vec<Staged> = Vec::new();
        let fail = |staged: Vec<Staged>, e: Error| {
            staged.into_iter().for_each(Staged::discard);
            Err(e)
        };
        for (o, bytes) in &items {
            if let Sink::File { real, existing } = &o.sink {
                match Staged::write(real, existing.as_ref(), &o.path, bytes) {
                    Ok(s) => staged.push(s),
                    Err(e) => return fail(staged, e),
                }
            }
        }
        for (o, bytes) in &items {
            let result = match &o.sink {
                Sink::Stdout if o.content == Content::Text => {
                    crate::core::stdio::print_bytes(bytes)
                }
                Sink::Stdout => crate::core::stdio::write_stdout(bytes),
                Sink::Stream { file, terminal } => {
                    write_stream(file, *terminal && o.content == Content::Text, bytes)
                        .map_err(|e| Error::io(&o.path, e))
                }
                Sink::File { .. } => Ok(()),
            };
            if let Err(e) = result {
                return fail(staged, e);
            }
        }
        for s in staged {
            s.persist()?;
        }
        drop(locks);
        Ok(())
    }
}

/// [`resolve`], then refuses an output that is one of `inputs`.
pub fn resolve_checked<P: AsRef<Path>>(
    flag: &str,
    path: &Path,
    content: Content,
    inputs: &[P],
) -> Result<Output> {
    let out = resolve(flag, path, content)?;
    let ids: Vec<(PathBuf, FileId)> = inputs
        .iter()
        .filter_map(|p| Some((p.as_ref().to_path_buf(), FileId::of_path(p.as_ref())?)))
        .collect();
    check_input(&out, &ids)?;
    Ok(out)
}

/// Writes to a stream output; text to a terminal has its control characters escaped, as
/// everything qlab prints on one does.
pub fn write_stream(file: &File, escape: bool, bytes: &[u8]) -> std::io::Result<()> {
    let mut f: &File = file;
    if escape {
        let text = String::from_utf8_lossy(bytes);
        f.write_all(crate::core::text::for_terminal(&text).as_bytes())?;
    } else {
        f.write_all(bytes)?;
    }
    f.flush()
}

/// Refuses an output that is one of the inputs: a file by its name or a link, or a stream
/// (standard output, /dev/fd/N) that leads into one.
fn check_input(out: &Output, inputs: &[(PathBuf, FileId)]) -> Result<()> {
    if let Some(id) = out.id
        && let Some((input, _)) = inputs.iter().find(|(_, i)| *i == id)
    {
        if !out.is_file() {
            return Err(Error::file(
                &out.path,
                format!(
                    "{} writes into {}, which this command reads; choose another output",
                    out.named(),
                    input.display()
                ),
            ));
        }
        return Err(Error::file(
            &out.path,
            format!(
                "{} names {}, which this command reads; choose another output path",
                out.flag,
                input.display()
            ),
        ));
    }
    Ok(())
}

/// Whether two outputs would write one file (or both standard output). Two streams to the
/// same device or pipe (/dev/null twice) are allowed: nothing is replaced, and what each
/// writes arrives whole. A regular file reached twice — by name and through standard output
/// (`--out a.npy > a.npy`), or through two descriptors — is refused: one write would destroy
/// the other.
fn same_target(a: &Output, b: &Output) -> bool {
    match (&a.sink, &b.sink) {
        (Sink::Stdout, Sink::Stdout) => true,
        (Sink::File { real: ra, .. }, Sink::File { real: rb, .. }) => {
            ra == rb
                || a.id.is_some() && a.id == b.id
                || a.new_key.is_some() && a.new_key == b.new_key
        }
        _ => a.id.is_some() && a.id == b.id && (leads_to_regular(a) || leads_to_regular(b)),
    }
}

/// Whether an output writes a regular file (by name, or a stream that leads into one).
fn leads_to_regular(o: &Output) -> bool {
    match &o.sink {
        Sink::File { .. } => true,
        Sink::Stdout => fs::metadata("/dev/fd/1").is_ok_and(|m| m.is_file()),
        Sink::Stream { file, .. } => file.metadata().is_ok_and(|m| m.is_file()),
    }
}

/// A temporary written beside its target, waiting to be renamed over it.
pub struct Staged {
    temp: PathBuf,
    real: PathBuf,
    shown: PathBuf,
}

impl Staged {
    /// Creates a fresh temporary beside `real` (never an existing file, never through a link
    /// planted at its name), writes `bytes`, gives it the mode (and, where allowed, the owner)
    /// of the file it will replace, and syncs it to disk.
    pub fn write(
        real: &Path,
        existing: Option<&fs::Metadata>,
        shown: &Path,
        bytes: &[u8],
    ) -> Result<Staged> {
        let (s, mut f) = Staged::create(real, existing, shown)?;
        match f.write_all(bytes).and_then(|()| f.sync_all()) {
            Ok(()) => Ok(s),
            Err(e) => {
                s.discard();
                Err(Error::io(shown, e))
            }
        }
    }

    /// Creates the empty temporary (registered for removal on a signal), with the mode and
    /// owner of `existing`, and returns it with the file open for writing.
    pub fn create(
        real: &Path,
        existing: Option<&fs::Metadata>,
        shown: &Path,
    ) -> Result<(Staged, File)> {
        temps::remove_stale(real);
        let temp = temps::temp_name(real);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| Error::io(shown, e))?;
        temps::register(&temp);
        if let Some(meta) = existing {
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                // Only root can give a file away; for others this fails when the owner
                // differs, and the new file is theirs, as any rewrite would make it.
                // Owner first: a chown clears set-id bits, which the chmod below restores.
                let _ = std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()));
            }
            let _ = file.set_permissions(meta.permissions());
        }
        let s = Staged {
            temp,
            real: real.to_path_buf(),
            shown: shown.to_path_buf(),
        };
        Ok((s, file))
    }

    /// The temporary's path.
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// Renames the temporary over its target and syncs the directory, so the new name is on
    /// disk too.
    pub fn persist(self) -> Result<()> {
        if let Err(e) = fs::rename(&self.temp, &self.real) {
            let shown = self.shown.clone();
            self.discard();
            return Err(Error::io(shown, e));
        }
        temps::forget(&self.temp);
        if let Some(dir) = self.real.parent()
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Removes the temporary.
    pub fn discard(self) {
        temps::remove(&self.temp);
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn inputs() -> Vec<PathBuf> {
        Vec::new()
    }

    #[test]
    fn all_or_nothing_and_the_mode_is_kept() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a.bin");
        fs::write(&a, b"old").unwrap();
        fs::set_permissions(&a, fs::Permissions::from_mode(0o640)).unwrap();
        let mut outs = Outputs::new(&inputs());
        let s = outs.add("--out", &a, Content::Binary).unwrap();
        outs.put(s, b"new".to_vec());
        outs.commit().unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"new");
        let mode = fs::metadata(&a).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temporaries left"
        );
        // Set-id and sticky bits too (a chown after the chmod would clear them).
        fs::set_permissions(&a, fs::Permissions::from_mode(0o6751)).unwrap();
        let mut outs = Outputs::new(&inputs());
        let s = outs.add("--out", &a, Content::Binary).unwrap();
        outs.put(s, b"newer".to_vec());
        outs.commit().unwrap();
        let mode = fs::metadata(&a).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o6751, "{mode:o}");
    }

    #[test]
    fn the_same_file_twice_and_inputs_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let input = d.path().join("in.npy");
        fs::write(&input, b"x").unwrap();
        let mut outs = Outputs::new(&[&input]);
        let e = outs.add("--out", &input, Content::Binary).unwrap_err();
        assert!(e.to_string().contains("--out names "), "{e}");
        assert!(
            e.to_string()
                .ends_with(", which this command reads; choose another output path"),
            "{e}"
        );
        let new = d.path().join("n.npy");
        outs.add("--out", &new, Content::Binary).unwrap();
        let other_spelling = d.path().join(".").join("n.npy");
        let e = outs
            .add("--codes", &other_spelling, Content::Binary)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("--codes and --out name the same file"),
            "{e}"
        );
    }

    #[test]
    fn devices_are_written_in_place_and_never_replaced() {
        let mut outs = Outputs::new(&inputs());
        let s = outs
            .add("--out", Path::new("/dev/null"), Content::Binary)
            .unwrap();
        outs.put(s, b"gone".to_vec());
        outs.commit().unwrap();
        let meta = fs::metadata("/dev/null").unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(meta.file_type().is_char_device());
    }

    #[test]
    fn links_are_written_through() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("t.csv");
        fs::write(&target, b"old").unwrap();
        let link = d.path().join("l.csv");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let mut outs = Outputs::new(&inputs());
        let s = outs.add("--out", &link, Content::Text).unwrap();
        outs.put(s, b"new".to_vec());
        outs.commit().unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&target).unwrap(), b"new");
        // A dangling link is refused.
        let dangling = d.path().join("d.csv");
        std::os::unix::fs::symlink(d.path().join("nowhere"), &dangling).unwrap();
        let e = Outputs::new(&inputs())
            .add("--out", &dangling, Content::Text)
            .unwrap_err();
        assert!(e.to_string().contains("which does not exist"), "{e}");
    }
}
