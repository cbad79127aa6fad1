//! Reading a CSV whole, filtering it, and grouping its rows into points with their mean and 95% interval.

use super::*;

/// A CSV read whole: its header and records.
pub(super) struct Table<'p> {
    pub(super) path: &'p Path,
    pub(super) header: Vec<String>,
    pub(super) rows: Vec<csv::StringRecord>,
}

impl<'p> Table<'p> {
    pub(super) fn read(path: &'p Path) -> Result<Table<'p>> {
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

    pub(super) fn has(&self, column: &str) -> bool {
        self.header.iter().any(|c| c == column)
    }

    /// A column's index, or an error naming the columns there are.
    pub(super) fn col(&self, name: &str) -> Result<usize> {
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
    pub(super) fn filters<'f>(&self, filters: &'f [(String, String)]) -> Result<Vec<Filter<'f>>> {
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
    pub(super) fn kept(&self, filters: &[Filter<'_>]) -> Result<Vec<&csv::StringRecord>> {
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
    pub(super) fn no_match(
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
    pub(super) fn default_by(
        &self,
        apart: &str,
        filters: &[(String, String)],
    ) -> Option<&'static str> {
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
pub(super) struct Filter<'f> {
    pub(super) at: usize,
    pub(super) column: &'f str,
    pub(super) value: &'f str,
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
pub(super) fn t975(df: usize) -> f64 {
    StudentsT::new(0.0, 1.0, df as f64).map_or(f64::NAN, |t| t.inverse_cdf(0.975))
}

/// Running statistics of finite values. The mean is their sum over their count, as a
/// spreadsheet computes it, or, where the sum leaves f64's range (three values of 1.7e308),
/// the running mean, which cannot; the spread is Welford's.
#[derive(Clone, Debug, Default)]
pub(super) struct Acc<'a> {
    pub(super) sum: f64,
    pub(super) running: f64,
    pub(super) m2: f64,
    pub(super) n: usize,
    /// The distinct `repeat` values of the rows, where the CSV has that column.
    pub(super) repeats: HashSet<&'a str>,
}

impl<'a> Acc<'a> {
    pub(super) fn add(&mut self, v: f64, repeat: Option<&'a str>) {
        self.n += 1;
        self.sum += v;
        let d = v - self.running;
        self.running += d / self.n as f64;
        self.m2 += d * (v - self.running);
        if let Some(r) = repeat {
            self.repeats.insert(r);
        }
    }

    pub(super) fn stats(&self, t: &mut HashMap<usize, f64>) -> Stats {
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
    pub(super) fn plain(&self) -> Series {
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

pub(super) fn group_table(
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
    pub(super) fn index<'a>(
        list: &mut Vec<&'a str>,
        at: &mut HashMap<&'a str, usize>,
        key: &'a str,
    ) -> usize {
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
pub(super) fn averaged(points: impl Iterator<Item = usize>, repeats: Option<usize>) -> String {
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
