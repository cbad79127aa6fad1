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

fn histogram_lines(h: &Histogram, width: usize, height: usize, theme: Theme) -> Vec<Line<'static>> {
    // Re-bin to the width: adjacent bins summed.
    let per = h.counts.len().div_ceil(width.max(1)).max(1);
    let cols: Vec<u64> = h.counts.chunks(per).map(|c| c.iter().sum()).collect();
    let mut lines = super::columns(&cols, height, 2, 0, theme.title());
    let (lo, hi) = (h.edges[0], h.edges[h.edges.len() - 1]);
    let span = cols.len() * 2;
    let left = fmt(lo, Fmt::Sci);
    let right = fmt(hi, Fmt::Sci);
    lines.push(Line::from(format!(
        "{left}{:>w$}",
        right,
        w = span.saturating_sub(left.len())
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
    let width = (hist_area.width.saturating_sub(2) / 2) as usize;
    let height = hist_area.height.saturating_sub(4).max(1) as usize;
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
    let row = |name: &str, db: f64| {
        Line::from(format!(
            "{name:<14}{:>8} dB {}",
            fmt(db, Fmt::Db),
            bar(if db.is_finite() { db / top } else { 1.0 }, 16)
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
                "model prediction {} dB",
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
