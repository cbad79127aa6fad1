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

mod axes;
mod draw;
mod names;
mod scatter;
mod table;

use axes::*;
pub use draw::*;
pub use names::*;
pub use scatter::*;
pub use table::*;

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
