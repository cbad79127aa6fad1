//! Combining shard files into one: the same header and sweep, no duplicates, rows in
//! configuration order; missing configurations are reported.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use crate::atomic;
use crate::error::{Error, Result};

/// The outcome of a merge.
#[derive(Debug, PartialEq, Eq)]
pub struct Merged {
    pub configs: u64,
    pub rows: usize,
    /// Configurations of the sweep that no file holds.
    pub missing: Vec<u64>,
}

/// Merges `inputs` into `out` (atomically).
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<Merged> {
    if inputs.is_empty() {
        return Err(Error::Invalid("merge needs at least one input file".into()));
    }
    let mut header: Option<(PathBuf, csv::StringRecord)> = None;
    let mut sweep: Option<(String, u64)> = None;
    let mut rows: BTreeMap<u64, Vec<csv::StringRecord>> = BTreeMap::new();
    let mut seen: HashSet<(u64, String)> = HashSet::new();
    for path in inputs {
        let mut r = csv::Reader::from_path(path).map_err(|e| Error::csv(path, e))?;
        let h = r.headers().map_err(|e| Error::csv(path, e))?.clone();
        if h.iter().take(2).collect::<Vec<_>>() != ["sweep_id", "config"] {
            return Err(Error::file(
                path,
                "not a qlab sweep CSV (its first columns are not sweep_id, config)",
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
        for (line, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| Error::csv(path, e))?;
            let bad = |what: &str| Error::file(path, format!("row {}: {what}", line + 2));
            let config: u64 = rec[1].parse().map_err(|_| bad("config is not a number"))?;
            let total: u64 = rec[2].parse().map_err(|_| bad("configs is not a number"))?;
            match &sweep {
                None => sweep = Some((rec[0].to_string(), total)),
                Some((id, _)) if id != &rec[0] => {
                    return Err(bad(&format!(
                        "belongs to sweep {} but earlier rows to sweep {id}",
                        &rec[0]
                    )));
                }
                _ => {}
            }
            if !seen.insert((config, rec[variant_col].to_string())) {
                return Err(bad(&format!(
                    "configuration {config}, variant '{}' appears twice",
                    &rec[variant_col]
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
    let missing: Vec<u64> = (0..total).filter(|c| !rows.contains_key(c)).collect();
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
    atomic::write(out, &bytes)?;
    Ok(Merged {
        configs: rows.len() as u64,
        rows: n,
        missing,
    })
}
