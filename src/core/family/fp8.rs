//! FP8 with a real scale (`fp8-e4m3`, `fp8-e5m2`): one f32 scale per tensor (the default) or
//! per channel, E4M3 or E5M2 elements; the segment GEMM (one segment per row: the exact
//! integer dot times both scales, rounded once to f32).

use std::any::Any;

use super::{
    Codec, Family, Kind, Knob, Output, Quantized, Scope, Settings, TraceInput, TraceStep, Variant,
};
use crate::core::codec::minifloat::{self, Element};
use crate::core::data::npy::{NpyData, encode};
use crate::core::error::{Error, Result};
use crate::core::format::scaled_fp8::Fp8Matrix;
use crate::core::kernel::segments;
use crate::core::matrix::Matrix;
use crate::core::metrics::{model, occupancy};

/// One FP8 family: its name and its element.
pub struct Fp8 {
    pub name: &'static str,
    pub title: &'static str,
    pub element: Element,
    pub decode: fn(u8) -> f32,
}

pub static FP8_E4M3: Fp8 = Fp8 {
    name: "fp8-e4m3",
    title: "FP8 (E4M3)",
    element: minifloat::E4M3,
    decode: minifloat::decode_e4m3,
};
pub static FP8_E5M2: Fp8 = Fp8 {
    name: "fp8-e5m2",
    title: "FP8 (E5M2)",
    element: minifloat::E5M2,
    decode: minifloat::decode_e5m2,
};

const KNOBS: &[Knob] = &[Knob {
    key: "granularity",
    noun: "granularity",
    help: "tensor (one f32 scale, amax / max) or channel (one per row of W, per column of x: \
           per token)",
    kind: Kind::Choice(&["tensor", "channel"]),
    scope: Scope::PerOperand,
    defaults: ["tensor", "tensor"],
    steps: &["tensor", "channel"],
    axis: true,
    requires: None,
}];

fn fp8(q: &dyn Quantized) -> &Fp8Matrix {
    q.as_any()
        .downcast_ref()
        .expect("an FP8 GEMM multiplies FP8 operands")
}

impl Family for Fp8 {
    fn name(&self) -> &'static str {
        self.name
    }

    fn title(&self) -> &'static str {
        self.title
    }

    fn knobs(&self) -> &'static [Knob] {
        KNOBS
    }

    fn unrepresentable(&self, data: &[f32]) -> Option<usize> {
        crate::core::simd::first_non_finite(crate::core::simd::active(), data)
    }

    fn remedy(&self) -> &'static str {
        "remove NaN/Inf or use an MX format"
    }

    fn quantize(&self, m: &Matrix, s: &Settings) -> Result<Box<dyn Quantized>> {
        if let Some(i) = self.unrepresentable(m.data()) {
            return Err(Error::Value(super::cannot_quantize(
                self,
                m.data()[i],
                &i.to_string(),
            )));
        }
        Ok(Box::new(Fp8Matrix::quantize(
            self.element,
            m,
            s.value("granularity") == "channel",
        )))
    }

    fn gemm(&self, w: &dyn Quantized, xt: &dyn Quantized, gemm: &Settings) -> Matrix {
        segments::gemm_recycling(fp8(w).fixed(), fp8(xt).fixed(), super::accumulator(gemm))
    }

    /// `fp8-e4m3`, then `w:channel` / `x:channel`.
    fn label(&self, v: &Variant) -> String {
        let mut s = self.name.to_string();
        for (name, settings) in [("w", &v.w), ("x", &v.x)] {
            if settings.value("granularity") == "channel" {
                s.push_str(&format!(" {name}:channel"));
            }
        }
        s
    }

    fn codec(&self) -> Codec {
        Codec::Minifloat {
            name: self.element.name,
            codes: self.element.codes(),
            decode: self.decode,
            max: self.element.max() as f32,
            scale_name: "f32",
        }
    }

    fn scales_in_words(&self) -> &'static str {
        "one f32 scale (amax / max) per tensor or per channel"
    }

    fn trace(&self, t: &TraceInput) -> (Vec<TraceStep>, f32) {
        super::segment_trace(t, &fp8(t.qw).fixed(), &fp8(t.qx).fixed())
    }

    fn outputs(&self) -> &'static [Output] {
        &[
            Output {
                name: "codes",
                help: "FP8: one element code per element (u8 bit pattern), the input's shape",
            },
            Output {
                name: "scales",
                help: "FP8: the f32 scales, one per tensor or per row",
            },
        ]
    }

    fn output(&self, q: &dyn Quantized, name: &str, shape: &[usize]) -> Result<Vec<u8>> {
        let q = fp8(q);
        Ok(match name {
            "codes" => encode(shape, &NpyData::U8(q.codes())),
            "scales" => encode(&[q.scales().len()], &NpyData::F32(q.scales())),
            other => {
                return Err(Error::Invalid(format!(
                    "--{other} does not apply to --format {}",
                    self.name
                )));
            }
        })
    }
}

impl Quantized for Fp8Matrix {
    fn dequantize(&self) -> Matrix {
        Fp8Matrix::dequantize(self)
    }

    fn clipped(&self, original: &Matrix) -> usize {
        Fp8Matrix::clipped(self, original)
    }

    fn bits_per_element(&self, elements: usize) -> f64 {
        (8.0 * self.codes().len() as f64 + 32.0 * self.scales().len() as f64)
            / elements.max(1) as f64
    }

    fn code_counts(&self) -> Vec<u64> {
        occupancy::code_counts(self.codes(), 256)
    }

    fn noise(&self, original: &Matrix) -> Vec<f64> {
        let mut v = Vec::with_capacity(original.len());
        for r in 0..self.rows() {
            let s = f64::from(self.row_scale(r));
            for &x in original.row(r) {
                v.push(model::element_noise(self.element(), s, x));
            }
        }
        v
    }

    fn fixed(&self) -> Option<segments::Fixed> {
        Some(Fp8Matrix::fixed(self))
    }

    fn blocks(&self) -> Option<&dyn super::Blocks> {
        Some(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// One f32 scale per row (the tensor's, repeated), one block per row.
impl super::Blocks for Fp8Matrix {
    fn rows(&self) -> usize {
        Fp8Matrix::rows(self)
    }

    fn k(&self) -> usize {
        Fp8Matrix::k(self)
    }

    fn block(&self) -> usize {
        Fp8Matrix::k(self).max(1)
    }

    fn blocks_per_row(&self) -> usize {
        1
    }

    fn scale_text(&self, r: usize, _j: usize) -> String {
        format!("f32 scale {:.4e}", self.row_scale(r))
    }

    fn exponent(&self, r: usize, _j: usize) -> Option<i32> {
        super::floor_log2(f64::from(self.row_scale(r)))
    }

    fn scale(&self, r: usize, _j: usize) -> f64 {
        f64::from(self.row_scale(r))
    }

    fn code_text(&self, r: usize, k: usize) -> String {
        format!("{:02X}", self.codes()[r * self.k() + k])
    }

    fn element_value(&self, r: usize, k: usize) -> f64 {
        f64::from(self.element().decode(self.codes()[r * self.k() + k]))
    }

    fn unit_max(&self) -> f64 {
        self.element().max()
    }
}
