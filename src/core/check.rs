//! Conformance: someone else's MX quantization of an input against qlab's reference, every
//! difference put in a class (`qlab check`), and the dialect that reproduces theirs.
//!
//! A block's scale byte is compared first. When it differs, the byte is explained by the first
//! rule that gives it — the log2f binade, a wrapped exponent, another scale rule — and the
//! block's elements are then compared *under their byte*, so one scale difference does not
//! show as 32 element differences. An element that differs is a tie resolved another way (the
//! value lies exactly between two grid values), a zero of the other sign, a value beyond the
//! grid that was not saturated, or unexplained.

use serde::Serialize;

use crate::core::codec::dialect::{Dialect, Exponent, ScaleRange, SignedZero, Ties};
use crate::core::codec::e8m0;
use crate::core::codec::minifloat::{Element, Specials};
use crate::core::codec::mx_block::{ScaleRule, block_amax};
use crate::core::format::MxConfig;
use crate::core::format::mx_element::{quantize_block_in, scale_byte_in};
use crate::core::matrix::Matrix;

/// How many positions each class keeps.
pub const FIRST: usize = 5;

/// Their quantization: one code per element and one scale byte per block, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Theirs {
    pub codes: Vec<u8>,
    pub scales: Vec<u8>,
}

/// One kind of difference, its count and where it first happens.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Class {
    /// Stable name for scripts: `scale-log2f`, `tie-toward-zero`, `unexplained`, ...
    pub class: String,
    /// What it means, in words.
    pub title: String,
    /// Whether it is a difference for no known reason (a bug).
    pub unexplained: bool,
    pub count: usize,
    /// The first few: (row, element index along K), and what qlab and they wrote.
    pub first: Vec<Example>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Example {
    pub row: usize,
    /// The element (for a block: its first element).
    pub col: usize,
    pub detail: String,
}

/// The dialect that reproduces their output best, and how well.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Detection {
    pub scale_rule: String,
    pub element_rounding: String,
    pub exponent: String,
    pub signed_zero: String,
    pub scale_range: String,
    /// The byte they give all-zero blocks, when it is not qlab's 0x00.
    pub zero_block_byte: Option<u8>,
    /// Whether NaN/Inf blocks get a finite scale and zero codes (instead of the NaN byte).
    pub nan_blocks_zeroed: bool,
    /// Blocks whose byte and every code this dialect reproduces.
    pub blocks_matched: usize,
    pub blocks: usize,
    /// The whole finding in words (`rceil + ties-toward-zero + +0 for -0`).
    pub summary: String,
    /// The known quantizer with this dialect, if any.
    pub peer: Option<String>,
    /// Whether the input shows every part of the dialect (ties, signed zeros and, under
    /// floor, the exponent source): only then is `peer` more than "consistent with".
    pub complete: bool,
}

/// Everything `qlab check` found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub blocks: usize,
    pub elements: usize,
    pub scale_bytes_differ: usize,
    pub elements_differ: usize,
    pub classes: Vec<Class>,
    pub detection: Detection,
}

impl Report {
    /// Whether their output is qlab's, bit for bit.
    pub fn matches(&self) -> bool {
        self.classes.is_empty()
    }
}

/// The classes as they are found, in a fixed order of first appearance.
struct Classes(Vec<Class>);

impl Classes {
    fn add(
        &mut self,
        class: &str,
        title: impl FnOnce() -> String,
        at: (usize, usize),
        detail: impl FnOnce() -> String,
    ) {
        let i = match self.0.iter().position(|c| c.class == class) {
            Some(i) => i,
            None => {
                self.0.push(Class {
                    class: class.to_string(),
                    title: title(),
                    unexplained: class.starts_with("unexplained") || class == "scale-other",
                    count: 0,
                    first: Vec::new(),
                });
                self.0.len() - 1
            }
        };
        let c = &mut self.0[i];
        c.count += 1;
        if c.first.len() < FIRST {
            c.first.push(Example {
                row: at.0,
                col: at.1,
                detail: detail(),
            });
        }
    }
}

/// The value of a code as text (`0x2 (1)`).
fn code_text(el: &Element, code: u8) -> String {
    let v = el.decode(code);
    format!("{code:#04x} ({v})")
}

fn byte_text(byte: u8) -> String {
    match e8m0::exponent(byte) {
        Some(e) => format!("{byte:#04x} (2^{e})"),
        None => format!("{byte:#04x} (NaN)"),
    }
}

/// The scale dialects tried to explain a byte, in the order a class is named by.
const SCALE_TRIES: [(Exponent, ScaleRange); 4] = [
    (Exponent::Bits, ScaleRange::Clamp),
    (Exponent::Log2f, ScaleRange::Clamp),
    (Exponent::Bits, ScaleRange::Wrap),
    (Exponent::Log2f, ScaleRange::Wrap),
];

fn dialect_of(exponent: Exponent, range: ScaleRange) -> Dialect {
    Dialect {
        exponent,
        scale_range: range,
        ..Dialect::SPEC
    }
}

/// The rules an element offers (MXINT8 has no `even`).
fn rules(el: &Element) -> Vec<ScaleRule> {
    ScaleRule::ALL
        .into_iter()
        .filter(|&r| !(el.specials == Specials::Int && r == ScaleRule::Even))
        .collect()
}

/// The class of a scale byte `theirs` where qlab writes `ours` for a finite, non-zero amax.
/// Rules are tried in the order of `prefer` (qlab's, then the detected one), then the rest.
fn scale_class(
    el: &Element,
    amax: f32,
    cfg: &MxConfig,
    prefer: ScaleRule,
    theirs: u8,
) -> (String, String) {
    let mut candidates = vec![prefer];
    if prefer != cfg.rule {
        candidates.push(cfg.rule);
    }
    let rest: Vec<ScaleRule> = rules(el)
        .into_iter()
        .filter(|r| !candidates.contains(r))
        .collect();
    candidates.extend(rest);
    for rule in candidates {
        for (exponent, range) in SCALE_TRIES {
            let d = dialect_of(exponent, range);
            if scale_byte_in(el, amax, rule, &d) != theirs {
                continue;
            }
            if range == ScaleRange::Wrap {
                return (
                    "scale-wrap".into(),
                    "scale byte of a tiny block wrapped modulo 256 (an exponent below -127 \
                     not clamped to 0x00)"
                        .into(),
                );
            }
            if exponent == Exponent::Log2f {
                return (
                    "scale-log2f".into(),
                    "scale byte one too high: amax just below a power of two, exponent from \
                     floor(log2f(amax))"
                        .into(),
                );
            }
            if rule != cfg.rule {
                return (
                    format!("scale-rule-{rule}"),
                    format!(
                        "scale byte by the {rule} rule (qlab's reference: {})",
                        cfg.rule
                    ),
                );
            }
        }
    }
    let ours = scale_byte_in(el, amax, cfg.rule, &cfg.dialect);
    if ours == 0 || ours == 0xFE {
        return (
            "scale-clamp".into(),
            "scale byte at the end of E8M0's range, clamped elsewhere".into(),
        );
    }
    (
        "scale-other".into(),
        "scale byte off for no known reason".into(),
    )
}

/// Compares their quantization of `values` with qlab's under `cfg` (element `el`), and
/// detects their dialect. `theirs` must hold `rows × k` codes and `rows × blocks` bytes.
pub fn compare(values: &Matrix, el: &Element, cfg: MxConfig, theirs: &Theirs) -> Report {
    let detection = detect(values, el, cfg, theirs);
    let prefer: ScaleRule = detection.scale_rule.parse().unwrap_or(cfg.rule);
    let (rows, k) = values.shape();
    let block = cfg.block.len_for(k);
    let per_row = k.div_ceil(block);
    let mut classes = Classes(Vec::new());
    let (mut scale_diff, mut elem_diff) = (0, 0);
    let d = cfg.dialect;
    let tensor_amax =
        (cfg.block == crate::core::format::BlockSize::Tensor).then(|| block_amax(values.data()));
    let mut ours = vec![0u8; block];
    for r in 0..rows {
        for (j, vals) in values.row(r).chunks(block).enumerate() {
            let c0 = j * block;
            let amax = tensor_amax.unwrap_or_else(|| block_amax(vals));
            let our_byte = scale_byte_in(el, amax, cfg.rule, &d);
            let their_byte = theirs.scales[r * per_row + j];
            let their_codes = &theirs.codes[r * k + c0..r * k + c0 + vals.len()];
            let at = (r, c0);
            if !amax.is_finite() {
                if their_byte != e8m0::NAN {
                    scale_diff += 1;
                    classes.add(
                        "nan-block",
                        || "NaN/Inf block given a finite scale (qlab writes 0xFF, NaN)".into(),
                        at,
                        || {
                            let zeros = their_codes.iter().all(|&c| el.decode(c) == 0.0);
                            format!(
                                "theirs {}{}",
                                byte_text(their_byte),
                                if zeros { ", codes all zero" } else { "" }
                            )
                        },
                    );
                }
                continue;
            }
            if their_byte != our_byte {
                scale_diff += 1;
                if amax == 0.0 {
                    classes.add(
                        "zero-block",
                        || "all-zero block with another scale byte (qlab writes 0x00)".into(),
                        at,
                        || format!("theirs {}", byte_text(their_byte)),
                    );
                } else {
                    let (class, title) = scale_class(el, amax, &cfg, prefer, their_byte);
                    classes.add(
                        &class,
                        || title,
                        at,
                        || {
                            format!(
                                "amax {amax}: qlab {}, theirs {}",
                                byte_text(our_byte),
                                byte_text(their_byte)
                            )
                        },
                    );
                }
            }
            // The elements under their byte; under a NaN byte there is nothing to compare.
            if their_byte == e8m0::NAN {
                continue;
            }
            // A byte that differs may be the bug while their codes follow the right byte:
            // the elements are compared under whichever byte explains more of them.
            let ours = &mut ours[..vals.len()];
            let differ_under = |byte: u8, buf: &mut [u8]| {
                quantize_block_in(el, vals, byte, &d, buf);
                buf.iter().zip(their_codes).filter(|(a, b)| a != b).count()
            };
            let mut byte = their_byte;
            if their_byte != our_byte && our_byte != e8m0::NAN {
                let under_theirs = differ_under(their_byte, ours);
                if differ_under(our_byte, ours) < under_theirs {
                    byte = our_byte;
                }
            }
            quantize_block_in(el, vals, byte, &d, ours);
            let inv = e8m0::exponent(byte).map(|e| e8m0::pow2(-e));
            for (i, ((&v, &o), &t)) in vals.iter().zip(ours.iter()).zip(their_codes).enumerate() {
                if o == t {
                    continue;
                }
                elem_diff += 1;
                let at = (r, c0 + i);
                let scaled = inv.map_or(f64::NAN, |inv| f64::from(v) * inv);
                let detail = || {
                    format!(
                        "{v} = {} × scale: qlab {}, theirs {}",
                        scaled as f32,
                        code_text(el, o),
                        code_text(el, t)
                    )
                };
                let (zero_down, away) = (
                    el.encode_with(scaled, Ties::TowardZero, d.signed_zero),
                    el.encode_with(scaled, Ties::Away, d.signed_zero),
                );
                let ov = el.decode(o);
                let tv = el.decode(t);
                if zero_down != away && (t == zero_down || t == away) {
                    let (class, title) = if t == zero_down {
                        (
                            "tie-toward-zero",
                            "element tie (exactly between two values) rounded toward zero",
                        )
                    } else {
                        (
                            "tie-away",
                            "element tie (exactly between two values) rounded away from zero",
                        )
                    };
                    classes.add(class, || title.into(), at, detail);
                } else if ov == 0.0 && tv == 0.0 {
                    let title = if t & el.sign_bit() == 0 {
                        "negative zero stored as +0"
                    } else {
                        "positive zero stored as -0"
                    };
                    classes.add("signed-zero", || title.into(), at, detail);
                } else if scaled.abs() > el.max() && el.encode(scaled) == o {
                    classes.add(
                        "saturation",
                        || {
                            format!(
                                "beyond ±{} (the largest element) and not saturated to it",
                                el.max()
                            )
                        },
                        at,
                        detail,
                    );
                } else if el.codes() < 256 && u16::from(t) >= el.codes() {
                    classes.add(
                        "unexplained-code",
                        || format!("not a code of {} (out of range)", el.name),
                        at,
                        detail,
                    );
                } else {
                    classes.add(
                        "unexplained",
                        || "element differs for no known reason".into(),
                        at,
                        detail,
                    );
                }
            }
        }
    }
    let mut classes = classes.0;
    // Ties that went both ways, always to the odd code, are one rule: ties to odd.
    let ties: Vec<&Class> = classes
        .iter()
        .filter(|c| c.class.starts_with("tie-"))
        .collect();
    if ties.len() == 2 {
        let odd = |c: &Class| {
            c.first.iter().all(|e| {
                let t = theirs.codes[e.row * k + e.col];
                t & 1 == 1
            })
        };
        if ties.iter().all(|c| odd(c)) {
            let merged = Class {
                class: "tie-to-odd".into(),
                title: "element ties rounded to the odd code".into(),
                unexplained: false,
                count: ties.iter().map(|c| c.count).sum(),
                first: ties
                    .iter()
                    .flat_map(|c| c.first.clone())
                    .take(FIRST)
                    .collect(),
            };
            classes.retain(|c| !c.class.starts_with("tie-"));
            classes.push(merged);
        }
    }
    Report {
        blocks: rows * per_row,
        elements: rows * k,
        scale_bytes_differ: scale_diff,
        elements_differ: elem_diff,
        classes,
        detection,
    }
}

/// The dialect (scale rule, exponent, range; element rounding, signed zero; zero and NaN
/// blocks) that reproduces most of their output. The scale part is chosen on the scale bytes
/// alone, the element part on the codes under their own bytes, so the two do not mask each
/// other; then the whole is checked block by block.
pub fn detect(values: &Matrix, el: &Element, cfg: MxConfig, theirs: &Theirs) -> Detection {
    let (rows, k) = values.shape();
    let block = cfg.block.len_for(k);
    let per_row = k.div_ceil(block);
    let tensor_amax =
        (cfg.block == crate::core::format::BlockSize::Tensor).then(|| block_amax(values.data()));
    let blocks = || {
        (0..rows).flat_map(move |r| {
            values
                .row(r)
                .chunks(block)
                .enumerate()
                .map(move |(j, vals)| {
                    let amax = tensor_amax.unwrap_or_else(|| block_amax(vals));
                    let their = theirs.scales[r * per_row + j];
                    let codes = &theirs.codes[r * k + j * block..r * k + j * block + vals.len()];
                    (vals, amax, their, codes)
                })
        })
    };
    // The scale dialect: the spec's choices first, so a tie in counts keeps them.
    let mut scale_candidates = vec![(cfg.rule, Exponent::Bits, ScaleRange::Clamp)];
    for rule in rules(el) {
        for (e, range) in SCALE_TRIES {
            if (rule, e, range) != scale_candidates[0] {
                scale_candidates.push((rule, e, range));
            }
        }
    }
    let (mut best_scale, mut best_count) = (scale_candidates[0], None::<usize>);
    for &(rule, e, range) in &scale_candidates {
        let d = dialect_of(e, range);
        let n = blocks()
            .filter(|(_, amax, their, _)| {
                amax.is_finite() && *amax != 0.0 && scale_byte_in(el, *amax, rule, &d) == *their
            })
            .count();
        if best_count.is_none_or(|b| n > b) {
            (best_scale, best_count) = ((rule, e, range), Some(n));
        }
    }
    // The element dialect, under their bytes.
    let mut elem_candidates = vec![(Ties::Even, SignedZero::Keep)];
    for &t in Ties::ALL {
        for &z in SignedZero::ALL {
            if (t, z) != elem_candidates[0] {
                elem_candidates.push((t, z));
            }
        }
    }
    let (mut best_elem, mut best_n) = (elem_candidates[0], None::<usize>);
    let mut buf = vec![0u8; block];
    for &(t, z) in &elem_candidates {
        let d = Dialect {
            ties: t,
            signed_zero: z,
            ..Dialect::SPEC
        };
        let mut n = 0;
        for (vals, amax, their, codes) in blocks() {
            if !amax.is_finite() || their == e8m0::NAN {
                continue;
            }
            let b = &mut buf[..vals.len()];
            quantize_block_in(el, vals, their, &d, b);
            n += b.iter().zip(codes).filter(|(a, b)| a == b).count();
        }
        if best_n.is_none_or(|b| n > b) {
            (best_elem, best_n) = ((t, z), Some(n));
        }
    }
    let zero_bytes: Vec<u8> = blocks()
        .filter(|(_, amax, _, _)| *amax == 0.0)
        .map(|(_, _, their, _)| their)
        .collect();
    let zero_block_byte = zero_bytes
        .first()
        .copied()
        .filter(|&b| b != 0 && zero_bytes.iter().all(|&x| x == b));
    let nan: Vec<(u8, bool)> = blocks()
        .filter(|(_, amax, _, _)| !amax.is_finite())
        .map(|(_, _, their, codes)| (their, codes.iter().all(|&c| el.decode(c) == 0.0)))
        .collect();
    let nan_blocks_zeroed = !nan.is_empty() && nan.iter().all(|&(b, z)| b != e8m0::NAN && z);
    let (rule, exponent, scale_range) = best_scale;
    let d = Dialect {
        ties: best_elem.0,
        exponent,
        signed_zero: best_elem.1,
        scale_range,
    };
    // The whole dialect, block by block.
    let mut blocks_matched = 0;
    let mut total = 0;
    for (vals, amax, their, codes) in blocks() {
        total += 1;
        let ok = if !amax.is_finite() {
            if nan_blocks_zeroed {
                their != e8m0::NAN && codes.iter().all(|&c| el.decode(c) == 0.0)
            } else {
                their == e8m0::NAN
            }
        } else {
            let byte = match zero_block_byte {
                Some(z) if amax == 0.0 => z,
                _ => scale_byte_in(el, amax, rule, &d),
            };
            let b = &mut buf[..vals.len()];
            quantize_block_in(el, vals, byte, &d, b);
            byte == their && b.iter().zip(codes).all(|(a, b)| a == b)
        };
        blocks_matched += usize::from(ok);
    }
    let mut parts = vec![rule.name().to_string()];
    parts.extend(d.departures().iter().map(ToString::to_string));
    if let Some(z) = zero_block_byte {
        parts.push(format!("zero blocks {z:#04x}"));
    }
    if nan_blocks_zeroed {
        parts.push("NaN/Inf blocks zeroed".into());
    }
    // What the input lets one see: an element rounding shows only at exact midpoints, a
    // log2f exponent only where it moves a byte, a signed zero only at a small negative.
    let mut seen = Seen::default();
    for (vals, amax, their, _) in blocks() {
        if !amax.is_finite() || amax == 0.0 {
            continue;
        }
        let l2 = dialect_of(Exponent::Log2f, ScaleRange::Clamp);
        seen.log2f |= scale_byte_in(el, amax, ScaleRule::Floor, &l2)
            != scale_byte_in(el, amax, ScaleRule::Floor, &Dialect::SPEC);
        let Some(e) = e8m0::exponent(their) else {
            continue;
        };
        for &v in vals {
            let x = f64::from(v) * e8m0::pow2(-e);
            seen.ties |= el.encode_with(x, Ties::TowardZero, SignedZero::Keep)
                != el.encode_with(x, Ties::Away, SignedZero::Keep);
            seen.zeros |= el.encode_with(x, Ties::Even, SignedZero::Keep) == el.sign_bit();
        }
    }
    if !seen.ties {
        parts.push("(ties unseen: no element lies between two grid values)".into());
    }
    if !seen.log2f && rule == ScaleRule::Floor {
        parts.push("(exponent source unseen: no amax just below a power of two)".into());
    }
    let peer = peer_name(rule, &d, seen);
    let complete = seen.ties && seen.zeros && (seen.log2f || rule != ScaleRule::Floor);
    Detection {
        scale_rule: rule.name().into(),
        element_rounding: d.ties.name().into(),
        exponent: d.exponent.name().into(),
        signed_zero: d.signed_zero.name().into(),
        scale_range: d.scale_range.name().into(),
        zero_block_byte,
        nan_blocks_zeroed,
        blocks_matched,
        blocks: total,
        summary: parts.join(" + "),
        peer,
        complete,
    }
}

/// The quantizers known to follow a dialect (their scale rule, element rounding, exponent
/// and signed zeros; the range and special blocks only show on rare inputs).
/// Which parts of a dialect the input shows.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    ties: bool,
    log2f: bool,
    zeros: bool,
}

/// The first known quantizer that agrees on everything the input shows.
fn peer_name(rule: ScaleRule, d: &Dialect, seen: Seen) -> Option<String> {
    let known: [(ScaleRule, Ties, Exponent, SignedZero, &str); 4] = [
        (
            ScaleRule::Floor,
            Ties::Even,
            Exponent::Bits,
            SignedZero::Keep,
            "the OCP MX v1.0 rule (qlab's reference)",
        ),
        (
            ScaleRule::Rceil,
            Ties::TowardZero,
            Exponent::Bits,
            SignedZero::FlushPositive,
            "MLX's mx.quantize(mode=\"mxfp4\")",
        ),
        (
            ScaleRule::Floor,
            Ties::TowardZero,
            Exponent::Log2f,
            SignedZero::FlushPositive,
            "llama.cpp's MXFP4 (ggml, gguf-py)",
        ),
        (
            ScaleRule::Floor,
            Ties::Away,
            Exponent::Log2f,
            SignedZero::Keep,
            "microxcaling's default (round = \"nearest\")",
        ),
    ];
    known
        .iter()
        .find(|(r, t, e, z, _)| {
            *r == rule
                && (!seen.ties || *t == d.ties)
                && (!seen.log2f || rule != ScaleRule::Floor || *e == d.exponent)
                && (!seen.zeros || *z == d.signed_zero)
        })
        .map(|k| k.4.to_string())
}

/// Nibble orders of packed E2M1 codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NibbleOrder {
    /// Element 2j in the low nibble of byte j (torchao, gpt-oss, qlab's `--packed`).
    Linear,
    /// Within each block of 32, element i in the low nibble of byte i and element i + 16 in
    /// its high nibble (ggml's `block_mxfp4`).
    Split,
}

/// Codes of a `rows × k` matrix from packed bytes (`ceil(k/2)` per row) in `order`; `None`
/// when the sizes do not fit (split needs K a multiple of 32).
pub fn unpack(bytes: &[u8], rows: usize, k: usize, order: NibbleOrder) -> Option<Vec<u8>> {
    let per_row = k.div_ceil(2);
    if bytes.len() != rows * per_row {
        return None;
    }
    let mut codes = Vec::with_capacity(rows * k);
    for row in bytes.chunks(per_row.max(1)).take(rows) {
        match order {
            NibbleOrder::Linear => {
                for (i, &b) in row.iter().enumerate() {
                    codes.push(b & 0xF);
                    if 2 * i + 1 < k {
                        codes.push(b >> 4);
                    }
                }
            }
            NibbleOrder::Split => {
                if !k.is_multiple_of(32) {
                    return None;
                }
                for qs in row.chunks(16) {
                    codes.extend(qs.iter().map(|q| q & 0xF));
                    codes.extend(qs.iter().map(|q| q >> 4));
                }
            }
        }
    }
    Some(codes)
}

/// Their codes and bytes recovered from their dequantized values. Values alone do not fix a
/// byte (3 · 2^e and 6 · 2^(e − 1) are one value), so per block: qlab's byte and codes when
/// the values are qlab's; else the first byte, among those some dialect gives and then the
/// nearest to qlab's, under which every value is on the element grid and its code is what
/// some dialect makes of the input; else the first on the grid; the NaN byte for a block with
/// NaN.
pub fn from_values(values: &Matrix, dequantized: &[f32], el: &Element, cfg: MxConfig) -> Theirs {
    let (rows, k) = values.shape();
    let block = cfg.block.len_for(k);
    let mut codes = vec![0u8; rows * k];
    let mut scales = Vec::with_capacity(rows * k.div_ceil(block));
    let tensor_amax =
        (cfg.block == crate::core::format::BlockSize::Tensor).then(|| block_amax(values.data()));
    let mut ours = vec![0u8; block];
    for r in 0..rows {
        for (j, vals) in values.row(r).chunks(block).enumerate() {
            let c0 = r * k + j * block;
            let deq = &dequantized[c0..c0 + vals.len()];
            let out = &mut codes[c0..c0 + vals.len()];
            let amax = tensor_amax.unwrap_or_else(|| block_amax(vals));
            let our_byte = scale_byte_in(el, amax, cfg.rule, &cfg.dialect);
            let ours = &mut ours[..vals.len()];
            quantize_block_in(el, vals, our_byte, &cfg.dialect, ours);
            let decoded = |byte: u8, c: u8| (f64::from(el.decode(c)) * e8m0::to_f64(byte)) as f32;
            if deq.iter().any(|v| v.is_nan()) {
                scales.push(e8m0::NAN);
                continue;
            }
            if ours
                .iter()
                .zip(deq)
                .all(|(&c, &v)| decoded(our_byte, c).to_bits() == v.to_bits())
            {
                scales.push(our_byte);
                out.copy_from_slice(ours);
                continue;
            }
            // The codes of their values under `byte`, when all are on the grid.
            let codes_under = |byte: u8| -> Option<Vec<u8>> {
                let e = e8m0::exponent(byte)?;
                deq.iter()
                    .map(|&v| {
                        let x = f64::from(v) * e8m0::pow2(-e);
                        let c = el.encode(x);
                        (f64::from(el.decode(c)) == x && !el.is_special(c)).then_some(c)
                    })
                    .collect()
            };
            let explained = |byte: u8, cs: &[u8]| {
                let inv = e8m0::exponent(byte).map_or(0.0, |e| e8m0::pow2(-e));
                cs.iter().zip(vals).all(|(&c, &v)| {
                    Ties::ALL.iter().any(|&t| {
                        SignedZero::ALL
                            .iter()
                            .any(|&z| el.encode_with(f64::from(v) * inv, t, z) == c)
                    })
                })
            };
            let mut tries: Vec<u8> = vec![our_byte];
            if amax.is_finite() && amax != 0.0 {
                for rule in rules(el) {
                    for (e, range) in SCALE_TRIES {
                        tries.push(scale_byte_in(el, amax, rule, &dialect_of(e, range)));
                    }
                }
            }
            tries.extend(
                (1..=254i32)
                    .flat_map(|d| [i32::from(our_byte) - d, i32::from(our_byte) + d])
                    .filter_map(|b| u8::try_from(b).ok().filter(|&b| b != e8m0::NAN)),
            );
            let on_grid: Vec<(u8, Vec<u8>)> = tries
                .iter()
                .filter_map(|&b| codes_under(b).map(|c| (b, c)))
                .take(64)
                .collect();
            let pick = on_grid
                .iter()
                .find(|(b, c)| explained(*b, c))
                .or(on_grid.first());
            match pick {
                Some((b, c)) => {
                    scales.push(*b);
                    out.copy_from_slice(c);
                }
                None => {
                    // On no grid at all: qlab's byte, and the nearest codes (unexplained).
                    scales.push(our_byte);
                    let inv = e8m0::exponent(our_byte).map_or(0.0, |e| e8m0::pow2(-e));
                    for (c, &v) in out.iter_mut().zip(deq) {
                        *c = el.encode(f64::from(v) * inv);
                    }
                }
            }
        }
    }
    Theirs { codes, scales }
}
