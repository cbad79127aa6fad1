//! `qlab plot`: a line or bar chart of a sweep CSV, as SVG (no system fonts needed: the SVG
//! names a generic font family and the viewer draws the text).

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use crate::atomic;
use crate::error::{Error, Result};

/// One series of the chart: its name and (x label, mean y, rows averaged) in first-seen order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(String, f64, usize)>,
}

/// Groups the CSV's rows that pass every `filter` (column, value) by `by` (one series per value)
/// and `x`, averaging `y` over the rows of each group (repeats, and any other axis the chart
/// does not show). Non-finite y are skipped.
pub fn series(
    path: &Path,
    x: &str,
    y: &str,
    by: Option<&str>,
    filters: &[(String, String)],
) -> Result<Vec<Series>> {
    let mut r = csv::Reader::from_path(path).map_err(|e| Error::csv(path, e))?;
    let header = r.headers().map_err(|e| Error::csv(path, e))?.clone();
    if header.is_empty() {
        return Err(Error::file(
            path,
            "the file is empty; expected a CSV with a header row",
        ));
    }
    let col = |name: &str| {
        header.iter().position(|c| c == name).ok_or_else(|| {
            Error::file(
                path,
                format!(
                    "no column '{name}'; columns: {}",
                    header.iter().collect::<Vec<_>>().join(", ")
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
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<(usize, usize), (f64, usize)> = BTreeMap::new();
    let mut xs: Vec<String> = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| Error::csv(path, e))?;
        if fi.iter().any(|&(c, v)| &rec[c] != v) {
            continue;
        }
        let name = bi.map_or(y.to_string(), |b| rec[b].to_string());
        let s = order.iter().position(|o| *o == name).unwrap_or_else(|| {
            order.push(name);
            order.len() - 1
        });
        let xv = rec[xi].to_string();
        let xk = xs.iter().position(|o| *o == xv).unwrap_or_else(|| {
            xs.push(xv);
            xs.len() - 1
        });
        let Ok(v) = rec[yi].parse::<f64>() else {
            return Err(Error::file(
                path,
                format!("column '{y}' holds '{}', not a number", &rec[yi]),
            ));
        };
        let e = groups.entry((s, xk)).or_insert((0.0, 0));
        if v.is_finite() {
            e.0 += v;
            e.1 += 1;
        }
    }
    if order.is_empty() {
        let why = if filters.is_empty() {
            "has no rows to plot"
        } else {
            "has no rows to plot after --where"
        };
        return Err(Error::file(path, why));
    }
    if groups.values().all(|&(_, n)| n == 0) {
        return Err(Error::file(
            path,
            format!("column '{y}' holds no finite value to plot (all NaN or ±inf)"),
        ));
    }
    Ok(order
        .iter()
        .enumerate()
        .map(|(s, name)| Series {
            name: name.clone(),
            points: (0..xs.len())
                .filter_map(|xk| {
                    let &(sum, n) = groups.get(&(s, xk))?;
                    (n > 0).then(|| (xs[xk].clone(), sum / n as f64, n))
                })
                .collect(),
        })
        .collect())
}

fn draw_err<E: std::fmt::Debug>(e: E) -> Error {
    Error::Invalid(format!("plot: {e:?}"))
}

/// Draws the series as SVG text: lines when every x is a number, grouped bars otherwise.
pub fn svg(series: &[Series], x: &str, y: &str, title: &str) -> Result<String> {
    let numeric = series
        .iter()
        .flat_map(|s| &s.points)
        .all(|p| p.0.parse::<f64>().is_ok());
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .collect();
    let (mut y0, mut y1) = ys
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if !y0.is_finite() {
        (y0, y1) = (0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.08).max(1e-9);
    let (y0, y1) = (if y0 >= 0.0 && !numeric { 0.0 } else { y0 - pad }, y1 + pad);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (960, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut cats: Vec<String> = Vec::new();
        for s in series {
            for p in &s.points {
                if !cats.contains(&p.0) {
                    cats.push(p.0.clone());
                }
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
        let to_axis = |x: f64| if log { x.log10() } else { x };
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
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(draw_err)?;
        let label = |v: &f64| {
            if log {
                let x = 10f64.powf(*v);
                format!("{}", (x * 1000.0).round() / 1000.0)
            } else if numeric {
                format!("{v}")
            } else {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < cats.len() {
                    cats[i as usize].clone()
                } else {
                    String::new()
                }
            }
        };
        let x_desc = if log {
            format!("{x} (log scale)")
        } else {
            x.to_string()
        };
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y)
            .x_labels(if numeric { 10 } else { cats.len() * 4 + 1 })
            .x_label_formatter(&label)
            .draw()
            .map_err(draw_err)?;
        let n = series.len().max(1) as f64;
        for (i, s) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            if numeric {
                let mut pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .filter_map(|p| Some((to_axis(p.0.parse().ok()?), p.1)))
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                    .map_err(draw_err)?
                    .label(s.name.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(draw_err)?;
            } else {
                let w = 0.8 / n;
                let bars = s.points.iter().filter_map(|p| {
                    let c = cats.iter().position(|c| *c == p.0)? as f64;
                    let left = c - 0.4 + w * i as f64;
                    Some(Rectangle::new(
                        [(left, y0.max(0.0).min(p.1)), (left + w * 0.9, p.1)],
                        color.filled(),
                    ))
                });
                chart
                    .draw_series(bars)
                    .map_err(draw_err)?
                    .label(s.name.clone())
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

/// `qlab plot`: reads `csv`, writes the chart to `out` (atomically).
pub fn plot(
    csv: &Path,
    x: &str,
    y: &str,
    by: Option<&str>,
    filters: &[(String, String)],
    out: &Path,
) -> Result<()> {
    let s = series(csv, x, y, by, filters)?;
    let mut title = match by {
        Some(b) => format!("{y} vs {x}, by {b}"),
        None => format!("{y} vs {x}"),
    };
    for (c, v) in filters {
        title.push_str(&format!(", {c} = {v}"));
    }
    title.push_str(" (mean of the other rows)");
    atomic::write(out, svg(&s, x, y, &title)?.as_bytes())
}
