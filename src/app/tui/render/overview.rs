//! Overview: the scenario, the metrics table of every shown variant (the rows of `qlab run`,
//! best per row marked), and the memory footprint.

use super::esc;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};

use crate::app::table::{ROWS, fmt};
use crate::app::tui::app::{App, Computed};
use crate::app::tui::theme::Theme;

fn human_bytes(bytes: f64) -> String {
    match bytes {
        b if b >= 1024.0 * 1024.0 => format!("{:.2} MiB", b / 1024.0 / 1024.0),
        b if b >= 1024.0 => format!("{:.1} KiB", b / 1024.0),
        b => format!("{b:.0} B"),
    }
}

pub fn draw(frame: &mut Frame, app: &App, c: &Computed, theme: Theme, area: Rect) {
    let r = &c.report;
    let s = &r.scenario;
    let shown: Vec<usize> = (0..r.variants.len())
        .filter(|&i| !app.hidden.get(i).copied().unwrap_or(false))
        .collect();
    let lines = vec![
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
        Line::from(format!(
            "seed {} · y = W·x is {}×{} · reference: f64 product of the f32 inputs (rms {})",
            s.seed,
            s.m,
            s.n,
            fmt(r.reference.y.rms, crate::app::table::Fmt::Sci)
        )),
    ];
    let info_text = Paragraph::new(lines).wrap(Wrap { trim: true });
    // As tall as the wrapped text (plus a blank line), but leaving the table room.
    let info_height = (info_text.line_count(area.width) as u16 + 1).min(area.height / 3);
    let [info, table, memory] = Layout::vertical([
        Constraint::Length(info_height),
        Constraint::Min(4),
        Constraint::Length(shown.len().min(4) as u16 + 2),
    ])
    .areas(area);
    frame.render_widget(info_text, info);

    let header = Row::new(
        std::iter::once(Cell::from("metric")).chain(shown.iter().map(|&i| {
            let style = if i == app.variant {
                theme.selected()
            } else {
                theme.title()
            };
            Cell::from(esc(&r.variants[i].label)).style(style)
        })),
    );
    let visible: Vec<crate::core::experiment::VariantReport> =
        shown.iter().map(|&i| r.variants[i].clone()).collect();
    let rows: Vec<Row> =
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

    let f32_bytes = (s.m * s.k * 4) as f64;
    let mut lines = Vec::new();
    for &i in shown.iter().take(4) {
        let v = &r.variants[i];
        let bytes = v.w.bits_per_element / 8.0 * (s.m * s.k) as f64;
        lines.push(super::fitting(
            memory.width.saturating_sub(2),
            vec![
                Line::from(format!(
                    "{:<24} W {} (f32 {}) · {:.3} bits/element · {:.2}× smaller",
                    esc(&v.label),
                    human_bytes(bytes),
                    human_bytes(f32_bytes),
                    v.w.bits_per_element,
                    v.compression
                )),
                Line::from(format!(
                    "{:<18} W {} of {} · {:.3} bits/el · {:.2}× smaller",
                    esc(&v.label),
                    human_bytes(bytes),
                    human_bytes(f32_bytes),
                    v.w.bits_per_element,
                    v.compression
                )),
            ],
        ));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(Span::styled(" memory ", theme.title()))),
        memory,
    );
}
