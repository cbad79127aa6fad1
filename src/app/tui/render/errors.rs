//! Errors: the output-error histogram (linear or log bins), the decomposition by operand,
//! percentiles, and where the largest errors are.

use super::esc;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::bar;
use crate::app::table::{Fmt, fmt};
use crate::app::tui::app::{App, Computed};
use crate::app::tui::theme::Theme;
use crate::core::metrics::histogram::Histogram;

/// The histogram in `width` × `height` cells: a y scale (counts) on the left, the bins as
/// wide as the panel allows (adjacent bins summed when there are more bins than columns), and an
/// x axis with both ends and, where the range holds it, a mark at zero (a biased error shows
/// as a pile off the mark).
fn histogram_lines(h: &Histogram, width: usize, height: usize, theme: Theme) -> Vec<Line<'static>> {
    const SCALE: usize = 8;
    let room = width.saturating_sub(SCALE).max(1);
    let per = h.counts.len().div_ceil(room).max(1);
    let cols: Vec<u64> = h.counts.chunks(per).map(|c| c.iter().sum()).collect();
    // Every bin gets its share of the width (some one cell more than others), so the bars
    // fill the panel whatever the number of bins.
    let n = cols.len().max(1);
    let cells: Vec<u64> = (0..cols.len())
        .flat_map(|i| {
            let share = (i + 1) * room / n - i * room / n;
            std::iter::repeat_n(cols[i], share.max(1))
        })
        .collect();
    let max = cols.iter().copied().max().unwrap_or(0);
    let bars = super::columns(&cells, height, 1, 0, theme.title());
    let last = bars.len().saturating_sub(1);
    let mut lines: Vec<Line<'static>> = bars
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let label = match i {
                0 => format!("{:>6} ┤", max),
                i if i == last => format!("{:>6} ┤", 0),
                _ => format!("{:>6} │", ""),
            };
            let mut spans = vec![Span::styled(label, theme.dim())];
            spans.extend(l.spans);
            Line::from(spans)
        })
        .collect();
    let span = cells.len();
    let (lo, hi) = (h.edges[0], h.edges[h.edges.len() - 1]);
    // The axis: ┴ under the column holding zero.
    let mut axis: Vec<char> = std::iter::repeat_n('─', span).collect();
    let zero_at = (lo < 0.0 && hi > 0.0 && hi > lo)
        .then(|| ((0.0 - lo) / (hi - lo) * span as f64).floor() as usize)
        .map(|i| i.min(span.saturating_sub(1)));
    if let Some(z) = zero_at {
        axis[z] = '┴';
    }
    lines.push(Line::styled(
        format!("{:>6} └{}", "", axis.into_iter().collect::<String>()),
        theme.dim(),
    ));
    let left = fmt(lo, Fmt::Sci);
    let right = fmt(hi, Fmt::Sci);
    let mut labels: Vec<char> =
        std::iter::repeat_n(' ', span.max(left.len() + right.len() + 1)).collect();
    for (i, ch) in left.chars().enumerate() {
        labels[i] = ch;
    }
    let n = labels.len();
    for (i, ch) in right.chars().enumerate() {
        labels[n - right.len() + i] = ch;
    }
    if let Some(z) = zero_at
        && z > left.len()
        && z + 2 < n - right.len()
    {
        labels[z] = '0';
    }
    lines.push(Line::from(format!(
        "{:>6}  {}",
        "",
        labels.into_iter().collect::<String>()
    )));
    lines
}

pub fn draw(frame: &mut Frame, app: &App, c: &Computed, theme: Theme, area: Rect) {
    let Some(v) = c.report.variants.get(app.variant) else {
        return;
    };
    let [hist_area, bottom] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(11)]).areas(area);
    let [decomp_area, hot_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(bottom);

    let h = if app.errors.log_bins {
        &v.error_histogram_log
    } else {
        &v.error_histogram
    };
    let width = hist_area.width.saturating_sub(2) as usize;
    let height = hist_area.height.saturating_sub(5).max(1) as usize;
    let mut lines = histogram_lines(h, width, height, theme);
    let what = if app.errors.log_bins {
        "|error|, log-spaced bins"
    } else {
        "error = out − ref, linear bins"
    };
    let mut note = format!("{what} · {} outputs", v.output.count);
    if app.errors.log_bins {
        note.push_str(&format!(" · exact zeros {}", h.zeros));
    }
    if h.non_finite > 0 {
        note.push_str(&format!(" · NaN/Inf {}", h.non_finite));
    }
    lines.push(Line::styled(note, theme.dim()));
    let title = Line::from(vec![
        Span::styled(
            format!(" {}: output error histogram ", esc(&v.label)),
            theme.title(),
        ),
        Span::styled("(l: linear/log) ", theme.dim()),
    ]);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        hist_area,
    );

    let d = &v.decomposition;
    let top = [d.w_only_sqnr_db, d.x_only_sqnr_db, d.both_sqnr_db]
        .into_iter()
        .filter(|x| x.is_finite())
        .fold(1.0f64, f64::max);
    // The bars share the space left beside the numbers, so their lengths compare at any width.
    let bar_width = usize::from(decomp_area.width.saturating_sub(2))
        .saturating_sub(14 + 8 + 4)
        .max(1);
    let row = |name: &str, db: f64| {
        Line::from(format!(
            "{name:<14}{:>8} dB {}",
            fmt(db, Fmt::Db),
            bar(if db.is_finite() { db / top } else { 1.0 }, bar_width)
        ))
    };
    let o = &v.output;
    let lines = vec![
        Line::styled("output SQNR with …", theme.dim()),
        row("W quantized", d.w_only_sqnr_db),
        row("x quantized", d.x_only_sqnr_db),
        row("both", d.both_sqnr_db),
        Line::styled(
            format!(
                "noise-model SQNR (Δ²/12) {} dB",
                fmt(v.model_output_sqnr_db, Fmt::Db)
            ),
            theme.dim(),
        ),
        Line::from(""),
        Line::from(format!(
            "|err| p50 {}  p90 {}",
            fmt(o.p50, Fmt::Sci),
            fmt(o.p90, Fmt::Sci)
        )),
        Line::from(format!(
            "      p99 {}  p99.9 {}",
            fmt(o.p99, Fmt::Sci),
            fmt(o.p999, Fmt::Sci)
        )),
        Line::from(format!(
            "      max {}  RMSE {}",
            fmt(o.max_abs, Fmt::Sci),
            fmt(o.rmse, Fmt::Sci)
        )),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(Span::styled(
            " decomposition and percentiles ",
            theme.title(),
        ))),
        decomp_area,
    );

    let hs = &c.hotspots[app.variant];
    let inner = hot_area.width.saturating_sub(2);
    let mut lines = vec![Line::styled("worst rows of y (RMS error)", theme.dim())];
    lines.push(Line::from(super::as_many_as_fit(
        hs.rows
            .iter()
            .take(3)
            .map(|(r, e)| format!("m={r}: {}", fmt(*e, Fmt::Sci))),
        inner,
    )));
    lines.push(Line::styled("worst columns of y (RMS error)", theme.dim()));
    lines.push(Line::from(super::as_many_as_fit(
        hs.cols
            .iter()
            .take(3)
            .map(|(c, e)| format!("n={c}: {}", fmt(*e, Fmt::Sci))),
        inner,
    )));
    lines.push(Line::styled(
        "worst elements: y[m][n] out vs ref",
        theme.dim(),
    ));
    for &(m, n, out, r) in hs.elements.iter().take(4) {
        let (out, r) = (f64::from(out), r);
        lines.push(super::fitting(
            inner,
            vec![
                Line::from(format!(
                    "[{m}][{n}] {} vs {} ({})",
                    fmt(out, Fmt::Sci),
                    fmt(r, Fmt::Sci),
                    fmt(out - r, Fmt::Sci)
                )),
                Line::from(format!(
                    "[{m}][{n}] {} vs {}",
                    fmt(out, Fmt::Sci),
                    fmt(r, Fmt::Sci)
                )),
            ],
        ));
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(Span::styled(
            " where the largest errors are ",
            theme.title(),
        ))),
        hot_area,
    );
}
