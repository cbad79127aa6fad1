//! NVFP4 (`nvfp4`): E2M1 elements, an E4M3 scale per block of 16 and, two-level, an f32
//! scale per tensor; the GEMM of exact integer block dots times (s_a · s_b) / 4, summed in
//! f32 and multiplied by both tensor scales at the end.

use std::any::Any;

use super::{
    Blocks, Codec, Family, Kind, Knob, Output, Quantized, Scope, Settings, TRACE_BLOCKS,
    TraceInput, TraceStep, Variant,
};
use crate::core::codec::minifloat::E2M1;
use crate::core::data::npy::{NpyData, encode};
use crate::core::error::{Error, Result};
use crate::core::format::e2m1;
use crate::core::format::nvfp4::{self, BLOCK, Nvfp4Matrix};
use crate::core::kernel::{Accumulator, segments};
use crate::core::matrix::Matrix;
use crate::core::metrics::{model, occupancy};

/// The NVFP4 family.
pub struct Nvfp4;

const KNOBS: &[Knob] = &[
    Knob {
        key: "two_level",
        noun: "two-level scaling",
        help: "true: an f32 scale per tensor times an E4M3 scale per block of 16 (the default); \
               false: the E4M3 block scale alone",
        kind: Kind::Bool,
        scope: Scope::Shared,
        defaults: ["true", "true"],
        steps: &["true", "false"],
        axis: true,
        requires: None,
    },
    Knob {
        key: "accumulator",
        noun: "accumulator",
        help: "sum across blocks in f32 (as tensor cores do) or f64",
        kind: Kind::Choice(&["f32", "f64"]),
        scope: Scope::Gemm,
        defaults: ["f32", "f32"],
        steps: &["f32", "f64"],
        axis: true,
        requires: None,
    },
];

fn nv(q: &dyn Quantized) -> &Nvfp4Matrix {
    q.as_any()
        .downcast_ref()
        .expect("an NVFP4 GEMM multiplies NVFP4 operands")
}

impl Family for Nvfp4 {
    fn name(&self) -> &'static str {
        "nvfp4"
    }

    fn title(&self) -> &'static str {
        "NVFP4"
    }

    fn knobs(&self) -> &'static [Knob] {
        KNOBS
    }

    fn unrepresentable(&self, data: &[f32]) -> Option<usize> {
        crate::core::simd::first_non_finite(crate::core::simd::active(), data)
    }

    fn remedy(&self) -> &'static str {
        "remove NaN/Inf or use an MX format (its NaN blocks stay NaN)"
    }

    fn quantize(&self, m: &Matrix, s: &Settings) -> Result<Box<dyn Quantized>> {
        if let Some(i) = self.unrepresentable(m.data()) {
            return Err(Error::Value(super::cannot_quantize(
                self,
                m.data()[i],
                &format!("{i}"),
            )));
        }
        Ok(Box::new(Nvfp4Matrix::quantize(
            m,
            s.value("two_level") == "true",
        )))
    }

    fn gemm(&self, w: &dyn Quantized, xt: &dyn Quantized, gemm: &Settings) -> Matrix {
        nvfp4::gemm(nv(w), nv(xt), super::accumulator(gemm) == Accumulator::F64)
    }

    /// `nvfp4`, `nvfp4 single-level`, and `acc64` for the f64 accumulator.
    fn label(&self, v: &Variant) -> String {
        let mut s = String::from("nvfp4");
        if v.w.value("two_level") == "false" || v.x.value("two_level") == "false" {
            s.push_str(" single-level");
        }
        if super::accumulator(&v.gemm) == Accumulator::F64 {
            s.push_str(" acc64");
        }
        s
    }

    fn operand_label(&self, s: &Settings, _role: crate::core::data::distribution::Role) -> String {
        if s.value("two_level") == "false" {
            "nvfp4 single-level".into()
        } else {
            "nvfp4".into()
        }
    }

    fn codec(&self) -> Codec {
        Codec::Minifloat {
            name: "E2M1",
            codes: 16,
            decode: e2m1::decode,
            max: e2m1::MAX,
            scale_name: "E4M3",
        }
    }

    fn scales_in_words(&self) -> &'static str {
        "one E4M3 scale per block of 16, times an f32 scale per tensor"
    }

    fn trace(&self, t: &TraceInput) -> (Vec<TraceStep>, f32) {
        let (a, b) = (nv(t.qw), nv(t.qx));
        let (m, n) = (t.m, t.n);
        let acc = super::accumulator(t.gemm);
        let blocks = a.blocks_per_row();
        let mut s = TraceStep::new(format!(
            "Quantize W row {m} and x column {n} to NVFP4 ({blocks} blocks of {BLOCK}; tensor \
             scales W {} · x {})",
            a.tensor_scale(),
            b.tensor_scale()
        ));
        for j in 0..blocks.min(TRACE_BLOCKS) {
            let span = j * BLOCK..((j + 1) * BLOCK).min(a.k());
            let codes = |q: &Nvfp4Matrix, r: usize| {
                super::preview(q.row_codes(r)[span.clone()].iter(), span.len(), |&c| {
                    e2m1::decode(c).to_string()
                })
            };
            s.line(format!(
                "block {j}: W scale {:#04x} = {}, P {}",
                a.row_scales(m)[j],
                a.block_scale(m, j),
                codes(a, m)
            ));
            s.line(format!(
                "         x scale {:#04x} = {}, P {}",
                b.row_scales(n)[j],
                b.block_scale(n, j),
                codes(b, n)
            ));
        }
        if blocks > TRACE_BLOCKS {
            s.line(format!("… {} more blocks", blocks - TRACE_BLOCKS));
        }
        let mut steps = vec![s];
        let mut s = TraceStep::new(format!(
            "Per block: Σ(2Pw)(2Px) · (sw · sx) / 4, summed in {acc}"
        ));
        let mut run32 = 0.0f32;
        let mut run64 = 0.0f64;
        for j in 0..blocks {
            let (dot, scale) = nvfp4::block_term(a, b, m, n, j);
            let term = dot as f32 * scale;
            run32 += term;
            run64 += f64::from(term);
            if j < TRACE_BLOCKS {
                let sum = if acc == Accumulator::F64 {
                    run64
                } else {
                    f64::from(run32)
                };
                s.line(format!("block {j}: {dot} · {scale} = {term} → sum {sum}"));
            }
        }
        if blocks > TRACE_BLOCKS {
            let sum = if acc == Accumulator::F64 {
                run64
            } else {
                f64::from(run32)
            };
            s.line(format!(
                "… {} more blocks, each added the same way → final sum {sum}",
                blocks - TRACE_BLOCKS
            ));
        }
        steps.push(s);
        let sum = if acc == Accumulator::F64 {
            run64 as f32
        } else {
            run32
        };
        let tensor = a.tensor_scale() * b.tensor_scale();
        let y = sum * tensor;
        let mut s = TraceStep::new("Tensor scales");
        s.line(format!("y = {sum} · (stW · stx = {tensor}) = {y}"));
        steps.push(s);
        (steps, y)
    }

    fn outputs(&self) -> &'static [Output] {
        &[
            Output {
                name: "codes",
                help: "NVFP4: one E2M1 code per element (u8), the input's shape",
            },
            Output {
                name: "scales",
                help: "NVFP4: the E4M3 block-scale bytes (u8), rows × ceil(K / 16)",
            },
            Output {
                name: "tensor-scale",
                help: "NVFP4: the per-tensor scale (f32 scalar; 1 single-level)",
            },
        ]
    }

    fn output(&self, q: &dyn Quantized, name: &str, shape: &[usize]) -> Result<Vec<u8>> {
        let q = nv(q);
        let per_row = |n: usize| super::per_row_shape(shape, q.rows(), n);
        Ok(match name {
            "codes" => encode(shape, &NpyData::U8(q.codes())),
            "scales" => encode(&per_row(q.blocks_per_row()), &NpyData::U8(q.scales())),
            "tensor-scale" => encode(&[], &NpyData::F32(&[q.tensor_scale()])),
            other => {
                return Err(Error::Invalid(format!(
                    "--{other} does not apply to --format nvfp4"
                )));
            }
        })
    }
}

impl Quantized for Nvfp4Matrix {
    fn dequantize(&self) -> Matrix {
        Nvfp4Matrix::dequantize(self)
    }

    fn clipped(&self, original: &Matrix) -> usize {
        Nvfp4Matrix::clipped(self, original)
    }

    fn bits_per_element(&self, elements: usize) -> f64 {
        (4.0 * self.codes().len() as f64
            + 8.0 * self.scales().len() as f64
            + if self.two_level() { 32.0 } else { 0.0 })
            / elements.max(1) as f64
    }

    fn code_counts(&self) -> Vec<u64> {
        occupancy::e2m1_counts(self.codes())
    }

    fn scale_bytes(&self) -> &[u8] {
        self.scales()
    }

    fn noise(&self, original: &Matrix) -> Vec<f64> {
        let mut v = Vec::with_capacity(original.len());
        for r in 0..self.rows() {
            for (k, &x) in original.row(r).iter().enumerate() {
                v.push(model::element_noise(
                    &E2M1,
                    f64::from(self.total(r, k / BLOCK)),
                    x,
                ));
            }
        }
        v
    }

    fn blocks(&self) -> Option<&dyn Blocks> {
        Some(self)
    }

    fn fixed(&self) -> Option<segments::Fixed> {
        Some(Nvfp4Matrix::fixed(self))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Blocks for Nvfp4Matrix {
    fn rows(&self) -> usize {
        Nvfp4Matrix::rows(self)
    }

    fn k(&self) -> usize {
        Nvfp4Matrix::k(self)
    }

    fn block(&self) -> usize {
        BLOCK
    }

    fn blocks_per_row(&self) -> usize {
        Nvfp4Matrix::blocks_per_row(self)
    }

    fn scale_text(&self, r: usize, j: usize) -> String {
        let byte = self.row_scales(r)[j];
        if self.two_level() {
            format!(
                "E4M3 {byte:#04x} = {} · st {:.3e}",
                self.block_scale(r, j),
                self.tensor_scale()
            )
        } else {
            format!("E4M3 {byte:#04x} = {}", self.block_scale(r, j))
        }
    }

    /// ⌊log2⌋ of the block's total scale, for the heat map.
    fn exponent(&self, r: usize, j: usize) -> Option<i32> {
        super::floor_log2(self.scale(r, j))
    }

    fn scale(&self, r: usize, j: usize) -> f64 {
        f64::from(self.total(r, j))
    }

    fn code_text(&self, r: usize, k: usize) -> String {
        format!("{:X}", self.row_codes(r)[k])
    }

    fn element_value(&self, r: usize, k: usize) -> f64 {
        f64::from(e2m1::decode(self.row_codes(r)[k]))
    }

    fn unit_max(&self) -> f64 {
        6.0
    }
}
