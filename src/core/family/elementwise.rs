//! The elementwise baselines `bf16`, `fp16` and `f32` (unquantized, as an activation choice:
//! W4A16 is `w_format = "int4"`, `x_format = "bf16"`). No scales, no settings; the GEMM is the
//! f64 product of the rounded operands, rounded to f32.

use std::any::Any;

use super::{Codec, Family, Knob, Output, Quantized, Settings, TraceInput, TraceStep, Variant};
use crate::core::data::npy::{NpyData, encode};
use crate::core::error::{Error, Result};
use crate::core::format::elementwise::{ElementwiseMatrix, Kind};
use crate::core::matrix::Matrix;

/// One elementwise family.
pub struct Elementwise {
    pub name: &'static str,
    pub title: &'static str,
    pub kind: Kind,
}

pub static BF16: Elementwise = Elementwise {
    name: "bf16",
    title: "bf16",
    kind: Kind::Bf16,
};
pub static FP16: Elementwise = Elementwise {
    name: "fp16",
    title: "fp16",
    kind: Kind::Fp16,
};
pub static F32: Elementwise = Elementwise {
    name: "f32",
    title: "f32 (unquantized)",
    kind: Kind::F32,
};

fn ew(q: &dyn Quantized) -> &ElementwiseMatrix {
    q.as_any()
        .downcast_ref()
        .expect("an elementwise GEMM multiplies elementwise operands")
}

impl Family for Elementwise {
    fn name(&self) -> &'static str {
        self.name
    }

    fn title(&self) -> &'static str {
        self.title
    }

    fn knobs(&self) -> &'static [Knob] {
        &[]
    }

    fn quantize(&self, m: &Matrix, _s: &Settings) -> Result<Box<dyn Quantized>> {
        Ok(Box::new(ElementwiseMatrix::quantize(self.kind, m)))
    }

    fn gemm(&self, w: &dyn Quantized, xt: &dyn Quantized, gemm: &Settings) -> Matrix {
        super::mixed_gemm(w, xt, gemm)
    }

    fn label(&self, _v: &Variant) -> String {
        self.name.to_string()
    }

    fn codec(&self) -> Codec {
        Codec::Plain {
            name: self.name,
            bits: self.kind.bits(),
        }
    }

    fn has_scales(&self) -> bool {
        false
    }

    fn scales_in_words(&self) -> &'static str {
        match self.kind {
            Kind::F32 => "unquantized: the values as they are, no scales",
            _ => "no scales: every element is rounded on its own",
        }
    }

    fn trace(&self, t: &TraceInput) -> (Vec<TraceStep>, f32) {
        super::mixed_trace(t)
    }

    fn outputs(&self) -> &'static [Output] {
        if self.kind == Kind::F32 {
            return &[];
        }
        &[Output {
            name: "codes",
            help: "bf16/fp16: the 16-bit patterns (u16), the input's shape",
        }]
    }

    fn output(&self, q: &dyn Quantized, name: &str, shape: &[usize]) -> Result<Vec<u8>> {
        let q = ew(q);
        match name {
            "codes" if q.kind() != Kind::F32 => Ok(encode(shape, &NpyData::U16(q.codes()))),
            other => Err(Error::Invalid(format!(
                "--{other} does not apply to --format {}",
                self.name
            ))),
        }
    }
}

impl Quantized for ElementwiseMatrix {
    fn dequantize(&self) -> Matrix {
        self.values().clone()
    }

    fn clipped(&self, original: &Matrix) -> usize {
        ElementwiseMatrix::clipped(self, original)
    }

    fn bits_per_element(&self, _elements: usize) -> f64 {
        f64::from(self.kind().bits())
    }

    fn code_counts(&self) -> Vec<u64> {
        Vec::new()
    }

    fn noise(&self, original: &Matrix) -> Vec<f64> {
        if self.kind() == Kind::F32 {
            return vec![0.0; original.len()];
        }
        original
            .data()
            .iter()
            .map(|&v| self.kind().step_at(v).powi(2) / 12.0)
            .collect()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
