//! The format registry: every format family qlab knows, one module each, one row in
//! [`REGISTRY`] (as ggml's `type_traits` table is).
//!
//! A family declares its name, its settings as a table of [`Knob`]s (key, help, kind, valid
//! values, defaults), its quantizer, its GEMM, the description of its codes and scales for the
//! screens, its storage cost and its label rule. Everything a front-end offers about formats is
//! read from here: the scenario schema and its messages, the command line's options, the
//! explorer's editor, the sweep's `variant.<key>` axes, the CSV and JSON columns, the labels. A
//! front-end never names a format.
//!
//! This layer sits above `format` (codecs, quantizers) and `kernel` (GEMMs), which it ties
//! together, and below the experiment and the front-ends.

pub mod elementwise;
pub mod fp8;
pub mod int4;
pub mod int8;
pub mod knob;
pub mod mx_element;
pub mod mxfp4;
pub mod nvfp4;

use std::any::Any;
use std::fmt;

pub use knob::{Kind, Knob, Scope, Settings};

use crate::core::codec::minifloat::Element;
use crate::core::data::distribution::Role;
use crate::core::error::{Error, Result};
use crate::core::matrix::Matrix;

/// Every family, in the order the help, the messages and the default variants list them.
pub static REGISTRY: &[&dyn Family] = &[
    &int8::Int8,
    &mxfp4::Mxfp4,
    &mx_element::MXFP8_E4M3,
    &mx_element::MXFP8_E5M2,
    &mx_element::MXFP6_E2M3,
    &mx_element::MXFP6_E3M2,
    &mx_element::MXINT8,
    &nvfp4::Nvfp4,
    &int4::Int4,
    &fp8::FP8_E4M3,
    &fp8::FP8_E5M2,
    &elementwise::BF16,
    &elementwise::FP16,
    &elementwise::F32,
];

/// The family named `name` (or one of its aliases).
pub fn find(name: &str) -> Option<&'static dyn Family> {
    REGISTRY
        .iter()
        .copied()
        .find(|f| f.name() == name || f.aliases().contains(&name))
}

/// The family named `name`, or the message that lists the known names.
pub fn lookup(name: &str) -> Result<&'static dyn Family> {
    find(name).ok_or_else(|| {
        // `fp8` → "did you mean fp8-e4m3 or fp8-e5m2?"; a typo → its closest name.
        let all = names();
        let mut close: Vec<&str> = all
            .iter()
            .copied()
            .filter(|n| !name.is_empty() && n.starts_with(name))
            .collect();
        if close.is_empty() {
            close.extend(crate::core::text::did_you_mean(name, &all));
        }
        let hint = if close.is_empty() {
            String::new()
        } else {
            format!("did you mean {}? ", knob::one_of(&close))
        };
        Error::Invalid(format!(
            "unknown format '{}'; {hint}expected {}",
            crate::core::text::echo(name),
            knob::one_of(&all)
        ))
    })
}

/// `INT8 cannot quantize NaN at index (0, 3); remove NaN/Inf or use an MX format`.
pub fn cannot_quantize<F: Family + ?Sized>(f: &F, v: f32, at: &str) -> String {
    format!(
        "{} cannot quantize {v} at index {at}; {}",
        f.title(),
        f.remedy()
    )
}

/// The names of every family, in registry order.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|f| f.name()).collect()
}

/// A format family: one module, one registry row.
pub trait Family: Send + Sync + 'static {
    /// The name users write (`int8`, `mxfp4`).
    fn name(&self) -> &'static str;
    /// Other names accepted for it.
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// The name in prose (`INT8`, `MXFP4`).
    fn title(&self) -> &'static str;
    /// Whether a scenario that lists no variants compares this family (at its defaults).
    fn in_default_comparison(&self) -> bool {
        false
    }
    /// Its settings.
    fn knobs(&self) -> &'static [Knob];
    /// The first element of `data` the format cannot quantize (INT8: NaN or ±inf), if any.
    fn unrepresentable(&self, _data: &[f32]) -> Option<usize> {
        None
    }
    /// What to do about such an element, for the message.
    fn remedy(&self) -> &'static str {
        ""
    }
    /// Refuses operand data the format cannot represent, naming the operand and the index in
    /// the matrix as given (before any transpose).
    fn check_input(&self, m: &Matrix, name: &str) -> Result<()> {
        match self.unrepresentable(m.data()) {
            Some(i) => {
                let (r, c) = (i / m.cols().max(1), i % m.cols().max(1));
                Err(Error::Value(format!(
                    "{name}: {}",
                    cannot_quantize(self, m.data()[i], &format!("({r}, {c})"))
                )))
            }
            None => Ok(()),
        }
    }
    /// Quantizes `m`, whose rows run along the reduction axis K (W as it is, x transposed).
    fn quantize(&self, m: &Matrix, s: &Settings) -> Result<Box<dyn Quantized>>;
    /// Whether its own GEMM multiplies W and x with these settings (MX: one block size for
    /// both); otherwise the pair goes through the segment GEMM, as a mixed pair does.
    fn pairs(&self, _w: &Settings, _x: &Settings) -> bool {
        true
    }
    /// The exact GEMM of two operands this family quantized: y = W · x, `M × N`.
    fn gemm(&self, w: &dyn Quantized, xt: &dyn Quantized, gemm: &Settings) -> Matrix;
    /// The default label of a variant: the name and what differs from the defaults.
    fn label(&self, v: &Variant) -> String;
    /// The label of one operand in this format, in a mixed pair's label (`mxfp4 b16`).
    fn operand_label(&self, s: &Settings, role: Role) -> String {
        settings_label(self.name(), self.knobs(), s, role)
    }
    /// How its codes look on the screens.
    fn codec(&self) -> Codec;
    /// For an MX format (one E8M0 byte per block of minifloat or integer elements): its
    /// element and typed settings, which `qlab check` compares others' output against.
    fn mx(&self, _s: &Settings) -> Option<Result<(Element, crate::core::format::MxConfig)>> {
        None
    }
    /// Whether its operands have scales to show on the block-scales screen.
    fn has_scales(&self) -> bool {
        true
    }
    /// What its scales are, in one phrase, for a screen that shows block scales.
    fn scales_in_words(&self) -> &'static str;
    /// Every step of output element `y[m][n]`: codes, scales, integer dots, the sum.
    fn trace(&self, t: &TraceInput) -> (Vec<TraceStep>, f32);
    /// The extra arrays `qlab quantize` can write for this family.
    fn outputs(&self) -> &'static [Output] {
        &[]
    }
    /// One extra array of a quantized operand: its shape and its `.npy` bytes. `shape` is the
    /// input's own shape (1-D or 2-D).
    fn output(&self, _q: &dyn Quantized, name: &str, _shape: &[usize]) -> Result<Vec<u8>> {
        Err(Error::Invalid(format!(
            "--{name} does not apply to --format {}",
            self.name()
        )))
    }
}

impl fmt::Debug for dyn Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq for dyn Family {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

/// The shape of a per-row output array (scales, packed bytes) with `n` entries per row: a 1-D
/// input keeps it 1-D.
pub fn per_row_shape(input: &[usize], rows: usize, n: usize) -> Vec<usize> {
    if input.len() == 1 {
        vec![n]
    } else {
        vec![rows, n]
    }
}

/// An extra output of `qlab quantize` (`--codes`, `--scales`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Output {
    /// The option, without its dashes.
    pub name: &'static str,
    pub help: &'static str,
}

/// An operand after quantization, in the orientation it was quantized in (rows along K).
pub trait Quantized: fmt::Debug + Send + Sync {
    /// The values the codes stand for, `rows × k`.
    fn dequantize(&self) -> Matrix;
    /// Elements the quantizer saturated at the end of the grid.
    fn clipped(&self, original: &Matrix) -> usize;
    /// Blocks whose scale is NaN (they held NaN or ±inf).
    fn nan_blocks(&self) -> usize {
        0
    }
    /// Storage cost per element of an operand of `elements` elements: codes plus scales (and
    /// zero points).
    fn bits_per_element(&self, elements: usize) -> f64;
    /// How often each code is used, indexed as [`Codec`] describes.
    fn code_counts(&self) -> Vec<u64>;
    /// The E8M0 scale bytes, for families that have them (empty otherwise).
    fn scale_bytes(&self) -> &[u8] {
        &[]
    }
    /// Per-element noise variance of the uniform-noise model (Δ²/12, Δ the local step).
    fn noise(&self, original: &Matrix) -> Vec<f64>;
    /// The block structure, for families with per-block scales.
    fn blocks(&self) -> Option<&dyn Blocks> {
        None
    }
    /// The operand as scaled integers, for the segment GEMM of a mixed pair; `None` for an
    /// elementwise format (bf16, fp16, f32), which multiplies as f64.
    fn fixed(&self) -> Option<crate::core::kernel::segments::Fixed> {
        None
    }
    /// [`Quantized::fixed`] as bytes, for the SIMD block kernel, where the family has a fast
    /// way to it and every integer lies in −127..=127 (INT4, INT8); `None` otherwise.
    fn fixed8(&self) -> Option<crate::core::format::fixed::Fixed8> {
        None
    }
    fn as_any(&self) -> &dyn Any;
}

/// A quantized operand with one scale per block (or group, or row) of K, as the block-scales
/// screen shows it: E8M0 powers of two, NVFP4's E4M3 scales, INT and FP8's f32 scales.
pub trait Blocks {
    fn rows(&self) -> usize;
    fn k(&self) -> usize;
    /// Elements per block (the last block of a row may be shorter).
    fn block(&self) -> usize;
    fn blocks_per_row(&self) -> usize;
    /// The scale of block `j` of row `r`, as its format writes it (`0x7f = 2^0`,
    /// `0x1f = 0.1171875`, `0.0123 (f32)`).
    fn scale_text(&self, r: usize, j: usize) -> String;
    /// ⌊log2⌋ of its scale, for the heat map; `None` for a NaN scale.
    fn exponent(&self, r: usize, j: usize) -> Option<i32>;
    /// The scale itself (NaN for a NaN scale).
    fn scale(&self, r: usize, j: usize) -> f64;
    /// The code of element `k` of row `r`, as text (`7`, `0x3e`, `-5`).
    fn code_text(&self, r: usize, k: usize) -> String;
    /// What element `k` of row `r` is worth, in units of its block's scale.
    fn element_value(&self, r: usize, k: usize) -> f64;
    /// The largest magnitude an element reaches, in units of its scale.
    fn unit_max(&self) -> f64;
    /// Elements of block `j` of row `r` that clipped.
    fn clipped_in_block(&self, original: &Matrix, r: usize, j: usize) -> usize {
        let s = self.scale(r, j);
        if !s.is_finite() {
            return 0;
        }
        let limit = self.unit_max() * s;
        let span = j * self.block()..((j + 1) * self.block()).min(self.k());
        original.row(r)[span]
            .iter()
            .filter(|v| f64::from(v.abs()) > limit)
            .count()
    }
}

/// ⌊log2 s⌋ of a positive finite scale, exactly from its bits.
pub fn floor_log2(s: f64) -> Option<i32> {
    (s > 0.0 && s.is_finite()).then(|| {
        let bits = s.to_bits();
        let field = ((bits >> 52) & 0x7FF) as i32;
        if field == 0 {
            -1022 - ((bits & ((1 << 52) - 1)).leading_zeros() as i32 - 12)
        } else {
            field - 1023
        }
    })
}

/// `0x7f = 2^0`, `0xff = NaN`: an E8M0 byte as the screens show it.
pub fn e8m0_text(byte: u8) -> String {
    match crate::core::codec::e8m0::exponent(byte) {
        Some(e) => format!("{byte:#04x} = 2^{e}"),
        None => format!("{byte:#04x} = NaN"),
    }
}

/// How a family's codes look on the screens.
#[derive(Clone, Copy, Debug)]
pub enum Codec {
    /// A minifloat element: `codes` codes, each worth `decode(code)` times its block's scale;
    /// drawn on a number line, with the occupancy of every code.
    Minifloat {
        name: &'static str,
        codes: u16,
        decode: fn(u8) -> f32,
        /// The largest value.
        max: f32,
        /// The block scales' format (`E8M0`).
        scale_name: &'static str,
    },
    /// Integer codes `lo..=hi`, drawn as a histogram.
    Integer {
        name: &'static str,
        lo: i32,
        hi: i32,
    },
    /// An elementwise float (bf16, fp16) or f32 itself: no code table to draw.
    Plain { name: &'static str, bits: u32 },
}

/// What a trace of one output element needs.
pub struct TraceInput<'a> {
    /// The unquantized W (`M × K`) and x (`K × N`).
    pub w: &'a Matrix,
    pub x: &'a Matrix,
    /// The quantized W and xᵀ.
    pub qw: &'a dyn Quantized,
    pub qx: &'a dyn Quantized,
    pub gemm: &'a Settings,
    pub m: usize,
    pub n: usize,
}

/// Elements shown per operand row in a trace, and blocks shown in a block format's trace.
pub const TRACE_ELEMENTS: usize = 8;
pub const TRACE_BLOCKS: usize = 6;

/// The first [`TRACE_ELEMENTS`] items as a list, and how many more there are.
pub fn preview<T>(items: impl Iterator<Item = T>, total: usize, f: impl Fn(T) -> String) -> String {
    let shown: Vec<String> = items.take(TRACE_ELEMENTS).map(f).collect();
    let more = if total > TRACE_ELEMENTS {
        format!(", … ({} more)", total - TRACE_ELEMENTS)
    } else {
        String::new()
    };
    format!("[{}{more}]", shown.join(", "))
}

/// One step of a trace: a title and its lines.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceStep {
    pub title: String,
    pub lines: Vec<String>,
}

impl TraceStep {
    pub fn new(title: impl Into<String>) -> TraceStep {
        TraceStep {
            title: title.into(),
            lines: Vec::new(),
        }
    }

    pub fn line(&mut self, s: impl Into<String>) {
        self.lines.push(s.into());
    }
}

/// One quantization to compare: a format and its settings for W, one for x (the same family
/// unless the variant chose them apart: W4A8, or x left in f32), and the GEMM's settings.
#[derive(Clone, Debug)]
pub struct Variant {
    pub label: String,
    pub w_format: &'static dyn Family,
    pub x_format: &'static dyn Family,
    /// W's settings (of `w_format`'s knobs) and x's (of `x_format`'s).
    pub w: Settings,
    pub x: Settings,
    /// The GEMM knobs of both formats.
    pub gemm: Settings,
}

impl PartialEq for Variant {
    fn eq(&self, o: &Self) -> bool {
        self.label == o.label
            && self.w_format == o.w_format
            && self.x_format == o.x_format
            && self.w == o.w
            && self.x == o.x
            && self.gemm == o.gemm
    }
}

impl serde::Serialize for Variant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Variant", 1)?;
        st.serialize_field("label", &self.label)?;
        st.end()
    }
}

impl Variant {
    /// `family` for both operands with every setting at its default, and the default label.
    pub fn defaults(family: &'static dyn Family) -> Variant {
        Variant::pair(family, family)
    }

    /// W in `w_format` and x in `x_format`, every setting at its default.
    pub fn pair(w_format: &'static dyn Family, x_format: &'static dyn Family) -> Variant {
        let mut gemm = Settings::defaults(w_format.knobs(), Role::W, true);
        for (k, v) in Settings::defaults(x_format.knobs(), Role::W, true).iter() {
            if gemm.get(k).is_none() {
                gemm.set(k, v.to_string());
            }
        }
        let mut v = Variant {
            label: String::new(),
            w_format,
            x_format,
            w: Settings::defaults(w_format.knobs(), Role::W, false),
            x: Settings::defaults(x_format.knobs(), Role::X, false),
            gemm,
        };
        v.label = v.default_label();
        v
    }

    /// Whether W and x are in one family rather than two.
    pub fn is_mixed(&self) -> bool {
        self.w_format != self.x_format
    }

    /// Whether the family's own GEMM multiplies the pair (one family, settings it pairs).
    pub fn own_gemm(&self) -> bool {
        !self.is_mixed() && self.w_format.pairs(&self.w, &self.x)
    }

    /// The format of operand `role`.
    pub fn format(&self, role: Role) -> &'static dyn Family {
        match role {
            Role::W => self.w_format,
            Role::X => self.x_format,
        }
    }

    /// The name for a `format` column: the family's, or `w·x` for a mixed pair.
    pub fn format_name(&self) -> String {
        if self.is_mixed() {
            format!("{}·{}", self.w_format.name(), self.x_format.name())
        } else {
            self.w_format.name().to_string()
        }
    }

    /// Every knob of either format, each key once (W's first).
    pub fn knobs(&self) -> Vec<&'static Knob> {
        let mut out: Vec<&'static Knob> = Vec::new();
        for f in [self.w_format, self.x_format] {
            for k in f.knobs() {
                if !out.iter().any(|o| o.key == k.key) {
                    out.push(k);
                }
            }
        }
        out
    }

    /// The settings of operand `role`.
    pub fn operand(&self, role: Role) -> &Settings {
        match role {
            Role::W => &self.w,
            Role::X => &self.x,
        }
    }

    /// The value of `knob` for `role` (the GEMM's for a GEMM knob). An operand whose format
    /// lacks the knob reports the knob's default.
    pub fn value(&self, knob: &Knob, role: Role) -> &str {
        let s = if knob.scope == Scope::Gemm {
            &self.gemm
        } else {
            self.operand(role)
        };
        s.get(knob.key).unwrap_or_else(|| knob.default(role))
    }

    /// Whether operand `role`'s format has a knob like `knob` that takes `value` (same key;
    /// MXINT8's scale rule takes no `even` although MXFP4's does).
    pub fn takes(&self, knob: &Knob, role: Role, value: &str) -> bool {
        self.format(role)
            .knobs()
            .iter()
            .any(|k| k.key == knob.key && k.parse(value).is_ok())
    }

    /// Sets `knob` for `role`; a shared knob for both operands (those whose format takes the
    /// value).
    pub fn set(&mut self, knob: &Knob, role: Role, value: String) {
        match knob.scope {
            Scope::Gemm => self.gemm.set(knob.key, value),
            Scope::Shared => {
                if self.takes(knob, Role::W, &value) {
                    self.w.set(knob.key, value.clone());
                }
                if self.takes(knob, Role::X, &value) {
                    self.x.set(knob.key, value);
                }
            }
            Scope::PerOperand => match role {
                Role::W => self.w.set(knob.key, value),
                Role::X => self.x.set(knob.key, value),
            },
        }
    }

    /// The label the settings give: the family's rule, or `w … · x …` for a mixed pair.
    pub fn default_label(&self) -> String {
        if !self.own_gemm() {
            format!(
                "w {} · x {}",
                self.w_format.operand_label(&self.w, Role::W),
                self.x_format.operand_label(&self.x, Role::X)
            )
        } else {
            self.w_format.label(self)
        }
    }

    /// Checks both operands' data and quantizes them: W (`M × K`) and xᵀ (`N × K`); `x` is
    /// the untransposed x, so that messages give indices in its own orientation.
    pub fn quantize(
        &self,
        w: &Matrix,
        x: &Matrix,
        xt: &Matrix,
    ) -> Result<(Box<dyn Quantized>, Box<dyn Quantized>)> {
        self.w_format.check_input(w, "W")?;
        self.x_format.check_input(x, "x")?;
        Ok((
            self.w_format.quantize(w, &self.w)?,
            self.x_format.quantize(xt, &self.x)?,
        ))
    }

    /// y = W · x from the two quantized operands: the family's own GEMM, or for a mixed pair
    /// the segment GEMM (both scaled integers) or the f64 product of the dequantized operands
    /// (either elementwise or unquantized), rounded to f32.
    pub fn gemm(&self, qw: &dyn Quantized, qx: &dyn Quantized) -> Matrix {
        if self.own_gemm() {
            return self.w_format.gemm(qw, qx, &self.gemm);
        }
        mixed_gemm(qw, qx, &self.gemm)
    }

    /// Every step of `y[m][n]`.
    pub fn trace(&self, t: &TraceInput) -> (Vec<TraceStep>, f32) {
        if self.own_gemm() {
            return self.w_format.trace(t);
        }
        mixed_trace(t)
    }
}

/// The accumulator a GEMM's settings choose (f32 unless `accumulator = "f64"`).
pub fn accumulator(gemm: &Settings) -> crate::core::kernel::Accumulator {
    gemm.get("accumulator")
        .and_then(|a| a.parse().ok())
        .unwrap_or_default()
}

/// The GEMM of two INT operands (INT4; INT8 with groups) by INT's rule: the SIMD block
/// kernel on their bytes when it applies, else the portable rule.
pub fn int_rule_gemm(w: &dyn Quantized, xt: &dyn Quantized) -> Matrix {
    use crate::core::kernel::scaled_i8;
    if let (Some(a), Some(b)) = (w.fixed8(), xt.fixed8())
        && let Some(y) = scaled_i8::int_rule(crate::core::simd::active(), &a, &b)
    {
        return y;
    }
    let fixed = |q: &dyn Quantized| q.fixed().expect("INT operands are scaled integers");
    crate::core::format::int_group::gemm(&fixed(w), &fixed(xt))
}

/// The GEMM of two operands of different families (DESIGN §7).
pub fn mixed_gemm(qw: &dyn Quantized, qx: &dyn Quantized, gemm: &Settings) -> Matrix {
    use crate::core::kernel::{reference, scaled_i8, segments};
    let acc = accumulator(gemm);
    if let (Some(a), Some(b)) = (qw.fixed8(), qx.fixed8())
        && let Some(y) = scaled_i8::segment_rule(crate::core::simd::active(), &a, &b, acc)
    {
        return y;
    }
    match (qw.fixed(), qx.fixed()) {
        (Some(a), Some(b)) => segments::gemm(&a, &b, acc),
        _ => {
            let (w, xt) = (qw.dequantize(), qx.dequantize());
            let y: Vec<f32> = reference::gemm_f64(&w, &xt)
                .iter()
                .map(|&v| v as f32)
                .collect();
            Matrix::new(w.rows(), xt.rows(), y).expect("M × N values")
        }
    }
}

/// The trace of a mixed pair's `y[m][n]`: the segment terms, or the f64 dot of the dequantized
/// operands.
pub fn mixed_trace(t: &TraceInput) -> (Vec<TraceStep>, f32) {
    match (t.qw.fixed(), t.qx.fixed()) {
        (Some(a), Some(b)) => segment_trace(t, &a, &b),
        _ => {
            let (w, xt) = (t.qw.dequantize(), t.qx.dequantize());
            let mut s = TraceStep::new(format!(
                "f64 dot of the dequantized W row {} and x column {}",
                t.m, t.n
            ));
            s.line(format!(
                "W {}",
                preview(
                    w.row(t.m).iter(),
                    w.cols(),
                    std::string::ToString::to_string
                )
            ));
            s.line(format!(
                "x {}",
                preview(
                    xt.row(t.n).iter(),
                    xt.cols(),
                    std::string::ToString::to_string
                )
            ));
            let dot: f64 = w
                .row(t.m)
                .iter()
                .zip(xt.row(t.n))
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            let y = dot as f32;
            s.line(format!("Σ = {dot} → f32 {y}"));
            (vec![s], y)
        }
    }
}

/// The trace of a segment GEMM: each operand's integers and scales per range of the common
/// refinement, the exact dot, the scaled term rounded once to f32, the running sum.
pub fn segment_trace(
    t: &TraceInput,
    a: &crate::core::kernel::segments::Fixed,
    b: &crate::core::kernel::segments::Fixed,
) -> (Vec<TraceStep>, f32) {
    use crate::core::kernel::segments;
    let acc = accumulator(t.gemm);
    let terms = segments::terms(a, b, t.m, t.n);
    let mut s = TraceStep::new(format!(
        "W row {} and x column {} as integers · 2^−frac · scale (W frac {}, x frac {}), {} \
         ranges where both scales hold",
        t.m,
        t.n,
        a.frac,
        b.frac,
        terms.len()
    ));
    for (j, term) in terms.iter().take(TRACE_BLOCKS).enumerate() {
        let span = term.start..term.end;
        let ints = |f: &segments::Fixed, r: usize| {
            preview(
                f.row(r)[span.clone()].iter(),
                span.len(),
                std::string::ToString::to_string,
            )
        };
        s.line(format!(
            "range {j} (k {}..{}): W scale {}, ints {}",
            term.start,
            term.end,
            term.scale_a,
            ints(a, t.m)
        ));
        s.line(format!(
            "          x scale {}, ints {}",
            term.scale_b,
            ints(b, t.n)
        ));
    }
    if terms.len() > TRACE_BLOCKS {
        s.line(format!("… {} more ranges", terms.len() - TRACE_BLOCKS));
    }
    let mut steps = vec![s];
    let mut s = TraceStep::new(format!(
        "Per range: exact integer dot · 2^−(fw+fx) · sW · sx, rounded once to f32, summed in {acc}"
    ));
    let mut running32 = 0.0f32;
    let mut running64 = 0.0f64;
    for (j, term) in terms.iter().enumerate() {
        running32 += term.value;
        running64 += f64::from(term.value);
        if j < TRACE_BLOCKS {
            let sum = match acc {
                crate::core::kernel::Accumulator::F32 => f64::from(running32),
                crate::core::kernel::Accumulator::F64 => running64,
            };
            s.line(format!(
                "range {j}: Σ = {} → {} → sum {sum}",
                term.dot, term.value
            ));
        }
    }
    if terms.len() > TRACE_BLOCKS {
        let sum = match acc {
            crate::core::kernel::Accumulator::F32 => f64::from(running32),
            crate::core::kernel::Accumulator::F64 => running64,
        };
        s.line(format!(
            "… {} more ranges, each added the same way → final sum {sum}",
            terms.len() - TRACE_BLOCKS
        ));
    }
    steps.push(s);
    let y = segments::accumulate(terms.iter().map(|t| t.value), acc);
    (steps, y)
}

/// An operand's label from its settings: the family's name, then every setting that differs
/// from its default (`b16`, `rceil`, `symmetric`, `g64`).
pub fn settings_label(name: &str, knobs: &[Knob], s: &Settings, role: Role) -> String {
    let mut out = name.to_string();
    for k in knobs.iter().filter(|k| k.scope != Scope::Gemm) {
        let Some(v) = s.get(k.key) else { continue };
        if v == k.default(role) || k.kind == Kind::Seed {
            continue;
        }
        match k.kind {
            Kind::BlockSize => out.push_str(&format!(" b{v}")),
            Kind::Count => out.push_str(&format!(" g{v}")),
            Kind::Bool => out.push_str(&format!(" {}={v}", k.key)),
            _ => out.push_str(&format!(" {v}")),
        }
    }
    out
}

/// The variants compared when a scenario lists none: the families that say so (INT8 and
/// MXFP4), at their defaults.
pub fn default_variants() -> Vec<Variant> {
    REGISTRY
        .iter()
        .filter(|f| f.in_default_comparison())
        .map(|&f| Variant::defaults(f))
        .collect()
}

/// The knob of `family` with file key `key` (`block_size`, `w_scheme`), and the operand it
/// names (`None` for a shared or GEMM knob, which `key` sets for both or for the GEMM).
pub fn knob_for_key(family: &dyn Family, key: &str) -> Option<(&'static Knob, Option<Role>)> {
    family
        .knobs()
        .iter()
        .find_map(|k| k.matches(key).map(|r| (k, r)))
}

/// Every file key of every family, in registry order without repeats: what a `[[variants]]`
/// table may hold besides `label` and `format`.
pub fn all_keys() -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let mut push = |key: String| {
        if !keys.contains(&key) {
            keys.push(key);
        }
    };
    for f in REGISTRY {
        for k in f.knobs() {
            for key in k.file_keys() {
                push(key);
            }
        }
    }
    // A shared knob set for one operand of a mixed pair: `w_block_size`, `x_scale_rule`.
    for f in REGISTRY {
        for k in f.knobs().iter().filter(|k| k.scope == Scope::Shared) {
            push(format!("w_{}", k.key));
            push(format!("x_{}", k.key));
        }
    }
    keys
}

/// The families that have a knob with file key `key`.
pub fn families_with(key: &str) -> Vec<&'static dyn Family> {
    REGISTRY
        .iter()
        .copied()
        .filter(|f| knob_for_key(*f, key).is_some())
        .collect()
}
