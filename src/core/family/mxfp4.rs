//! MXFP4 (`mxfp4`, OCP Microscaling): E2M1 elements with one E8M0 scale per block of K; the
//! GEMM of exact integer block dots, scaled and summed in f32 (or f64).

use std::any::Any;

use super::{
    Blocks, Codec, Family, Kind, Knob, Output, Quantized, Scope, Settings, TRACE_BLOCKS,
    TraceInput, TraceStep, Variant,
};
use crate::core::codec::dialect::{Dialect, Exponent, ScaleRange, SignedZero, Ties};
use crate::core::codec::minifloat::Element;
use crate::core::data::npy::{NpyData, encode};
use crate::core::error::{Error, Result};
use crate::core::format::{BlockSize, MxConfig, MxMatrix, e2m1, e8m0, packed};
use crate::core::kernel::mxfp4::{self as kernel, Accumulator};
use crate::core::matrix::Matrix;
use crate::core::metrics::{model, occupancy};

/// The MXFP4 family.
pub struct Mxfp4;

/// Its settings, which every MX family shares.
pub const KNOBS: &[Knob] = &[
    Knob {
        key: "block_size",
        noun: "block size",
        help: "elements per scale along K, an integer ≥ 1 (longer than K: the whole row) \
               or 'tensor' (one scale for the whole tensor)",
        kind: Kind::BlockSize,
        scope: Scope::Shared,
        defaults: ["32", "32"],
        steps: &["8", "16", "32", "64", "128", "tensor"],
        axis: true,
        requires: None,
    },
    Knob {
        key: "scale_rule",
        noun: "scale rule",
        help: "shared exponent: floor (OCP spec), ceil, even or rceil (cuBLAS)",
        kind: Kind::Choice(&["floor", "ceil", "even", "rceil"]),
        scope: Scope::Shared,
        defaults: ["floor", "floor"],
        steps: &["floor", "ceil", "even", "rceil"],
        axis: true,
        requires: None,
    },
    Knob {
        key: "element_rounding",
        noun: "element rounding",
        help: "an element exactly between two grid values: ties-to-even (OCP spec), \
               ties-toward-zero (llama.cpp, MLX) or ties-away (microxcaling's nearest)",
        kind: Kind::Choice(Ties::NAMES),
        scope: Scope::Shared,
        defaults: ["ties-to-even", "ties-to-even"],
        steps: Ties::NAMES,
        axis: true,
        requires: None,
    },
    Knob {
        key: "exponent",
        noun: "exponent",
        help: "the binade of a block's amax: bits (exact, OCP spec) or log2f (floor(log2f(amax)), \
               one scale step higher for the topmost floats below a power of two; llama.cpp)",
        kind: Kind::Choice(Exponent::NAMES),
        scope: Scope::Shared,
        defaults: ["bits", "bits"],
        steps: Exponent::NAMES,
        axis: true,
        requires: None,
    },
    Knob {
        key: "signed_zero",
        noun: "signed zero",
        help: "an element that rounds to zero: keep its sign (−0, OCP spec) or flush-positive \
               (always +0; llama.cpp, MLX)",
        kind: Kind::Choice(SignedZero::NAMES),
        scope: Scope::Shared,
        defaults: ["keep", "keep"],
        steps: SignedZero::NAMES,
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

/// The typed settings of one operand.
pub fn config(s: &Settings) -> Result<MxConfig> {
    Ok(MxConfig {
        block: s.value("block_size").parse::<BlockSize>()?,
        rule: s.value("scale_rule").parse()?,
        dialect: Dialect {
            ties: Ties::parse(s.value("element_rounding"), "element rounding")?,
            exponent: Exponent::parse(s.value("exponent"), "exponent")?,
            // MXINT8 has no such knob: its element has one zero.
            signed_zero: SignedZero::parse(s.get("signed_zero").unwrap_or("keep"), "signed zero")?,
            scale_range: ScaleRange::Clamp,
        },
    })
}

/// The label's suffix for a dialect other than the spec's (` ties-toward-zero log2f +0`).
pub fn dialect_label(s: &Settings) -> String {
    let mut out = String::new();
    for (key, spec, short) in [
        ("element_rounding", "ties-to-even", None),
        ("exponent", "bits", None),
        ("signed_zero", "keep", Some("+0")),
    ] {
        let v = s.get(key).unwrap_or(spec);
        if v != spec {
            out.push(' ');
            out.push_str(short.unwrap_or(v));
        }
    }
    out
}

/// The settings of a typed configuration (the inverse of [`config`]).
pub fn settings(c: MxConfig) -> Settings {
    let mut s = Settings::defaults(KNOBS, crate::core::data::distribution::Role::W, false);
    s.set("block_size", c.block.to_string());
    s.set("scale_rule", c.rule.name().into());
    s.set("element_rounding", c.dialect.ties.name().into());
    s.set("exponent", c.dialect.exponent.name().into());
    s.set("signed_zero", c.dialect.signed_zero.name().into());
    s
}

/// The GEMM settings of an accumulator.
pub fn gemm_settings(acc: Accumulator) -> Settings {
    let mut s = Settings::defaults(KNOBS, crate::core::data::distribution::Role::W, true);
    s.set("accumulator", acc.name().into());
    s
}

fn accumulator(gemm: &Settings) -> Accumulator {
    super::accumulator(gemm)
}

fn mx(q: &dyn Quantized) -> &MxMatrix {
    q.as_any()
        .downcast_ref()
        .expect("an MXFP4 GEMM multiplies MXFP4 operands")
}

impl Family for Mxfp4 {
    fn name(&self) -> &'static str {
        "mxfp4"
    }

    fn title(&self) -> &'static str {
        "MXFP4"
    }

    fn knobs(&self) -> &'static [Knob] {
        KNOBS
    }

    fn in_default_comparison(&self) -> bool {
        true
    }

    fn quantize(&self, m: &Matrix, s: &Settings) -> Result<Box<dyn Quantized>> {
        Ok(Box::new(MxMatrix::quantize(m, config(s)?)?))
    }

    fn pairs(&self, w: &Settings, x: &Settings) -> bool {
        w.get("block_size") == x.get("block_size")
    }

    fn gemm(&self, w: &dyn Quantized, xt: &dyn Quantized, gemm: &Settings) -> Matrix {
        kernel::gemm(mx(w), mx(xt), accumulator(gemm))
    }

    /// `mxfp4 b32 floor`, and `acc64` for the f64 accumulator.
    fn label(&self, v: &Variant) -> String {
        let mut s = format!(
            "mxfp4 b{} {}",
            v.w.value("block_size"),
            v.w.value("scale_rule")
        );
        s.push_str(&dialect_label(&v.w));
        if accumulator(&v.gemm) == Accumulator::F64 {
            s.push_str(" acc64");
        }
        s
    }

    fn codec(&self) -> Codec {
        Codec::Minifloat {
            name: "E2M1",
            codes: 16,
            decode: e2m1::decode,
            max: e2m1::MAX,
            scale_name: "E8M0",
        }
    }

    fn mx(&self, s: &Settings) -> Option<Result<(Element, MxConfig)>> {
        Some(config(s).map(|c| (crate::core::codec::minifloat::E2M1, c)))
    }

    fn scales_in_words(&self) -> &'static str {
        "one E8M0 power-of-two scale per block of K"
    }

    fn trace(&self, t: &TraceInput) -> (Vec<TraceStep>, f32) {
        let (qw, qx) = (mx(t.qw), mx(t.qx));
        let (m, n) = (t.m, t.n);
        let k = t.w.cols();
        let acc = accumulator(t.gemm);
        let terms = kernel::cell_terms(qw, qx, m, n);
        let mut steps = Vec::new();
        let mut s = TraceStep::new(format!(
            "Quantize W row {m} and x column {n} to MXFP4 ({} blocks of {})",
            terms.len(),
            qw.block()
        ));
        for (j, term) in terms.iter().take(TRACE_BLOCKS).enumerate() {
            let span = j * qw.block()..((j + 1) * qw.block()).min(k);
            let fmt_codes = |codes: &[u8]| {
                super::preview(codes.iter(), codes.len(), |&c| {
                    format!("{}", e2m1::decode(c))
                })
            };
            let exp = |b: u8| e8m0::exponent(b).map_or("NaN".into(), |e| format!("2^{e}"));
            s.line(format!(
                "block {j}: W scale {:#04x} = {}, P {}",
                term.scale_a,
                exp(term.scale_a),
                fmt_codes(&qw.row_codes(m)[span.clone()])
            ));
            s.line(format!(
                "         x scale {:#04x} = {}, P {}",
                term.scale_b,
                exp(term.scale_b),
                fmt_codes(&qx.row_codes(n)[span])
            ));
        }
        if terms.len() > TRACE_BLOCKS {
            s.line(format!("… {} more blocks", terms.len() - TRACE_BLOCKS));
        }
        steps.push(s);
        let mut s = TraceStep::new(format!(
            "Per block: exact integer dot, scaled, summed in {acc}"
        ));
        s.line(
            "(P: an element's E2M1 value, so 2P is an integer; ea, eb: the two blocks' shared \
             exponents; the -2 undoes the two factors of 2)",
        );
        let mut running = 0.0f32;
        let mut running64 = 0.0f64;
        let sum = |running: f32, running64: f64| {
            if acc == Accumulator::F32 {
                f64::from(running)
            } else {
                running64
            }
        };
        for (j, term) in terms.iter().enumerate() {
            running += term.value as f32;
            running64 += term.value;
            if j < TRACE_BLOCKS {
                s.line(format!(
                    "block {j}: Σ(2Pw)(2Px) = {} → × 2^(ea+eb-2) = {} → sum {}",
                    term.dot,
                    term.value,
                    sum(running, running64)
                ));
            }
        }
        if terms.len() > TRACE_BLOCKS {
            s.line(format!(
                "… {} more blocks, each added the same way → final sum {}",
                terms.len() - TRACE_BLOCKS,
                sum(running, running64)
            ));
        }
        steps.push(s);
        (steps, kernel::accumulate(terms.iter().copied(), acc))
    }

    fn outputs(&self) -> &'static [Output] {
        &[
            Output {
                name: "codes",
                help: "MXFP4: one 4-bit code per element (u8), the input's shape",
            },
            Output {
                name: "scales",
                help: "MXFP4: the E8M0 bytes (u8), rows × ceil(K / block)",
            },
            Output {
                name: "packed",
                help: "MXFP4: two codes per byte, element 2j in the low nibble (u8, rows × \
                       ceil(K/2))",
            },
            Output {
                name: "ggml",
                help: "MXFP4: ggml block_mxfp4 bytes (u8, rows × K/32·17; block size 32 only)",
            },
        ]
    }

    fn output(&self, q: &dyn Quantized, name: &str, shape: &[usize]) -> Result<Vec<u8>> {
        let q = mx(q);
        // Per-row arrays keep a 1-D input 1-D.
        let per_row = |n: usize| super::per_row_shape(shape, q.rows(), n);
        Ok(match name {
            "codes" => encode(shape, &NpyData::U8(q.codes())),
            "scales" => encode(&per_row(q.blocks_per_row()), &NpyData::U8(q.scales())),
            "packed" => encode(
                &per_row(q.k().div_ceil(2)),
                &NpyData::U8(&packed::pack_linear(q)),
            ),
            "ggml" => {
                let g = packed::to_ggml(q)?;
                encode(&per_row(g.len() / q.rows()), &NpyData::U8(&g))
            }
            other => {
                return Err(Error::Invalid(format!(
                    "--{other} does not apply to --format mxfp4"
                )));
            }
        })
    }
}

impl Quantized for MxMatrix {
    fn dequantize(&self) -> Matrix {
        MxMatrix::dequantize(self)
    }

    fn clipped(&self, original: &Matrix) -> usize {
        MxMatrix::clipped(self, original)
    }

    fn nan_blocks(&self) -> usize {
        MxMatrix::nan_blocks(self)
    }

    fn bits_per_element(&self, elements: usize) -> f64 {
        (4.0 * self.codes().len() as f64 + 8.0 * self.scales().len() as f64)
            / elements.max(1) as f64
    }

    fn code_counts(&self) -> Vec<u64> {
        occupancy::e2m1_counts(self.codes())
    }

    fn scale_bytes(&self) -> &[u8] {
        self.scales()
    }

    fn noise(&self, original: &Matrix) -> Vec<f64> {
        model::mx_noise(self, original)
    }

    fn blocks(&self) -> Option<&dyn Blocks> {
        Some(self)
    }

    fn fixed(&self) -> Option<crate::core::format::fixed::Fixed> {
        // E2M1 values are integers · 2^−1 (the doubled codes).
        Some(crate::core::format::fixed::Fixed {
            rows: self.rows(),
            k: self.k(),
            ints: self
                .codes()
                .iter()
                .map(|&c| i64::from(e2m1::doubled(c)))
                .collect(),
            frac: 1,
            seg: self.block(),
            scales: self.scales().iter().map(|&b| e8m0::to_f64(b)).collect(),
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Blocks for MxMatrix {
    fn rows(&self) -> usize {
        MxMatrix::rows(self)
    }

    fn k(&self) -> usize {
        MxMatrix::k(self)
    }

    fn block(&self) -> usize {
        MxMatrix::block(self)
    }

    fn blocks_per_row(&self) -> usize {
        MxMatrix::blocks_per_row(self)
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
        format!("{:X}", self.row_codes(r)[k])
    }

    fn element_value(&self, r: usize, k: usize) -> f64 {
        f64::from(e2m1::decode(self.row_codes(r)[k]))
    }

    fn unit_max(&self) -> f64 {
        f64::from(e2m1::MAX)
    }
}
