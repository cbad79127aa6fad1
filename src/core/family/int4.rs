//! INT4 (`int4`): affine 4-bit integers with one scale (and zero point) per group of K
//! (`group_size`, 128 by default), per channel or per tensor; asymmetric (codes 0..=15) by
//! default, or symmetric (−7..=7). The GEMM is INT8's rule per range of the common refinement
//! of the two operands' groups. The group helpers here serve INT8's `granularity = "group"`
//! too.

use std::any::Any;

use super::{
    Codec, Family, Kind, Knob, Output, Quantized, Scope, Settings, TRACE_BLOCKS, TraceInput,
    TraceStep, Variant,
};
use crate::core::data::npy::{NpyData, encode};
use crate::core::error::{Error, Result};
use crate::core::format::Rounding;
use crate::core::format::int_group::{Grouping, IntGroupConfig, IntGroupMatrix};
use crate::core::matrix::Matrix;
use crate::core::metrics::occupancy;

/// The INT4 family.
pub struct Int4;

/// The group size knob, shared with INT8.
pub const GROUP_SIZE: Knob = Knob {
    key: "group_size",
    noun: "group size",
    help: "elements per scale along K with granularity group (the last group of a row may be \
           shorter)",
    kind: Kind::Count,
    scope: Scope::PerOperand,
    defaults: ["128", "128"],
    steps: &["32", "64", "128", "256"],
    axis: true,
    requires: Some(("granularity", "group")),
};

const KNOBS: &[Knob] = &[
    Knob {
        key: "scheme",
        noun: "scheme",
        help: "asymmetric (codes 0…15 and a zero point; the range always holds 0) or symmetric \
               (codes −7…7)",
        kind: Kind::Choice(&["asymmetric", "symmetric"]),
        scope: Scope::PerOperand,
        defaults: ["asymmetric", "asymmetric"],
        steps: &["asymmetric", "symmetric"],
        axis: true,
        requires: None,
    },
    Knob {
        key: "granularity",
        noun: "granularity",
        help: "group (one scale per group_size elements of K), channel (per row of W, per \
               column of x: per token) or tensor",
        kind: Kind::Choice(&["group", "channel", "tensor"]),
        scope: Scope::PerOperand,
        defaults: ["group", "group"],
        steps: &["group", "channel", "tensor"],
        axis: true,
        requires: None,
    },
    GROUP_SIZE,
];

/// The grouping an operand's settings give.
pub fn grouping(s: &Settings) -> Result<Grouping> {
    Ok(match s.value("granularity") {
        "tensor" => Grouping::Tensor,
        "channel" => Grouping::Channel,
        "group" => Grouping::Group(s.value("group_size").parse().map_err(|_| {
            Error::Invalid(format!(
                "invalid group size '{}'; expected an integer ≥ 1",
                crate::core::text::echo(s.value("group_size"))
            ))
        })?),
        other => {
            return Err(Error::Invalid(format!(
                "unknown granularity '{}'; expected group, channel or tensor",
                crate::core::text::echo(other)
            )));
        }
    })
}

pub fn grouped(q: &dyn Quantized) -> Option<&IntGroupMatrix> {
    q.as_any().downcast_ref()
}

/// The trace of `y[m][n]` for two affine integer operands: per range of the common refinement,
/// the integer dot of (q − zp), times sW · sx in f32, summed in f32.
pub fn trace_groups(t: &TraceInput, name: &str) -> (Vec<TraceStep>, f32) {
    let (Some(a), Some(b)) = (t.qw.fixed(), t.qx.fixed()) else {
        return super::mixed_trace(t);
    };
    let (m, n) = (t.m, t.n);
    let mut s = TraceStep::new(format!(
        "W row {m} and x column {n} in {name}: q − zp per element, one scale per segment (W \
         {}, x {} elements)",
        a.seg, b.seg
    ));
    let (ra, rb) = (a.row(m), b.row(n));
    let mut start = 0;
    let mut acc = 0.0f32;
    let mut shown = 0;
    let mut hidden = 0;
    let mut dots = TraceStep::new("Per range: integer dot · (sW · sx), summed in f32");
    while start < a.k {
        let end = ((start / a.seg + 1) * a.seg)
            .min((start / b.seg + 1) * b.seg)
            .min(a.k);
        let dot: i64 = ra[start..end]
            .iter()
            .zip(&rb[start..end])
            .map(|(&p, &q)| p * q)
            .sum();
        let scale = (a.scale(m, start) as f32) * (b.scale(n, start) as f32);
        acc += dot as f32 * scale;
        if shown < TRACE_BLOCKS {
            let ints = |r: &[i64]| {
                super::preview(
                    r[start..end].iter(),
                    end - start,
                    std::string::ToString::to_string,
                )
            };
            s.line(format!(
                "k {start}..{end}: W scale {} ints {}",
                a.scale(m, start),
                ints(ra)
            ));
            s.line(format!(
                "          x scale {} ints {}",
                b.scale(n, start),
                ints(rb)
            ));
            dots.line(format!("k {start}..{end}: {dot} · {scale} → sum {acc}"));
            shown += 1;
        } else {
            hidden += 1;
        }
        start = end;
    }
    if hidden > 0 {
        s.line(format!("… {hidden} more ranges"));
        dots.line(format!(
            "… {hidden} more ranges, each added the same way → final sum {acc}"
        ));
    }
    (vec![s, dots], acc)
}

/// `--codes`, `--scales`, `--zero-points` of a grouped operand.
pub fn group_output(
    q: &IntGroupMatrix,
    name: &str,
    shape: &[usize],
    format: &str,
) -> Result<Vec<u8>> {
    let n = q.params().len();
    let per = if n == 1 {
        vec![1]
    } else if shape.len() == 1 {
        vec![q.segments_per_row()]
    } else {
        vec![q.rows(), q.segments_per_row()]
    };
    Ok(match name {
        "codes" => encode(shape, &NpyData::I8(q.codes())),
        "scales" => {
            let s: Vec<f32> = q.params().iter().map(|p| p.scale).collect();
            encode(&per, &NpyData::F32(&s))
        }
        "zero-points" => {
            let z: Vec<i32> = q.params().iter().map(|p| p.zero_point).collect();
            encode(&per, &NpyData::I32(&z))
        }
        other => {
            return Err(Error::Invalid(format!(
                "--{other} does not apply to --format {format}"
            )));
        }
    })
}

impl Family for Int4 {
    fn name(&self) -> &'static str {
        "int4"
    }

    fn title(&self) -> &'static str {
        "INT4"
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
        let config = IntGroupConfig {
            bits: 4,
            scheme: s.value("scheme").parse()?,
            grouping: grouping(s)?,
            rounding: Rounding::HalfEven,
        };
        Ok(Box::new(IntGroupMatrix::quantize(m, config)?))
    }

    fn gemm(&self, w: &dyn Quantized, xt: &dyn Quantized, _gemm: &Settings) -> Matrix {
        super::int_rule_gemm(w, xt)
    }

    /// `int4 g128`, then what differs from the defaults (`w:symmetric`, `x:channel`).
    fn label(&self, v: &Variant) -> String {
        let shape = |s: &Settings| match s.value("granularity") {
            "group" => format!("g{}", s.value("group_size")),
            other => other.to_string(),
        };
        let (w, x) = (shape(&v.w), shape(&v.x));
        let mut out = if w == x {
            format!("int4 {w}")
        } else {
            format!("int4 w:{w} x:{x}")
        };
        for (name, s) in [("w", &v.w), ("x", &v.x)] {
            if s.value("scheme") == "symmetric" {
                out.push_str(&format!(" {name}:symmetric"));
            }
        }
        out
    }

    fn codec(&self) -> Codec {
        Codec::Integer {
            name: "INT4",
            lo: -8,
            hi: 15,
        }
    }

    fn scales_in_words(&self) -> &'static str {
        "one f32 scale and zero point per group of K, per channel or per tensor"
    }

    fn trace(&self, t: &TraceInput) -> (Vec<TraceStep>, f32) {
        trace_groups(t, "INT4")
    }

    fn outputs(&self) -> &'static [Output] {
        &[
            Output {
                name: "codes",
                help: "INT4: the codes q (i8), the input's shape",
            },
            Output {
                name: "scales",
                help: "INT4: the scales (f32), rows × ceil(K / group) (one per row or tensor)",
            },
            Output {
                name: "zero-points",
                help: "INT4: the zero points (i32), shaped like the scales",
            },
        ]
    }

    fn output(&self, q: &dyn Quantized, name: &str, shape: &[usize]) -> Result<Vec<u8>> {
        let q = grouped(q).expect("an INT4 operand");
        group_output(q, name, shape, "int4")
    }
}

impl Quantized for IntGroupMatrix {
    fn dequantize(&self) -> Matrix {
        IntGroupMatrix::dequantize(self)
    }

    fn clipped(&self, original: &Matrix) -> usize {
        IntGroupMatrix::clipped(self, original)
    }

    /// The codes plus an f32 scale and (asymmetric) an i32 zero point per segment.
    fn bits_per_element(&self, elements: usize) -> f64 {
        let c = self.config();
        let per_param = if c.scheme == crate::core::format::Scheme::Asymmetric {
            64.0
        } else {
            32.0
        };
        (f64::from(c.bits) * self.codes().len() as f64 + per_param * self.params().len() as f64)
            / elements.max(1) as f64
    }

    /// INT4: indexed by code + 8 (codes −8…15: the symmetric and asymmetric ranges);
    /// INT8: by code + 128.
    fn code_counts(&self) -> Vec<u64> {
        if self.config().bits == 4 {
            let mut c = vec![0u64; 24];
            for &q in self.codes() {
                c[(i32::from(q) + 8) as usize] += 1;
            }
            c
        } else {
            occupancy::int8_counts(self.codes())
        }
    }

    fn noise(&self, _original: &Matrix) -> Vec<f64> {
        let mut v = Vec::with_capacity(self.codes().len());
        for r in 0..self.rows() {
            for c in 0..self.k() {
                let s = f64::from(self.param(r, c).scale);
                v.push(s * s / 12.0);
            }
        }
        v
    }

    fn fixed(&self) -> Option<crate::core::format::fixed::Fixed> {
        Some(IntGroupMatrix::fixed(self))
    }

    fn fixed8(&self) -> Option<crate::core::format::fixed::Fixed8> {
        IntGroupMatrix::fixed8(self)
    }

    fn blocks(&self) -> Option<&dyn super::Blocks> {
        Some(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl super::Blocks for IntGroupMatrix {
    fn rows(&self) -> usize {
        IntGroupMatrix::rows(self)
    }

    fn k(&self) -> usize {
        IntGroupMatrix::k(self)
    }

    fn block(&self) -> usize {
        self.segment()
    }

    fn blocks_per_row(&self) -> usize {
        self.segments_per_row()
    }

    fn scale_text(&self, r: usize, j: usize) -> String {
        let p = self.param(r, j * self.segment());
        format!("f32 scale {:.4e}, zp {}", p.scale, p.zero_point)
    }

    fn exponent(&self, r: usize, j: usize) -> Option<i32> {
        super::floor_log2(self.scale(r, j))
    }

    fn scale(&self, r: usize, j: usize) -> f64 {
        f64::from(self.param(r, j * self.segment()).scale)
    }

    fn code_text(&self, r: usize, k: usize) -> String {
        self.row_codes(r)[k].to_string()
    }

    fn element_value(&self, r: usize, k: usize) -> f64 {
        f64::from(i32::from(self.row_codes(r)[k]) - self.param(r, k).zero_point)
    }

    fn unit_max(&self) -> f64 {
        let (lo, hi) = self.config().code_range();
        f64::from(hi - lo)
    }

    fn clipped_in_block(&self, original: &Matrix, r: usize, j: usize) -> usize {
        let c = self.config();
        let (qmin, qmax) = c.code_range();
        let span = j * self.segment()..((j + 1) * self.segment()).min(self.k());
        span.filter(|&k| {
            let q = self.param(r, k).unclamped(
                original.row(r)[k],
                c.rounding,
                (r * self.k() + k) as u64,
            );
            q < qmin as f32 || q > qmax as f32
        })
        .count()
    }
}
