//! `qlab matmul`: W · x through any registered format or the f64 reference, with its error
//! summary.

use std::path::{Path, PathBuf};

use clap::Args;

use super::knobs::{self, MatmulKnobs};
use super::quantize::about;
use crate::core::data::npy::{self, NpyData};
use crate::core::error::{Error, Result};
use crate::core::experiment;
use crate::core::family::{self, cannot_quantize};
use crate::core::files::{Content, Outputs};
use crate::core::kernel;
use crate::core::matrix::{Matrix, shape_str};
use crate::core::metrics;
use crate::note;

#[derive(Args, Debug)]
pub struct MatmulArgs {
    /// W, an (M, K) .npy (or .npz with --w-key)
    pub w: PathBuf,
    /// x, a (K, N) or (K,) .npy (or .npz with --x-key; see --x-layout)
    pub x: PathBuf,
    /// The array W is in a .npz
    #[arg(long)]
    pub w_key: Option<String>,
    /// The array x is in a .npz
    #[arg(long)]
    pub x_key: Option<String>,
    /// The format of both operands (f64: the reference product itself)
    #[arg(long, value_parser = knobs::format_parser(&["f64"]))]
    pub format: Option<String>,
    /// W's format, apart from x's (W4A8: --w-format mxfp4 --x-format mxfp8)
    #[arg(long, value_parser = knobs::format_parser(&[]))]
    pub w_format: Option<String>,
    /// x's format, apart from W's (f32: x left unquantized)
    #[arg(long, value_parser = knobs::format_parser(&[]))]
    pub x_format: Option<String>,
    /// Output .npy: y (float32, (M, N), or (M,) for a vector x; with --x-layout tokens-k,
    /// (…, M) as x @ W.T gives)
    #[arg(long)]
    pub out: PathBuf,
    /// x's layout in its file: k-n (qlab's, (K, N) or (K,)) or tokens-k (a layer's input as
    /// PyTorch holds it, (…, K): the leading axes merged into tokens)
    #[arg(long, value_enum, default_value = "k-n")]
    pub x_layout: XLayout,
    #[command(flatten)]
    pub knobs: MatmulKnobs,
}

/// How x is laid out in its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum XLayout {
    #[value(name = "k-n")]
    KN,
    #[value(name = "tokens-k")]
    TokensK,
}

fn read_w(path: &Path, key: Option<&str>) -> Result<Matrix> {
    let arr = npy::read_keyed(path, key)?;
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
fn read_x(path: &Path, key: Option<&str>) -> Result<(Matrix, Vec<usize>)> {
    let arr = npy::read_keyed(path, key)?;
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
    let w = read_w(&a.w, a.w_key.as_deref())?;
    // x as K × N, and as the file orders it (for positions in messages).
    let (x, x_shape, x_file) = match a.x_layout {
        XLayout::KN => {
            let (x, shape) = read_x(&a.x, a.x_key.as_deref())?;
            (x, shape, None)
        }
        XLayout::TokensK => {
            let (tk, shape) = match &a.x_key {
                None => npy::read_tokens_k(&a.x)?,
                Some(k) => {
                    let bytes = crate::core::data::npz::read_member(&a.x, Some(k))?;
                    npy::decode_tokens_k(&bytes).map_err(|m| Error::file(&a.x, m))?
                }
            };
            (tk.transpose(), shape, Some(tk))
        }
    };
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
    let reference = kernel::reference(&w, &x)?;
    let both = a.format.as_deref();
    let (name, y, quantized) = if both == Some("f64") {
        if a.w_format.is_some() || a.x_format.is_some() {
            return Err(Error::Invalid(
                "--format f64 is the reference product itself; it takes no --w-format or \
                 --x-format"
                    .into(),
            ));
        }
        knobs::refuse("f64", &a.knobs.flags())?;
        let y = reference.iter().map(|&v| v as f32).collect();
        ("f64".to_string(), Matrix::new(w.rows(), x.cols(), y)?, None)
    } else {
        let (Some(wn), Some(xn)) = (
            a.w_format.as_deref().or(both),
            a.x_format.as_deref().or(both),
        ) else {
            return Err(Error::Invalid(
                "matmul needs --format F (both operands), or --w-format F and --x-format G".into(),
            ));
        };
        let (wf, xf) = (family::lookup(wn)?, family::lookup(xn)?);
        let v = a.knobs.variant_pair(wf, xf)?;
        for (path, m, shape, f) in [
            (&a.w, &w, &[w.rows(), w.cols()][..], wf),
            (&a.x, x_file.as_ref().unwrap_or(&x), &x_shape[..], xf),
        ] {
            if let Some(i) = f.unrepresentable(m.data()) {
                let at = npy::index_str(shape, i);
                return Err(Error::file(path, cannot_quantize(f, m.data()[i], &at)));
            }
        }
        let xt = x.transpose();
        let (qw, qx) = experiment::quantize(&v, &w, &x, &xt).map_err(|e| about(&a.w, e))?;
        let y = v.gemm(&*qw, &*qx);
        let name = if v.is_mixed() {
            v.label.clone()
        } else {
            wf.name().to_string()
        };
        (name, y, Some((qw, qx)))
    };
    let (out_shape, y_out) = match a.x_layout {
        _ if vector => (vec![w.rows()], None),
        XLayout::KN => (vec![w.rows(), x.cols()], None),
        // As x @ W.T: the tokens' leading axes, then M.
        XLayout::TokensK => {
            let mut shape = x_shape[..x_shape.len() - 1].to_vec();
            shape.push(w.rows());
            (shape, Some(y.transpose()))
        }
    };
    let written = y_out.as_ref().unwrap_or(&y);
    outs.put(out, npy::encode(&out_shape, &NpyData::F32(written.data())));
    outs.commit()?;

    let mut summary = format!(
        "{name}: W {} · x {} → y {}: SQNR {:.2} dB, max abs error {:.3e} vs the f64 reference",
        shape_str(&[w.rows(), w.cols()]),
        shape_str(&x_shape),
        shape_str(&out_shape),
        metrics::sqnr_db(y.data(), &reference),
        metrics::max_abs_error(y.data(), &reference)
    );
    if let Some((qw, qx)) = &quantized {
        let (nw, nx) = (qw.nan_blocks(), qx.nan_blocks());
        if nw + nx > 0 {
            summary.push_str(&format!(
                "; NaN blocks (NaN/Inf inputs): {nw} of {} in W, {nx} of {} in x",
                qw.scale_bytes().len(),
                qx.scale_bytes().len()
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
