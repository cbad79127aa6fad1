//! Model: the checkpoint's 2-D float tensors, each variant's output SQNR as the scan fills it
//! in, the worst variant of each row marked; sorted by name or worst first, filtered by name.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::esc;
use crate::app::tui::app::App;
use crate::app::tui::theme::Theme;
use crate::core::text::fit_end;

/// Width of one variant's column.
const COL: usize = 11;

pub fn draw(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let Some(m) = &app.model else {
        frame.render_widget(
            Paragraph::new("no model: open one with `qlab tui MODEL.safetensors`"),
            area,
        );
        return;
    };
    let visible = m.visible();
    let width = area.width as usize;
    // Variant columns that fit beside a name of at least 20 characters and shape and dtype.
    let fixed = 11 + 1 + 5 + 2;
    let cols = m
        .variants
        .len()
        .min(width.saturating_sub(fixed + 20) / (COL + 1))
        .max(1);
    let name_w = width.saturating_sub(fixed + cols * (COL + 1)).clamp(8, 60);
    let mut lines = Vec::new();
    let sort = if m.worst_first {
        "worst first"
    } else {
        "name order"
    };
    let filter = if m.filtering {
        format!("  filter: /{}▏", esc(&m.filter))
    } else if m.filter.is_empty() {
        String::new()
    } else {
        format!("  filter: /{}", esc(&m.filter))
    };
    lines.push(Line::from(vec![
        Span::styled(esc(&m.path.display().to_string()), theme.title()),
        Span::raw(format!(
            ": {} tensors, {} scanned · {sort}{filter} · output SQNR (dB) per variant",
            m.rows.len(),
            m.scanned()
        )),
    ]));
    let mut head = format!(
        "{}  {:<11} {:<5}",
        fit_end("tensor", name_w),
        "shape",
        "dtype"
    );
    for v in m.variants.iter().take(cols) {
        head.push(' ');
        // A variant's label says most at its start (its format).
        let label: String = if v.chars().count() > COL {
            v.chars().take(COL - 1).chain(['…']).collect()
        } else {
            v.clone()
        };
        head.push_str(&format!("{:>COL$}", esc(&label)));
    }
    if m.variants.len() > cols {
        head.push_str(&format!(" +{}", m.variants.len() - cols));
    }
    lines.push(Line::styled(head, theme.dim()));
    let rows_room = (area.height as usize).saturating_sub(2).max(1);
    let first = m.cursor.saturating_sub(rows_room - 1);
    for (pos, &i) in visible.iter().enumerate().skip(first).take(rows_room) {
        let r = &m.rows[i];
        let mut spans = vec![Span::raw(format!(
            "{}  {:<11} {:<5}",
            fit_end(&r.name, name_w),
            format!("{}×{}", r.shape.0, r.shape.1),
            esc(&r.dtype)
        ))];
        match &r.sqnr {
            None => spans.push(Span::styled(format!(" {:>COL$}", "…"), theme.dim())),
            Some(Err(e)) => spans.push(Span::styled(
                format!(" {}", esc(&crate::core::text::cut(e, 60))),
                theme.bad(),
            )),
            Some(Ok(v)) => {
                let worst = r.worst();
                for &db in v.iter().take(cols) {
                    let text = if db.is_nan() {
                        "n/a".to_string()
                    } else {
                        format!("{db:.1}")
                    };
                    let style =
                        if Some(db) == worst || (db.is_nan() && worst.is_some_and(f64::is_nan)) {
                            theme.bad()
                        } else {
                            ratatui::style::Style::new()
                        };
                    spans.push(Span::styled(format!(" {text:>COL$}"), style));
                }
            }
        }
        let mut line = Line::from(spans);
        if pos == m.cursor {
            line = line.style(theme.selected().add_modifier(Modifier::BOLD));
        }
        lines.push(line);
    }
    if visible.is_empty() {
        lines.push(Line::styled("no tensor matches the filter", theme.dim()));
    }
    frame.render_widget(Paragraph::new(lines), area);
}
