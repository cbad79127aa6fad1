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

pub mod int8;
pub mod knob;
pub mod mxfp4;

use std::any::Any;
use std::fmt;

pub use knob::{Kind, Knob, Scope, Settings};

use crate::core::data::distribution::Role;
use crate::core::error::{Error, Result};
use crate::core::matrix::Matrix;

/// Every family, in the order the help, the messages and the default variants list them.
pub static REGISTRY: &[&dyn Family] = &[&int8::Int8, &mxfp4::Mxfp4];

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
        Error::Invalid(format!(
            "unknown format '{}'; expected {}",
            crate::core::text::echo(name),
            knob::one_of(&names())
        ))
    })
}

/// `INT8 cannot quantize NaN at index (0, 3); remove NaN/Inf or use MXFP4`.
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
    /// The exact GEMM of two operands this family quantized: y = W · x, `M × N`.
    fn gemm(&self, w: &dyn Quantized, xt: &dyn Quantized, gemm: &Settings) -> Matrix;
    /// The default label of a variant: the name and what differs from the defaults.
    fn label(&self, v: &Variant) -> String;
    /// How its codes look on the screens.
    fn codec(&self) -> Codec;
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
    fn as_any(&self) -> &dyn Any;
}

/// A quantized operand with one power-of-two scale per block of K, as the block-scales screen
/// shows it.
pub trait Blocks {
    fn rows(&self) -> usize;
    fn k(&self) -> usize;
    /// Elements per block (the last block of a row may be shorter).
    fn block(&self) -> usize;
    fn blocks_per_row(&self) -> usize;
    /// The scale byte of block `j` of row `r`.
    fn scale_byte(&self, r: usize, j: usize) -> u8;
    /// Its exponent e (scale 2^e); `None` for a NaN scale.
    fn exponent(&self, r: usize, j: usize) -> Option<i32>;
    /// The scale itself (NaN for a NaN scale).
    fn scale(&self, r: usize, j: usize) -> f64;
    /// The code of element `k` of row `r`.
    fn code(&self, r: usize, k: usize) -> u8;
    /// What a code is worth, in units of its block's scale.
    fn code_value(&self, code: u8) -> f32;
    /// Elements of block `j` of row `r` that clipped.
    fn clipped_in_block(&self, original: &Matrix, r: usize, j: usize) -> usize;
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

/// One quantization to compare: a family and its settings, for W, for x and for the GEMM.
#[derive(Clone, Debug)]
pub struct Variant {
    pub label: String,
    pub family: &'static dyn Family,
    pub w: Settings,
    pub x: Settings,
    pub gemm: Settings,
}

impl PartialEq for Variant {
    fn eq(&self, o: &Self) -> bool {
        self.label == o.label
            && self.family == o.family
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
    /// `family` with every setting at its default, and the default label.
    pub fn defaults(family: &'static dyn Family) -> Variant {
        let mut v = Variant {
            label: String::new(),
            family,
            w: Settings::defaults(family.knobs(), Role::W, false),
            x: Settings::defaults(family.knobs(), Role::X, false),
            gemm: Settings::defaults(family.knobs(), Role::W, true),
        };
        v.label = family.label(&v);
        v
    }

    /// The settings of operand `role`.
    pub fn operand(&self, role: Role) -> &Settings {
        match role {
            Role::W => &self.w,
            Role::X => &self.x,
        }
    }

    /// The value of `knob` for `role` (the GEMM's for a GEMM knob).
    pub fn value(&self, knob: &Knob, role: Role) -> &str {
        let s = if knob.scope == Scope::Gemm {
            &self.gemm
        } else {
            self.operand(role)
        };
        s.get(knob.key).unwrap_or_else(|| knob.default(role))
    }

    /// Sets `knob` for `role`; a shared knob for both operands.
    pub fn set(&mut self, knob: &Knob, role: Role, value: String) {
        match knob.scope {
            Scope::Gemm => self.gemm.set(knob.key, value),
            Scope::Shared => {
                self.w.set(knob.key, value.clone());
                self.x.set(knob.key, value);
            }
            Scope::PerOperand => match role {
                Role::W => self.w.set(knob.key, value),
                Role::X => self.x.set(knob.key, value),
            },
        }
    }

    /// The label the settings give (the family's rule).
    pub fn default_label(&self) -> String {
        self.family.label(self)
    }
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
    for f in REGISTRY {
        for k in f.knobs() {
            for key in k.file_keys() {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
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
