//! Running a sweep into a CSV: parallel, in index order, incremental, resumable, shardable.

use std::fs::File;
use std::io::{IsTerminal, Seek, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use rayon::prelude::*;

use super::spec::Sweep;
use crate::core::error::{Error, Result};
use crate::core::experiment;
use crate::core::files::lock::Lock;
use crate::core::files::temps;
use crate::core::files::{Content, Staged};
use crate::core::report::rows::ReportRow;
use crate::core::text;

/// Columns the sweep writes before the axis columns and the report columns.
pub const LEAD_COLUMNS: [&str; 4] = ["sweep_id", "config", "configs", "repeat"];

/// Which part of a sweep to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 1-based.
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    pub fn contains(self, config: u64) -> bool {
        config % self.count == self.index - 1
    }
}

impl std::str::FromStr for Shard {
    type Err = Error;
    fn from_str(s: &str) -> Result<Shard> {
        let bad = || {
            Error::Invalid(format!(
                "invalid shard '{}'; expected I/N with 1 ≤ I ≤ N, e.g. 2/8",
                crate::core::text::echo(s)
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.parse::<u64>().map_err(|_| bad())?,
            n.parse::<u64>().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A bar on a terminal, periodic lines otherwise.
    Auto,
    Quiet,
}

pub struct Options {
    pub threads: Option<usize>,
    pub resume: bool,
    pub shard: Shard,
    pub timings: bool,
    pub progress: Progress,
    /// Run one configuration at a time (each still uses every thread inside its kernels): a
    /// scan of large tensors keeps one tensor's working set in memory, not one per thread.
    pub one_at_a_time: bool,
}

/// The header: lead columns, one column per axis, the report columns, and `seconds` with
/// `--timings`.
pub fn header(sweep: &Sweep, timings: bool) -> Vec<String> {
    let mut h: Vec<String> = LEAD_COLUMNS
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    h.extend(axis_columns(sweep).flat_map(super::spec::Axis::columns));
    h.extend(report_header());
    if timings {
        h.push("seconds".into());
    }
    h
}

/// Axes that get a column of their own: `seed`, `m`, `k` and `n` already have one among the
/// report's columns, with the same values.
fn axis_columns(sweep: &Sweep) -> impl Iterator<Item = &super::spec::Axis> {
    sweep
        .axes
        .iter()
        .filter(|a| !matches!(a.name.as_str(), "seed" | "m" | "k" | "n"))
}

/// The report columns, from `ReportRow`'s field names.
fn report_header() -> Vec<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.serialize(ReportRow::default());
    let bytes = w.into_inner().unwrap_or_default();
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    r.headers()
        .map(|h| h.iter().map(String::from).collect())
        .unwrap_or_default()
}

/// One report row's fields as strings (floats in their shortest round-tripping form).
fn report_fields(row: &ReportRow) -> Result<Vec<String>> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.serialize(row)
        .map_err(|e| Error::Invalid(format!("CSV: {e}")))?;
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Invalid(format!("CSV: {e}")))?;
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes.as_slice());
    let rec = r
        .records()
        .next()
        .ok_or_else(|| Error::Invalid("CSV: empty record".into()))?
        .map_err(|e| Error::Invalid(format!("CSV: {e}")))?;
    Ok(rec.iter().map(String::from).collect())
}

fn encode_rows(rows: &[Vec<String>]) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for r in rows {
        w.write_record(r)
            .map_err(|e| Error::Invalid(format!("CSV: {e}")))?;
    }
    w.into_inner()
        .map_err(|e| Error::Invalid(format!("CSV: {e}")))
}

/// Runs configuration `index` and returns its CSV records (one per variant).
pub fn run_config(sweep: &Sweep, index: u64, timings: bool) -> Result<Vec<Vec<String>>> {
    let start = Instant::now();
    let config = sweep.config(index)?;
    let report = experiment::run(&config.scenario).map_err(|e| {
        let axes: Vec<String> = sweep
            .axes
            .iter()
            .zip(&config.choice)
            .map(|(a, &c)| format!("{} = {}", a.name, super::spec::value_brief(&a.values[c])))
            .collect();
        let at = if axes.is_empty() {
            format!("configuration {index}")
        } else {
            format!("configuration {index} ({})", axes.join(", "))
        };
        Error::file(sweep.origin(), format!("{at}: {e}"))
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let mut out = Vec::new();
    for v in &report.variants {
        let mut rec = vec![
            sweep.id.clone(),
            index.to_string(),
            sweep.len().to_string(),
            config.repeat.to_string(),
        ];
        rec.extend(
            sweep
                .axes
                .iter()
                .zip(&config.choice)
                .filter(|(a, _)| !matches!(a.name.as_str(), "seed" | "m" | "k" | "n"))
                .flat_map(|(a, &c)| a.cells(c)),
        );
        rec.extend(report_fields(&ReportRow::new(&report, v))?);
        if timings {
            rec.push(format!("{seconds}"));
        }
        out.push(rec);
    }
    Ok(out)
}

/// What an existing output file holds for resuming.
struct Existing {
    /// Complete configurations' rows, in configuration order.
    rows: Vec<Vec<String>>,
    done: std::collections::HashSet<u64>,
}

/// Reads a partial output file: checks it belongs to this sweep and keeps the configurations
/// that are complete (a row for every variant), dropping a torn last line.
fn read_existing(path: &Path, shown: &Path, sweep: &Sweep, header: &[String]) -> Result<Existing> {
    let bytes = crate::core::files::read(path).map_err(|e| rename_error(e, path, shown))?;
    // Only whole lines count: an interrupted write may leave a partial last line.
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(&bytes[..end]);
    let file_header: Vec<String> = r
        .headers()
        .map_err(|e| Error::file(shown, format!("cannot resume: {e}")))?
        .iter()
        .map(String::from)
        .collect();
    if file_header.is_empty() {
        return Ok(Existing {
            rows: Vec::new(),
            done: Default::default(),
        });
    }
    if file_header != header {
        return Err(Error::file(
            shown,
            "cannot resume: its columns differ from this sweep's (a different sweep, or different --timings); \
             use another --out or remove the file",
        ));
    }
    let mut by_config: std::collections::BTreeMap<u64, Vec<Vec<String>>> = Default::default();
    for rec in r.records() {
        let Ok(rec) = rec else { continue };
        if rec.len() != header.len() {
            continue;
        }
        if &rec[0] != sweep.id.as_str() {
            return Err(Error::file(
                shown,
                format!(
                    "cannot resume: it belongs to sweep {} and this is sweep {}; use another --out or remove the file",
                    &rec[0], sweep.id
                ),
            ));
        }
        let Ok(config) = rec[1].parse::<u64>() else {
            continue;
        };
        if config >= sweep.len() {
            continue;
        }
        by_config
            .entry(config)
            .or_default()
            .push(rec.iter().map(String::from).collect());
    }
    let variants = sweep.variants();
    let mut rows = Vec::new();
    let mut done = std::collections::HashSet::new();
    for (&c, recs) in &by_config {
        if recs.len() == variants && plausible(sweep, header, c, recs) {
            rows.extend(recs.iter().cloned());
            done.insert(c);
        }
    }
    Ok(Existing { rows, done })
}

/// Whether a configuration's rows are what this sweep writes for it, as far as can be told
/// without recomputing: the repeat, axis values, seed, sources and variant labels match the
/// configuration, and every metric column reads as a number. A row damaged in any of those
/// sends its configuration back to be run again.
fn plausible(sweep: &Sweep, header: &[String], c: u64, recs: &[Vec<String>]) -> bool {
    let Ok(config) = sweep.config(c) else {
        return false;
    };
    let s = &config.scenario;
    let col = |name: &str| header.iter().position(|h| h == name);
    let mut expected: Vec<(usize, String)> = vec![(3, config.repeat.to_string())];
    let axes = sweep
        .axes
        .iter()
        .zip(&config.choice)
        .filter(|(a, _)| !matches!(a.name.as_str(), "seed" | "m" | "k" | "n"));
    let cells = axes.flat_map(|(a, &j)| a.cells(j));
    for (i, cell) in cells.enumerate() {
        expected.push((LEAD_COLUMNS.len() + i, cell));
    }
    for (name, value) in [
        ("scenario", s.name.clone()),
        ("seed", s.seed.to_string()),
        ("w_source", s.w.describe()),
        ("x_source", s.x.describe()),
    ] {
        if let Some(i) = col(name) {
            expected.push((i, value));
        }
    }
    let numeric: Vec<usize> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| {
            h.ends_with("_db")
                || h.starts_with("out_")
                || h.ends_with("_rmse")
                || h.ends_with("_max_abs")
                || h.ends_with("_clipped")
                || h.ends_with("_flushed")
                || h.as_str() == "compression"
        })
        .map(|(i, _)| i)
        .collect();
    let variant = col("variant");
    recs.iter().zip(&s.variants).all(|(rec, v)| {
        expected.iter().all(|(i, want)| rec.get(*i) == Some(want))
            && variant.is_none_or(|i| rec.get(i) == Some(&v.label))
            && numeric
                .iter()
                .all(|&i| rec.get(i).is_some_and(|x| x.parse::<f64>().is_ok()))
    })
}

/// Reports progress: an indicatif bar on a terminal, a line every few seconds otherwise. A
/// ticker thread reads the count the workers raise as each configuration finishes, so a long
/// configuration still shows signs of life.
struct Reporter {
    done: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    start: Instant,
    total: u64,
    /// Configurations the file held before this run.
    already: u64,
}

/// A progress line for a pipe or a log. The rate counts this run's configurations only (not
/// those a resumed file already held), and there is no ETA before the first one is done.
fn progress_line(done: u64, already: u64, total: u64, start: Instant) -> String {
    let percent = done as f64 / total.max(1) as f64 * 100.0;
    let head = format!("sweep: {done}/{total} configurations ({percent:.0}%)");
    let ran = done.saturating_sub(already);
    if ran == 0 {
        return format!("{head}, ETA not known yet");
    }
    let rate = ran as f64 / start.elapsed().as_secs_f64().max(1e-9);
    let eta = total.saturating_sub(done) as f64 / rate;
    format!("{head}, {rate:.1}/s, ETA {eta:.0} s")
}

impl Reporter {
    fn new(total: u64, already: u64, progress: Progress) -> Reporter {
        let tty = std::io::stderr().is_terminal();
        let bar = (progress == Progress::Auto && tty).then(|| {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} configurations · {per_sec} · ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.set_position(already);
            b
        });
        let plain = progress == Progress::Auto && !tty;
        let done = Arc::new(AtomicU64::new(already));
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let ticker = (plain || bar.is_some()).then(|| {
            let (done, stop, bar) = (Arc::clone(&done), Arc::clone(&stop), bar.clone());
            std::thread::spawn(move || {
                let mut last = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    let n = done.load(Ordering::Relaxed);
                    match &bar {
                        Some(b) => b.set_position(n),
                        None if last.elapsed().as_secs_f64() >= 5.0 => {
                            last = Instant::now();
                            crate::note!("{}", progress_line(n, already, total, start));
                        }
                        None => {}
                    }
                }
            })
        });
        Reporter {
            done,
            stop,
            ticker,
            bar,
            plain,
            start,
            total,
            already,
        }
    }

    /// The count the workers raise.
    fn counter(&self) -> &AtomicU64 {
        &self.done
    }

    fn finish(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        let n = self.done.load(Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.set_position(n);
            b.finish();
        } else if self.plain && n == self.total {
            crate::note!("{}", progress_line(n, self.already, self.total, self.start));
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

/// An error about the real path of an output, named as the user gave it.
fn rename_error(e: Error, real: &Path, shown: &Path) -> Error {
    match e {
        Error::Io { path, source } if path == real => Error::io(shown, source),
        Error::File { path, message } if path == real => Error::file(shown, message),
        other => other,
    }
}

/// The configurations of a shard, in order, without holding them: a sweep may have 10^12.
fn shard_indices(len: u64, shard: Shard) -> impl Iterator<Item = u64> {
    let step = usize::try_from(shard.count).unwrap_or(usize::MAX);
    (shard.index - 1..len).step_by(step)
}

/// How many configurations a shard has.
fn shard_len(len: u64, shard: Shard) -> u64 {
    let first = shard.index - 1;
    if len <= first {
        0
    } else {
        (len - first).div_ceil(shard.count)
    }
}

/// Where a sweep's rows go while it runs.
enum Sink {
    /// Standard output or another stream: rows are written as they come; nothing to resume.
    Stream(Box<crate::core::files::Output>),
    /// A file: staged until the first batch is in (an existing file stays as it was until
    /// then), appended to in place afterwards.
    File {
        file: File,
        staged: Option<Staged>,
        /// Bytes in the file.
        len: u64,
    },
}

/// Runs the sweep (or its shard) into `out`. Rows are appended one batch of configurations at
/// a time, in configuration order, so an interruption loses at most the batch in flight and
/// `--resume` continues where it stopped.
///
/// `out` may be `-` (standard output) or a stream, written as the rows come. A file is
/// locked for the run (a second sweep on it is refused), and it is replaced only once the
/// first batch is written: a sweep that fails before then leaves an existing file as it was.
/// A resumed run whose rows came in out of order (a shard's file completed without
/// `--shard`) is rewritten in configuration order at the end, so it equals the unsharded run.
pub fn run(sweep: &Sweep, out: &Path, opts: &Options) -> Result<u64> {
    let header = header(sweep, opts.timings);
    let target = crate::core::files::output::resolve_checked(
        "--out",
        out,
        Content::Text,
        sweep.input_files(),
    )?;
    let (real, existing_meta) = match &target.sink {
        crate::core::files::Sink::File { real, existing } => (Some(real.clone()), existing.clone()),
        _ => (None, None),
    };
    let _lock = match &real {
        Some(r) => Some(Lock::acquire(r, out)?),
        None => None,
    };
    let existing = match (&real, opts.resume) {
        (None, true) => {
            return Err(Error::Invalid(format!(
                "--resume needs a file to continue; {} is a stream",
                out.display()
            )));
        }
        (Some(r), true) if existing_meta.is_some() => {
            Some((read_existing(r, out, sweep, &header)?, r.clone()))
        }
        _ => None,
    };
    // The start of the output: the header and any complete rows kept from before.
    let mut start = encode_rows(std::slice::from_ref(&header))?;
    let (done, kept_max) = match &existing {
        Some((e, _)) => {
            start.extend(encode_rows(&e.rows)?);
            (e.done.clone(), e.done.iter().copied().max())
        }
        None => (Default::default(), None),
    };
    // A resumed file that already begins with exactly these bytes (the usual case: a run
    // stopped between batches) is continued in place, cut back to them: no second copy, so a
    // disk with room for the rest of the rows is enough.
    let in_place = match &existing {
        Some((_, r)) => crate::core::files::read(r)?.starts_with(&start),
        None => false,
    };
    // An existing file that is not being resumed is replaced only by a complete run: until
    // then the old results stay exactly as they were. A new file (or a resumed one) takes its
    // rows as they come, from the first batch on, so an interruption loses at most a batch.
    let replacing = existing_meta.is_some() && !opts.resume;
    let mut sink = match real {
        Some(r) if in_place => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .open(&r)
                .map_err(|e| Error::io(out, e))?;
            // Shrinking needs no space, so this works on a full disk too.
            file.set_len(start.len() as u64)
                .and_then(|()| file.seek(std::io::SeekFrom::End(0)).map(|_| ()))
                .map_err(|e| Error::io(out, e))?;
            Sink::File {
                file,
                staged: None,
                len: start.len() as u64,
            }
        }
        Some(r) => {
            let (staged, mut file) = Staged::create(&r, existing_meta.as_ref(), out)?;
            if let Err(e) = file.write_all(&start) {
                let sink = Sink::File {
                    file,
                    staged: Some(staged),
                    len: 0,
                };
                return Err(discard(sink, out, Error::io(out, e)));
            }
            Sink::File {
                file,
                staged: Some(staged),
                len: start.len() as u64,
            }
        }
        None => {
            write_stream(&target, &start)?;
            Sink::Stream(Box::new(target))
        }
    };

    // What an interruption leaves, said as the process ends.
    let shown = text::cut_middle(&out.display().to_string(), 200);
    let resumable = format!(
        "{shown} keeps the configurations written so far; run the same command with --resume \
         to finish"
    );
    let _say = SignalNote::new(match &sink {
        Sink::Stream(_) => None,
        Sink::File { staged: None, .. } => Some(resumable.clone()),
        Sink::File { .. } if replacing => Some(format!("{shown} is as it was before this run")),
        Sink::File { .. } => Some(format!("nothing was written to {shown}")),
    });

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.unwrap_or(0))
        .build()
        .map_err(|e| Error::Invalid(format!("thread pool: {e}")))?;
    let batch = if opts.one_at_a_time {
        1
    } else {
        pool.current_num_threads().max(1) * 2
    };
    let len = sweep.len();
    let in_shard = shard_len(len, opts.shard);
    let mut finished = done.iter().filter(|&&c| opts.shard.contains(c)).count() as u64;
    let mut todo = shard_indices(len, opts.shard).filter(|i| !done.contains(i));
    let mut reporter = Reporter::new(in_shard, finished, opts.progress);
    let mut ran = 0u64;
    let mut out_of_order = false;
    loop {
        let chunk: Vec<u64> = todo.by_ref().take(batch).collect();
        if chunk.is_empty() {
            break;
        }
        out_of_order |= kept_max.is_some_and(|m| chunk[0] < m);
        let counter = reporter.counter();
        let results: Vec<Result<Vec<Vec<String>>>> = pool.install(|| {
            chunk
                .par_iter()
                .map(|&i| {
                    let r = run_config(sweep, i, opts.timings);
                    // A configuration that failed is not done.
                    if r.is_ok() {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    r
                })
                .collect()
        });
        let mut rows = Vec::new();
        for r in results {
            match r {
                Ok(r) => rows.extend(r),
                Err(e) => {
                    reporter.finish();
                    return Err(discard(sink, out, e));
                }
            }
        }
        let bytes = encode_rows(&rows)?;
        match &mut sink {
            Sink::Stream(target) => {
                if let Err(e) = write_stream(target, &bytes) {
                    reporter.finish();
                    return Err(e);
                }
            }
            Sink::File { file, staged, len } => {
                if let Err(e) = append(file, *len, &bytes) {
                    reporter.finish();
                    if staged.is_some() {
                        return Err(discard(sink, out, Error::io(out, e)));
                    }
                    return Err(Error::file(
                        out,
                        format!(
                            "{e}; the file keeps its header and {finished} complete \
                             configuration{} (the failed batch was taken back out): free \
                             space, then run the same command with --resume to continue",
                            if finished == 1 { "" } else { "s" }
                        ),
                    ));
                }
                *len += bytes.len() as u64;
                // The first batch is in: the new file takes the old one's place (unless it
                // replaces results, which wait for the whole run).
                if !replacing && let Some(s) = staged.take() {
                    s.persist()?;
                    temps::on_signal_say(Some(resumable.clone()));
                }
            }
        }
        ran += chunk.len() as u64;
        finished += chunk.len() as u64;
    }
    reporter.finish();
    if let Sink::File {
        file,
        staged: Some(s),
        ..
    } = sink
    {
        // Nothing was left to run: the file is the header and the kept rows.
        drop(file);
        s.persist()?;
    }
    if out_of_order {
        sort_file(out, sweep, &header)?;
    }
    Ok(ran)
}

/// The note a signal prints while a sweep writes its file, taken back when the sweep ends.
struct SignalNote;

impl SignalNote {
    fn new(note: Option<String>) -> SignalNote {
        temps::on_signal_say(note);
        SignalNote
    }
}

impl Drop for SignalNote {
    fn drop(&mut self) {
        temps::on_signal_say(None);
    }
}

/// Writes to a stream output; a closed standard output ends the sweep quietly.
fn write_stream(target: &crate::core::files::Output, bytes: &[u8]) -> Result<()> {
    match &target.sink {
        crate::core::files::Sink::Stream { file, terminal } => {
            crate::core::files::output::write_stream(file, *terminal, bytes)
                .map_err(|e| Error::io(&target.path, e))
        }
        _ => crate::core::stdio::print_bytes(bytes),
    }
}

/// Drops a sink after a failure, and says what became of the output: a staged file that never
/// replaced it is removed, and the output is as it was before the run.
fn discard(sink: Sink, out: &Path, e: Error) -> Error {
    let Sink::File {
        staged: Some(s), ..
    } = sink
    else {
        return e;
    };
    s.discard();
    let kept = if out.exists() {
        format!("{} is as it was before this run", out.display())
    } else {
        format!("nothing was written to {}", out.display())
    };
    match e {
        Error::Io { path, source } => Error::file(path, format!("{source}; {kept}")),
        Error::File { path, message } => Error::file(path, format!("{message}; {kept}")),
        other => Error::Invalid(format!("{other}; {kept}")),
    }
}

/// Rewrites a complete sweep file in configuration order (variant rows keep their order).
fn sort_file(out: &Path, sweep: &Sweep, header: &[String]) -> Result<()> {
    let target = crate::core::files::output::resolve("--out", out, Content::Text)?;
    let crate::core::files::Sink::File { real, existing } = &target.sink else {
        return Ok(());
    };
    let e = read_existing(real, out, sweep, header)?;
    let mut bytes = encode_rows(std::slice::from_ref(&header.to_vec()))?;
    bytes.extend(encode_rows(&e.rows)?);
    Staged::write(real, existing.as_ref(), out, &bytes)?.persist()
}

/// One write per batch, then flushed to the disk: a kill loses at most this batch. A failed
/// write (a full disk, a quota) may have left part of the batch behind; the file is cut back
/// to `len`, its length before, so it never ends in half a row or half a configuration.
fn append(file: &mut File, len: u64, bytes: &[u8]) -> std::io::Result<()> {
    let result = file.write_all(bytes).and_then(|()| file.sync_data());
    if result.is_err() {
        // Shrinking needs no space, so this works on a full disk too.
        let _ = file.set_len(len).and_then(|()| file.sync_data());
    }
    result
}

/// The first `n` configurations of the plan, as text lines for `--dry-run`.
pub fn plan(sweep: &Sweep, n: u64) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    for i in 0..sweep.len().min(n) {
        let c = sweep.config(i)?;
        let axes: Vec<String> = sweep
            .axes
            .iter()
            .zip(&c.choice)
            .map(|(a, &j)| format!("{}={}", a.name, super::spec::value_brief(&a.values[j])))
            .collect();
        lines.push(format!(
            "{i:>6}  repeat {}  seed {}  {}",
            c.repeat,
            c.scenario.seed,
            axes.join("  ")
        ));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::progress_line;
    use std::time::{Duration, Instant};

    #[test]
    fn progress_has_no_rate_before_this_run_finishes_a_configuration() {
        let start = Instant::now();
        assert_eq!(
            progress_line(0, 0, 10, start),
            "sweep: 0/10 configurations (0%), ETA not known yet"
        );
        // Resumed configurations count as done but not toward the rate.
        assert_eq!(
            progress_line(4, 4, 10, start),
            "sweep: 4/10 configurations (40%), ETA not known yet"
        );
    }

    #[test]
    fn progress_rate_counts_only_configurations_this_run_made() {
        let start = Instant::now() - Duration::from_secs(2);
        let line = progress_line(6, 4, 10, start);
        // 2 configurations in about 2 s: 1.0/s, 4 left: ETA about 4 s.
        assert!(
            line.starts_with("sweep: 6/10 configurations (60%), 1.0/s, ETA 4 s"),
            "{line}"
        );
    }
}
