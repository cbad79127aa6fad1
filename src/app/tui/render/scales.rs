//! Block scales: a heat map of log2 of every block's scale (E8M0, NVFP4's E4M3, INT and FP8's
//! f32), the histogram of those exponents, and the selected block's elements in detail.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::bar;
use crate::app::tui::app::{App, Computed, Operand};
use crate::app::tui::theme::Theme;
use crate::core::family::{self, Blocks, Codec};
use crate::core::matrix::Matrix;

/// First index of a window of `visible` items that keeps `cursor` in view, centred when it can.
fn window(cursor: usize, total: usize, visible: usize) -> usize {
    if total <= visible {
        0
    } else {
        cursor.saturating_sub(visible / 2).min(total - visible)
    }
}

pub fn draw(frame: &mut Frame, app: &App, c: &Computed, theme: Theme, area: Rect) {
    let Some(v) = c.run.variants.get(app.variant) else {
        return;
    };
    let (quantized, original, name, format) = match app.scales.operand {
        Operand::W => (&v.qw, &c.run.w, "W", v.variant.w_format),
        Operand::X => (
            &v.qx,
            &c.run.xt,
            "x (as xᵀ: one row per column of x)",
            v.variant.x_format,
        ),
    };
    let Some(q) = quantized.blocks() else {
        // The formats that have block scales, named from the registry.
        let block_formats: Vec<&str> = family::REGISTRY
            .iter()
            .filter(|f| f.has_scales())
            .map(|f| f.name())
            .collect();
        let f = format;
        let lines = vec![
            Line::styled(
                format!(
                    "Scales per block belong to {} variants.",
                    family::knob::one_of(&block_formats)
                ),
                theme.title(),
            ),
            Line::from(format!(
                "This operand is {}: {} (see the codes screen).",
                f.title(),
                f.scales_in_words()
            )),
            Line::from(format!(
                "Press [ or ] to choose {} {} variant.",
                article(&block_formats),
                family::knob::one_of(&block_formats)
            )),
        ];
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: true })
                .block(Block::bordered()),
            area,
        );
        return;
    };
    let scale_name = match format.codec() {
        Codec::Minifloat { scale_name, .. } => scale_name,
        _ => "f32",
    };
    let [map_area, side] =
        Layout::horizontal([Constraint::Fill(3), Constraint::Length(50)]).areas(area);
    let [hist_area, detail_area] =
        Layout::vertical([Constraint::Length(10), Constraint::Fill(1)]).areas(side);

    // Heat map: two characters per block; levels spread between the smallest and largest
    // finite exponent in use.
    let exps: Vec<i32> = (0..q.rows())
        .flat_map(|r| (0..q.blocks_per_row()).filter_map(move |j| q.exponent(r, j)))
        .collect();
    let (lo, hi) = (
        exps.iter().copied().min().unwrap_or(0),
        exps.iter().copied().max().unwrap_or(0),
    );
    let inner_w = map_area.width.saturating_sub(2) as usize;
    let inner_h = map_area.height.saturating_sub(3) as usize;
    let (rows, cols) = (q.rows(), q.blocks_per_row());
    let (sel_r, sel_c) = (
        app.scales.block.0.min(rows - 1),
        app.scales.block.1.min(cols - 1),
    );
    let vis_cols = (inner_w.saturating_sub(6) / 2).max(1);
    let r0 = window(sel_r, rows, inner_h.max(1));
    let c0 = window(sel_c, cols, vis_cols);
    let mut lines = Vec::new();
    for r in r0..(r0 + inner_h).min(rows) {
        let mut spans = vec![Span::styled(format!("{r:>5} "), theme.dim())];
        for j in (c0..cols).take(vis_cols) {
            let (ch, mut style) = match q.exponent(r, j) {
                Some(e) if hi > lo => theme.heat(f64::from(e - lo) / f64::from(hi - lo)),
                Some(_) => theme.heat(0.5),
                None => ('N', theme.bad()),
            };
            if (r, j) == (sel_r, sel_c) {
                style = style.patch(theme.selected());
            }
            let clipped = q.clipped_in_block(original, r, j) > 0;
            let text: String = [ch, if clipped { '!' } else { ch }].iter().collect();
            spans.push(Span::styled(text, style));
        }
        lines.push(Line::from(spans));
    }
    let (r1, c1) = (
        (r0 + inner_h).min(rows).saturating_sub(1),
        (c0 + vis_cols).min(cols).saturating_sub(1),
    );
    let legend = [
        format!(
            "rows {r0}–{r1} of {rows}, blocks {c0}–{c1} of {cols} · exponents 2^{lo} (·) … \
             2^{hi} (█) · ! = a clipped element"
        ),
        format!(
            "rows {r0}–{r1} of {rows}, blocks {c0}–{c1} of {cols} · 2^{lo} (·) … 2^{hi} (█) · \
             ! clipped"
        ),
        format!("2^{lo} (·) … 2^{hi} (█) · ! clipped · rows {r0}–{r1}, blocks {c0}–{c1}"),
        format!("·2^{lo} … █2^{hi} · ! clipped"),
    ];
    lines.push(
        super::fitting(
            map_area.width.saturating_sub(2),
            legend.into_iter().map(Line::from).collect(),
        )
        .style(theme.dim()),
    );
    let title = |what: String, keys: &'static str| {
        Line::from(vec![
            Span::styled(what, theme.title()),
            Span::styled(keys, theme.dim()),
        ])
    };
    let title = super::fitting(
        map_area.width.saturating_sub(2),
        vec![
            title(
                format!(
                    " {name}: {scale_name} scale exponent per block of {} ",
                    q.block()
                ),
                "(t: W/x · arrows: select) ",
            ),
            title(format!(" {name}: {scale_name} exponents "), "(t: W/x) "),
            title(format!(" {name}: exponents "), ""),
        ],
    );
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        map_area,
    );

    // The histogram of the blocks' exponents, the most used first.
    let mut counts: std::collections::BTreeMap<Option<i32>, u64> = Default::default();
    for r in 0..rows {
        for j in 0..cols {
            *counts.entry(q.exponent(r, j)).or_default() += 1;
        }
    }
    let total = (rows * cols).max(1) as f64;
    let mut sorted: Vec<(Option<i32>, u64)> = counts.into_iter().collect();
    sorted.sort_by_key(|&(e, n)| (std::cmp::Reverse(n), e));
    let max = sorted.first().map_or(1, |s| s.1).max(1) as f64;
    let mut lines: Vec<Line> = sorted
        .iter()
        .take(hist_area.height.saturating_sub(3) as usize)
        .map(|&(e, n)| {
            let e = e.map_or("NaN".into(), |e| format!("2^{e}"));
            Line::from(format!(
                "{e:>6} {:>7.3}% {}",
                n as f64 / total * 100.0,
                bar(n as f64 / max, 30)
            ))
        })
        .collect();
    lines.push(Line::styled(
        format!(
            "{} distinct exponents in {} blocks",
            sorted.len(),
            rows * cols
        ),
        theme.dim(),
    ));
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(Span::styled(
            format!(" {scale_name} scales: ⌊log2⌋ "),
            theme.title(),
        ))),
        hist_area,
    );

    let role = match app.scales.operand {
        Operand::W => crate::core::data::distribution::Role::W,
        Operand::X => crate::core::data::distribution::Role::X,
    };
    let rule = v
        .variant
        .operand(role)
        .get("scale_rule")
        .unwrap_or("floor")
        .to_string();
    draw_block(
        frame,
        q,
        original,
        (sel_r, sel_c),
        &rule,
        theme,
        detail_area,
    );
}

/// The exponent of a positive finite value, exactly (from its f64 bits; an f32 subnormal is an
/// f64 normal, so this holds for every f32).
fn binade(v: f64) -> i32 {
    ((v.to_bits() >> 52) & 0x7ff) as i32 - 1023
}

/// How an E8M0 block scale came from the block's amax, for an MX block: "(amax) = 1.017·2^-4 →
/// E = -4 → e = E − 2 = -6 (floor) → byte 0x79". `None` for any other scale.
pub fn derivation(amax: f32, scale: f64, unit_max: f64, rule: &str) -> Option<String> {
    let amax = f64::from(amax);
    if !(amax > 0.0 && amax.is_finite() && scale > 0.0 && scale.is_finite()) {
        return None;
    }
    let e = binade(scale);
    if scale != 2f64.powi(e) {
        return None; // not a power of two: not an E8M0 scale
    }
    let big_e = binade(amax);
    let emax = binade(unit_max);
    let sig = amax / 2f64.powi(big_e);
    let base = big_e - emax;
    let how = match e - base {
        0 => format!("E − {emax}"),
        1 => format!("E − {emax} + 1"),
        _ => "clamped to [−127, 127]".to_string(),
    };
    Some(format!(
        "= {sig:.4}·2^{big_e} → E = {big_e} → e = {how} = {e} ({rule}) → byte 0x{:02x}",
        e + 127
    ))
}

fn draw_block(
    frame: &mut Frame,
    q: &dyn Blocks,
    original: &Matrix,
    (r, j): (usize, usize),
    rule: &str,
    theme: Theme,
    area: Rect,
) {
    let span = j * q.block()..((j + 1) * q.block()).min(q.k());
    let vals = &original.row(r)[span.clone()];
    let amax = vals.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let scale = q.scale(r, j);
    let max = q.unit_max();
    let mut lines = vec![
        Line::from(format!(
            "row {r}, block {j}, k {}..{}",
            span.start, span.end
        )),
        Line::from(q.scale_text(r, j)),
        Line::from(format!(
            "amax {amax:.4e} · {} clipped (marked !)",
            q.clipped_in_block(original, r, j)
        )),
    ];
    if q.scale_text(r, j).starts_with("0x")
        && let Some(d) = derivation(amax, scale, max, rule)
    {
        // Wrapped onto a second line in a narrow panel rather than cut.
        let width = usize::from(area.width.saturating_sub(2));
        let mut first = String::new();
        let mut second = String::new();
        for word in d.split(' ') {
            let target =
                if second.is_empty() && first.chars().count() + 1 + word.chars().count() <= width {
                    &mut first
                } else {
                    &mut second
                };
            if !target.is_empty() {
                target.push(' ');
            }
            target.push_str(word);
        }
        lines.push(Line::styled(first, theme.dim()));
        if !second.is_empty() {
            lines.push(Line::styled(format!("  {second}"), theme.dim()));
        }
    }
    lines.push(Line::styled(
        "    k      input  v/scale code     P     error",
        theme.dim(),
    ));
    let room = area.height.saturating_sub(lines.len() as u16 + 3) as usize;
    for (i, &v) in vals.iter().enumerate().take(room) {
        let k = span.start + i;
        let p = q.element_value(r, k);
        let deq = (p * scale) as f32;
        let scaled = f64::from(v) / scale;
        // Marked in text as well as colour, so it reads without colours too.
        let (style, mark) = if scaled.abs() > max {
            (theme.bad(), " !")
        } else if v != 0.0 && deq == 0.0 {
            (theme.warn(), " 0")
        } else {
            (Style::new(), "")
        };
        lines.push(Line::styled(
            format!(
                "{k:>5} {:>10.3e} {:>8.3} {:>4} {:>5} {:>9.2e}{mark}",
                v,
                scaled,
                q.code_text(r, k),
                fit5(p),
                f64::from(deq) - f64::from(v)
            ),
            style,
        ));
    }
    if vals.len() > room {
        lines.push(Line::styled(
            format!("… {} more (enlarge the terminal)", vals.len() - room),
            theme.dim(),
        ));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(Span::styled(" selected block ", theme.title()))),
        area,
    );
}

/// An element value in at most five characters (`-1.5`, `448`, `2e-3`).
fn fit5(p: f64) -> String {
    let s = format!("{p}");
    if s.len() <= 5 {
        s
    } else if p.abs() >= 1.0 && p.abs() < 99_999.5 {
        format!("{p:.0}")
    } else {
        format!("{p:.0e}")
    }
}

/// "a" or "an" before a list of format names, read letter by letter ("an MXFP4").
fn article(names: &[&str]) -> &'static str {
    match names.first() {
        Some(n) if n.starts_with(|c: char| "AEFHILMNORSXaefhilmnorsx".contains(c)) => "an",
        _ => "a",
    }
}

#[cfg(test)]
mod tests {
    use super::derivation;

    #[test]
    fn the_derivation_names_every_step() {
        // 0.06356 = 1.01696·2^-4: floor gives e = -4 - 2 = -6, byte 127 - 6 = 0x79.
        assert_eq!(
            derivation(6.356e-2, 2f64.powi(-6), 6.0, "floor").unwrap(),
            "= 1.0170·2^-4 → E = -4 → e = E − 2 = -6 (floor) → byte 0x79"
        );
        // rceil bumps 1.75·2^0 (amax 1.75 > 1.5): e = 0 - 2 + 1 = -1.
        assert_eq!(
            derivation(1.75, 0.5, 6.0, "rceil").unwrap(),
            "= 1.7500·2^0 → E = 0 → e = E − 2 + 1 = -1 (rceil) → byte 0x7e"
        );
        // The bottom of E8M0: the exponent cannot follow a tiny amax.
        assert!(
            derivation(1e-45, 2f64.powi(-127), 6.0, "floor")
                .unwrap()
                .contains("clamped")
        );
        // Not a power of two (an INT8 scale): no derivation.
        assert!(derivation(1.0, 0.3, 127.0, "floor").is_none());
    }
}
