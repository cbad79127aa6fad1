//! INT8 affine (`int8`): a real scale and an integer zero point per tensor or per channel;
//! the integer GEMM with gemmlowp's zero-point correction.

use std::any::Any;

use super::{
    Blocks, Codec, Family, Kind, Knob, Output, Quantized, Scope, Settings, TraceInput, TraceStep,
    Variant,
};
use crate::core::data::distribution::Role;
use crate::core::data::npy::{NpyData, encode};
use crate::core::error::{Error, Result};
use crate::core::format::int_group::{IntGroupConfig, IntGroupMatrix};
use crate::core::format::{self, Granularity, Int8Config, Int8Matrix, Rounding};
use crate::core::kernel::int8 as kernel;
use crate::core::matrix::Matrix;
use crate::core::metrics::{model, occupancy};

/// The INT8 family.
pub struct Int8;

const KNOBS: &[Knob] = &[
    Knob {
        key: "scheme",
        noun: "scheme",
        help: "asymmetric (a zero point; the range always holds 0) or symmetric (zero point 0, \
               codes −127…127)",
        kind: Kind::Choice(&["asymmetric", "symmetric"]),
        scope: Scope::PerOperand,
        defaults: ["asymmetric", "symmetric"],
        steps: &["asymmetric", "symmetric"],
        axis: true,
        requires: None,
    },
    Knob {
        key: "granularity",
        noun: "granularity",
        help: "tensor (one scale), channel (one per row of W, per column of x: per token) or \
               group (one per group_size elements of K)",
        kind: Kind::Choice(&["tensor", "channel", "group"]),
        scope: Scope::PerOperand,
        defaults: ["tensor", "tensor"],
        steps: &["tensor", "channel", "group"],
        axis: true,
        requires: None,
    },
    Knob {
        key: "rounding",
        noun: "rounding",
        help: "rounding of value / scale: half-even (ONNX, PyTorch), half-away (gemmlowp), \
               floor, stochastic",
        kind: Kind::Choice(&["half-even", "half-away", "floor", "stochastic"]),
        scope: Scope::Shared,
        defaults: ["half-even", "half-even"],
        steps: &["half-even", "half-away", "floor", "stochastic"],
        axis: true,
        requires: None,
    },
    Knob {
        key: "seed",
        noun: "seed",
        help: "seed of stochastic rounding",
        kind: Kind::Seed,
        scope: Scope::Shared,
        defaults: ["0", "0"],
        steps: &[],
        axis: false,
        requires: Some(("rounding", "stochastic")),
    },
    super::int4::GROUP_SIZE,
];

/// The typed settings of one operand.
pub fn config(s: &Settings) -> Result<Int8Config> {
    let seed = s
        .value("seed")
        .parse()
        .map_err(|_| Error::Invalid(format!("invalid seed '{}'", s.value("seed"))))?;
    Ok(Int8Config {
        scheme: s.value("scheme").parse()?,
        granularity: s.value("granularity").parse()?,
        rounding: Rounding::parse(s.value("rounding"), seed)?,
    })
}

/// The settings of a typed configuration (the inverse of [`config`]).
pub fn settings(c: Int8Config) -> Settings {
    let mut s = Settings::defaults(KNOBS, Role::W, false);
    s.set("scheme", c.scheme.name().into());
    s.set("granularity", c.granularity.name().into());
    s.set("rounding", c.rounding.name().into());
    if let Rounding::Stochastic { seed } = c.rounding {
        s.set("seed", seed.to_string());
    }
    s
}

fn int8(q: &dyn Quantized) -> &Int8Matrix {
    as_int8(q).expect("an INT8 GEMM multiplies INT8 operands")
}

fn as_int8(q: &dyn Quantized) -> Option<&Int8Matrix> {
    q.as_any().downcast_ref()
}

/// The settings with a per-tensor granularity, for the parts of [`config`] a grouped operand
/// shares with the others (scheme, rounding).
fn without_group(s: &Settings) -> Settings {
    let mut s = s.clone();
    s.set("granularity", "tensor".into());
    s
}

impl Family for Int8 {
    fn name(&self) -> &'static str {
        "int8"
    }

    fn title(&self) -> &'static str {
        "INT8"
    }

    fn knobs(&self) -> &'static [Knob] {
        KNOBS
    }

    fn in_default_comparison(&self) -> bool {
        true
    }

    fn unrepresentable(&self, data: &[f32]) -> Option<usize> {
        crate::core::simd::first_non_finite(crate::core::simd::active(), data)
    }

    fn remedy(&self) -> &'static str {
        "remove NaN/Inf or use an MX format"
    }

    fn quantize(&self, m: &Matrix, s: &Settings) -> Result<Box<dyn Quantized>> {
        if s.value("granularity") == "group" {
            let c = config(&without_group(s))?;
            let config = IntGroupConfig {
                bits: 8,
                scheme: c.scheme,
                grouping: super::int4::grouping(s)?,
                rounding: c.rounding,
            };
            format::int8::check_finite("input", m)?;
            return Ok(Box::new(IntGroupMatrix::quantize(m, config)?));
        }
        Ok(Box::new(Int8Matrix::quantize(m, config(s)?)?))
    }

    /// The integer kernel for per-tensor and per-channel operands; with groups on either
    /// side, INT8's rule per range of the common refinement.
    fn gemm(&self, w: &dyn Quantized, xt: &dyn Quantized, _gemm: &Settings) -> Matrix {
        match (as_int8(w), as_int8(xt)) {
            (Some(a), Some(b)) => kernel::gemm(a, b),
            _ => super::int_rule_gemm(w, xt),
        }
    }

    /// `int8`, then what differs from the defaults: `w:symmetric`, `w:channel`,
    /// `x:asymmetric`, `x:channel`, the rounding.
    fn label(&self, v: &Variant) -> String {
        let mut s = String::from("int8");
        for (name, settings, default_scheme) in
            [("w", &v.w, "asymmetric"), ("x", &v.x, "symmetric")]
        {
            let scheme = settings.value("scheme");
            if scheme != default_scheme {
                s.push_str(&format!(" {name}:{scheme}"));
            }
            match settings.value("granularity") {
                "tensor" => {}
                "group" => s.push_str(&format!(" {name}:g{}", settings.value("group_size"))),
                other => s.push_str(&format!(" {name}:{other}")),
            }
        }
        let rounding = v.w.value("rounding");
        if rounding != "half-even" {
            s.push_str(&format!(" {rounding}"));
        }
        s
    }

    fn codec(&self) -> Codec {
        Codec::Integer {
            name: "INT8",
            lo: -128,
            hi: 127,
        }
    }

    fn scales_in_words(&self) -> &'static str {
        "one scale per tensor or per channel"
    }

    fn trace(&self, t: &TraceInput) -> (Vec<TraceStep>, f32) {
        let (Some(qw), Some(qx)) = (as_int8(t.qw), as_int8(t.qx)) else {
            return super::int4::trace_groups(t, "INT8");
        };
        let (m, n) = (t.m, t.n);
        let k = t.w.cols();
        let x_col: Vec<f32> = (0..k).map(|i| t.x.get(i, n)).collect();
        let mut steps = Vec::new();
        let (pw, px) = (qw.row_params(m), qx.row_params(n));
        for (name, vals, codes, p, idx) in [
            ("W", t.w.row(m), qw.row_codes(m), pw, format!("row {m}")),
            ("x", &x_col[..], qx.row_codes(n), px, format!("column {n}")),
        ] {
            let mut s = TraceStep::new(format!("Quantize {name} {idx} to INT8"));
            s.line(format!("scale {} · zero-point {}", p.scale, p.zero_point));
            s.line(format!(
                "values {}",
                super::preview(vals.iter(), k, std::string::ToString::to_string)
            ));
            s.line(format!(
                "codes  {}",
                super::preview(codes.iter(), k, std::string::ToString::to_string)
            ));
            steps.push(s);
        }
        let w_sum: i64 = qw.row_codes(m).iter().map(|&q| i64::from(q)).sum();
        let x_sum: i64 = qx.row_codes(n).iter().map(|&q| i64::from(q)).sum();
        let c = kernel::cell(qw, qx, m, n, w_sum, x_sum);
        let mut s = TraceStep::new("Integer dot product");
        s.line(format!("acc = Σ qW·qx over K = {k}: {}", c.acc));
        steps.push(s);
        let (zw, zx) = (i64::from(pw.zero_point), i64::from(px.zero_point));
        let mut s = TraceStep::new("Zero-point correction (gemmlowp's terms)");
        s.line(format!("-zW · Σqx = {} · {x_sum} = {}", -zw, -zw * x_sum));
        s.line(format!("-zx · ΣqW = {} · {w_sum} = {}", -zx, -zx * w_sum));
        s.line(format!(
            "K · zW · zx = {k} · {zw} · {zx} = {}",
            k as i64 * zw * zx
        ));
        s.line(format!(
            "corrected = {} + {} = {}",
            c.acc, c.correction, c.corrected
        ));
        steps.push(s);
        let mut s = TraceStep::new("De-quantize");
        s.line(format!(
            "y = corrected · (sW · sx) = {} · {} = {}",
            c.corrected, c.scale, c.y
        ));
        steps.push(s);
        (steps, c.y)
    }

    fn outputs(&self) -> &'static [Output] {
        &[
            Output {
                name: "codes",
                help: "INT8: the codes (i8), the input's shape",
            },
            Output {
                name: "scales",
                help: "INT8: the scales (f32), one per tensor or row",
            },
            Output {
                name: "zero-points",
                help: "INT8: the zero points (i32), one per tensor or row",
            },
        ]
    }

    fn output(&self, q: &dyn Quantized, name: &str, shape: &[usize]) -> Result<Vec<u8>> {
        if let Some(g) = super::int4::grouped(q) {
            return super::int4::group_output(g, name, shape, "int8");
        }
        let q = int8(q);
        let n = q.params().len();
        Ok(match name {
            "codes" => encode(shape, &NpyData::I8(q.codes())),
            "scales" => {
                let scales: Vec<f32> = q.params().iter().map(|p| p.scale).collect();
                encode(&[n], &NpyData::F32(&scales))
            }
            "zero-points" => {
                let zps: Vec<i32> = q.params().iter().map(|p| p.zero_point).collect();
                encode(&[n], &NpyData::I32(&zps))
            }
            other => {
                return Err(Error::Invalid(format!(
                    "--{other} does not apply to --format int8"
                )));
            }
        })
    }
}

impl Quantized for Int8Matrix {
    fn dequantize(&self) -> Matrix {
        Int8Matrix::dequantize(self)
    }

    fn clipped(&self, original: &Matrix) -> usize {
        Int8Matrix::clipped(self, original)
    }

    fn bits_per_element(&self, elements: usize) -> f64 {
        let per_scale = match self.config().granularity {
            Granularity::Tensor => elements,
            Granularity::Channel => self.k(),
        };
        format::int8_bits_per_element(per_scale)
    }

    fn code_counts(&self) -> Vec<u64> {
        occupancy::int8_counts(self.codes())
    }

    fn noise(&self, _original: &Matrix) -> Vec<f64> {
        model::int8_noise(self)
    }

    fn blocks(&self) -> Option<&dyn Blocks> {
        Some(self)
    }

    fn fixed8(&self) -> Option<crate::core::format::fixed::Fixed8> {
        let (rows, k) = (self.rows(), self.k());
        crate::core::format::fixed::Fixed8::from_codes(
            (rows, k, k),
            self.codes(),
            |r, _| self.row_params(r).zero_point,
            (0..rows)
                .map(|r| f64::from(self.row_params(r).scale))
                .collect(),
        )
    }

    fn fixed(&self) -> Option<crate::core::format::fixed::Fixed> {
        let (rows, k) = (self.rows(), self.k());
        let mut ints = Vec::with_capacity(rows * k);
        for r in 0..rows {
            let zp = self.row_params(r).zero_point;
            ints.extend(
                self.row_codes(r)
                    .iter()
                    .map(|&q| i64::from(q) - i64::from(zp)),
            );
        }
        Some(crate::core::format::fixed::Fixed {
            rows,
            k,
            ints,
            frac: 0,
            seg: k.max(1),
            scales: (0..rows)
                .map(|r| f64::from(self.row_params(r).scale))
                .collect(),
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// INT8 per tensor or per channel: one f32 scale per row (the tensor's, repeated), one block
/// per row.
impl Blocks for Int8Matrix {
    fn rows(&self) -> usize {
        Int8Matrix::rows(self)
    }

    fn k(&self) -> usize {
        Int8Matrix::k(self)
    }

    fn block(&self) -> usize {
        Int8Matrix::k(self).max(1)
    }

    fn blocks_per_row(&self) -> usize {
        1
    }

    fn scale_text(&self, r: usize, _j: usize) -> String {
        let p = self.row_params(r);
        format!("f32 scale {:.4e}, zp {}", p.scale, p.zero_point)
    }

    fn exponent(&self, r: usize, _j: usize) -> Option<i32> {
        super::floor_log2(self.scale(r, 0))
    }

    fn scale(&self, r: usize, _j: usize) -> f64 {
        f64::from(self.row_params(r).scale)
    }

    fn code_text(&self, r: usize, k: usize) -> String {
        self.row_codes(r)[k].to_string()
    }

    fn element_value(&self, r: usize, k: usize) -> f64 {
        f64::from(i32::from(self.row_codes(r)[k]) - self.row_params(r).zero_point)
    }

    fn unit_max(&self) -> f64 {
        255.0
    }

    fn clipped_in_block(&self, original: &Matrix, r: usize, _j: usize) -> usize {
        let p = self.row_params(r);
        let range = format::Affine::code_range(self.config().scheme);
        original
            .row(r)
            .iter()
            .enumerate()
            .filter(|&(c, &v)| {
                let q = p.unclamped(v, self.config().rounding, (r * self.k() + c) as u64);
                q < range.0 as f32 || q > range.1 as f32
            })
            .count()
    }
}
