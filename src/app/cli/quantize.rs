//! `qlab quantize`: a `.npy` array through any registered format, with the extra arrays the
//! format offers (codes, scales, packed layouts).

use std::path::{Path, PathBuf};

use clap::Args;

use super::knobs::{self, QuantizeKnobs};
use crate::core::data::npy::{self, NpyData};
use crate::core::error::{Error, Result};
use crate::core::family::{self, Family, cannot_quantize};
use crate::core::files::{Content, Outputs};
use crate::note;

#[derive(Args, Debug)]
pub struct QuantizeArgs {
    /// Input .npy (float16, bfloat16, float32 or float64; 1-D or 2-D; C or Fortran order), or
    /// a .npz with --key
    pub input: PathBuf,
    /// The array to read from a .npz input (its name in np.savez)
    #[arg(long)]
    pub key: Option<String>,
    /// Target format
    #[arg(long, value_parser = knobs::format_parser(&[]))]
    pub format: String,
    /// Output .npy: the dequantized array (float32, the input's shape)
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub knobs: QuantizeKnobs,
}

/// Names the input file in errors about its values (e.g. a range too wide for a scale).
pub(super) fn about(path: &Path, e: Error) -> Error {
    match e {
        Error::Value(m) | Error::Invalid(m) => Error::file(path, m),
        other => other,
    }
}

pub(super) fn cmd(a: &QuantizeArgs) -> Result<()> {
    let f = family::lookup(&a.format)?;
    let variant = a.knobs.variant(f)?;
    // Every output is resolved before the input is read and written together at the end:
    // a bad output path costs no work, and a failure anywhere writes nothing.
    let mut outs = Outputs::new(&[&a.input]);
    let out = outs.add("--out", &a.out, Content::Binary)?;
    let mut extra = Vec::new();
    for (name, path) in a.knobs.outputs() {
        extra.push((
            *name,
            outs.add(&format!("--{name}"), path, Content::Binary)?,
        ));
    }
    let arr = npy::read_keyed(&a.input, a.key.as_deref())?;
    let shape = arr.shape.clone();
    let m = arr.into_matrix();
    if let Some(i) = f.unrepresentable(m.data()) {
        let at = npy::index_str(&shape, i);
        return Err(Error::file(&a.input, cannot_quantize(f, m.data()[i], &at)));
    }
    let q = f.quantize(&m, &variant.w).map_err(|e| about(&a.input, e))?;
    let deq = q.dequantize();
    outs.put(out, npy::encode(&shape, &NpyData::F32(deq.data())));
    for (name, slot) in extra {
        outs.put(slot, f.output(&*q, name, &shape)?);
    }
    let nan = q.nan_blocks();
    if nan > 0 {
        note!(
            "qlab: {nan} of {} blocks held NaN or Inf and dequantize to NaN (scale byte 0xFF)",
            q.scale_bytes().len()
        );
    }
    note_overflow(f, m.data(), deq.data());
    outs.commit()
}

/// Says how many finite inputs dequantize to ±inf. In an MX format only scale rules that round
/// the scale up do this: near f32::MAX, ceil, even and rceil give 2^126, and the E2M1 value 4
/// (or 6) times that is 2^128 or more, which f32 cannot hold. An elementwise format does it to
/// values beyond its own largest finite value (fp16's 65504, bf16's ≈ 3.39e38).
fn note_overflow(f: &dyn Family, input: &[f32], dequantized: &[f32]) {
    let n = input
        .iter()
        .zip(dequantized)
        .filter(|(v, d)| v.is_finite() && d.is_infinite())
        .count();
    if n == 0 {
        return;
    }
    let why = if f.has_scales() {
        "(the block scale times the element is 2^128 or more, beyond f32); the floor scale rule \
         keeps them finite"
    } else {
        "(beyond the format's largest finite value)"
    };
    note!(
        "qlab: {n} of {} finite values dequantize to ±inf in {} {why}",
        input.len(),
        f.name()
    );
}
