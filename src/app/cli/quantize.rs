//! `qlab quantize`: a `.npy` array through INT8 or MXFP4, with its codes, scales and packed
//! layouts.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::core::data::npy::{self, NpyData};
use crate::core::error::{Error, Result};
use crate::core::files::{Content, Outputs};
use crate::core::format::{
    BlockSize, Granularity, Int8Config, Int8Matrix, MxConfig, MxMatrix, Rounding, ScaleRule,
    Scheme, packed,
};
use crate::note;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum QuantFormat {
    Int8,
    Mxfp4,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RoundingArg {
    HalfEven,
    HalfAway,
    Floor,
    Stochastic,
}

/// MXFP4 options shared by `quantize` and `matmul`.
#[derive(Args, Debug, Default)]
pub struct MxArgs {
    /// MXFP4: elements per scale, an integer ≥ 1 or 'tensor' [default: 32]
    #[arg(long)]
    pub block_size: Option<BlockSize>,
    /// MXFP4: shared-exponent rule: floor, ceil, even or rceil [default: floor]
    #[arg(long)]
    pub scale_rule: Option<ScaleRule>,
}

#[derive(Args, Debug)]
pub struct QuantizeArgs {
    /// Input .npy (float32 or float64, 1-D or 2-D, C order)
    pub input: PathBuf,
    /// Target format
    #[arg(long, value_enum)]
    pub format: QuantFormat,
    #[command(flatten)]
    pub mx: MxArgs,
    /// INT8: asymmetric or symmetric [default: asymmetric]
    #[arg(long)]
    pub scheme: Option<Scheme>,
    /// INT8: tensor or channel (one scale per row) [default: tensor]
    #[arg(long)]
    pub granularity: Option<Granularity>,
    /// INT8: rounding of value / scale [default: half-even]
    #[arg(long, value_enum)]
    pub rounding: Option<RoundingArg>,
    /// INT8: seed of stochastic rounding
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output .npy: the dequantized array (float32, the input's shape)
    #[arg(long)]
    pub out: PathBuf,
    /// Output .npy: the codes (MXFP4: u8 4-bit codes; INT8: i8), the input's shape
    #[arg(long)]
    pub codes: Option<PathBuf>,
    /// Output .npy: MXFP4 E8M0 bytes (u8, rows × blocks); INT8 scales (f32, one per tensor or row)
    #[arg(long)]
    pub scales: Option<PathBuf>,
    /// Output .npy: INT8 zero points (i32, one per tensor or row)
    #[arg(long)]
    pub zero_points: Option<PathBuf>,
    /// Output .npy: MXFP4 codes packed two per byte, element 2j in the low nibble (u8, rows × ceil(K/2))
    #[arg(long)]
    pub packed: Option<PathBuf>,
    /// Output .npy: MXFP4 as ggml block_mxfp4 bytes (u8, rows × K/32·17; block size 32 only)
    #[arg(long)]
    pub ggml: Option<PathBuf>,
}

/// Refuses options that do not apply to the chosen format, naming them.
pub(super) fn refuse(format: &str, given: &[(&str, bool)]) -> Result<()> {
    let wrong: Vec<&str> = given.iter().filter(|g| g.1).map(|g| g.0).collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        let verb = if wrong.len() == 1 { "does" } else { "do" };
        Err(Error::Invalid(format!(
            "{} {verb} not apply to --format {format}",
            wrong.join(", ")
        )))
    }
}

pub(super) fn rounding(arg: Option<RoundingArg>, seed: Option<u64>) -> Result<Rounding> {
    let r = match arg.unwrap_or(RoundingArg::HalfEven) {
        RoundingArg::HalfEven => Rounding::HalfEven,
        RoundingArg::HalfAway => Rounding::HalfAway,
        RoundingArg::Floor => Rounding::Floor,
        RoundingArg::Stochastic => Rounding::Stochastic {
            seed: seed.unwrap_or(0),
        },
    };
    if seed.is_some() && !matches!(r, Rounding::Stochastic { .. }) {
        return Err(Error::Invalid(
            "--seed applies to --rounding stochastic only".into(),
        ));
    }
    Ok(r)
}

/// The MXFP4 settings; clap has already refused a block size of 0.
pub(super) fn mx_config(mx: &MxArgs) -> MxConfig {
    MxConfig {
        block: mx.block_size.unwrap_or_default(),
        rule: mx.scale_rule.unwrap_or_default(),
    }
}

/// The shape of a per-row output (scales, zero points) for an input of `shape`:
/// `(rows, per_row)`, or `(per_row,)` for a 1-D input.
pub(super) fn per_row_shape(input_shape: &[usize], rows: usize, per_row: usize) -> Vec<usize> {
    if input_shape.len() == 1 {
        vec![per_row]
    } else {
        vec![rows, per_row]
    }
}

/// Refuses NaN and Inf for INT8, naming the file and the index in the array's own shape.
pub(super) fn check_finite_for_int8(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    match npy::first_non_finite(shape, data) {
        Some((at, v)) => Err(Error::file(
            path,
            format!("INT8 cannot quantize {v} at index {at}; remove NaN/Inf or use MXFP4"),
        )),
        None => Ok(()),
    }
}

/// Names the input file in errors about its values (e.g. a range too wide for a scale).
pub(super) fn about(path: &Path, e: Error) -> Error {
    match e {
        Error::Value(m) | Error::Invalid(m) => Error::file(path, m),
        other => other,
    }
}

pub(super) fn cmd(a: &QuantizeArgs) -> Result<()> {
    match a.format {
        QuantFormat::Mxfp4 => refuse(
            "mxfp4",
            &[
                ("--scheme", a.scheme.is_some()),
                ("--granularity", a.granularity.is_some()),
                ("--rounding", a.rounding.is_some()),
                ("--seed", a.seed.is_some()),
                ("--zero-points", a.zero_points.is_some()),
            ],
        )?,
        QuantFormat::Int8 => refuse(
            "int8",
            &[
                ("--block-size", a.mx.block_size.is_some()),
                ("--scale-rule", a.mx.scale_rule.is_some()),
                ("--packed", a.packed.is_some()),
                ("--ggml", a.ggml.is_some()),
            ],
        )?,
    }
    // Every output is resolved before the input is read and written together at the end:
    // a bad output path costs no work, and a failure anywhere writes nothing.
    let mut outs = Outputs::new(&[&a.input]);
    let mut slot = |flag: &str, path: &Option<PathBuf>| {
        path.as_ref()
            .map(|p| outs.add(flag, p, Content::Binary))
            .transpose()
    };
    let out = slot("--out", &Some(a.out.clone()))?;
    let codes = slot("--codes", &a.codes)?;
    let scales = slot("--scales", &a.scales)?;
    let zero_points = slot("--zero-points", &a.zero_points)?;
    let packed_out = slot("--packed", &a.packed)?;
    let ggml_out = slot("--ggml", &a.ggml)?;
    let arr = npy::read(&a.input)?;
    let shape = arr.shape.clone();
    let m = arr.into_matrix();
    let mut put = |slot: Option<crate::core::files::Slot>, shape: &[usize], data: NpyData| {
        if let Some(s) = slot {
            outs.put(s, npy::encode(shape, &data));
        }
    };
    match a.format {
        QuantFormat::Mxfp4 => {
            let q = MxMatrix::quantize(&m, mx_config(&a.mx))?;
            let ggml = match ggml_out {
                Some(_) => packed::to_ggml(&q)?,
                None => Vec::new(),
            };
            let deq = q.dequantize();
            put(out, &shape, NpyData::F32(deq.data()));
            put(codes, &shape, NpyData::U8(q.codes()));
            let per_row = |n| per_row_shape(&shape, q.rows(), n);
            put(
                scales,
                &per_row(q.blocks_per_row()),
                NpyData::U8(q.scales()),
            );
            if packed_out.is_some() {
                let packed = packed::pack_linear(&q);
                put(
                    packed_out,
                    &per_row(q.k().div_ceil(2)),
                    NpyData::U8(&packed),
                );
            }
            put(
                ggml_out,
                &per_row(ggml.len() / q.rows()),
                NpyData::U8(&ggml),
            );
            let nan = q.nan_blocks();
            if nan > 0 {
                note!(
                    "qlab: {nan} of {} blocks held NaN or Inf and dequantize to NaN (scale byte 0xFF)",
                    q.scales().len()
                );
            }
            note_overflow(m.data(), deq.data());
        }
        QuantFormat::Int8 => {
            let config = Int8Config {
                scheme: a.scheme.unwrap_or(Scheme::Asymmetric),
                granularity: a.granularity.unwrap_or_default(),
                rounding: rounding(a.rounding, a.seed)?,
            };
            check_finite_for_int8(&a.input, &shape, m.data())?;
            let q = Int8Matrix::quantize(&m, config).map_err(|e| about(&a.input, e))?;
            put(out, &shape, NpyData::F32(q.dequantize().data()));
            put(codes, &shape, NpyData::I8(q.codes()));
            let n = q.params().len();
            let scales_v: Vec<f32> = q.params().iter().map(|p| p.scale).collect();
            put(scales, &[n], NpyData::F32(&scales_v));
            let zps: Vec<i32> = q.params().iter().map(|p| p.zero_point).collect();
            put(zero_points, &[n], NpyData::I32(&zps));
        }
    }
    outs.commit()
}

/// Says how many finite inputs dequantize beyond f32's range. Only MX scale rules that round
/// the scale up do this: near f32::MAX, ceil, even and rceil give 2^126, and the E2M1 value 4
/// (or 6) times that is 2^128 or more, which f32 cannot hold.
fn note_overflow(input: &[f32], dequantized: &[f32]) {
    let n = input
        .iter()
        .zip(dequantized)
        .filter(|(v, d)| v.is_finite() && d.is_infinite())
        .count();
    if n > 0 {
        note!(
            "qlab: {n} of {} finite values dequantize beyond f32's range (the block scale times \
             the element is 2^128 or more) and are written as ±inf; the floor scale rule keeps \
             them finite",
            input.len()
        );
    }
}
