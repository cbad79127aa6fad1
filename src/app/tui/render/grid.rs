//! The codes screen: for E2M1 (MXFP4, NVFP4) the 16 codes on a number line and how often W
//! and x use each; for wider minifloats (FP6, FP8, MXINT8) the codes by binade; for integer
//! formats the histogram of the codes; each operand in its own format.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::app::tui::app::{App, Computed};
use crate::app::tui::theme::Theme;
use crate::core::experiment::OperandReport;
use crate::core::family::Codec;

/// The number line: a tick per distinct grid value, codes above, values below. Labels that
/// would collide are left out, the largest magnitudes first in line.
/// The codes of a minifloat element on a number line from −max to max: the code above its
/// tick, the value below. `decode` gives every code's value; the upper half of the codes are
/// the negatives (sign bit set), so `codes / 2` is −0.
fn number_line(width: usize, count: u16, decode: fn(u8) -> f32, max: f32) -> Vec<String> {
    let width = width.max(40);
    let col = |v: f32| (((v + max) / (2.0 * max)) * (width - 1) as f32).round() as usize;
    let mut codes = vec![' '; width];
    let mut axis = vec!['─'; width];
    let mut vals = vec![' '; width];
    let put = |row: &mut Vec<char>, at: usize, s: &str| {
        let n = s.chars().count();
        let start = at.saturating_sub(n / 2).min(width - n);
        let free = (start.saturating_sub(1)..(start + n + 1).min(width)).all(|i| row[i] == ' ');
        if free {
            for (i, ch) in s.chars().enumerate() {
                row[start + i] = ch;
            }
        }
    };
    let neg_zero = (count / 2) as u8;
    let mut order: Vec<u8> = (0..count)
        .map(|c| c as u8)
        .filter(|&c| c != neg_zero)
        .collect();
    order.sort_by(|&a, &b| decode(b).abs().total_cmp(&decode(a).abs()).then(a.cmp(&b)));
    order.rotate_right(1); // ±0 first: it is the landmark
    for code in order {
        let v = decode(code);
        let at = col(v);
        axis[at] = '┼';
        let (label, text) = if code == 0 {
            (format!("0/{neg_zero:X}"), "±0".to_string())
        } else {
            (format!("{code:X}"), short_value(v))
        };
        put(&mut codes, at, &label);
        put(&mut vals, at, &text);
    }
    vec![
        codes.into_iter().collect(),
        axis.into_iter().collect(),
        vals.into_iter().collect(),
    ]
}

/// A grid value in at most three characters: 1.5 → "1½", -0.5 → "-½".
fn short_value(v: f32) -> String {
    let sign = if v.is_sign_negative() { "-" } else { "" };
    let a = v.abs();
    match (a.trunc() as u32, a.fract() == 0.5) {
        (0, true) => format!("{sign}½"),
        (i, true) => format!("{sign}{i}½"),
        (i, false) => format!("{sign}{i}"),
    }
}

/// Vertical bars of the 16 code counts, in value order (−6 … −0, +0 … 6).
fn occupancy(
    counts: &[u64],
    (codes, decode): (u16, fn(u8) -> f32),
    height: usize,
    theme_style: ratatui::style::Style,
) -> Vec<Line<'static>> {
    // Most negative to most positive: the negatives (upper half) reversed, then the rest.
    let half = (codes / 2) as u8;
    let last = (codes - 1) as u8;
    let order: Vec<u8> = (half..=last).rev().chain(0..half).collect();
    let total: u64 = counts.iter().sum::<u64>().max(1);
    let values: Vec<u64> = order.iter().map(|&c| counts[usize::from(c)]).collect();
    let mut lines = super::columns(&values, height, 3, 1, theme_style);
    let mut labels = String::new();
    let mut pct = String::new();
    for &c in &order {
        labels.push_str(&format!("{:>3} ", short_value(decode(c))));
        let p = counts[usize::from(c)] as f64 / total as f64 * 100.0;
        pct.push_str(&format!(
            "{:>3} ",
            if p >= 9.5 {
                format!("{p:.0}")
            } else {
                format!("{p:.1}").trim_start_matches('0').to_string()
            }
        ));
    }
    lines.push(Line::from(labels));
    lines.push(Line::from(pct));
    lines
}

/// Clipped and flushed fractions, with their explanations where the width allows.
fn clip_line(name: &str, o: &OperandReport, theme: Theme, width: u16) -> Line<'static> {
    let clip_style = if o.clipped > 0.0 {
        theme.bad()
    } else {
        theme.dim()
    };
    let flush_style = if o.flushed > 0.0 {
        theme.warn()
    } else {
        theme.dim()
    };
    let line = |clip_note: &'static str, flush_note: &'static str| {
        Line::from(vec![
            Span::raw(format!("{name}: ")),
            Span::styled(format!("clipped {:.3}%", o.clipped * 100.0), clip_style),
            Span::raw(clip_note),
            Span::styled(format!("flushed {:.3}%", o.flushed * 100.0), flush_style),
            Span::raw(flush_note),
        ])
    };
    super::fitting(
        width,
        vec![
            line(" (saturated at the end of the grid) · ", " (non-zero → 0)"),
            line(" (saturated) · ", " (non-zero → 0)"),
            line(" · ", ""),
        ],
    )
}

/// The most used scale byte of an operand, as text.
fn common_scale(o: &OperandReport) -> String {
    match o.scales.iter().max_by_key(|s| s.count) {
        Some(s) => {
            let total: u64 = o.scales.iter().map(|s| s.count).sum();
            match s.exponent {
                Some(e) => format!(
                    "2^{e} (byte {:#04x}, {} of {total} blocks)",
                    s.byte, s.count
                ),
                None => format!("NaN (byte 0xff, {} of {total} blocks)", s.count),
            }
        }
        None => "—".into(),
    }
}

pub fn draw(frame: &mut Frame, app: &App, c: &Computed, theme: Theme, area: Rect) {
    let Some(v) = c.report.variants.get(app.variant) else {
        return;
    };
    let Some(run) = c.run.variants.get(app.variant) else {
        return;
    };
    let (wc, xc) = (run.variant.w_format.codec(), run.variant.x_format.codec());
    // One small minifloat for both operands: the shared number line above both occupancies.
    if let (
        Codec::Minifloat {
            name,
            codes,
            decode,
            max,
            ..
        },
        Codec::Minifloat { name: xname, .. },
    ) = (wc, xc)
        && name == xname
        && codes <= 16
    {
        return draw_small(frame, v, (name, codes, decode, max), theme, area);
    }
    // Otherwise each operand in its own half, drawn as its own format's codes.
    let halves = Layout::vertical([Constraint::Fill(1), Constraint::Fill(1)]).split(area);
    for (i, (name, o, codec, style)) in [("W", &v.w, wc, theme.w()), ("x", &v.x, xc, theme.x())]
        .into_iter()
        .enumerate()
    {
        draw_operand(frame, (name, o, style), codec, theme, halves[i]);
    }
}

/// One operand's codes in `area`, whatever its format.
fn draw_operand(
    frame: &mut Frame,
    (name, o, style): (&str, &OperandReport, ratatui::style::Style),
    codec: Codec,
    theme: Theme,
    area: Rect,
) {
    let width = area.width.saturating_sub(2);
    let (title, mut lines) = match codec {
        Codec::Integer {
            name: codec,
            lo,
            hi,
        } => (
            format!(" {name}: {codec} code histogram "),
            integer_lines(o, (lo, hi), area, style),
        ),
        Codec::Minifloat {
            name: element,
            codes,
            decode,
            max,
            ..
        } if codes <= 16 => {
            let mut lines: Vec<Line> = number_line(width as usize, codes, decode, max)
                .into_iter()
                .map(Line::from)
                .collect();
            let h = area.height.saturating_sub(8) as usize;
            lines.extend(occupancy(&o.codes, (codes, decode), h.max(1), style));
            (
                format!(" {name}: the {codes} {element} codes and their use "),
                lines,
            )
        }
        Codec::Minifloat {
            name: element,
            codes,
            decode,
            ..
        } => (
            format!(" {name}: the {codes} {element} codes by binade (use, + and − together) "),
            binade_lines(
                o,
                (codes, decode),
                (width as usize, area.height.saturating_sub(3) as usize),
                style,
            ),
        ),
        Codec::Plain {
            name: element,
            bits,
        } => (
            format!(" {name}: {element} "),
            vec![
                Line::from(format!(
                    "{element}: every element is rounded on its own ({bits} bits, no scale); \
                     there is no code table to draw."
                )),
                Line::from(format!(
                    "{name} alone: SQNR {:.2} dB · max |err| {:.3e}",
                    o.error.sqnr_db, o.error.max_abs
                )),
            ],
        ),
    };
    lines.push(clip_line(name, o, theme, width));
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(Span::styled(title, theme.title()))),
        area,
    );
}

/// The codes of a wide minifloat (FP6, FP8, MXINT8) one binade per line: its range, the
/// share of elements in it, a bar, and one mark per code of the binade (· unused, ▁▃▅█ by
/// use).
fn binade_lines(
    o: &OperandReport,
    (codes, decode): (u16, fn(u8) -> f32),
    (width, height): (usize, usize),
    style: ratatui::style::Style,
) -> Vec<Line<'static>> {
    let half = codes / 2;
    let total: u64 = o.codes.iter().sum::<u64>().max(1);
    let count = |c: u16| {
        o.codes.get(usize::from(c)).copied().unwrap_or(0)
            + o.codes.get(usize::from(c + half)).copied().unwrap_or(0)
    };
    // Group the non-negative finite codes by the exponent of their value; zero stands alone.
    let mut groups: Vec<(String, Vec<u16>)> = Vec::new();
    for c in 0..half {
        let v = decode(c as u8);
        if !v.is_finite() {
            continue;
        }
        let key = if v == 0.0 {
            "0".to_string()
        } else {
            format!("2^{}", v.abs().log2().floor() as i32)
        };
        match groups.last_mut() {
            Some((k, members)) if *k == key => members.push(c),
            _ => groups.push((key, vec![c])),
        }
    }
    let used = |m: &[u16]| m.iter().map(|&c| count(c)).sum::<u64>();
    let max_share = groups
        .iter()
        .map(|(_, m)| used(m))
        .max()
        .unwrap_or(1)
        .max(1);
    let marks = ['·', '▁', '▃', '▅', '█'];
    let bar_width = width.saturating_sub(48).clamp(4, 30);
    let mut lines = vec![Line::from(format!(
        "{:<7} {:>9}   {:<9} {:>7}  {:<bar_width$} codes",
        "binade", "from", "to", "use", ""
    ))];
    // Largest binades first: an MX or FP8 scale puts the block's amax at the top, so the
    // binades that matter come first, and what a short panel leaves out is the smallest.
    groups.reverse();
    let room = height.saturating_sub(2).max(1);
    let hidden: Vec<(String, Vec<u16>)> = if groups.len() > room {
        groups.split_off(room.saturating_sub(1))
    } else {
        Vec::new()
    };
    for (key, members) in &groups {
        let n = used(members);
        let share = n as f64 / total as f64 * 100.0;
        let bar = n as f64 / max_share as f64 * bar_width as f64;
        let full = bar.floor() as usize;
        let mut bar_s: String = "█".repeat(full);
        if bar - (full as f64) >= 0.5 {
            bar_s.push('▌');
        }
        let code_max = members.iter().map(|&c| count(c)).max().unwrap_or(0).max(1);
        let per: String = members
            .iter()
            .map(|&c| match count(c) {
                0 => marks[0],
                k => marks[(1 + (k * 3 / code_max) as usize).min(4)],
            })
            .collect();
        let lo = decode(members[0] as u8);
        let hi = decode(members[members.len() - 1] as u8);
        lines.push(Line::styled(
            format!(
                "{key:<7} {:>9} … {:<9} {share:>6.2}%  {bar_s:<bar_width$} {per}",
                short_num(lo),
                short_num(hi)
            ),
            style,
        ));
    }
    if !hidden.is_empty() {
        let n: u64 = hidden.iter().map(|(_, m)| used(m)).sum();
        lines.push(Line::from(format!(
            "… {} smaller binades (down to {}): {:.2}% of elements",
            hidden.len(),
            hidden.last().map_or("0", |h| h.0.as_str()),
            n as f64 / total as f64 * 100.0
        )));
    }
    lines
}

/// A grid value in at most 9 characters.
fn short_num(v: f32) -> String {
    let s = format!("{v}");
    if s.len() <= 9 { s } else { format!("{v:.2e}") }
}

/// The shared-number-line view of a small minifloat (E2M1) that both operands use.
fn draw_small(
    frame: &mut Frame,
    v: &crate::core::experiment::VariantReport,
    (name, codes, decode, max): (&str, u16, fn(u8) -> f32, f32),
    theme: Theme,
    area: Rect,
) {
    // At 80×24 the three boxes get exactly 21 rows: 6 + 7 + 8.
    let [line_area, w_area, x_area] = Layout::vertical([
        Constraint::Length(6),
        Constraint::Min(7),
        Constraint::Min(7),
    ])
    .areas(area);
    let width = line_area.width.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = number_line(width, codes, decode, max)
        .into_iter()
        .map(Line::from)
        .collect();
    let (w_scale, x_scale) = (common_scale(&v.w), common_scale(&v.x));
    let short = |s: &str| s.split(" (").next().unwrap_or_default().to_string();
    lines.push(
        super::fitting(
            line_area.width.saturating_sub(2),
            vec![
                Line::from(format!(
                    "values in units of each block's scale 2^e · most used: W {w_scale} · x {x_scale}"
                )),
                Line::from(format!("most used block scale: W {w_scale} · x {x_scale}")),
                Line::from(format!(
                    "values in units of each block's scale 2^e · most used: W {} · x {}",
                    short(&w_scale),
                    short(&x_scale)
                )),
                Line::from(format!(
                    "most used block scale: W {} · x {}",
                    short(&w_scale),
                    short(&x_scale)
                )),
            ],
        )
        .style(theme.dim()),
    );
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(Span::styled(
            format!(" {name}: the {codes} codes on the number line "),
            theme.title(),
        ))),
        line_area,
    );
    for (name, o, style, a) in [
        ("W", &v.w, theme.w(), w_area),
        ("x", &v.x, theme.x(), x_area),
    ] {
        let inner_h = a.height.saturating_sub(5) as usize;
        let mut lines = occupancy(&o.codes, (codes, decode), inner_h.max(1), style);
        lines.push(clip_line(name, o, theme, a.width.saturating_sub(2)));
        frame.render_widget(
            Paragraph::new(lines).block(Block::bordered().title(Span::styled(
                format!(" {name}: code occupancy (% of elements) "),
                theme.title(),
            ))),
            a,
        );
    }
}

/// Integer codes `lo..=hi`: a histogram of the operand's codes (counts indexed by
/// code − lo; INT8's 256 counts are indexed by code + 128).
fn integer_lines(
    o: &OperandReport,
    (lo, hi): (i32, i32),
    area: Rect,
    style: ratatui::style::Style,
) -> Vec<Line<'static>> {
    let n = (hi - lo + 1).max(1) as usize;
    let width = area.width.saturating_sub(2) as usize;
    let height = area.height.saturating_sub(5).max(1) as usize;
    // n codes into `width` columns, each the sum of its codes.
    let per = n.div_ceil(width.max(1));
    let cols: Vec<u64> = o.codes.chunks(per).map(|c| c.iter().sum()).collect();
    let mut lines = super::columns(&cols, height, 1, 0, style);
    let low = lo.to_string();
    let mut axis = format!("{low}{hi:>w$}", w = cols.len().saturating_sub(low.len()));
    axis.truncate(width);
    lines.push(Line::from(axis));
    lines.push(Line::from(format!(
        "{per} codes per column · codes used: {} of {n}",
        o.codes.iter().filter(|&&c| c > 0).count()
    )));
    lines
}
