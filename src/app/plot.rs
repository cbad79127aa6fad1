//! `qlab plot`: a line or bar chart of a sweep CSV, as SVG (no system fonts needed: the SVG
//! names a generic font family and the viewer draws the text).
//!
//! Each point is the mean of the rows that share its x and series, drawn with its 95%
//! confidence interval (Student's t over those rows); axes are titled with the metric's name
//! and unit; the legend sits in a margin of its own; log axes are ticked at 1, 2 and 5 per
//! decade and block sizes at powers of two; the colours are Okabe and Ito's.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::core::error::{Error, Result};
use crate::core::text;

/// How many of a CSV's columns a "no column" message lists.
const COLUMNS_SHOWN: usize = 12;

/// How many of a column's values a "no row has" message lists.
const VALUES_SHOWN: usize = 12;

/// The chart's size in pixels: a 16:9-ish slide.
const WIDTH: u32 = 960;
const HEIGHT: u32 = 560;
const SCATTER_HEIGHT: u32 = 600;

/// Okabe and Ito's colour-blind-safe palette, strongest on white first. Their yellow
/// (#F0E442) is left out: it cannot be read on a white page.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x00, 0x00, 0x00),
];

/// Text heights in pixels, as drawn (a slide shows them from the back of the room).
const TITLE_PX: f64 = 20.0;
const SUBTITLE_PX: f64 = 14.0;
const AXIS_TITLE_PX: f64 = 15.0;
const TICK_PX: f64 = 13.0;
const LEGEND_TITLE_PX: f64 = 14.0;
const LEGEND_PX: f64 = 13.0;
const POINT_LABEL_PX: f64 = 11.0;

/// The font size to ask plotters for to get `height` pixels: its SVG writes 1/1.24 of it.
fn px(height: f64) -> f64 {
    height * 1.24
}

/// About how wide `chars` characters of `height`-pixel sans-serif text are.
fn text_width(chars: usize, height: f64) -> u32 {
    (chars as f64 * height * 0.56).ceil() as u32
}

/// Text that explains rather than shows data (subtitles, separators).
const GREY: RGBColor = RGBColor(0x55, 0x55, 0x55);

// ---------------------------------------------------------------------------------------------
// Column names
// ---------------------------------------------------------------------------------------------

/// What a column is called on a chart: words, a unit, and the factor from the CSV's values to
/// the drawn ones (fractions are drawn as percentages).
#[derive(Clone, Debug, PartialEq)]
pub struct Name {
    pub words: String,
    pub unit: Option<&'static str>,
    pub scale: f64,
}

impl Name {
    fn new(words: impl Into<String>, unit: Option<&'static str>) -> Name {
        Name {
            words: words.into(),
            unit,
            scale: 1.0,
        }
    }

    fn percent(words: &str) -> Name {
        Name {
            words: words.into(),
            unit: Some("%"),
            scale: 100.0,
        }
    }

    /// The words and, in parentheses, the unit: "output SQNR (dB)".
    pub fn title(&self) -> String {
        match self.unit {
            Some(u) => format!("{} ({u})", self.words),
            None => self.words.clone(),
        }
    }
}

/// A column's name on a chart: `out_sqnr_db` is "output SQNR (dB)", `x_clipped` "x clipped
/// (%)" (drawn ×100), `variant.block_size` "block size (elements)"; a column it does not know
/// has its dots and underscores read as spaces (`a.b_c` is "a b c").
pub fn name(column: &str) -> Name {
    if let Some(n) = known(column) {
        return n;
    }
    if let Some(rest) = column.strip_prefix("variant.") {
        return name(rest);
    }
    for (prefix, operand) in [("w.", "W"), ("x.", "x")] {
        if let Some(rest) = column.strip_prefix(prefix) {
            let key = operand_key(rest);
            return Name {
                words: format!("{operand} {}", key.words),
                ..key
            };
        }
    }
    for (prefix, operand) in [("out_", "output"), ("w_", "W"), ("x_", "x")] {
        if let Some(rest) = column.strip_prefix(prefix)
            && let Some(m) = metric(rest)
        {
            return Name {
                words: format!("{operand} {}", m.words),
                ..m
            };
        }
    }
    if let Some(s) = setting(column) {
        return s;
    }
    Name::new(words(column), None)
}

/// Columns known whole.
fn known(column: &str) -> Option<Name> {
    let (words, unit) = match column {
        "sweep_id" => ("sweep id", None),
        "config" => ("configuration", None),
        "configs" => ("configurations", None),
        "repeat" => ("repeat", None),
        "seed" => ("seed", None),
        "m" => ("M", None),
        "k" => ("K", None),
        "n" => ("N", None),
        "scenario" => ("scenario", None),
        "variant" => ("variant", None),
        "format" => ("format", None),
        "seconds" => ("time", Some("s")),
        "compression" => ("compression vs f32", Some("×")),
        "qlab_version" => ("qlab version", None),
        "model_out_sqnr_db" => ("output SQNR, noise model", Some("dB")),
        "w_only_sqnr_db" => ("output SQNR, only W quantized", Some("dB")),
        "x_only_sqnr_db" => ("output SQNR, only x quantized", Some("dB")),
        _ => return None,
    };
    Some(Name::new(words, unit))
}

/// The metric part of `out_*`, `w_*` and `x_*` columns.
fn metric(rest: &str) -> Option<Name> {
    let (words, unit) = match rest {
        "sqnr_db" => ("SQNR", Some("dB")),
        "model_sqnr_db" => ("SQNR, noise model", Some("dB")),
        "mse" => ("MSE", None),
        "rmse" => ("RMSE", None),
        "max_abs" => ("max |error|", None),
        "mean_rel" => ("mean relative error", None),
        "max_rel" => ("max relative error", None),
        "cosine" => ("cosine similarity", None),
        "p50" => ("median |error|", None),
        "p90" => ("90th percentile |error|", None),
        "p99" => ("99th percentile |error|", None),
        "p999" => ("99.9th percentile |error|", None),
        "non_finite" => ("non-finite values", Some("count")),
        "clipped" => return Some(Name::percent("clipped")),
        "flushed" => return Some(Name::percent("flushed to zero")),
        "nan_blocks" => ("NaN blocks", Some("count")),
        "bits_per_element" => ("bits per element", None),
        "source" => ("source", None),
        "format" => ("format", None),
        "scheme" => ("scheme", None),
        "granularity" => ("granularity", None),
        "group_size" => ("group size", Some("elements")),
        _ => return None,
    };
    Some(Name::new(words, unit))
}

/// A variant setting (a column of its own, or a `variant.` axis).
fn setting(key: &str) -> Option<Name> {
    let (words, unit) = match key {
        "block_size" => ("block size", Some("elements")),
        "group_size" => ("group size", Some("elements")),
        "scale_rule" => ("scale rule", None),
        "rounding" => ("rounding", None),
        "element_rounding" => ("element rounding", None),
        "accumulator" => ("accumulator", None),
        "two_level" => ("two-level scaling", None),
        "exponent" => ("exponent", None),
        "signed_zero" => ("signed zero", None),
        _ => return None,
    };
    Some(Name::new(words, unit))
}

/// An operand key of a `w.` or `x.` axis.
fn operand_key(key: &str) -> Name {
    let (words, unit) = match key {
        "dist" => ("distribution", None),
        "std" => ("std", None),
        "mean" => ("mean", None),
        "nu" => ("Student-t ν", None),
        "sparsity" => ("sparsity", None),
        "outliers.fraction" => ("outlier fraction", None),
        "outlier_channels.count" => ("outlier channels", None),
        "outlier_channels.factor" => ("outlier-channel factor", None),
        "channel_spread.decades" => ("channel spread", Some("decades")),
        _ => return Name::new(words(key), None),
    };
    Name::new(words, unit)
}

/// `a.b_c` as "a b c" (the name itself when that leaves nothing).
fn words(column: &str) -> String {
    let w: Vec<&str> = column.split(['.', '_']).filter(|w| !w.is_empty()).collect();
    if w.is_empty() {
        column.to_string()
    } else {
        w.join(" ")
    }
}

/// Whether a column holds block or group sizes: drawn on a base-2 axis.
fn is_size_column(column: &str) -> bool {
    column.ends_with("block_size") || column.ends_with("group_size")
}

// ---------------------------------------------------------------------------------------------
// Reading and grouping
// ---------------------------------------------------------------------------------------------

/// A CSV read whole: its header and records.
struct Table<'p> {
    path: &'p Path,
    header: Vec<String>,
    rows: Vec<csv::StringRecord>,
}

impl<'p> Table<'p> {
    fn read(path: &'p Path) -> Result<Table<'p>> {
        let bytes = crate::core::files::read(path)?;
        let mut r = csv::Reader::from_reader(bytes.as_slice());
        let header: Vec<String> = r
            .headers()
            .map_err(|e| Error::csv(path, e))?
            .iter()
            .map(str::to_string)
            .collect();
        if header.is_empty() {
            return Err(Error::file(
                path,
                "the file is empty; expected a CSV with a header row",
            ));
        }
        let rows = r
            .records()
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::csv(path, e))?;
        Ok(Table { path, header, rows })
    }

    fn has(&self, column: &str) -> bool {
        self.header.iter().any(|c| c == column)
    }

    /// A column's index, or an error naming the columns there are.
    fn col(&self, name: &str) -> Result<usize> {
        self.header.iter().position(|c| c == name).ok_or_else(|| {
            let hint = text::did_you_mean(name, &self.header)
                .map(|n| format!("did you mean '{}'? ", text::echo(n)))
                .unwrap_or_default();
            Error::file(
                self.path,
                format!(
                    "no column '{}'; {hint}columns: {}",
                    text::echo(name),
                    text::list(&self.header, COLUMNS_SHOWN)
                ),
            )
        })
    }

    /// The `filters` resolved to column indices.
    fn filters<'f>(&self, filters: &'f [(String, String)]) -> Result<Vec<Filter<'f>>> {
        filters
            .iter()
            .map(|(c, v)| {
                Ok(Filter {
                    at: self.col(c)?,
                    column: c,
                    value: v,
                })
            })
            .collect()
    }

    /// The rows that pass every filter. None is an error; where a filter leaves none, the
    /// error lists the values its column does hold.
    fn kept(&self, filters: &[Filter<'_>]) -> Result<Vec<&csv::StringRecord>> {
        if self.rows.is_empty() {
            return Err(Error::file(self.path, "has no rows to plot"));
        }
        let mut rows: Vec<&csv::StringRecord> = self.rows.iter().collect();
        for (i, f) in filters.iter().enumerate() {
            let next: Vec<&csv::StringRecord> = rows
                .iter()
                .copied()
                .filter(|r| &r[f.at] == f.value)
                .collect();
            if next.is_empty() {
                return Err(self.no_match(&rows, &filters[..i], f));
            }
            rows = next;
        }
        Ok(rows)
    }

    /// "no row has x.dist = 'studentt'; did you mean 'student_t'? x.dist holds: normal, ..."
    fn no_match(
        &self,
        rows: &[&csv::StringRecord],
        before: &[Filter<'_>],
        f: &Filter<'_>,
    ) -> Error {
        let mut values: Vec<String> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        for r in rows {
            if seen.insert(&r[f.at]) {
                values.push(if r[f.at].is_empty() {
                    "(empty)".to_string()
                } else {
                    r[f.at].to_string()
                });
            }
        }
        let hint = text::did_you_mean(f.value, &values)
            .map(|n| format!("did you mean '{}'? ", text::echo(n)))
            .unwrap_or_default();
        let among = if before.is_empty() {
            String::new()
        } else {
            let shown: Vec<String> = before
                .iter()
                .map(|b| format!("{}={}", text::echo(b.column), text::echo(b.value)))
                .collect();
            format!(" among the rows with {}", shown.join(", "))
        };
        Error::file(
            self.path,
            format!(
                "has no rows to plot after --where: no row has {} = '{}'{among}; {hint}{} holds: {}",
                text::echo(f.column),
                text::echo(f.value),
                text::echo(f.column),
                text::list(&values, VALUES_SHOWN)
            ),
        )
    }

    /// The series column a chart splits by when none is given: `variant`, where the rows
    /// kept hold several variants and no axis already tells them apart (`apart`: the columns
    /// one point stands for). Averaging INT8 and MXFP4 together means nothing.
    fn default_by(&self, apart: &str, filters: &[(String, String)]) -> Option<&'static str> {
        const VARIANT: &str = "variant";
        if apart == VARIANT || !self.has(VARIANT) {
            return None;
        }
        let vi = self.col(VARIANT).ok()?;
        let fi = self.filters(filters).ok()?;
        let rows = self.kept(&fi).ok()?;
        let first = &rows.first()?[vi];
        rows.iter().any(|r| &r[vi] != first).then_some(VARIANT)
    }
}

/// A `--where COLUMN=VALUE`, its column found.
struct Filter<'f> {
    at: usize,
    column: &'f str,
    value: &'f str,
}

/// The statistics of one point: the rows averaged into it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// Rows averaged.
    pub n: usize,
    pub mean: f64,
    /// The sample standard deviation (n − 1 in the denominator); NaN for one row.
    pub std: f64,
    /// Half the width of the 95% confidence interval of the mean,
    /// t(0.975, n − 1) · std / √n; NaN for one row.
    pub half_ci: f64,
}

impl Stats {
    /// The 95% confidence interval of the mean, where there is one (two rows or more, and a
    /// finite spread).
    pub fn ci95(&self) -> Option<(f64, f64)> {
        (self.n >= 2 && self.half_ci.is_finite())
            .then_some((self.mean - self.half_ci, self.mean + self.half_ci))
    }
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (NaN for none).
fn t975(df: usize) -> f64 {
    StudentsT::new(0.0, 1.0, df as f64).map_or(f64::NAN, |t| t.inverse_cdf(0.975))
}

/// Running statistics of finite values. The mean is their sum over their count, as a
/// spreadsheet computes it, or, where the sum leaves f64's range (three values of 1.7e308),
/// the running mean, which cannot; the spread is Welford's.
#[derive(Clone, Debug, Default)]
struct Acc<'a> {
    sum: f64,
    running: f64,
    m2: f64,
    n: usize,
    /// The distinct `repeat` values of the rows, where the CSV has that column.
    repeats: HashSet<&'a str>,
}

impl<'a> Acc<'a> {
    fn add(&mut self, v: f64, repeat: Option<&'a str>) {
        self.n += 1;
        self.sum += v;
        let d = v - self.running;
        self.running += d / self.n as f64;
        self.m2 += d * (v - self.running);
        if let Some(r) = repeat {
            self.repeats.insert(r);
        }
    }

    fn stats(&self, t: &mut HashMap<usize, f64>) -> Stats {
        let plain = self.sum / self.n as f64;
        let mean = if plain.is_finite() {
            plain
        } else {
            self.running
        };
        let (std, half_ci) = if self.n >= 2 {
            let std = (self.m2 / (self.n - 1) as f64).sqrt();
            let q = *t.entry(self.n - 1).or_insert_with(|| t975(self.n - 1));
            (std, q * std / (self.n as f64).sqrt())
        } else {
            (f64::NAN, f64::NAN)
        };
        Stats {
            n: self.n,
            mean,
            std,
            half_ci,
        }
    }
}

/// One series of the chart: its name and (x label, mean y, rows averaged) in first-seen order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(String, f64, usize)>,
}

/// One series with each point's statistics: (x label, stats) in first-seen order.
#[derive(Clone, Debug, PartialEq)]
pub struct StatSeries {
    pub name: String,
    pub points: Vec<(String, Stats)>,
}

impl StatSeries {
    fn plain(&self) -> Series {
        Series {
            name: self.name.clone(),
            points: self
                .points
                .iter()
                .map(|(x, s)| (x.clone(), s.mean, s.n))
                .collect(),
        }
    }
}

/// The rows a chart draws, grouped into series.
#[derive(Clone, Debug, PartialEq)]
pub struct Grouped {
    pub series: Vec<StatSeries>,
    /// Rows that passed the filters.
    pub rows: usize,
    /// Of those, rows left out because y (or a numeric x) is NaN or ±inf.
    pub skipped: usize,
    /// `Some(k)` when every point is the mean of one row from each of the same k repeats
    /// (the CSV's `repeat` column).
    pub repeats: Option<usize>,
}

/// [`group`]'s series alone, each point's (x, mean, rows).
pub fn series(
    path: &Path,
    x: &str,
    y: &str,
    by: Option<&str>,
    filters: &[(String, String)],
) -> Result<Vec<Series>> {
    group(path, x, y, by, filters).map(|g| g.series.iter().map(StatSeries::plain).collect())
}

/// Groups the CSV's rows that pass every `filter` (column, value) by `by` (one series per value)
/// and `x`, averaging `y` over the rows of each group (repeats, and any other axis the chart
/// does not show). Rows whose y is not finite, or whose x is not finite where x is numeric,
/// are counted and left out.
pub fn group(
    path: &Path,
    x: &str,
    y: &str,
    by: Option<&str>,
    filters: &[(String, String)],
) -> Result<Grouped> {
    group_table(&Table::read(path)?, x, y, by, filters)
}

fn group_table(
    t: &Table<'_>,
    x: &str,
    y: &str,
    by: Option<&str>,
    filters: &[(String, String)],
) -> Result<Grouped> {
    let (xi, yi) = (t.col(x)?, t.col(y)?);
    let bi = by.map(|b| t.col(b)).transpose()?;
    let fi = t.filters(filters)?;
    let ri = t.header.iter().position(|c| c == "repeat");
    // (series, x, y, repeat) of every row that passes the filters.
    let mut kept: Vec<(&str, &str, f64, Option<&str>)> = Vec::new();
    for rec in t.kept(&fi)? {
        let name = bi.map_or(y, |b| &rec[b]);
        let Ok(v) = rec[yi].parse::<f64>() else {
            let line = rec.position().map_or(0, csv::Position::line);
            return Err(Error::file(
                t.path,
                format!(
                    "line {line}: column '{}' holds '{}', not a number",
                    text::echo(y),
                    text::echo(&rec[yi])
                ),
            ));
        };
        kept.push((name, &rec[xi], v, ri.map(|r| &rec[r])));
    }
    let rows = kept.len();
    let numeric_x = kept.iter().all(|(_, x, _, _)| x.parse::<f64>().is_ok());
    kept.retain(|(_, xv, v, _)| {
        v.is_finite() && (!numeric_x || xv.parse::<f64>().is_ok_and(f64::is_finite))
    });
    let skipped = rows - kept.len();
    if kept.is_empty() {
        return Err(Error::file(
            t.path,
            format!(
                "column '{}' holds no finite value to plot (all NaN or ±inf)",
                text::echo(y)
            ),
        ));
    }
    // First-seen order, found by hash (a million distinct x values stay linear).
    let mut order: Vec<&str> = Vec::new();
    let mut order_at: HashMap<&str, usize> = HashMap::new();
    let mut xs: Vec<&str> = Vec::new();
    let mut xs_at: HashMap<&str, usize> = HashMap::new();
    let mut groups: HashMap<(usize, usize), Acc<'_>> = HashMap::new();
    fn index<'a>(list: &mut Vec<&'a str>, at: &mut HashMap<&'a str, usize>, key: &'a str) -> usize {
        *at.entry(key).or_insert_with(|| {
            list.push(key);
            list.len() - 1
        })
    }
    for (name, xv, v, repeat) in kept {
        let s = index(&mut order, &mut order_at, name);
        let xk = index(&mut xs, &mut xs_at, xv);
        groups.entry((s, xk)).or_default().add(v, repeat);
    }
    let mut quantiles = HashMap::new();
    let series: Vec<StatSeries> = order
        .iter()
        .enumerate()
        .filter_map(|(s, name)| {
            let points: Vec<(String, Stats)> = (0..xs.len())
                .filter_map(|xk| {
                    let acc = groups.get(&(s, xk))?;
                    Some((xs[xk].to_string(), acc.stats(&mut quantiles)))
                })
                .collect();
            (!points.is_empty()).then(|| StatSeries {
                name: name.to_string(),
                points,
            })
        })
        .collect();
    let repeats = ri.and_then(|_| {
        let k = groups.values().next()?.n;
        groups
            .values()
            .all(|a| a.n == k && a.repeats.len() == k)
            .then_some(k)
    });
    Ok(Grouped {
        series,
        rows,
        skipped,
        repeats,
    })
}

/// What each point of a chart is, for its subtitle: "mean over 5 repeats ± 95% CI".
fn averaged(points: impl Iterator<Item = usize>, repeats: Option<usize>) -> String {
    let (lo, hi) = points.fold((usize::MAX, 0), |(a, b), n| (a.min(n), b.max(n)));
    if hi <= 1 {
        return "one row per point".to_string();
    }
    match repeats {
        Some(k) if k == hi && k == lo => format!("mean over {k} repeats ± 95% CI"),
        _ if lo == hi => format!("mean of {hi} rows per point ± 95% CI"),
        _ => format!("mean of {lo}–{hi} rows per point ± 95% CI (none for one row)"),
    }
}

// ---------------------------------------------------------------------------------------------
// Axes
// ---------------------------------------------------------------------------------------------

/// How one numeric axis draws its values: as `(v − offset) / 10^exp`, so that whatever the
/// data's magnitude (1e-20 or 1e300) or its spread against it (1e6 in steps of 1e-6), the
/// drawn range is a few units wide and its ticks read as distinct numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
struct AxisScale {
    offset: f64,
    exp: i32,
}

impl AxisScale {
    const PLAIN: AxisScale = AxisScale {
        offset: 0.0,
        exp: 0,
    };

    /// The scale for data spanning `lo..=hi` (finite).
    fn of(lo: f64, hi: f64) -> AxisScale {
        let mag = lo.abs().max(hi.abs());
        if !(mag.is_finite() && mag > 0.0) {
            return AxisScale::PLAIN;
        }
        let span = hi - lo;
        // A spread too small for its magnitude to show in a tick label: drawn as the
        // difference from a round value below it.
        if span.is_finite() && span > 0.0 && span < mag * 1e-4 {
            let exp = span.log10().floor() as i32;
            // Divided by a power of ten held exactly (10^5, not 1e-5), so 1e6 stays 1e6.
            let offset = if exp + 1 < 0 {
                let per_unit = 10f64.powi(-(exp + 1));
                (lo * per_unit).floor() / per_unit
            } else {
                let step = 10f64.powi(exp + 1);
                (lo / step).floor() * step
            };
            return AxisScale { offset, exp };
        }
        // Magnitudes a tick label would show as 0.0 or as a long run of digits.
        if (1e-2..1e5).contains(&mag) {
            AxisScale::PLAIN
        } else {
            AxisScale {
                offset: 0.0,
                exp: mag.log10().floor() as i32,
            }
        }
    }

    fn apply(self, v: f64) -> f64 {
        (v - self.offset) / 10f64.powi(self.exp)
    }

    /// What the axis title adds: ` − 1000000 (×1e-6)`, or nothing.
    fn describe(self) -> String {
        let mut s = String::new();
        if self.offset != 0.0 {
            let sign = if self.offset < 0.0 { '+' } else { '−' };
            s.push_str(&format!(" {sign} {}", round_number(self.offset.abs())));
        }
        if self.exp != 0 {
            s.push_str(&format!(" (×1e{})", self.exp));
        }
        s
    }
}

/// A number as short as it reads exactly: plain digits for everyday magnitudes, exponent form
/// beyond.
fn round_number(v: f64) -> String {
    if v == 0.0 || (1e-3..1e9).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// A tick value with as many decimals as ticks `step` apart need, trailing zeros dropped
/// (never `0.30000000000000004`, never `-0`).
fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step > 0.0 && step.is_finite() {
        (1 - step.log10().floor() as i32).clamp(0, 12) as usize
    } else {
        3
    };
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".to_string() } else { s }
}

/// A title with a note in its parentheses: "block size (elements, log scale)", or new ones.
fn with_note(title: &str, note: &str) -> String {
    match title.strip_suffix(')') {
        Some(head) if head.contains('(') => format!("{head}, {note})"),
        _ => format!("{title} ({note})"),
    }
}

/// An axis title with its scale: "output MSE (×1e-5)", "b − 1000000 (×1e-6)".
fn scaled_title(title: &str, scale: AxisScale) -> String {
    if scale.offset == 0.0 && scale.exp != 0 {
        with_note(title, &format!("×1e{}", scale.exp))
    } else {
        format!("{title}{}", scale.describe())
    }
}

/// Ticks at 1, 2 and 5 per decade between `a` and `b` (log10 units), or at every decade (or
/// every few) over a wider span, each labelled with its exact value.
fn log10_ticks(a: f64, b: f64) -> Vec<(f64, String)> {
    let span = b - a;
    let mults: &[u32] = if span <= 4.5 { &[1, 2, 5] } else { &[1] };
    let every = (span / 10.0).ceil().max(1.0) as i32;
    let mut out = Vec::new();
    for k in (a.floor() as i32)..=(b.ceil() as i32) {
        if k.rem_euclid(every) != 0 {
            continue;
        }
        for &m in mults {
            let at = f64::from(m).log10() + f64::from(k);
            if at >= a - 1e-9 && at <= b + 1e-9 {
                out.push((at, decimal(m, k)));
            }
        }
    }
    out
}

/// m · 10^k written exactly: "5", "200", "0.05", "1e-7".
fn decimal(m: u32, k: i32) -> String {
    match k {
        0..=5 => format!("{m}{}", "0".repeat(k as usize)),
        -4..=-1 => format!("0.{}{m}", "0".repeat((-k - 1) as usize)),
        _ => format!("{m}e{k}"),
    }
}

/// Ticks at the powers of two between `a` and `b` (log2 units), every one while they fit.
fn log2_ticks(a: f64, b: f64) -> Vec<(f64, String)> {
    let (k0, k1) = (a.ceil() as i32, b.floor() as i32);
    let count = (k1 - k0 + 1).max(0);
    let every = (count + 11) / 12;
    (k0..=k1)
        .filter(|k| every <= 1 || (k - k0) % every == 0)
        .map(|k| {
            let label = match k {
                0..=62 => (1u64 << k).to_string(),
                -12..=-1 => format!("{}", 2f64.powi(k)),
                _ => format!("2^{k}"),
            };
            (f64::from(k), label)
        })
        .collect()
}

/// A linear axis ticked where we say (no light grid lines between).
struct Ticked {
    inner: RangedCoordf64,
    keys: Vec<f64>,
}

impl Ticked {
    fn new(lo: f64, hi: f64, keys: Vec<f64>) -> Ticked {
        Ticked {
            inner: RangedCoordf64::from(lo..hi),
            keys,
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.keys.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// Plotters' own choice of about `n` round ticks over `lo..hi`.
fn linear_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    RangedCoordf64::from(lo..hi).key_points(n)
}

/// How a numeric x axis maps values.
#[derive(Clone, Copy, Debug, PartialEq)]
enum XMap {
    Linear(AxisScale),
    Log10,
    Log2,
}

impl XMap {
    /// The map for positive or any values `lo..=hi` of the column `column`: base 2 for block
    /// and group sizes (and columns of powers of two), base 10 for two decades or more.
    fn choose(column: &str, values: &[f64]) -> XMap {
        let (lo, hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        let powers_of_two = values.len() >= 3
            && values.iter().all(|&v| {
                v >= 1.0 && v <= 2f64.powi(62) && (v as u64).is_power_of_two() && v.fract() == 0.0
            });
        if lo > 0.0
            && ((is_size_column(column) && hi / lo >= 2.0) || (powers_of_two && hi / lo >= 4.0))
        {
            XMap::Log2
        } else if lo > 0.0 && hi / lo >= 100.0 {
            XMap::Log10
        } else {
            XMap::Linear(AxisScale::of(lo, hi))
        }
    }

    fn apply(self, v: f64) -> f64 {
        match self {
            XMap::Linear(s) => s.apply(v),
            XMap::Log10 => v.log10(),
            XMap::Log2 => v.log2(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------------------------

fn draw_err<E: std::fmt::Debug>(e: E) -> Error {
    Error::Invalid(format!("plot: {e:?}"))
}

/// Text from the CSV or the command line as it goes into the SVG: control characters (which
/// XML forbids even escaped) shown as escapes, and cut to a length a chart can show.
/// Plotters escapes `<`, `&` and quotes itself.
fn svg_text(s: &str) -> String {
    text::short(s, 80)
}

/// A category's label: its text, or "(empty)".
fn category(s: &str, max: usize) -> String {
    if s.is_empty() {
        "(empty)".to_string()
    } else {
        text::short(s, max)
    }
}

/// The words around a chart.
struct Texts {
    title: String,
    subtitle: String,
    x: String,
    y: String,
    /// The x column, whose name may ask for a base-2 axis.
    x_column: String,
    /// Whether to draw a legend, and its title.
    legend: Option<Option<String>>,
    /// From the CSV's y values to the drawn ones (100 for fractions drawn as %).
    y_factor: f64,
}

/// How series `i` is drawn: a colour, a marker shape and a dash pattern (solid for the first
/// seven, then dashed, then dotted), so that two series never look alike.
#[derive(Clone, Copy, Debug)]
struct Look {
    color: RGBColor,
    shape: usize,
    dash: usize,
}

impl Look {
    fn of(i: usize) -> Look {
        Look {
            color: PALETTE[i % PALETTE.len()],
            shape: i % 5,
            dash: (i / PALETTE.len()) % 3,
        }
    }
}

/// A filled marker of one of five shapes centred on a pixel.
fn marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    shape: usize,
    (x, y): (i32, i32),
    color: RGBColor,
) -> Result<()> {
    let style = color.filled();
    let r = 4;
    match shape % 5 {
        0 => area.draw(&Circle::new((x, y), r, style)),
        1 => area.draw(&Rectangle::new([(x - r, y - r), (x + r, y + r)], style)),
        2 => area.draw(&Polygon::new(
            vec![(x, y - r - 1), (x + r + 1, y + r), (x - r - 1, y + r)],
            style,
        )),
        3 => area.draw(&Polygon::new(
            vec![
                (x, y - r - 1),
                (x + r + 1, y),
                (x, y + r + 1),
                (x - r - 1, y),
            ],
            style,
        )),
        _ => area.draw(&Polygon::new(
            vec![(x - r - 1, y - r), (x + r + 1, y - r), (x, y + r + 1)],
            style,
        )),
    }
    .map_err(draw_err)
}

/// A vertical error bar with caps, in pixels.
fn error_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    x: i32,
    (lo, hi): (i32, i32),
    color: RGBColor,
) -> Result<()> {
    if lo == hi {
        return Ok(());
    }
    let c = 4;
    area.draw(&PathElement::new(
        vec![
            (x - c, lo),
            (x + c, lo),
            (x, lo),
            (x, hi),
            (x - c, hi),
            (x + c, hi),
        ],
        color.stroke_width(1),
    ))
    .map_err(draw_err)
}

/// The legend's geometry: entries per column, columns, one column's width, the whole width.
struct LegendBox {
    per_column: usize,
    columns: usize,
    column_width: u32,
    width: u32,
}

const LEGEND_ROW: i32 = 20;
const LEGEND_TOP: i32 = 22;
const LEGEND_NAME: usize = 28;
const LEGEND_COLUMNS: usize = 3;

impl LegendBox {
    fn of(names: &[String], title: Option<&str>, height: u32) -> LegendBox {
        let chars = names
            .iter()
            .map(|n| text::short(n, LEGEND_NAME).chars().count())
            .max()
            .unwrap_or(0);
        // The sample line and marker take 38 pixels before the name.
        let column_width = (48 + text_width(chars, LEGEND_PX)).clamp(80, 260);
        let per_column = ((height as i32 - LEGEND_TOP - 40 - 16) / LEGEND_ROW).max(1) as usize;
        let columns = names.len().div_ceil(per_column).clamp(1, LEGEND_COLUMNS);
        let title_width = title.map_or(0, |t| {
            16 + text_width(text::short(t, 40).chars().count(), LEGEND_TITLE_PX + 1.0)
        });
        let width = (column_width * columns as u32).max(title_width.min(300)) + 12;
        LegendBox {
            per_column,
            columns,
            column_width,
            width,
        }
    }
}

/// The legend in its own margin: a title, then one entry per series (a sample line and
/// marker, or a swatch for bars), in columns; what does not fit is counted.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    geometry: &LegendBox,
    title: Option<&str>,
    names: &[String],
    bars: bool,
) -> Result<()> {
    let mut y = LEGEND_TOP;
    if let Some(t) = title {
        area.draw(&Text::new(
            text::short(t, 40),
            (6, y),
            ("sans-serif", px(LEGEND_TITLE_PX))
                .into_font()
                .style(FontStyle::Bold)
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(draw_err)?;
        y += LEGEND_ROW + 4;
    }
    let room = geometry.per_column * geometry.columns;
    let shown = if names.len() > room {
        room - 1
    } else {
        names.len()
    };
    let name_style = ("sans-serif", px(LEGEND_PX))
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, name) in names.iter().take(shown).enumerate() {
        let (col, row) = (i / geometry.per_column, i % geometry.per_column);
        let x = 6 + (col as u32 * geometry.column_width) as i32;
        let yy = y + row as i32 * LEGEND_ROW;
        let look = Look::of(i);
        if bars {
            area.draw(&Rectangle::new(
                [(x + 4, yy - 6), (x + 26, yy + 6)],
                look.color.filled(),
            ))
            .map_err(draw_err)?;
        } else {
            let style = look.color.stroke_width(2);
            let (on, off) = match look.dash {
                0 => (30, 0),
                1 => (7, 4),
                _ => (2, 3),
            };
            let mut s = x;
            while s < x + 30 {
                let e = (s + on).min(x + 30);
                area.draw(&PathElement::new(vec![(s, yy), (e, yy)], style))
                    .map_err(draw_err)?;
                s = e + off.max(1);
            }
            marker(area, look.shape, (x + 15, yy), look.color)?;
        }
        area.draw(&Text::new(
            text::short(name, LEGEND_NAME),
            (x + 38, yy),
            name_style.clone(),
        ))
        .map_err(draw_err)?;
    }
    if shown < names.len() {
        let (col, row) = (shown / geometry.per_column, shown % geometry.per_column);
        area.draw(&Text::new(
            format!("… and {} more", names.len() - shown),
            (
                6 + (col as u32 * geometry.column_width) as i32,
                y + row as i32 * LEGEND_ROW,
            ),
            name_style.clone(),
        ))
        .map_err(draw_err)?;
    }
    Ok(())
}

/// The root of a chart: white, its title and subtitle drawn, and the rest split into the
/// plotting area and (when there is a legend) the legend's margin.
type Areas<'a> = (
    DrawingArea<SVGBackend<'a>, Shift>,
    DrawingArea<SVGBackend<'a>, Shift>,
    Option<(DrawingArea<SVGBackend<'a>, Shift>, LegendBox)>,
);

fn areas<'a>(out: &'a mut String, height: u32, t: &Texts, names: &[String]) -> Result<Areas<'a>> {
    let root = SVGBackend::with_string(out, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let mut body = root
        .titled(&text::short(&t.title, 100), ("sans-serif", px(TITLE_PX)))
        .map_err(draw_err)?;
    if !t.subtitle.is_empty() {
        body = body
            .titled(
                &text::short(&t.subtitle, 150),
                ("sans-serif", px(SUBTITLE_PX)).into_font().color(&GREY),
            )
            .map_err(draw_err)?;
    }
    let legend = match &t.legend {
        Some(title) => {
            let geometry = LegendBox::of(names, title.as_deref(), body.dim_in_pixel().1);
            let (plot, margin) = body.split_horizontally(WIDTH.saturating_sub(geometry.width));
            body = plot;
            Some((margin, geometry))
        }
        None => None,
    };
    Ok((root, body, legend))
}

/// At most this many non-numeric x values (a block size of "tensor") are drawn apart, at the
/// right of a numeric axis; more make the chart a bar chart.
const APART: usize = 3;

/// Draws the series as SVG text: lines when every x is a number, grouped bars otherwise. The
/// titles are used as given; the series carry no spread, so no error bars are drawn.
pub fn svg(series: &[Series], x: &str, y: &str, title: &str) -> Result<String> {
    let stats: Vec<StatSeries> = series
        .iter()
        .map(|s| StatSeries {
            name: s.name.clone(),
            points: s
                .points
                .iter()
                .map(|(x, mean, n)| {
                    let stats = Stats {
                        n: *n,
                        mean: *mean,
                        std: f64::NAN,
                        half_ci: f64::NAN,
                    };
                    (x.clone(), stats)
                })
                .collect(),
        })
        .collect();
    draw(
        &stats,
        &Texts {
            title: title.to_string(),
            subtitle: String::new(),
            x: x.to_string(),
            y: y.to_string(),
            x_column: String::new(),
            legend: Some(None),
            y_factor: 1.0,
        },
    )
}

/// The lowest and highest of the drawn values and confidence bounds.
fn y_extent<'s>(points: impl Iterator<Item = &'s Stats>, factor: f64) -> (f64, f64) {
    let (lo, hi) = points
        .flat_map(|s| {
            let (a, b) = s.ci95().unwrap_or((s.mean, s.mean));
            [s.mean * factor, a * factor, b * factor]
        })
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
}

/// The x axis of a line or bar chart: where each category is drawn, the range, the ticks.
struct XAxis {
    /// Axis position of each category (first-seen order).
    at: Vec<f64>,
    /// Whether each category is drawn on the numeric line (not apart, not a bar).
    on_line: Vec<bool>,
    range: (f64, f64),
    ticks: Vec<(f64, String)>,
    title: String,
    /// Where a line separates the values drawn apart.
    separator: Option<f64>,
    bars: bool,
}

impl XAxis {
    fn new(cats: &[&str], t: &Texts, plot_width: u32) -> XAxis {
        let values: Vec<Option<f64>> = cats
            .iter()
            .map(|c| c.parse::<f64>().ok().filter(|v| v.is_finite()))
            .collect();
        let numbers: Vec<f64> = values.iter().flatten().copied().collect();
        let apart = values.len() - numbers.len();
        if apart > 0 && (numbers.len() < 2 || apart > APART) {
            return XAxis::categories(cats, t, plot_width);
        }
        let map = XMap::choose(&t.x_column, &numbers);
        let (lo, hi) = numbers
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        let (a, b) = (map.apply(lo), map.apply(hi));
        let linear = matches!(map, XMap::Linear(_));
        let (x0, end) = if a == b {
            (a - 1.0, b + 1.0)
        } else {
            let pad = (b - a) * if linear { 0.03 } else { 0.05 };
            (a - pad, b + pad)
        };
        let gap = if map == XMap::Log2 || a == b {
            1.0
        } else {
            (b - a) * 0.15
        };
        let mut k = 0;
        let at: Vec<f64> = values
            .iter()
            .map(|v| match v {
                Some(v) => map.apply(*v),
                None => {
                    k += 1;
                    b + gap * f64::from(k)
                }
            })
            .collect();
        let mut ticks = match map {
            XMap::Log2 => log2_ticks(x0, end),
            XMap::Log10 => log10_ticks(x0, end),
            XMap::Linear(_) => {
                let step = (end - x0) / 10.0;
                linear_ticks(x0, end, 10)
                    .into_iter()
                    .map(|v| (v, tick_label(v, step)))
                    .collect()
            }
        };
        for (c, (v, p)) in cats.iter().zip(values.iter().zip(&at)) {
            if v.is_none() {
                ticks.push((*p, category(c, 16)));
            }
        }
        let title = match map {
            XMap::Linear(s) => scaled_title(&t.x, s),
            XMap::Log10 | XMap::Log2 => with_note(&t.x, "log scale"),
        };
        let x1 = if apart > 0 {
            b + gap * (apart as f64 + 0.5)
        } else {
            end
        };
        XAxis {
            at,
            on_line: values.iter().map(Option::is_some).collect(),
            range: (x0, x1),
            ticks,
            title,
            separator: (apart > 0).then_some(b + gap * 0.5),
            bars: false,
        }
    }

    /// Categories: one group of bars each, every label that fits shown.
    fn categories(cats: &[&str], t: &Texts, plot_width: u32) -> XAxis {
        let widest = cats
            .iter()
            .map(|c| category(c, 24).chars().count())
            .max()
            .unwrap_or(1);
        let fit = (plot_width / (text_width(widest, TICK_PX) + 12)).max(1) as usize;
        let every = cats.len().div_ceil(fit).max(1);
        XAxis {
            at: (0..cats.len()).map(|i| i as f64).collect(),
            on_line: vec![false; cats.len()],
            range: (-0.5, cats.len() as f64 - 0.5),
            ticks: cats
                .iter()
                .enumerate()
                .filter(|(i, _)| i % every == 0)
                .map(|(i, c)| (i as f64, category(c, 24)))
                .collect(),
            title: svg_text(&t.x),
            separator: None,
            bars: true,
        }
    }
}

/// A line or bar chart of the series, with error bars where points have a confidence
/// interval.
fn draw(series: &[StatSeries], t: &Texts) -> Result<String> {
    let mut cats: Vec<&str> = Vec::new();
    let mut cat_at: HashMap<&str, usize> = HashMap::new();
    for s in series {
        for (x, _) in &s.points {
            cat_at.entry(x).or_insert_with(|| {
                cats.push(x);
                cats.len() - 1
            });
        }
    }
    let names: Vec<String> = series.iter().map(|s| s.name.clone()).collect();
    let f = t.y_factor;
    let (y_lo, y_hi) = y_extent(series.iter().flat_map(|s| s.points.iter().map(|p| &p.1)), f);
    let y_scale = AxisScale::of(y_lo, y_hi);
    let (y0, y1) = (y_scale.apply(y_lo), y_scale.apply(y_hi));
    // A constant (or a single point) gets a range around it, not one of zero width.
    let pad = if y1 > y0 {
        (y1 - y0) * 0.08
    } else if y0 != 0.0 {
        y0.abs() * 0.1
    } else {
        1.0
    };
    let mut out = String::new();
    {
        let (root, plot, legend) = areas(&mut out, HEIGHT, t, &names)?;
        let plot_width = plot.dim_in_pixel().0.saturating_sub(110);
        let axis = XAxis::new(&cats, t, plot_width);
        let bars_from_zero = y0 >= 0.0 && axis.bars && y_scale.offset == 0.0;
        let (y0, y1) = (if bars_from_zero { 0.0 } else { y0 - pad }, y1 + pad);
        let (x0, x1) = axis.range;
        let y_step = (y1 - y0) / 10.0;
        let mut chart = ChartBuilder::on(&plot)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(76)
            .build_cartesian_2d(
                Ticked::new(x0, x1, axis.ticks.iter().map(|t| t.0).collect()),
                Ticked::new(y0, y1, linear_ticks(y0, y1, 11)),
            )
            .map_err(draw_err)?;
        let x_label = |v: &f64| {
            axis.ticks
                .iter()
                .find(|t| t.0 == *v)
                .map(|t| t.1.clone())
                .unwrap_or_default()
        };
        let y_label = |v: &f64| tick_label(*v, y_step);
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(axis.title.clone())
            .y_desc(scaled_title(&svg_text(&t.y), y_scale))
            .axis_desc_style(("sans-serif", px(AXIS_TITLE_PX)))
            .label_style(("sans-serif", px(TICK_PX)))
            .bold_line_style(BLACK.mix(0.12))
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label);
        if axis.bars {
            mesh.disable_x_mesh();
        }
        mesh.draw().map_err(draw_err)?;
        if let Some(sx) = axis.separator {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(sx, y0), (sx, y1)],
                    4,
                    4,
                    GREY.mix(0.6).stroke_width(1),
                ))
                .map_err(draw_err)?;
        }
        let y_of = |v: f64| y_scale.apply(v * f);
        let n = series.len().max(1) as f64;
        for (i, s) in series.iter().enumerate() {
            let look = Look::of(i);
            let points = s.points.iter().filter_map(|(x, st)| {
                let c = *cat_at.get(x.as_str())?;
                Some((c, st))
            });
            if axis.bars {
                let w = 0.8 / n;
                let base = if y0 <= 0.0 && y1 >= 0.0 {
                    0.0
                } else if y1 < 0.0 {
                    y1
                } else {
                    y0
                };
                for (c, st) in points {
                    let left = axis.at[c] - 0.4 + w * i as f64;
                    let right = left + w * 0.9;
                    let v = y_of(st.mean);
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(left, base.min(v)), (right, base.max(v))],
                            look.color.filled(),
                        )))
                        .map_err(draw_err)?;
                    // A zero-height bar still shows: 0 is not "no data".
                    if (v - base).abs() <= (y1 - y0) * 0.004 {
                        chart
                            .draw_series(std::iter::once(PathElement::new(
                                vec![(left, v), (right, v)],
                                look.color.stroke_width(3),
                            )))
                            .map_err(draw_err)?;
                    }
                    if let Some((lo, hi)) = st.ci95() {
                        let mid = (left + right) / 2.0;
                        let (l, h) = (
                            chart.backend_coord(&(mid, y_of(lo))),
                            chart.backend_coord(&(mid, y_of(hi))),
                        );
                        error_bar(&root, l.0, (l.1, h.1), RGBColor(0x33, 0x33, 0x33))?;
                    }
                }
            } else {
                let mut line: Vec<(f64, f64)> = points
                    .clone()
                    .filter(|(c, _)| axis.on_line[*c])
                    .map(|(c, st)| (axis.at[c], y_of(st.mean)))
                    .collect();
                line.sort_by(|a, b| a.0.total_cmp(&b.0));
                let style = look.color.stroke_width(2);
                match look.dash {
                    0 => chart.draw_series(LineSeries::new(line, style)).map(|_| ()),
                    1 => chart
                        .draw_series(DashedLineSeries::new(line, 8, 5, style))
                        .map(|_| ()),
                    _ => chart
                        .draw_series(DashedLineSeries::new(line, 2, 4, style))
                        .map(|_| ()),
                }
                .map_err(draw_err)?;
                // Error bars side by side where series share an x.
                let dodge = ((i as f64 - (n - 1.0) / 2.0) * (12.0 / n).min(3.0)).round() as i32;
                for (c, st) in points.clone() {
                    if let Some((lo, hi)) = st.ci95() {
                        let (l, h) = (
                            chart.backend_coord(&(axis.at[c], y_of(lo))),
                            chart.backend_coord(&(axis.at[c], y_of(hi))),
                        );
                        error_bar(&root, l.0 + dodge, (l.1, h.1), look.color)?;
                    }
                }
                for (c, st) in points {
                    let at = chart.backend_coord(&(axis.at[c], y_of(st.mean)));
                    marker(&root, look.shape, at, look.color)?;
                }
            }
        }
        if let (Some((margin, geometry)), Some(title)) = (&legend, &t.legend) {
            draw_legend(margin, geometry, title.as_deref(), &names, axis.bars)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Scatter
// ---------------------------------------------------------------------------------------------

/// One point of a scatter: a label's mean x and mean y within its series.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub label: String,
    pub x: f64,
    pub y: f64,
}

/// A scatter's series: a name and its points.
pub type Scatter = Vec<(String, Vec<Point>)>;

/// A scatter's series with the statistics of each point's y.
type StatScatter = Vec<(String, Vec<(Point, Stats)>)>;

/// The points of a scatter, per series: rows grouped by `by` and `label`, x and y averaged;
/// with the rows that passed the filters and the rows skipped.
pub fn points(
    path: &Path,
    x: &str,
    y: &str,
    by: Option<&str>,
    label: &str,
    filters: &[(String, String)],
) -> Result<(Scatter, usize, usize)> {
    let (s, rows, skipped, _) = scatter_table(&Table::read(path)?, x, y, by, label, filters)?;
    let plain = s
        .into_iter()
        .map(|(name, pts)| (name, pts.into_iter().map(|(p, _)| p).collect()))
        .collect();
    Ok((plain, rows, skipped))
}

/// [`points`] with each y's statistics, and [`Grouped::repeats`].
fn scatter_table(
    t: &Table<'_>,
    x: &str,
    y: &str,
    by: Option<&str>,
    label: &str,
    filters: &[(String, String)],
) -> Result<(StatScatter, usize, usize, Option<usize>)> {
    // Grouped twice with the label as x: once averaging the x column, once y.
    let gx = group_table(t, label, x, by, filters)?;
    let gy = group_table(t, label, y, by, filters)?;
    // Without `by`, each grouping has one series, named after its own column.
    let key = |s: &StatSeries| {
        if by.is_some() {
            s.name.clone()
        } else {
            String::new()
        }
    };
    let xs: HashMap<(String, &str), f64> = gx
        .series
        .iter()
        .flat_map(|s| {
            s.points
                .iter()
                .map(move |(l, st)| ((key(s), l.as_str()), st.mean))
        })
        .collect();
    let out = gy
        .series
        .iter()
        .map(|s| {
            let pts = s
                .points
                .iter()
                .filter_map(|(l, st)| {
                    let x = *xs.get(&(key(s), l.as_str()))?;
                    let p = Point {
                        label: l.clone(),
                        x,
                        y: st.mean,
                    };
                    Some((p, *st))
                })
                .collect();
            (s.name.clone(), pts)
        })
        .collect();
    Ok((out, gy.rows, gx.skipped.max(gy.skipped), gy.repeats))
}

/// The points of `pts` no other point beats: none has x as small or smaller and y larger.
/// In x order: the Pareto frontier of "fewer bits, more SQNR".
pub fn frontier(pts: &[Point]) -> Vec<Point> {
    let mut sorted: Vec<&Point> = pts.iter().collect();
    sorted.sort_by(|a, b| a.x.total_cmp(&b.x).then(b.y.total_cmp(&a.y)));
    let mut best = f64::NEG_INFINITY;
    let mut out = Vec::new();
    for p in sorted {
        if p.y > best {
            best = p.y;
            out.push(p.clone());
        }
    }
    out
}

/// A scatter of labelled points per series (x and y already in drawn units), each series'
/// Pareto frontier drawn as a line and its points labelled, y's confidence intervals as
/// error bars.
fn draw_scatter(series: &StatScatter, t: &Texts) -> Result<String> {
    let all = series.iter().flat_map(|s| &s.1);
    let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
    for (p, _) in all.clone() {
        x0 = x0.min(p.x);
        x1 = x1.max(p.x);
    }
    let (y0, y1) = y_extent(all.map(|(_, st)| st), 1.0);
    if !x0.is_finite() {
        return Err(Error::Invalid("plot: no point to draw".into()));
    }
    let pad = |a: f64, b: f64, f: f64| {
        let d = if b > a {
            (b - a) * f
        } else {
            a.abs().max(1.0) * 0.1
        };
        (a - d, b + d)
    };
    let (x0, x1) = pad(x0, x1, 0.06);
    let (y0, y1) = pad(y0, y1, 0.08);
    let (x_step, y_step) = ((x1 - x0) / 10.0, (y1 - y0) / 10.0);
    let names: Vec<String> = series.iter().map(|s| s.0.clone()).collect();
    let mut out = String::new();
    {
        let (root, plot, legend) = areas(&mut out, SCATTER_HEIGHT, t, &names)?;
        let mut chart = ChartBuilder::on(&plot)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(76)
            .build_cartesian_2d(
                Ticked::new(x0, x1, linear_ticks(x0, x1, 11)),
                Ticked::new(y0, y1, linear_ticks(y0, y1, 11)),
            )
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc(svg_text(&t.x))
            .y_desc(svg_text(&t.y))
            .axis_desc_style(("sans-serif", px(AXIS_TITLE_PX)))
            .label_style(("sans-serif", px(TICK_PX)))
            .bold_line_style(BLACK.mix(0.12))
            .x_label_formatter(&|v: &f64| tick_label(*v, x_step))
            .y_label_formatter(&|v: &f64| tick_label(*v, y_step))
            .draw()
            .map_err(draw_err)?;
        let inside = chart.plotting_area().get_pixel_range();
        // Label boxes drawn so far: (left, bottom, width) in pixels.
        let mut taken: Vec<(i32, i32, i32)> = Vec::new();
        for (i, (_, pts)) in series.iter().enumerate() {
            let look = Look::of(i);
            let plain: Vec<Point> = pts.iter().map(|(p, _)| p.clone()).collect();
            let front = frontier(&plain);
            let line: Vec<(f64, f64)> = front.iter().map(|p| (p.x, p.y)).collect();
            let style = look.color.stroke_width(2);
            match look.dash {
                0 => chart.draw_series(LineSeries::new(line, style)).map(|_| ()),
                1 => chart
                    .draw_series(DashedLineSeries::new(line, 8, 5, style))
                    .map(|_| ()),
                _ => chart
                    .draw_series(DashedLineSeries::new(line, 2, 4, style))
                    .map(|_| ()),
            }
            .map_err(draw_err)?;
            for (p, st) in pts {
                if let Some((lo, hi)) = st.ci95() {
                    let (l, h) = (
                        chart.backend_coord(&(p.x, lo)),
                        chart.backend_coord(&(p.x, hi)),
                    );
                    error_bar(&root, l.0, (l.1, h.1), look.color)?;
                }
            }
            for (p, _) in pts {
                marker(
                    &root,
                    look.shape,
                    chart.backend_coord(&(p.x, p.y)),
                    look.color,
                )?;
            }
            let label_style = ("sans-serif", px(POINT_LABEL_PX))
                .into_font()
                .color(&look.color)
                .pos(Pos::new(HPos::Left, VPos::Bottom));
            for p in &front {
                let at = chart.backend_coord(&(p.x, p.y));
                let label = text::short(&p.label, 24);
                let w = text_width(label.chars().count(), POINT_LABEL_PX) as i32;
                // Above right, below right, above left, below left: the first inside the
                // plotting area that overlaps no label drawn before (and none, rather than
                // an unreadable pile or a label over the legend).
                let spot = [(6, -4), (6, 16), (-6 - w, -4), (-6 - w, 16)]
                    .into_iter()
                    .map(|(dx, dy)| (at.0 + dx, at.1 + dy))
                    .find(|&(x, y)| {
                        x >= inside.0.start
                            && x + w <= inside.0.end
                            && y - 12 >= inside.1.start
                            && y <= inside.1.end
                            && taken.iter().all(|&(tx, ty, tw)| {
                                x + w <= tx || tx + tw <= x || y <= ty - 12 || ty <= y - 12
                            })
                    });
                if let Some((x, y)) = spot {
                    taken.push((x, y, w));
                    root.draw(&Text::new(label, (x, y), label_style.clone()))
                        .map_err(draw_err)?;
                }
            }
        }
        if let (Some((margin, geometry)), Some(title)) = (&legend, &t.legend) {
            draw_legend(margin, geometry, title.as_deref(), &names, false)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------------------------

/// A drawn chart, and the table of what it draws (`--summary`).
pub struct Chart {
    pub svg: String,
    /// CSV: one row per point, in the CSV's own units.
    pub summary: Vec<u8>,
    pub rows: usize,
    pub skipped: usize,
}

/// A number for the summary: its shortest exact form, empty where there is none.
fn number(v: f64) -> String {
    if !v.is_finite() {
        String::new()
    } else if v == 0.0 || (1e-5..1e16).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// A CSV of `header` then `rows`.
fn csv_bytes(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::Invalid(format!("plot: summary: {e}"));
    w.write_record(header).map_err(fail)?;
    for r in rows {
        w.write_record(&r).map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| Error::Invalid(format!("plot: summary: {e}")))
}

/// A point's n, mean, std and interval as summary fields.
fn stat_fields(st: &Stats) -> [String; 5] {
    let (lo, hi) = st.ci95().unwrap_or((f64::NAN, f64::NAN));
    [
        st.n.to_string(),
        number(st.mean),
        number(st.std),
        number(lo),
        number(hi),
    ]
}

/// The filters and what each point is, for a subtitle.
fn subtitle(filters: &[(String, String)], rest: &[String]) -> String {
    let mut parts: Vec<String> = filters
        .iter()
        .map(|(c, v)| format!("{} = {v}", name(c).words))
        .collect();
    parts.extend(rest.iter().cloned());
    parts.join("; ")
}

/// `qlab plot --label`: one point per label (and series), x and y averaged, the frontier
/// drawn. Without `by`, several variants are split by variant unless the label is the
/// variant.
pub fn scatter(
    csv: &Path,
    x: &str,
    y: &str,
    by: Option<&str>,
    label: &str,
    filters: &[(String, String)],
) -> Result<Chart> {
    let t = Table::read(csv)?;
    let by = by.or_else(|| t.default_by(label, filters));
    let (series, rows, skipped, repeats) = scatter_table(&t, x, y, by, label, filters)?;
    let (xn, yn, ln) = (name(x), name(y), name(label));
    let mut title = format!("{} vs {}, one point per {}", yn.words, xn.words, ln.words);
    if let Some(b) = by {
        title.push_str(&format!(", by {}", name(b).words));
    }
    let each = averaged(
        series.iter().flat_map(|s| s.1.iter().map(|p| p.1.n)),
        repeats,
    );
    let summary = csv_bytes(
        &[
            "series",
            "label",
            "x_mean",
            "n",
            "y_mean",
            "y_std",
            "y_ci95_low",
            "y_ci95_high",
        ],
        series.iter().flat_map(|(s, pts)| {
            pts.iter().map(move |(p, st)| {
                let mut r = vec![s.clone(), p.label.clone(), number(p.x)];
                r.extend(stat_fields(st));
                r
            })
        }),
    )?;
    // In drawn units: fractions as percentages.
    let drawn: StatScatter = series
        .into_iter()
        .map(|(s, pts)| {
            let pts = pts
                .into_iter()
                .map(|(p, st)| {
                    let p = Point {
                        x: p.x * xn.scale,
                        y: p.y * yn.scale,
                        ..p
                    };
                    let st = Stats {
                        mean: st.mean * yn.scale,
                        std: st.std * yn.scale,
                        half_ci: st.half_ci * yn.scale,
                        ..st
                    };
                    (p, st)
                })
                .collect();
            (s, pts)
        })
        .collect();
    let texts = Texts {
        title,
        subtitle: subtitle(
            filters,
            &[
                each,
                "lines: each series' Pareto frontier (less x, more y)".to_string(),
            ],
        ),
        x: xn.title(),
        y: yn.title(),
        x_column: x.to_string(),
        legend: by.map(|b| Some(name(b).title())),
        y_factor: 1.0,
    };
    Ok(Chart {
        svg: draw_scatter(&drawn, &texts)?,
        summary,
        rows,
        skipped,
    })
}

/// `qlab plot`: reads `csv` and draws the chart. Without `by`, rows of several variants are
/// split by variant (unless x is the variant): averaging two formats together means nothing.
pub fn plot(
    csv: &Path,
    x: &str,
    y: &str,
    by: Option<&str>,
    filters: &[(String, String)],
) -> Result<Chart> {
    let t = Table::read(csv)?;
    let by = by.or_else(|| t.default_by(x, filters));
    let g = group_table(&t, x, y, by, filters)?;
    let (xn, yn) = (name(x), name(y));
    let mut title = format!("{} vs {}", yn.words, xn.words);
    if let Some(b) = by {
        title.push_str(&format!(", by {}", name(b).words));
    }
    let each = averaged(
        g.series.iter().flat_map(|s| s.points.iter().map(|p| p.1.n)),
        g.repeats,
    );
    let texts = Texts {
        title,
        subtitle: subtitle(filters, &[each]),
        x: xn.title(),
        y: yn.title(),
        x_column: x.to_string(),
        legend: by.map(|b| Some(name(b).title())),
        y_factor: yn.scale,
    };
    let summary = csv_bytes(
        &["series", "x", "n", "mean", "std", "ci95_low", "ci95_high"],
        g.series.iter().flat_map(|s| {
            s.points.iter().map(move |(x, st)| {
                let mut r = vec![s.name.clone(), x.clone()];
                r.extend(stat_fields(st));
                r
            })
        }),
    )?;
    Ok(Chart {
        svg: draw(&g.series, &texts)?,
        summary,
        rows: g.rows,
        skipped: g.skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::{Point, decimal, frontier, log2_ticks, log10_ticks, name, t975, with_note, words};

    #[test]
    fn the_frontier_keeps_the_points_nothing_beats() {
        let p = |label: &str, x: f64, y: f64| Point {
            label: label.into(),
            x,
            y,
        };
        let pts = [
            p("a", 4.25, 15.0),
            p("b", 4.5, 14.0), // more bits, less SQNR than a: dominated
            p("c", 4.5, 17.0),
            p("d", 8.0, 17.0), // ties c's SQNR at more bits: dominated
            p("e", 8.25, 30.0),
            p("f", 4.25, 12.0), // same bits as a, less SQNR
        ];
        let labels: Vec<String> = frontier(&pts).into_iter().map(|p| p.label).collect();
        assert_eq!(labels, ["a", "c", "e"]);
    }

    #[test]
    fn columns_read_as_words_and_units() {
        let t = |c: &str| name(c).title();
        assert_eq!(t("out_sqnr_db"), "output SQNR (dB)");
        assert_eq!(t("w_sqnr_db"), "W SQNR (dB)");
        assert_eq!(t("x_clipped"), "x clipped (%)");
        assert_eq!(name("x_clipped").scale, 100.0);
        assert_eq!(t("variant.block_size"), "block size (elements)");
        assert_eq!(t("w_bits_per_element"), "W bits per element");
        assert_eq!(t("x.dist"), "x distribution");
        assert_eq!(t("seconds"), "time (s)");
        assert_eq!(t("a.b_c"), "a b c");
        assert_eq!(words("_"), "_");
        assert_eq!(
            with_note("block size (elements)", "log scale"),
            "block size (elements, log scale)"
        );
        assert_eq!(with_note("factor", "log scale"), "factor (log scale)");
    }

    #[test]
    fn log_ticks_are_1_2_5_and_powers_of_two() {
        let labels = |v: Vec<(f64, String)>| v.into_iter().map(|t| t.1).collect::<Vec<_>>();
        assert_eq!(
            labels(log10_ticks(-0.05, 3.05)),
            ["1", "2", "5", "10", "20", "50", "100", "200", "500", "1000"]
        );
        assert_eq!(
            labels(log10_ticks(-3.1, -1.9)),
            ["0.001", "0.002", "0.005", "0.01"]
        );
        assert_eq!(labels(log2_ticks(2.8, 6.2)), ["8", "16", "32", "64"]);
        assert_eq!(decimal(2, -7), "2e-7");
        assert!((t975(2) - 4.302652729749464).abs() < 1e-9);
    }
}
