//! The MX formats beside MXFP4 — `mxfp8-e4m3` (alias `mxfp8`), `mxfp8-e5m2`, `mxfp6-e2m3`
//! (alias `mxfp6`), `mxfp6-e3m2`, `mxint8` — one module, five registry rows: an element
//! format, one E8M0 scale per block of K, MXFP4's settings, and the segment GEMM (per block,
//! the exact integer dot, times 2^(ea + eb), rounded once to f32, summed in f32 or f64).

use std::any::Any;

use super::{
    Blocks, Codec, Family, Knob, Output, Quantized, Settings, TraceInput, TraceStep, Variant,
};
use crate::core::codec::minifloat::{self, Element};
use crate::core::data::npy::{NpyData, encode};
use crate::core::error::{Error, Result};
use crate::core::format::e8m0;
use crate::core::format::mx_element::MxElementMatrix;
use crate::core::kernel::segments;
use crate::core::matrix::Matrix;
use crate::core::metrics::{model, occupancy};

/// One MX family: its names and its element.
pub struct MxElement {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub title: &'static str,
    pub element: Element,
    /// `element.decode` as a plain function, for the screens' codec description.
    pub decode: fn(u8) -> f32,
    pub knobs: &'static [Knob],
}

/// MXINT8's settings: MXFP4's, without the `even` scale rule (an integer element has no
/// mantissa to round to even) and without `signed_zero`.
const MXINT8_KNOBS: &[Knob] = &[
    super::mxfp4::KNOBS[0],
    Knob {
        help: "shared exponent: floor (OCP spec), ceil or rceil (cuBLAS); no even for an \
               integer element",
        kind: super::Kind::Choice(&["floor", "ceil", "rceil"]),
        steps: &["floor", "ceil", "rceil"],
        ..super::mxfp4::KNOBS[1]
    },
    super::mxfp4::KNOBS[2],
    super::mxfp4::KNOBS[3],
    // No signed_zero: a two's complement element has one zero.
    super::mxfp4::KNOBS[5],
];

pub static MXFP8_E4M3: MxElement = MxElement {
    name: "mxfp8-e4m3",
    aliases: &["mxfp8"],
    title: "MXFP8 (E4M3)",
    element: minifloat::E4M3,
    decode: minifloat::decode_e4m3,
    knobs: super::mxfp4::KNOBS,
};
pub static MXFP8_E5M2: MxElement = MxElement {
    name: "mxfp8-e5m2",
    aliases: &[],
    title: "MXFP8 (E5M2)",
    element: minifloat::E5M2,
    decode: minifloat::decode_e5m2,
    knobs: super::mxfp4::KNOBS,
};
pub static MXFP6_E2M3: MxElement = MxElement {
    name: "mxfp6-e2m3",
    aliases: &["mxfp6"],
    title: "MXFP6 (E2M3)",
    element: minifloat::E2M3,
    decode: minifloat::decode_e2m3,
    knobs: super::mxfp4::KNOBS,
};
pub static MXFP6_E3M2: MxElement = MxElement {
    name: "mxfp6-e3m2",
    aliases: &[],
    title: "MXFP6 (E3M2)",
    element: minifloat::E3M2,
    decode: minifloat::decode_e3m2,
    knobs: super::mxfp4::KNOBS,
};
pub static MXINT8: MxElement = MxElement {
    name: "mxint8",
    aliases: &[],
    title: "MXINT8",
    element: minifloat::INT8,
    decode: minifloat::decode_int8,
    knobs: MXINT8_KNOBS,
};

fn mx(q: &dyn Quantized) -> &MxElementMatrix {
    q.as_any()
        .downcast_ref()
        .expect("an MX GEMM multiplies MX operands")
}

impl Family for MxElement {
    fn name(&self) -> &'static str {
        self.name
    }

    fn aliases(&self) -> &'static [&'static str] {
        self.aliases
    }

    fn title(&self) -> &'static str {
        self.title
    }

    fn knobs(&self) -> &'static [Knob] {
        self.knobs
    }

    fn quantize(&self, m: &Matrix, s: &Settings) -> Result<Box<dyn Quantized>> {
        Ok(Box::new(MxElementMatrix::quantize(
            self.element,
            m,
            super::mxfp4::config(s)?,
        )?))
    }

    fn pairs(&self, w: &Settings, x: &Settings) -> bool {
        w.get("block_size") == x.get("block_size")
    }

    fn gemm(&self, w: &dyn Quantized, xt: &dyn Quantized, gemm: &Settings) -> Matrix {
        crate::core::kernel::mx_int::gemm(mx(w), mx(xt), super::accumulator(gemm))
    }

    /// `mxfp8-e4m3 b32 floor`, and `acc64` for the f64 accumulator.
    fn label(&self, v: &Variant) -> String {
        let mut s = format!(
            "{} b{} {}",
            self.name,
            v.w.value("block_size"),
            v.w.value("scale_rule")
        );
        s.push_str(&super::mxfp4::dialect_label(&v.w));
        if super::accumulator(&v.gemm) == crate::core::kernel::Accumulator::F64 {
            s.push_str(" acc64");
        }
        s
    }

    fn codec(&self) -> Codec {
        Codec::Minifloat {
            name: self.element.name,
            codes: self.element.codes(),
            decode: self.decode,
            max: self.element.max() as f32,
            scale_name: "E8M0",
        }
    }

    fn mx(&self, s: &Settings) -> Option<Result<(Element, crate::core::format::MxConfig)>> {
        Some(super::mxfp4::config(s).map(|c| (self.element, c)))
    }

    fn scales_in_words(&self) -> &'static str {
        "one E8M0 power-of-two scale per block of K"
    }

    fn trace(&self, t: &TraceInput) -> (Vec<TraceStep>, f32) {
        super::segment_trace(t, &mx(t.qw).fixed(), &mx(t.qx).fixed())
    }

    fn outputs(&self) -> &'static [Output] {
        &[
            Output {
                name: "codes",
                help: "MX: one element code per element (u8 bit pattern), the input's shape",
            },
            Output {
                name: "scales",
                help: "MX: the E8M0 bytes (u8), rows × ceil(K / block)",
            },
        ]
    }

    fn output(&self, q: &dyn Quantized, name: &str, shape: &[usize]) -> Result<Vec<u8>> {
        let q = mx(q);
        let per_row = |n: usize| super::per_row_shape(shape, q.rows(), n);
        Ok(match name {
            "codes" => encode(shape, &NpyData::U8(q.codes())),
            "scales" => encode(&per_row(q.blocks_per_row()), &NpyData::U8(q.scales())),
            other => {
                return Err(Error::Invalid(format!(
                    "--{other} does not apply to --format {}",
                    self.name
                )));
            }
        })
    }
}

impl Quantized for MxElementMatrix {
    fn dequantize(&self) -> Matrix {
        MxElementMatrix::dequantize(self)
    }

    fn clipped(&self, original: &Matrix) -> usize {
        MxElementMatrix::clipped(self, original)
    }

    fn nan_blocks(&self) -> usize {
        MxElementMatrix::nan_blocks(self)
    }

    fn bits_per_element(&self, elements: usize) -> f64 {
        (f64::from(self.element().bits) * self.codes().len() as f64
            + 8.0 * self.scales().len() as f64)
            / elements.max(1) as f64
    }

    fn code_counts(&self) -> Vec<u64> {
        occupancy::code_counts(self.codes(), usize::from(self.element().codes()))
    }

    fn scale_bytes(&self) -> &[u8] {
        self.scales()
    }

    fn noise(&self, original: &Matrix) -> Vec<f64> {
        let mut v = Vec::with_capacity(original.len());
        for r in 0..self.rows() {
            let scales = self.row_scales(r);
            for (k, &x) in original.row(r).iter().enumerate() {
                let s = e8m0::to_f64(scales[k / self.block()]);
                v.push(model::element_noise(self.element(), s, x));
            }
        }
        v
    }

    fn blocks(&self) -> Option<&dyn Blocks> {
        Some(self)
    }

    fn fixed(&self) -> Option<segments::Fixed> {
        Some(MxElementMatrix::fixed(self))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Blocks for MxElementMatrix {
    fn rows(&self) -> usize {
        MxElementMatrix::rows(self)
    }

    fn k(&self) -> usize {
        MxElementMatrix::k(self)
    }

    fn block(&self) -> usize {
        MxElementMatrix::block(self)
    }

    fn blocks_per_row(&self) -> usize {
        MxElementMatrix::blocks_per_row(self)
    }

    fn scale_text(&self, r: usize, j: usize) -> String {
        super::e8m0_text(self.row_scales(r)[j])
    }

    fn exponent(&self, r: usize, j: usize) -> Option<i32> {
        e8m0::exponent(self.row_scales(r)[j])
    }

    fn scale(&self, r: usize, j: usize) -> f64 {
        e8m0::to_f64(self.row_scales(r)[j])
    }

    fn code_text(&self, r: usize, k: usize) -> String {
        format!("{:02X}", self.row_codes(r)[k])
    }

    fn element_value(&self, r: usize, k: usize) -> f64 {
        f64::from(self.element().decode(self.row_codes(r)[k]))
    }

    fn unit_max(&self) -> f64 {
        self.element().max()
    }
}
