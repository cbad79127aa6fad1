//! Walkthrough: the published worked example step by step (document or spec mode), or, for any other
//! scenario, every step of y[0][0] through the current variant's kernel.

use super::esc;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::app::tui::app::{App, Computed};
use crate::app::tui::theme::Theme;
use crate::app::walkthrough::{self, Step};

fn step_lines(steps: &[Step], theme: Theme, out: &mut Vec<Line<'static>>) {
    for s in steps {
        out.push(Line::styled(s.title.clone(), theme.title()));
        for l in &s.lines {
            out.push(Line::from(format!("  {l}")));
        }
        for c in &s.checks {
            let style = match c.mark() {
                "✓" => theme.best(),
                "≈" => theme.warn(),
                _ => theme.bad(),
            };
            out.push(Line::from(vec![
                Span::styled(format!("  {} ", c.mark()), style),
                Span::raw(format!(
                    "{:<14} computed {:<28} document {}",
                    c.what,
                    c.computed,
                    c.document_text()
                )),
            ]));
        }
    }
}

/// Whether the run's operands are the worked example's W and x.
pub(crate) fn is_seed(c: &Computed) -> bool {
    c.run.w == walkthrough::seed_w() && c.run.x == walkthrough::seed_x()
}

pub fn draw(frame: &mut Frame, app: &App, c: &Computed, theme: Theme, area: Rect) {
    let mut lines = Vec::new();
    let title;
    if is_seed(c) {
        title = format!(
            " worked example (2×2), {} mode (m: switch) ",
            match app.walk.mode {
                walkthrough::Mode::Document => "document",
                _ => "spec",
            }
        );
        for sec in walkthrough::sections(app.walk.mode) {
            lines.push(Line::styled(format!("== {} ==", sec.title), theme.key()));
            step_lines(&sec.steps, theme, &mut lines);
            lines.push(Line::from(""));
        }
    } else if let Some(v) = c.run.variants.get(app.variant) {
        title = format!(" y[0][0] through {}, step by step ", esc(&v.variant.label));
        let steps = walkthrough::trace_element(
            &c.run.w,
            &c.run.x,
            &v.variant,
            &*v.qw,
            &*v.qx,
            c.run.reference[0],
            0,
            0,
        );
        step_lines(&steps, theme, &mut lines);
    } else {
        title = " walkthrough ".into();
    }
    frame.render_widget(
        // Long lists of values wrap rather than run off the right edge.
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((app.scroll, 0))
            .block(Block::bordered().title(Span::styled(title, theme.title()))),
        area,
    );
}
