//! `qlab plot`: a line or bar chart of a sweep CSV, as SVG (no system fonts needed: the SVG
//! names a generic font family and the viewer draws the text).

use std::collections::HashMap;
use std::path::Path;

use plotters::prelude::*;

use crate::core::error::{Error, Result};
use crate::core::text;

/// The most category labels an x axis shows.
const MAX_CATEGORY_LABELS: usize = 200;

/// How many of a CSV's columns a "no column" message lists.
const COLUMNS_SHOWN: usize = 12;

/// One series of the chart: its name and (x label, mean y, rows averaged) in first-seen order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(String, f64, usize)>,
}

/// The rows a chart draws, grouped into series.
#[derive(Clone, Debug, PartialEq)]
pub struct Grouped {
    pub series: Vec<Series>,
    /// Rows that passed the filters.
    pub rows: usize,
    /// Of those, rows left out because y (or a numeric x) is NaN or ±inf.
    pub skipped: usize,
}

/// A drawn chart.
pub struct Chart {
    pub svg: String,
    pub rows: usize,
    pub skipped: usize,
}

/// [`group`]'s series alone.
pub fn series(
    path: &Path,
    x: &str,
    y: &str,
    by: Option<&str>,
    filters: &[(String, String)],
) -> Result<Vec<Series>> {
    group(path, x, y, by, filters).map(|g| g.series)
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
    let bytes = crate::core::files::read(path)?;
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    let header = r.headers().map_err(|e| Error::csv(path, e))?.clone();
    if header.is_empty() {
        return Err(Error::file(
            path,
            "the file is empty; expected a CSV with a header row",
        ));
    }
    let names: Vec<&str> = header.iter().collect();
    let col = |name: &str| {
        header.iter().position(|c| c == name).ok_or_else(|| {
            let hint = text::did_you_mean(name, &names)
                .map(|n| format!("did you mean '{}'? ", text::echo(n)))
                .unwrap_or_default();
            Error::file(
                path,
                format!(
                    "no column '{}'; {hint}columns: {}",
                    text::echo(name),
                    text::list(&names, COLUMNS_SHOWN)
                ),
            )
        })
    };
    let (xi, yi) = (col(x)?, col(y)?);
    let bi = by.map(col).transpose()?;
    let fi: Vec<(usize, &str)> = filters
        .iter()
        .map(|(c, v)| Ok((col(c)?, v.as_str())))
        .collect::<Result<_>>()?;
    // (series, x, y) of every row that passes the filters.
    let mut kept: Vec<(String, String, f64)> = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| Error::csv(path, e))?;
        if fi.iter().any(|&(c, v)| &rec[c] != v) {
            continue;
        }
        let name = bi.map_or(y.to_string(), |b| rec[b].to_string());
        let Ok(v) = rec[yi].parse::<f64>() else {
            let line = rec.position().map_or(0, csv::Position::line);
            return Err(Error::file(
                path,
                format!(
                    "line {line}: column '{}' holds '{}', not a number",
                    text::echo(y),
                    text::echo(&rec[yi])
                ),
            ));
        };
        kept.push((name, rec[xi].to_string(), v));
    }
    let rows = kept.len();
    if rows == 0 {
        let why = if filters.is_empty() {
            "has no rows to plot"
        } else {
            "has no rows to plot after --where"
        };
        return Err(Error::file(path, why));
    }
    let numeric_x = kept.iter().all(|(_, x, _)| x.parse::<f64>().is_ok());
    kept.retain(|(_, xv, v)| {
        v.is_finite() && (!numeric_x || xv.parse::<f64>().is_ok_and(f64::is_finite))
    });
    let skipped = rows - kept.len();
    if kept.is_empty() {
        return Err(Error::file(
            path,
            format!(
                "column '{}' holds no finite value to plot (all NaN or ±inf)",
                text::echo(y)
            ),
        ));
    }
    // First-seen order, found by hash (a million distinct x values stay linear).
    let mut order: Vec<String> = Vec::new();
    let mut order_at: HashMap<String, usize> = HashMap::new();
    let mut xs: Vec<String> = Vec::new();
    let mut xs_at: HashMap<String, usize> = HashMap::new();
    let mut groups: HashMap<(usize, usize), Mean> = HashMap::new();
    let index = |list: &mut Vec<String>, at: &mut HashMap<String, usize>, key: String| {
        *at.entry(key).or_insert_with_key(|k| {
            list.push(k.clone());
            list.len() - 1
        })
    };
    for (name, xv, v) in kept {
        let s = index(&mut order, &mut order_at, name);
        let xk = index(&mut xs, &mut xs_at, xv);
        groups.entry((s, xk)).or_default().add(v);
    }
    let series = order
        .iter()
        .enumerate()
        .filter_map(|(s, name)| {
            let points: Vec<(String, f64, usize)> = (0..xs.len())
                .filter_map(|xk| {
                    let m = groups.get(&(s, xk))?;
                    Some((xs[xk].clone(), m.value(), m.n))
                })
                .collect();
            (!points.is_empty()).then(|| Series {
                name: name.clone(),
                points,
            })
        })
        .collect();
    Ok(Grouped {
        series,
        rows,
        skipped,
    })
}

/// The mean of finite values: their sum over their count, as a spreadsheet computes it, or,
/// where the sum leaves f64's range (three values of 1.7e308), the running mean, which cannot.
#[derive(Clone, Copy, Debug, Default)]
struct Mean {
    sum: f64,
    running: f64,
    n: usize,
}

impl Mean {
    fn add(&mut self, v: f64) {
        self.n += 1;
        self.sum += v;
        self.running += (v - self.running) / self.n as f64;
    }

    fn value(&self) -> f64 {
        let plain = self.sum / self.n as f64;
        if plain.is_finite() {
            plain
        } else {
            self.running
        }
    }
}

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

fn draw_err<E: std::fmt::Debug>(e: E) -> Error {
    Error::Invalid(format!("plot: {e:?}"))
}

/// Text from the CSV or the command line as it goes into the SVG: control characters (which
/// XML forbids even escaped) shown as escapes, and cut to a length a chart can show.
/// Plotters escapes `<`, `&` and quotes itself.
fn svg_text(s: &str) -> String {
    text::short(s, 80)
}

/// Draws the series as SVG text: lines when every x is a number, grouped bars otherwise.
pub fn svg(series: &[Series], x: &str, y: &str, title: &str) -> Result<String> {
    let numeric = series
        .iter()
        .flat_map(|s| &s.points)
        .all(|p| p.0.parse::<f64>().is_ok_and(f64::is_finite));
    let (y_lo, y_hi) = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let (y_lo, y_hi) = if y_lo.is_finite() {
        (y_lo, y_hi)
    } else {
        (0.0, 1.0)
    };
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
    let bars_from_zero = y0 >= 0.0 && !numeric && y_scale.offset == 0.0;
    let (y0, y1) = (if bars_from_zero { 0.0 } else { y0 - pad }, y1 + pad);
    let mut cats: Vec<String> = Vec::new();
    let mut cat_at: HashMap<&str, usize> = HashMap::new();
    for s in series {
        for p in &s.points {
            cat_at.entry(&p.0).or_insert_with(|| {
                cats.push(p.0.clone());
                cats.len() - 1
            });
        }
    }
    // Positive x spanning two decades or more is drawn on a log axis.
    let xs: Vec<f64> = cats.iter().filter_map(|c| c.parse().ok()).collect();
    let (lo, hi) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let log = numeric && lo > 0.0 && hi / lo >= 100.0;
    let x_scale = if numeric && !log {
        AxisScale::of(lo, hi)
    } else {
        AxisScale::PLAIN
    };
    let to_axis = |x: f64| if log { x.log10() } else { x_scale.apply(x) };
    let (x0, x1) = if numeric {
        let (a, b) = (to_axis(lo), to_axis(hi));
        let pad = (b - a) * 0.03;
        if a == b {
            (a - 1.0, b + 1.0)
        } else {
            (a - pad, b + pad)
        }
    } else {
        (-0.5, cats.len() as f64 - 0.5)
    };
    let cat_labels: Vec<String> = cats.iter().map(|c| svg_text(c)).collect();
    let x_desc = if log {
        format!("{} (log scale)", svg_text(x))
    } else {
        format!("{}{}", svg_text(x), x_scale.describe())
    };
    let y_desc = format!("{}{}", svg_text(y), y_scale.describe());
    let (x_step, y_step) = ((x1 - x0) / 10.0, (y1 - y0) / 10.0);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (960, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(text::short(title, 120), ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(draw_err)?;
        let label = |v: &f64| {
            if log {
                let x = 10f64.powf(*v);
                // Three decimals for everyday values; exponent form where they would read 0.
                if !(5e-4..1e9).contains(&x) {
                    format!("{x:.1e}")
                } else {
                    format!("{}", (x * 1000.0).round() / 1000.0)
                }
            } else if numeric {
                tick_label(*v, x_step)
            } else {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < cat_labels.len() {
                    cat_labels[i as usize].clone()
                } else {
                    String::new()
                }
            }
        };
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            // Every category gets its label, up to what a chart can show.
            .x_labels(if numeric {
                10
            } else {
                cats.len().min(MAX_CATEGORY_LABELS) * 4 + 1
            })
            .x_label_formatter(&label)
            .y_label_formatter(&|v: &f64| tick_label(*v, y_step))
            .draw()
            .map_err(draw_err)?;
        let n = series.len().max(1) as f64;
        for (i, s) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let name = svg_text(&s.name);
            if numeric {
                let mut pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .filter_map(|p| Some((to_axis(p.0.parse().ok()?), y_scale.apply(p.1))))
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                    .map_err(draw_err)?
                    .label(name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(draw_err)?;
            } else {
                let w = 0.8 / n;
                let bars = s.points.iter().filter_map(|p| {
                    let c = *cat_at.get(p.0.as_str())? as f64;
                    let left = c - 0.4 + w * i as f64;
                    let v = y_scale.apply(p.1);
                    Some(Rectangle::new(
                        [(left, y0.max(0.0).min(v)), (left + w * 0.9, v)],
                        color.filled(),
                    ))
                });
                chart
                    .draw_series(bars)
                    .map_err(draw_err)?
                    .label(name)
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled())
                    });
            }
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(out)
}

/// One point of a scatter: a label's mean x and mean y within its series.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub label: String,
    pub x: f64,
    pub y: f64,
}

/// A scatter's series: a name and its points.
pub type Scatter = Vec<(String, Vec<Point>)>;

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
    // Grouped twice by `group` with the label as its x: once averaging the x column, once y.
    let gx = group(path, label, x, by, filters)?;
    let gy = group(path, label, y, by, filters)?;
    let mut out = Vec::new();
    for (sx, sy) in gx.series.iter().zip(&gy.series) {
        let pts = sx
            .points
            .iter()
            .filter_map(|(l, xv, _)| {
                let (_, yv, _) = sy.points.iter().find(|p| &p.0 == l)?;
                Some(Point {
                    label: l.clone(),
                    x: *xv,
                    y: *yv,
                })
            })
            .collect();
        out.push((sx.name.clone(), pts));
    }
    Ok((out, gy.rows, gx.skipped.max(gy.skipped)))
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

/// A scatter of labelled points per series, each series' Pareto frontier drawn as a line and
/// its points labelled.
pub fn scatter_svg(
    series: &[(String, Vec<Point>)],
    x: &str,
    y: &str,
    title: &str,
) -> Result<String> {
    let all = series.iter().flat_map(|s| &s.1);
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for p in all {
        x0 = x0.min(p.x);
        x1 = x1.max(p.x);
        y0 = y0.min(p.y);
        y1 = y1.max(p.y);
    }
    if !x0.is_finite() || !y0.is_finite() {
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
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (960, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(text::short(title, 120), ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc(svg_text(x))
            .y_desc(svg_text(y))
            .x_label_formatter(&|v: &f64| tick_label(*v, x_step))
            .y_label_formatter(&|v: &f64| tick_label(*v, y_step))
            .draw()
            .map_err(draw_err)?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let front = frontier(pts);
            chart
                .draw_series(LineSeries::new(
                    front.iter().map(|p| (p.x, p.y)),
                    color.stroke_width(2),
                ))
                .map_err(draw_err)?
                .label(format!("{} (frontier)", svg_text(name)))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| Circle::new((p.x, p.y), 3, color.filled())),
                )
                .map_err(draw_err)?;
            chart
                .draw_series(front.iter().map(|p| {
                    Text::new(
                        svg_text(&p.label),
                        (p.x, p.y),
                        ("sans-serif", 11).into_font().color(&color),
                    )
                }))
                .map_err(draw_err)?;
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(out)
}

/// `qlab plot --label`: one point per label (and series), x and y averaged, the frontier
/// drawn.
pub fn scatter(
    csv: &Path,
    x: &str,
    y: &str,
    by: Option<&str>,
    label: &str,
    filters: &[(String, String)],
) -> Result<Chart> {
    let (series, rows, skipped) = points(csv, x, y, by, label, filters)?;
    let mut title = match by {
        Some(b) => format!("{y} vs {x}, one point per {label}, by {b}"),
        None => format!("{y} vs {x}, one point per {label}"),
    };
    for (c, v) in filters {
        title.push_str(&format!(", {c} = {v}"));
    }
    Ok(Chart {
        svg: scatter_svg(&series, x, y, &title)?,
        rows,
        skipped,
    })
}

/// `qlab plot`: reads `csv` and draws the chart.
pub fn plot(
    csv: &Path,
    x: &str,
    y: &str,
    by: Option<&str>,
    filters: &[(String, String)],
) -> Result<Chart> {
    let g = group(csv, x, y, by, filters)?;
    let mut title = match by {
        Some(b) => format!("{y} vs {x}, by {b}"),
        None => format!("{y} vs {x}"),
    };
    for (c, v) in filters {
        title.push_str(&format!(", {c} = {v}"));
    }
    title.push_str(" (mean of the other rows)");
    Ok(Chart {
        svg: svg(&g.series, x, y, &title)?,
        rows: g.rows,
        skipped: g.skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::{Point, frontier};

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
}
