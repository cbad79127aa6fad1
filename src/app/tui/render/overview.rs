//! Overview: the scenario, the metrics table of every shown variant (the rows of `qlab run`,
//! best per row marked), and the memory footprint.

use super::esc;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};

use super::fit_label;
use crate::app::table::{Fmt, ROWS, fmt};
use crate::app::tui::app::{App, Computed};
use crate::app::tui::theme::Theme;
use crate::core::experiment::VariantReport;

fn human_bytes(bytes: f64) -> String {
    match bytes {
        b if b >= 1024.0 * 1024.0 => format!("{:.2} MiB", b / 1024.0 / 1024.0),
        b if b >= 100.0 * 1024.0 => format!("{:.0} KiB", b / 1024.0),
        b if b >= 1024.0 => format!("{:.1} KiB", b / 1024.0),
        b => format!("{b:.0} B"),
    }
}

/// One line that reads the table for a newcomer: which shown variant is best, and whether W's
/// or x's quantization costs the most in it (each operand quantized alone: the lower SQNR is
/// the one that dominates; within 3 dB they share it), then the variant with the fewest bits.
/// A long and a short wording, for wide and narrow terminals.
pub fn verdict(visible: &[&VariantReport]) -> Option<(String, String)> {
    let best = visible
        .iter()
        // An exact result (SQNR +∞) is the best there is: only NaN is left out.
        .filter(|v| !v.output.sqnr_db.is_nan())
        .max_by(|a, b| a.output.sqnr_db.total_cmp(&b.output.sqnr_db))?;
    let db = |v: f64| {
        if v == f64::INFINITY {
            "∞ (exact)".to_string()
        } else {
            fmt(v, Fmt::Db)
        }
    };
    let head = format!("best: {}, {} dB", best.label, db(best.output.sqnr_db));
    let d = &best.decomposition;
    let (w, x) = (d.w_only_sqnr_db, d.x_only_sqnr_db);
    let (why, short) = match (w.is_finite(), x.is_finite()) {
        (true, true) if x + 3.0 < w => (
            format!(
                "x's error dominates: x alone {} dB vs W alone {}",
                db(x),
                db(w)
            ),
            format!("x dominates ({} vs W {} dB)", db(x), db(w)),
        ),
        (true, true) if w + 3.0 < x => (
            format!(
                "W's error dominates: W alone {} dB vs x alone {}",
                db(w),
                db(x)
            ),
            format!("W dominates ({} vs x {} dB)", db(w), db(x)),
        ),
        (true, true) => (
            format!(
                "W and x share the error: W alone {} dB, x alone {}",
                db(w),
                db(x)
            ),
            format!("W {} dB, x {} dB alone", db(w), db(x)),
        ),
        (true, false) => ("x is exact: all the error is W's".into(), "x exact".into()),
        (false, true) => ("W is exact: all the error is x's".into(), "W exact".into()),
        (false, false) => (String::new(), String::new()),
    };
    let mut long = head.clone();
    let mut brief = head;
    if !why.is_empty() {
        long.push_str(&format!("; {why}"));
        brief.push_str(&format!("; {short}"));
    }
    if let Some(cheap) = visible
        .iter()
        .filter(|v| v.w.bits_per_element < best.w.bits_per_element)
        .min_by(|a, b| a.w.bits_per_element.total_cmp(&b.w.bits_per_element))
    {
        long.push_str(&format!(
            " · fewest bits: {} ({:.2} b/el, {} dB)",
            cheap.label,
            cheap.w.bits_per_element,
            db(cheap.output.sqnr_db)
        ));
    }
    Some((long, brief))
}

/// "per-channel" means per output row for W but per token (column) for x: say so beside it.
fn granularity_note(visible: &[&VariantReport]) -> Option<&'static str> {
    visible
        .iter()
        .any(|v| v.params.x_granularity.as_deref() == Some("channel"))
        .then_some(
            "x per channel = one scale per token (column of x); W per channel = per output row",
        )
}

pub fn draw(frame: &mut Frame, app: &App, c: &Computed, theme: Theme, area: Rect) {
    let r = &c.report;
    let s = &r.scenario;
    let shown: Vec<usize> = (0..r.variants.len())
        .filter(|&i| !app.hidden.get(i).copied().unwrap_or(false))
        .collect();
    let visible_refs: Vec<&VariantReport> = shown.iter().map(|&i| &r.variants[i]).collect();
    let mut lines = vec![
        Line::from(vec![
            Span::styled(esc(&s.name), theme.title()),
            Span::raw(format!(" — {}", esc(&s.description))),
        ]),
        Line::from(vec![
            Span::styled("W ", theme.w()),
            Span::raw(format!("{}×{}: {}", s.m, s.k, esc(&s.w_source))),
        ]),
        Line::from(vec![
            Span::styled("x ", theme.x()),
            Span::raw(format!("{}×{}: {}", s.k, s.n, esc(&s.x_source))),
        ]),
        super::fitting(
            area.width,
            vec![
                Line::from(format!(
                    "seed {} · y = W·x is {}×{} · reference: f64 product of the f32 inputs (rms {})",
                    s.seed,
                    s.m,
                    s.n,
                    fmt(r.reference.y.rms, Fmt::Sci)
                )),
                Line::from(format!(
                    "seed {} · y {}×{} · f64 reference, rms {}",
                    s.seed,
                    s.m,
                    s.n,
                    fmt(r.reference.y.rms, Fmt::Sci)
                )),
            ],
        ),
    ];
    if let Some((long, short)) = verdict(&visible_refs) {
        let at = |t: &str| Line::styled(esc(t), theme.best());
        // The long wording when it fits in two lines, else the short one.
        let line = if long.chars().count() <= usize::from(area.width) * 2 {
            at(&long)
        } else {
            at(&short)
        };
        lines.push(line);
    }
    if let Some(note) = granularity_note(&visible_refs) {
        lines.push(Line::styled(note, theme.dim()));
    }
    let info_text = Paragraph::new(lines).wrap(Wrap { trim: true });
    // As tall as the wrapped text, but leaving the table room.
    let info_height = (info_text.line_count(area.width) as u16).min(area.height / 3);
    // While the editor is docked below, the table gets the room.
    let with_lesson = !s.lesson.is_empty() && app.overlay != crate::app::tui::app::Overlay::Params;
    let lesson = with_lesson.then(|| {
        Paragraph::new(Line::from(esc(&s.lesson)))
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(Span::styled(" what to look for ", theme.title())))
    });
    // The lesson takes what the table does not need, at most a quarter of the screen; it is
    // cut (with an ellipsis) rather than crowding out the metrics.
    let lesson_height = lesson.as_ref().map_or(0, |p| {
        (p.line_count(area.width) as u16).min((area.height / 4).max(3))
    });
    let [info, table, memory, lesson_area] = Layout::vertical([
        Constraint::Length(info_height),
        Constraint::Min(4),
        Constraint::Length(1),
        Constraint::Length(lesson_height),
    ])
    .areas(area);
    frame.render_widget(info_text, info);

    // Each variant's column is at least 12 wide; its label is fitted to the column, keeping
    // the last word whole ("mxfp4…floor", "mxfp4…rceil").
    let column = if shown.is_empty() {
        12
    } else {
        (usize::from(table.width.saturating_sub(2 + 26)) / shown.len()).max(12)
    };
    let header = Row::new(
        std::iter::once(Cell::from("metric")).chain(shown.iter().map(|&i| {
            let style = if i == app.variant {
                theme.selected()
            } else {
                theme.title()
            };
            // One space after, as the values keep a column for their '*'.
            let label = format!("{} ", fit_label(&esc(&r.variants[i].label), column - 2));
            Cell::from(Line::from(label).right_aligned()).style(style)
        })),
    );
    let visible: Vec<VariantReport> = shown.iter().map(|&i| r.variants[i].clone()).collect();
    let mut rows: Vec<Row> =
        ROWS.iter()
            .filter(|row| row.shown(&visible))
            .skip(usize::from(app.scroll))
            .map(|row| {
                let values: Vec<f64> = visible.iter().map(row.get).collect();
                let marks = row.marks(&visible);
                Row::new(std::iter::once(Cell::from(row.name)).chain(
                    values.iter().zip(&marks).map(|(&v, &m)| {
                        let text = format!("{}{}", fmt(v, row.fmt), if m { "*" } else { " " });
                        Cell::from(Line::from(text).right_aligned()).style(if m {
                            theme.best()
                        } else {
                            Style::new()
                        })
                    }),
                ))
            })
            .collect();
    if shown.is_empty() {
        rows.push(Row::new([Cell::from(Line::styled(
            "every variant is hidden: [ ] choose one, h shows it again",
            theme.warn(),
        ))]));
    }
    let widths =
        std::iter::once(Constraint::Length(26)).chain(shown.iter().map(|_| Constraint::Min(12)));
    let title = Line::from(vec![
        Span::styled(" metrics ", theme.title()),
        Span::styled("(* best in row · ↑↓ scroll) ", theme.dim()),
    ]);
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title(title)),
        table,
    );

    // Memory in one line: W's size under each shown variant beside f32's.
    let f32_bytes = (s.m * s.k * 4) as f64;
    let size = |i: usize| human_bytes(r.variants[i].w.bits_per_element / 8.0 * (s.m * s.k) as f64);
    let labelled: Vec<String> = shown
        .iter()
        .map(|&i| format!("{} {}", esc(&r.variants[i].label), size(i)))
        .collect();
    let bare: Vec<String> = shown.iter().map(|&i| size(i)).collect();
    let line = super::fitting(
        memory.width,
        vec![
            Line::from(format!(
                "W in memory: f32 {} · {}",
                human_bytes(f32_bytes),
                labelled.join(" · ")
            )),
            Line::from(format!(
                "W in memory, by column: {} (f32 {})",
                bare.join(" · "),
                human_bytes(f32_bytes)
            )),
        ],
    );
    frame.render_widget(Paragraph::new(line.style(theme.dim())), memory);
    if let Some(p) = lesson {
        frame.render_widget(p, lesson_area);
    }
}
