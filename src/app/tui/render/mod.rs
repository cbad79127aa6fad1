//! Rendering: a pure function of the [`App`] state. One module per screen.

mod errors;
mod grid;
mod model;
mod overview;
mod scales;
pub(crate) mod walkthrough;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::app::{App, Overlay, Screen};
use super::keymap::{self, BINDINGS, Context};
use super::theme::Theme;

/// The screen row of the tab bar (mouse clicks there switch screens).
pub const TAB_ROW: u16 = 1;
/// Below this size the explorer asks for a larger terminal.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// Terminals narrower than this get short tab titles.
const WIDE: u16 = 110;

fn tab_label(i: usize, s: Screen, width: u16) -> String {
    let title = if width >= WIDE {
        s.title()
    } else {
        match s {
            Screen::Model => "Model",
            Screen::Overview => "Overview",
            Screen::Grid => "Codes",
            Screen::Scales => "Scales",
            Screen::Errors => "Errors",
            Screen::Walkthrough => "Walk",
        }
    };
    format!(" {} {title} ", i + 1)
}

/// The screen whose tab covers column `x` of the tab bar, on a terminal `width` wide, among
/// `screens` (see [`App::screens`]).
pub fn tab_at(x: u16, width: u16, screens: &[Screen]) -> Option<Screen> {
    let mut start = 0u16;
    for (i, s) in screens.iter().enumerate() {
        let w = tab_label(i, *s, width).chars().count() as u16;
        if x >= start && x < start + w {
            return Some(*s);
        }
        start += w + 1; // the divider
    }
    None
}

/// Draws the whole explorer.
pub fn draw(frame: &mut Frame, app: &App) {
    let theme = Theme::from_env();
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = vec![
            Line::styled("qlab needs a larger terminal", theme.title()),
            Line::from(format!(
                "at least {MIN_WIDTH} × {MIN_HEIGHT}; this one is {} × {}",
                area.width, area.height
            )),
            Line::from("resize it, or press q to quit"),
        ];
        frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let status_rows = u16::from(app.status.is_some() || app.error.is_some());
    // The editor docks below the screen it changes: the screen keeps the rest.
    let editor_rows = if app.overlay == Overlay::Params {
        (area.height.saturating_sub(3 + status_rows) / 3).clamp(7, 14)
    } else {
        0
    };
    let [header, tabs, body, editor, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(editor_rows),
        Constraint::Length(status_rows),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, app, theme, header);
    draw_tabs(frame, app, theme, tabs);
    match &app.computed {
        // The model screen needs no result: its table fills in as the scan runs.
        _ if app.screen == Screen::Model => model::draw(frame, app, theme, body),
        None if app.error.is_none() => {
            frame.render_widget(
                Paragraph::new(Line::styled("computing the first result…", theme.dim())),
                body,
            );
        }
        None => {}
        Some(c) => match app.screen {
            Screen::Overview => overview::draw(frame, app, c, theme, body),
            Screen::Grid => grid::draw(frame, app, c, theme, body),
            Screen::Scales => scales::draw(frame, app, c, theme, body),
            Screen::Errors => errors::draw(frame, app, c, theme, body),
            Screen::Walkthrough => walkthrough::draw(frame, app, c, theme, body),
            Screen::Model => model::draw(frame, app, theme, body),
        },
    }
    if let Some(e) = &app.error {
        frame.render_widget(
            Paragraph::new(Line::styled(format!("error: {}", esc(e)), theme.bad())),
            status,
        );
    } else if let Some(s) = &app.status {
        frame.render_widget(Paragraph::new(Line::styled(esc(s), theme.warn())), status);
    }
    draw_footer(frame, app.context(), app.screen, theme, footer);
    match app.overlay {
        Overlay::None => {}
        Overlay::Help => draw_help(frame, theme, area, app.model.is_some()),
        Overlay::Params => draw_params(frame, app, theme, editor),
        Overlay::Open => draw_open(frame, app, theme, area),
    }
}

fn draw_header(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let mut spans = vec![Span::styled(" qlab ", theme.title())];
    if let Some(c) = &app.computed {
        let s = &c.report.scenario;
        spans.push(Span::raw(format!(
            "{} · {}×{}×{} · seed {} ",
            esc(&s.name),
            s.m,
            s.k,
            s.n,
            s.seed
        )));
    }
    match &app.pending {
        Some((_, summary)) => spans.push(Span::styled(
            format!(" {} computing {summary}", SPINNER[(app.tick % 10) as usize]),
            theme.warn(),
        )),
        None => {
            if let Some(c) = &app.computed {
                spans.push(Span::styled(
                    format!(" computed in {} ms", c.elapsed.as_millis()),
                    theme.dim(),
                ));
            }
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_tabs(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let mut spans = Vec::new();
    for (i, s) in app.screens().iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled("│", theme.dim()));
        }
        let style = if *s == app.screen {
            theme.selected().add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        spans.push(Span::styled(tab_label(i, *s, area.width), style));
    }
    if let Some(v) = app.scenario.variants.get(app.variant) {
        let hidden = if app.hidden.get(app.variant).copied().unwrap_or(false) {
            " (hidden)"
        } else {
            ""
        };
        // The label takes what the tabs leave, keeping its last word and the closing bracket.
        let used: usize = spans.iter().map(Span::width).sum();
        let room = usize::from(area.width)
            .saturating_sub(used + "  variant [  ]".len() + hidden.len())
            .max(4);
        spans.push(Span::raw("  variant "));
        spans.push(Span::styled("[", theme.key()));
        spans.push(Span::styled(
            format!(" {}{hidden} ", fit_label(&esc(&v.label), room)),
            theme.title(),
        ));
        spans.push(Span::styled("]", theme.key()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_footer(frame: &mut Frame, context: Context, screen: Screen, theme: Theme, area: Rect) {
    let mut spans = Vec::new();
    for (key, help) in footer_hints(context, screen, area.width) {
        spans.push(Span::styled(format!(" {key}"), theme.key()));
        spans.push(Span::raw(format!(" {help}")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The footer's hints for a width: all of them when they fit; otherwise the screen's own keys,
/// help and quit are kept and the general hints before help go, the last first.
pub fn footer_hints(
    context: Context,
    screen: Screen,
    width: u16,
) -> Vec<(&'static str, &'static str)> {
    let mut hints = keymap::hints(context, screen);
    let len = |h: &[(&str, &str)]| -> usize {
        h.iter()
            .map(|(k, t)| k.chars().count() + t.chars().count() + 2)
            .sum()
    };
    let own = hints
        .iter()
        .take_while(|(k, _)| {
            keymap::BINDINGS
                .iter()
                .any(|b| b.label == *k && b.screen == Some(screen))
        })
        .count();
    // The last two are help and quit; what lies between the screen's keys and them may go.
    while len(&hints) > usize::from(width) && hints.len() > own + 2 {
        hints.remove(hints.len() - 3);
    }
    hints
}

/// A centred popup of the given size, cleared.
fn popup(
    frame: &mut Frame,
    area: Rect,
    width: u16,
    height: u16,
    title: &str,
    theme: Theme,
) -> Rect {
    let r = area.centered(
        Constraint::Length(width.min(area.width)),
        Constraint::Length(height.min(area.height)),
    );
    frame.render_widget(Clear, r);
    let block = Block::bordered().title(Span::styled(format!(" {title} "), theme.title()));
    let inner = block.inner(r);
    frame.render_widget(block, r);
    inner
}

/// The help: every binding, the main keys in the left column and the overlays' on the right,
/// so that it fits the smallest terminal.
/// The help; the model screen's keys (and its filter's) only when there is a model.
fn draw_help(frame: &mut Frame, theme: Theme, area: Rect, with_model: bool) {
    // Groups: a context's keys for every screen, then (in one group) the keys of one screen.
    let groups = |contexts: &[Context]| {
        let mut lines = Vec::new();
        for &ctx in contexts {
            for own_screen in [false, true] {
                let keys: Vec<&keymap::Binding> = BINDINGS
                    .iter()
                    .filter(|b| b.context == ctx && b.screen.is_some() == own_screen)
                    .filter(|b| with_model || b.screen != Some(Screen::Model))
                    .collect();
                if keys.is_empty() {
                    continue;
                }
                if !lines.is_empty() {
                    lines.push(Line::from(""));
                }
                let title = if own_screen {
                    "On one screen"
                } else {
                    ctx.title()
                };
                lines.push(Line::styled(title, theme.title()));
                for b in keys {
                    let help = match b.screen {
                        Some(s) => format!("{} ({})", b.help, s.title()),
                        None => b.help.to_string(),
                    };
                    lines.push(Line::from(vec![
                        Span::styled(format!("{:<10}", b.label), theme.key()),
                        Span::raw(help),
                    ]));
                }
            }
        }
        lines
    };
    let left = groups(&[Context::Main]);
    let right = if with_model {
        groups(&[
            Context::Params,
            Context::Open,
            Context::Filter,
            Context::Help,
        ])
    } else {
        groups(&[Context::Params, Context::Open, Context::Help])
    };
    let height = left.len().max(right.len()) as u16 + 2;
    let inner = popup(frame, area, 80, height, "Keys", theme);
    let [l, r] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(inner);
    frame.render_widget(Paragraph::new(left), l);
    frame.render_widget(Paragraph::new(right), r);
}

/// The parameter editor, docked at the bottom of the screen (the picture it changes stays in
/// view above it): the rows around the cursor, and what the selected one means.
fn draw_params(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let params = app.params();
    let label = app
        .scenario
        .variants
        .get(app.variant)
        .map_or("", |v| v.label.as_str());
    let rows = usize::from(area.height.saturating_sub(3)).max(1);
    let first = app
        .param
        .saturating_sub(rows / 2)
        .min(params.len().saturating_sub(rows));
    let mut lines = Vec::new();
    for (i, p) in params.iter().enumerate().skip(first).take(rows) {
        let style = if i == app.param {
            theme.selected()
        } else {
            Style::new()
        };
        let value = match &app.typing {
            Some(t) if i == app.param => format!(" [ {}▏ ] ", esc(t)),
            _ => format!(" ◀ {} ▶ ", esc(&app.param_value(*p))),
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<22}", App::param_name(*p)), style),
            Span::styled(value, style),
        ]));
    }
    if let Some(p) = params.get(app.param) {
        let help = if app.typing.is_some() {
            "type the number; Enter sets it, Esc leaves it as it was".to_string()
        } else if app.is_typed(*p) {
            format!("{} · Enter: type a value", app.param_help(*p))
        } else {
            app.param_help(*p)
        };
        lines.push(Line::styled(
            crate::core::text::short(&help, usize::from(area.width.saturating_sub(2))),
            theme.dim(),
        ));
    }
    let title = Line::from(vec![
        Span::styled(" Parameters ", theme.title()),
        Span::styled(
            format!("(data, shape, seed; then variant {}) ", esc(label)),
            theme.dim(),
        ),
    ]);
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_open(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let width = area.width.saturating_sub(4).min(116);
    let inner_width = usize::from(width.saturating_sub(2));
    let name_width = app
        .picker
        .items
        .iter()
        .map(|p| p.name().chars().count())
        .max()
        .unwrap_or(0)
        .min(inner_width / 3);
    // The list scrolls with the cursor when the terminal is short.
    let room = usize::from(area.height.saturating_sub(6)).max(1);
    let first = app
        .picker
        .cursor
        .min(app.picker.items.len())
        .saturating_sub(room.saturating_sub(1));
    let mut lines = Vec::new();
    for (i, p) in app.picker.items.iter().enumerate().skip(first).take(room) {
        let style = if i == app.picker.cursor {
            theme.selected()
        } else {
            Style::new()
        };
        let name = crate::core::text::short(&p.name(), name_width);
        let summary =
            crate::core::text::short(&p.summary, inner_width.saturating_sub(name_width + 3));
        lines.push(Line::from(vec![
            Span::styled(format!(" {name:<name_width$} "), style),
            Span::styled(format!(" {summary}"), theme.dim()),
        ]));
    }
    let on_input = app.picker.cursor >= app.picker.items.len();
    let style = if on_input {
        theme.selected()
    } else {
        Style::new()
    };
    lines.push(Line::styled(
        format!(" path: {}▏", esc(&app.picker.input)),
        style,
    ));
    lines.push(Line::styled(
        " shipped scenarios, then this directory's *.toml · type a path · Ctrl-U clears",
        theme.dim(),
    ));
    let inner = popup(
        frame,
        area,
        width,
        lines.len() as u16 + 2,
        "Open a scenario",
        theme,
    );
    frame.render_widget(Paragraph::new(lines), inner);
}

/// A label in at most `width` columns that keeps what tells it from its neighbours: labels
/// differ at their end ("mxfp4 b32 floor", "mxfp4 b32 rceil"), so the last word is kept whole
/// and the ellipsis goes before it ("mxfp4…floor"); when even that does not fit, the end is
/// cut with an ellipsis.
pub(crate) fn fit_label(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if let Some((head, last)) = s.rsplit_once(' ') {
        let tail = last.chars().count();
        if tail + 2 <= width {
            let kept: String = head.chars().take(width - tail - 1).collect();
            return format!("{}…{last}", kept.trim_end());
        }
    }
    crate::core::text::short(s, width)
}

/// A vertical bar chart, top line first: each count a column `width` cells wide followed by
/// `gap` spaces, scaled so the largest fills `height` lines (half cells as '▄', and a '▁'
/// so that a non-zero count never vanishes).
pub(crate) fn columns(
    counts: &[u64],
    height: usize,
    width: usize,
    gap: usize,
    style: Style,
) -> Vec<Line<'static>> {
    let max = counts.iter().copied().max().unwrap_or(1).max(1);
    (0..height)
        .rev()
        .map(|level| {
            let mut s = String::new();
            for &n in counts {
                let h = n as f64 / max as f64 * height as f64;
                let ch = if h >= (level + 1) as f64 {
                    '█'
                } else if h > level as f64 + 0.5 {
                    '▄'
                } else if level == 0 && n > 0 {
                    '▁'
                } else {
                    ' '
                };
                s.extend(std::iter::repeat_n(ch, width));
                s.extend(std::iter::repeat_n(' ', gap));
            }
            Line::styled(s, style)
        })
        .collect()
}

/// Renders a one-line bar of `frac` of `width` cells.
pub(crate) fn bar(frac: f64, width: usize) -> String {
    let cells = frac.clamp(0.0, 1.0) * width as f64;
    let full = cells.floor() as usize;
    let eighths = ((cells - full as f64) * 8.0).round() as usize;
    let mut s = "█".repeat(full);
    if full < width && eighths > 0 {
        s.push([' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'][eighths]);
    }
    s
}

/// The first of `choices` (longest first) that fits in `width` columns; the last if none does.
/// Text that would be cut at 80 columns gets a shorter wording instead.
pub(crate) fn fitting(width: u16, choices: Vec<Line<'static>>) -> Line<'static> {
    let last = choices.len().saturating_sub(1);
    choices
        .into_iter()
        .enumerate()
        .find(|(i, l)| l.width() <= usize::from(width) || *i == last)
        .map(|(_, l)| l)
        .unwrap_or_default()
}

/// As many of `items` as fit in `width` columns, joined by two spaces.
pub(crate) fn as_many_as_fit(items: impl IntoIterator<Item = String>, width: u16) -> String {
    let mut out = String::new();
    for item in items {
        let extra = if out.is_empty() { 0 } else { 2 };
        if out.chars().count() + extra + item.chars().count() > usize::from(width) {
            break;
        }
        if extra > 0 {
            out.push_str("  ");
        }
        out.push_str(&item);
    }
    out
}

/// Text from a file or a user as the screens show it: control characters (and bidirectional
/// overrides) as escapes, as everywhere else qlab prints file text.
pub fn esc(s: &str) -> String {
    crate::core::text::printable(s).into_owned()
}
