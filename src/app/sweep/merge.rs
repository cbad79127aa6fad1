//! Combining shard files into one: the same header and sweep, no duplicates, rows in
//! configuration order; missing configurations are reported.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use crate::core::error::{Error, Result};
use crate::core::files::{Content, Outputs};
use crate::core::text;

/// The outcome of a merge.
#[derive(Debug, PartialEq, Eq)]
pub struct Merged {
    pub configs: u64,
    pub rows: usize,
    /// How many configurations of the sweep no file holds.
    pub missing_count: u64,
    /// The first of them (at most [`MISSING_SHOWN`]).
    pub missing: Vec<u64>,
}

/// How many missing configurations a merge lists by number.
pub const MISSING_SHOWN: usize = 20;

/// Merges `inputs` into `out` (`-` for standard output): the output is checked first (it may
/// not be one of the inputs), written all at once at the end.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<Merged> {
    let mut outs = Outputs::new(inputs);
    let slot = outs.add("--out", out, Content::Text)?;
    let (m, bytes) = merge_bytes(inputs)?;
    outs.put(slot, bytes);
    outs.commit()?;
    Ok(m)
}

/// Merges `inputs`: checks them and returns the merged CSV's bytes.
pub fn merge_bytes(inputs: &[PathBuf]) -> Result<(Merged, Vec<u8>)> {
    if inputs.is_empty() {
        return Err(Error::Invalid("merge needs at least one input file".into()));
    }
    let mut header: Option<(PathBuf, csv::StringRecord)> = None;
    let mut sweep: Option<(String, u64)> = None;
    let mut rows: BTreeMap<u64, Vec<csv::StringRecord>> = BTreeMap::new();
    let mut seen: HashSet<(u64, String)> = HashSet::new();
    for path in inputs {
        let bytes = crate::core::files::read(path)?;
        let mut r = csv::Reader::from_reader(bytes.as_slice());
        let h = r.headers().map_err(|e| Error::csv(path, e))?.clone();
        if h.iter().take(3).collect::<Vec<_>>() != ["sweep_id", "config", "configs"] {
            return Err(Error::file(
                path,
                "not a qlab sweep CSV (its first columns are not sweep_id, config, configs)",
            ));
        }
        let variant_col = h
            .iter()
            .position(|c| c == "variant")
            .ok_or_else(|| Error::file(path, "no 'variant' column"))?;
        match &header {
            None => header = Some((path.clone(), h.clone())),
            Some((first, fh)) if *fh != h => {
                return Err(Error::file(
                    path,
                    format!("its columns differ from those of {}", first.display()),
                ));
            }
            _ => {}
        }
        for rec in r.records() {
            let rec = rec.map_err(|e| Error::csv(path, e))?;
            let line = rec.position().map_or(0, csv::Position::line);
            let bad = |what: &str| Error::file(path, format!("line {line}: {what}"));
            let config: u64 = rec[1].parse().map_err(|_| {
                bad(&format!(
                    "config '{}' is not a configuration number",
                    text::echo(&rec[1])
                ))
            })?;
            let total: u64 = rec[2]
                .parse()
                .map_err(|_| bad(&format!("configs '{}' is not a count", text::echo(&rec[2]))))?;
            if config >= total {
                return Err(bad(&format!(
                    "config {config} is not below configs {total}, the sweep's size"
                )));
            }
            match &sweep {
                None => sweep = Some((rec[0].to_string(), total)),
                Some((id, _)) if id != &rec[0] => {
                    return Err(bad(&format!(
                        "belongs to sweep {} but earlier rows to sweep {}",
                        text::echo(&rec[0]),
                        text::echo(id)
                    )));
                }
                Some((_, t)) if *t != total => {
                    return Err(bad(&format!(
                        "says the sweep has {total} configurations; earlier rows say {t}"
                    )));
                }
                _ => {}
            }
            if !seen.insert((config, rec[variant_col].to_string())) {
                return Err(bad(&format!(
                    "configuration {config}, variant '{}' appears twice",
                    text::echo(&rec[variant_col])
                )));
            }
            rows.entry(config).or_default().push(rec);
        }
    }
    let (_, h) = header.expect("at least one input");
    // Every configuration has a row per variant; one with fewer was cut short.
    let variants = rows.values().map(Vec::len).max().unwrap_or(0);
    if let Some((c, recs)) = rows.iter().find(|(_, r)| r.len() < variants) {
        return Err(Error::Invalid(format!(
            "configuration {c} has {} of {variants} variant rows (an interrupted shard?); \
             resume that shard with --resume, then merge again",
            recs.len()
        )));
    }
    let total = sweep.map_or(0, |s| s.1);
    // The sweep's size comes from the files: count the gaps without listing them all.
    let missing_count = total - rows.len() as u64;
    let missing: Vec<u64> = (0..total)
        .filter(|c| !rows.contains_key(c))
        .take(MISSING_SHOWN)
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&h)
        .map_err(|e| Error::Invalid(format!("CSV: {e}")))?;
    let mut n = 0;
    for recs in rows.values() {
        for rec in recs {
            w.write_record(rec)
                .map_err(|e| Error::Invalid(format!("CSV: {e}")))?;
            n += 1;
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Invalid(format!("CSV: {e}")))?;
    Ok((
        Merged {
            configs: rows.len() as u64,
            rows: n,
            missing_count,
            missing,
        },
        bytes,
    ))
}
