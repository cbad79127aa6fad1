//! `qlab matmul`: W · x through INT8, MXFP4 or the f64 reference, with its error summary.

use std::path::{Path, PathBuf};

use clap::Args;

use super::quantize::{
    MxArgs, RoundingArg, about, check_finite_for_int8, mx_config, refuse, rounding,
};
use crate::core::data::npy::{self, NpyData};
use crate::core::error::{Error, Result};
use crate::core::files::{Content, Outputs};
use crate::core::format::{Granularity, Int8Config, Scheme};
use crate::core::kernel::{self, Accumulator, Method, Operands};
use crate::core::matrix::{Matrix, shape_str};
use crate::core::metrics;
use crate::note;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MatmulFormat {
    Int8,
    Mxfp4,
    F64,
}

#[derive(Args, Debug)]
pub struct MatmulArgs {
    /// W, an (M, K) .npy
    pub w: PathBuf,
    /// x, a (K, N) or (K,) .npy
    pub x: PathBuf,
    /// Which GEMM
    #[arg(long, value_enum)]
    pub format: MatmulFormat,
    /// Output .npy: y (float32, (M, N), or (M,) for a vector x)
    #[arg(long)]
    pub out: PathBuf,
    /// INT8: scheme of W [default: asymmetric]
    #[arg(long)]
    pub w_scheme: Option<Scheme>,
    /// INT8: scheme of x [default: symmetric]
    #[arg(long)]
    pub x_scheme: Option<Scheme>,
    /// INT8: granularity of W, tensor or channel (= rows of W) [default: tensor]
    #[arg(long)]
    pub w_granularity: Option<Granularity>,
    /// INT8: granularity of x, tensor or channel (= columns of x) [default: tensor]
    #[arg(long)]
    pub x_granularity: Option<Granularity>,
    /// INT8: rounding of value / scale, for both operands [default: half-even]
    #[arg(long, value_enum)]
    pub rounding: Option<RoundingArg>,
    /// INT8: seed of stochastic rounding
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub mx: MxArgs,
    /// MXFP4: accumulator across blocks, f32 (as hardware) or f64 [default: f32]
    #[arg(long)]
    pub accumulator: Option<Accumulator>,
}

fn read_w(path: &Path) -> Result<Matrix> {
    let arr = npy::read(path)?;
    if arr.shape.len() != 2 {
        return Err(Error::file(
            path,
            format!("W must be 2-D (M, K); got shape {}", shape_str(&arr.shape)),
        ));
    }
    Ok(arr.into_matrix())
}

/// x as a `K × N` matrix, and whether it was a 1-D vector.
/// x as a `K × N` matrix (a vector becomes one column), with its shape as the file has it.
/// Either way the matrix's data is in the file's order.
fn read_x(path: &Path) -> Result<(Matrix, Vec<usize>)> {
    let arr = npy::read(path)?;
    let shape = arr.shape.clone();
    let m = arr.into_matrix();
    Ok(if shape.len() == 1 {
        (m.transpose(), shape)
    } else {
        (m, shape)
    })
}

pub(super) fn cmd(a: &MatmulArgs) -> Result<()> {
    let mut outs = Outputs::new(&[&a.w, &a.x]);
    let out = outs.add("--out", &a.out, Content::Binary)?;
    let w = read_w(&a.w)?;
    let (x, x_shape) = read_x(&a.x)?;
    let vector = x_shape.len() == 1;
    if w.cols() != x.rows() {
        return Err(Error::Shape(format!(
            "K mismatch: W ({}) has shape {} and x ({}) has shape {}; W's columns must equal x's rows",
            a.w.display(),
            shape_str(&[w.rows(), w.cols()]),
            a.x.display(),
            shape_str(&x_shape)
        )));
    }
    let int8_opts = [
        ("--w-scheme", a.w_scheme.is_some()),
        ("--x-scheme", a.x_scheme.is_some()),
        ("--w-granularity", a.w_granularity.is_some()),
        ("--x-granularity", a.x_granularity.is_some()),
        ("--rounding", a.rounding.is_some()),
        ("--seed", a.seed.is_some()),
    ];
    let mx_opts = [
        ("--block-size", a.mx.block_size.is_some()),
        ("--scale-rule", a.mx.scale_rule.is_some()),
        ("--accumulator", a.accumulator.is_some()),
    ];
    let (method, name) = match a.format {
        MatmulFormat::F64 => {
            refuse("f64", &[int8_opts.as_slice(), mx_opts.as_slice()].concat())?;
            (Method::Reference, "f64")
        }
        MatmulFormat::Int8 => {
            refuse("int8", &mx_opts)?;
            check_finite_for_int8(&a.w, &[w.rows(), w.cols()], w.data())?;
            check_finite_for_int8(&a.x, &x_shape, x.data())?;
            let rounding = rounding(a.rounding, a.seed)?;
            let w = Int8Config {
                scheme: a.w_scheme.unwrap_or(Scheme::Asymmetric),
                granularity: a.w_granularity.unwrap_or_default(),
                rounding,
            };
            let x = Int8Config {
                scheme: a.x_scheme.unwrap_or(Scheme::Symmetric),
                granularity: a.x_granularity.unwrap_or_default(),
                rounding,
            };
            (Method::Int8 { w, x }, "int8")
        }
        MatmulFormat::Mxfp4 => {
            refuse("mxfp4", &int8_opts)?;
            let config = mx_config(&a.mx);
            let acc = a.accumulator.unwrap_or_default();
            (Method::Mxfp4 { config, acc }, "mxfp4")
        }
    };
    let reference = kernel::reference(&w, &x)?;
    let operands = kernel::quantize(&w, &x, method).map_err(|e| about(&a.w, e))?;
    let y = match &operands {
        Some(ops) => ops.multiply(),
        None => Matrix::new(
            w.rows(),
            x.cols(),
            reference.iter().map(|&v| v as f32).collect(),
        )?,
    };
    let out_shape = if vector {
        vec![w.rows()]
    } else {
        vec![w.rows(), x.cols()]
    };
    outs.put(out, npy::encode(&out_shape, &NpyData::F32(y.data())));
    outs.commit()?;

    let mut summary = format!(
        "{name}: W {} · x {} → y {}: SQNR {:.2} dB, max abs error {:.3e} vs the f64 reference",
        shape_str(&[w.rows(), w.cols()]),
        shape_str(&x_shape),
        shape_str(&out_shape),
        metrics::sqnr_db(y.data(), &reference),
        metrics::max_abs_error(y.data(), &reference)
    );
    if let Some(Operands::Mxfp4 { w, xt, .. }) = &operands {
        let (nw, nx) = (w.nan_blocks(), xt.nan_blocks());
        if nw + nx > 0 {
            summary.push_str(&format!(
                "; NaN blocks (NaN/Inf inputs): {nw} of {} in W, {nx} of {} in x",
                w.scales().len(),
                xt.scales().len()
            ));
        }
    }
    let non_finite = y.data().iter().filter(|v| !v.is_finite()).count();
    if non_finite > 0 {
        summary.push_str(&format!(
            "; {non_finite} of {} outputs are NaN or infinite (beyond f32's range or from NaN blocks)",
            y.len()
        ));
    }
    note!("{summary}");
    Ok(())
}
