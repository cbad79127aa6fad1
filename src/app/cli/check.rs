//! `qlab check`: someone else's MX quantization of an input, compared with qlab's reference,
//! every difference classified, and their dialect named. Exit 0 only when everything matches.

use std::path::{Path, PathBuf};

use clap::Args;

use super::knobs::{self, CheckKnobs};
use crate::core::check::{self, NibbleOrder, Report, Theirs};
use crate::core::data::npy;
use crate::core::error::{Error, Result};
use crate::core::family;
use crate::core::format::BlockSize;
use crate::core::format::packed::{GGML_BLOCK, GGML_BLOCK_BYTES};
use crate::core::text;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The input they quantized: .npy (float16, bfloat16, float32 or float64; 1-D or 2-D,
    /// blocks along the last axis)
    pub input: PathBuf,
    /// The MX format they claim to produce (mxfp4, mxfp8-e4m3, mxfp6-e2m3, mxint8, ...)
    #[arg(long, value_parser = knobs::format_parser(&[]))]
    pub format: String,
    /// Their codes: one per element (uint8), the input's shape; with --scales
    #[arg(long, value_name = "C.npy")]
    pub codes: Option<PathBuf>,
    /// Their E8M0 scale bytes (uint8), rows × blocks (any shape of that many bytes)
    #[arg(long, value_name = "S.npy")]
    pub scales: Option<PathBuf>,
    /// Their packed E2M1 codes, two per byte (uint8, rows × ceil(K/2)), in either nibble
    /// order (linear or ggml's split: the better match is taken and named); with --scales
    #[arg(long, value_name = "P.npy")]
    pub packed: Option<PathBuf>,
    /// Their ggml block_mxfp4 bytes (uint8, 17 bytes per block of 32: the scale, then the
    /// split nibbles)
    #[arg(long, value_name = "G.npy")]
    pub ggml: Option<PathBuf>,
    /// Their gpt-oss / Hugging Face tensors: the `_blocks` (uint8, rows × blocks × 16, linear
    /// nibbles) and the `_scales` (uint8, rows × blocks)
    #[arg(long, num_args = 2, value_names = ["BLOCKS.npy", "SCALES.npy"])]
    pub gpt_oss: Option<Vec<PathBuf>>,
    /// Their dequantized values only (float .npy, the input's shape): codes and scale bytes
    /// are recovered from them
    #[arg(long, value_name = "D.npy")]
    pub dequantized: Option<PathBuf>,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub knobs: CheckKnobs,
}

/// Runs the check; `Ok(true)` when their output is qlab's, bit for bit.
pub(super) fn cmd(a: &CheckArgs) -> Result<bool> {
    let f = family::lookup(&a.format)?;
    let variant = a.knobs.variant(f)?;
    let Some(mx) = f.mx(&variant.w) else {
        return Err(Error::Invalid(format!(
            "qlab check compares MX formats (mxfp4, mxfp8-e4m3, mxfp8-e5m2, mxfp6-e2m3, \
             mxfp6-e3m2, mxint8); --format {} is not one",
            f.name()
        )));
    };
    let (el, cfg) = mx?;
    let arr = npy::read(&a.input)?;
    let shape = arr.shape.clone();
    let values = arr.into_matrix();
    let (rows, k) = values.shape();
    let block = cfg.block.len_for(k);
    let blocks = rows * k.div_ceil(block);
    let fp4 = el.bits == 4;
    let given = [
        a.codes.is_some(),
        a.packed.is_some(),
        a.ggml.is_some(),
        a.gpt_oss.is_some(),
        a.dequantized.is_some(),
    ];
    if given.iter().filter(|&&g| g).count() != 1 {
        return Err(Error::Invalid(
            "give their output once: --codes C.npy --scales S.npy, --packed P.npy --scales \
             S.npy, --ggml G.npy, --gpt-oss BLOCKS.npy SCALES.npy or --dequantized D.npy"
                .into(),
        ));
    }
    let needs_scales = a.codes.is_some() || a.packed.is_some();
    if needs_scales != a.scales.is_some() {
        return Err(Error::Invalid(if needs_scales {
            "--codes and --packed need --scales S.npy (their scale bytes)".into()
        } else {
            "--scales goes with --codes or --packed".into()
        }));
    }
    if !fp4 && (a.packed.is_some() || a.ggml.is_some() || a.gpt_oss.is_some()) {
        return Err(Error::Invalid(format!(
            "--packed, --ggml and --gpt-oss hold 4-bit codes; --format {} has {}-bit elements \
             (use --codes)",
            f.name(),
            el.bits
        )));
    }
    let scales = |path: &Path| -> Result<Vec<u8>> {
        let (_, s) = npy::read_u8(path)?;
        if s.len() != blocks {
            return Err(Error::file(
                path,
                format!(
                    "holds {} scale bytes; the input ({rows} × {k}, blocks of {block}) has \
                     {blocks} blocks",
                    s.len()
                ),
            ));
        }
        Ok(s)
    };
    let mut nibbles = None;
    let theirs = if let Some(c) = &a.codes {
        let (_, codes) = npy::read_u8(c)?;
        if codes.len() != rows * k {
            return Err(Error::file(
                c,
                format!(
                    "holds {} codes; the input has {} elements (shape {})",
                    codes.len(),
                    rows * k,
                    crate::core::matrix::shape_str(&shape)
                ),
            ));
        }
        Theirs {
            codes,
            scales: scales(a.scales.as_deref().expect("checked above"))?,
        }
    } else if let Some(p) = &a.packed {
        let (_, bytes) = npy::read_u8(p)?;
        let scales = scales(a.scales.as_deref().expect("checked above"))?;
        let (order, codes) = best_order(&values, &el, cfg, &bytes, (rows, k)).ok_or_else(|| {
            Error::file(
                p,
                format!(
                    "holds {} bytes; the input ({rows} × {k}) packs into {} (two codes \
                         per byte)",
                    bytes.len(),
                    rows * k.div_ceil(2)
                ),
            )
        })?;
        nibbles = Some(order);
        Theirs { codes, scales }
    } else if let Some(g) = &a.ggml {
        let (_, bytes) = npy::read_u8(g)?;
        if block != GGML_BLOCK || !k.is_multiple_of(GGML_BLOCK) {
            return Err(Error::file(
                g,
                format!(
                    "ggml block_mxfp4 has blocks of 32 along K; the input has K = {k} and the block size is {block}"
                ),
            ));
        }
        if bytes.len() != blocks * GGML_BLOCK_BYTES {
            return Err(Error::file(
                g,
                format!(
                    "holds {} bytes; {blocks} blocks of block_mxfp4 take {}",
                    bytes.len(),
                    blocks * GGML_BLOCK_BYTES
                ),
            ));
        }
        let scales: Vec<u8> = bytes.chunks(GGML_BLOCK_BYTES).map(|b| b[0]).collect();
        let qs: Vec<u8> = bytes
            .chunks(GGML_BLOCK_BYTES)
            .flat_map(|b| b[1..].iter().copied())
            .collect();
        let (order, codes) =
            best_order(&values, &el, cfg, &qs, (rows, k)).expect("sizes checked above");
        nibbles = Some(order);
        Theirs { codes, scales }
    } else if let Some(pair) = &a.gpt_oss {
        let (bp, sp) = (&pair[0], &pair[1]);
        let (_, bytes) = npy::read_u8(bp)?;
        let scales = scales(sp)?;
        // gpt-oss pads each block to 16 bytes: K is a whole number of blocks of 32.
        if block != 32 || !k.is_multiple_of(32) || bytes.len() != blocks * 16 {
            return Err(Error::file(
                bp,
                format!(
                    "holds {} bytes; gpt-oss blocks are 16 bytes per block of 32 along K \
                     (the input: K = {k}, block size {block}, {blocks} blocks)",
                    bytes.len()
                ),
            ));
        }
        let (order, codes) =
            best_order(&values, &el, cfg, &bytes, (rows, k)).expect("sizes checked above");
        nibbles = Some(order);
        Theirs { codes, scales }
    } else {
        let d = a.dequantized.as_deref().expect("one output was given");
        let deq = npy::read(d)?;
        if deq.data.len() != rows * k {
            return Err(Error::file(
                d,
                format!(
                    "holds {} values (shape {}); the input has shape {}",
                    deq.data.len(),
                    crate::core::matrix::shape_str(&deq.shape),
                    crate::core::matrix::shape_str(&shape)
                ),
            ));
        }
        check::from_values(&values, &deq.data, &el, cfg)
    };
    if let Some(p) = theirs
        .codes
        .iter()
        .position(|&c| u16::from(c) >= el.codes())
    {
        return Err(Error::Value(format!(
            "their code {:#04x} at {} is not a code of {} (0x00..={:#04x})",
            theirs.codes[p],
            npy::index_str(&shape, p),
            el.name,
            el.codes() - 1
        )));
    }
    let report = check::compare(&values, &el, cfg, &theirs);
    let expected_order = if a.ggml.is_some() {
        NibbleOrder::Split
    } else {
        NibbleOrder::Linear
    };
    let order_note = nibbles.filter(|&o| o != expected_order).map(|o| match o {
        NibbleOrder::Split => {
            "nibble order: split (element i and i + 16 share a byte, as ggml's block_mxfp4), \
                 where this layout is linear (element 2j in the low nibble of byte j)"
        }
        NibbleOrder::Linear => {
            "nibble order: linear (element 2j in the low nibble of byte j), where ggml's \
                 block_mxfp4 is split (element i and i + 16 share a byte)"
        }
    });
    let ok = report.matches() && order_note.is_none();
    let what = format!(
        "{} as {} (block {}, scale rule {}{})",
        a.input.display(),
        f.name(),
        match cfg.block {
            BlockSize::Tensor => "tensor".to_string(),
            BlockSize::Elements(_) => block.to_string(),
        },
        cfg.rule,
        cfg.dialect
            .departures()
            .iter()
            .map(|d| format!(", {d}"))
            .collect::<String>()
    );
    let out = if a.json {
        json(&what, &report, order_note, ok)?
    } else {
        text_report(&what, &shape, &report, order_note, ok)
    };
    crate::core::stdio::print(&out)?;
    Ok(ok)
}

/// Their codes from packed bytes in the nibble order that agrees with qlab's codes on more
/// elements (split only where K is a whole number of blocks of 32): a wrong order scrambles
/// most codes, so one quantization and a count decide it.
fn best_order(
    values: &crate::core::matrix::Matrix,
    el: &crate::core::codec::minifloat::Element,
    cfg: crate::core::format::MxConfig,
    bytes: &[u8],
    (rows, k): (usize, usize),
) -> Option<(NibbleOrder, Vec<u8>)> {
    let (_, ours, _) = crate::core::format::mx_element::quantize_parts(el, values, cfg);
    [NibbleOrder::Linear, NibbleOrder::Split]
        .into_iter()
        .filter_map(|order| check::unpack(bytes, rows, k, order).map(|c| (order, c)))
        .min_by_key(|(_, c)| c.iter().zip(&ours).filter(|(a, b)| a != b).count())
}

fn json(what: &str, r: &Report, order: Option<&str>, ok: bool) -> Result<String> {
    let v = serde_json::json!({
        "checked": what,
        "matches": ok,
        "nibble_order": order,
        "report": r,
    });
    serde_json::to_string_pretty(&v)
        .map(|s| s + "\n")
        .map_err(|e| Error::Invalid(format!("JSON: {e}")))
}

fn text_report(what: &str, shape: &[usize], r: &Report, order: Option<&str>, ok: bool) -> String {
    let mut s = format!("qlab check: {}\n", text::printable(what));
    s.push_str(&format!(
        "scale bytes: {} of {} blocks differ · elements: {} of {} differ\n",
        r.scale_bytes_differ, r.blocks, r.elements_differ, r.elements
    ));
    if let Some(o) = order {
        s.push_str(&format!("  {o}\n"));
    }
    for c in &r.classes {
        s.push_str(&format!(
            "  {:>8}  {}{}  [{}]\n",
            c.count,
            c.title,
            if c.unexplained { "  ← a bug?" } else { "" },
            c.class
        ));
        for e in &c.first {
            let at = npy::index_str(
                shape,
                e.row * shape.last().copied().unwrap_or(1).max(1) + e.col,
            );
            s.push_str(&format!("            at {at}: {}\n", e.detail));
        }
    }
    let d = &r.detection;
    let pct = 100.0 * d.blocks_matched as f64 / d.blocks.max(1) as f64;
    s.push_str(&format!(
        "dialect: {} reproduces {:.1} % of blocks ({} of {}){}\n",
        d.summary,
        pct,
        d.blocks_matched,
        d.blocks,
        match &d.peer {
            Some(p) if d.blocks_matched == d.blocks && d.complete => format!(": this is {p}"),
            Some(p) if d.blocks_matched == d.blocks => format!(": consistent with {p}"),
            Some(p) => format!(": closest to {p}"),
            None => String::new(),
        }
    ));
    s.push_str(if ok {
        "verdict: identical to qlab's reference\n"
    } else {
        "verdict: DIFFERENT from qlab's reference\n"
    });
    s
}
