//! SIMD kernels with runtime dispatch: the only module with `unsafe`. Every kernel here has a
//! safe wrapper and a scalar twin (the portable code in `kernel/` and `format/`), and
//! `tests/simd.rs` compares them bit for bit.
//!
//! INT8 GEMM (AVX-512 VNNI, AVX2 + AVX-VNNI, plain AVX2). `vpdpbusd` multiplies unsigned by signed
//! bytes, so W's codes are offset by 128 (a + 128 ∈ [0, 255]) and the excess 128·Σb is taken
//! out in the epilogue: Σ(a + 128)·b = Σab + 128·Σb. An i32 lane holds at most
//! 255 · 128 · 65536 < 2^31, so a longer K runs the kernel on chunks of 65536 and adds their
//! sums in i64 (exact, as the portable kernel does). x's codes are packed in panels of NR = 32
//! columns, four consecutive k per column (the 4 bytes `vpdpbusd` consumes); W's rows are read from a copy
//! padded to the same K. The micro-kernel keeps an 8 × 32 tile of i32 sums in registers, and
//! the zero-point correction and scaling run on the tile as it is written back. Plain AVX2 has
//! no `vpdpbusd`; `vpmaddubsw` (u8·i8 pairs into i16) saturates at 255·128·2, so each offset
//! byte is split as 128·h + l (h ∈ {0, 1}, l < 128): l·b pairs stay below 2^15, and
//! Σ(a + 128)·b = Σ l·b + 128·Σ h·b, exact.
//!
//! MXFP4 GEMM (AVX-512 VNNI, and AVX2 with `vpmaddubsw`, exact here since the products are
//! small) on the same machinery: doubled E2M1 codes (|v| ≤ 12) offset by 12 on W's side, each
//! block padded to a multiple of 4 elements. A block's i32 dot, corrected by
//! 12·Σb, is scaled by 2^(ea + eb − 2) exactly — in f32 when both exponents keep the product
//! exact, in f64 otherwise — and added to the f32 sum: the scalar kernel's operations in its
//! order, so the same bits.
//!
//! Quantizers (AVX-512 and AVX2): INT8 with half-even, half-away and floor rounding; MXFP4
//! blocks whose length is a multiple of the vector (16 or 8 lanes).
//!
//! The x86 kernels live in `mod x86`, each behind `#[target_feature]` and reached only through
//! the dispatching wrappers here, which check the CPU first.
#![allow(unsafe_code)]

use std::sync::OnceLock;

use crate::core::format::int8::Rounding;
use crate::core::format::mx::ScaleRule;

/// The instruction set a kernel uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    Scalar,
    /// AVX2 without VNNI (Haswell to Skylake, Zen 2 and 3): the INT8 and MXFP4 GEMMs and
    /// quantizers.
    Avx2,
    /// AVX2 with AVX-VNNI (256-bit `vpdpbusd`): its own INT8 GEMM; the AVX2 MXFP4 GEMM and
    /// quantizers.
    Avx2Vnni,
    /// AVX-512 F/BW/DQ with VNNI.
    Avx512Vnni,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx2Vnni => "avx2-vnni",
            Isa::Avx512Vnni => "avx512-vnni",
        }
    }

    /// Whether this CPU can run the path.
    pub fn available(self) -> bool {
        match self {
            Isa::Scalar => true,
            Isa::Avx2 => {
                #[cfg(target_arch = "x86_64")]
                {
                    std::arch::is_x86_feature_detected!("avx2")
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    false
                }
            }
            Isa::Avx2Vnni => {
                #[cfg(target_arch = "x86_64")]
                {
                    std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("avxvnni")
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    false
                }
            }
            Isa::Avx512Vnni => {
                #[cfg(target_arch = "x86_64")]
                {
                    std::arch::is_x86_feature_detected!("avx512f")
                        && std::arch::is_x86_feature_detected!("avx512bw")
                        && std::arch::is_x86_feature_detected!("avx512dq")
                        && std::arch::is_x86_feature_detected!("avx512vnni")
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    false
                }
            }
        }
    }

    pub const ALL: [Isa; 4] = [Isa::Scalar, Isa::Avx2, Isa::Avx2Vnni, Isa::Avx512Vnni];

    /// The paths this CPU supports.
    pub fn supported() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.available()).collect()
    }
}

impl std::str::FromStr for Isa {
    type Err = crate::core::error::Error;
    fn from_str(s: &str) -> crate::core::error::Result<Isa> {
        let isa = match s {
            "scalar" => Isa::Scalar,
            "avx2" => Isa::Avx2,
            "avx2-vnni" => Isa::Avx2Vnni,
            "avx512-vnni" | "avx512" => Isa::Avx512Vnni,
            _ => {
                return Err(crate::core::error::Error::Invalid(format!(
                    "unknown kernel '{}'; expected scalar, avx2, avx2-vnni or avx512-vnni",
                    crate::core::text::echo(s)
                )));
            }
        };
        if !isa.available() {
            return Err(crate::core::error::Error::Invalid(format!(
                "kernel '{}' is not supported by this CPU; supported: {}",
                crate::core::text::echo(s),
                Isa::supported()
                    .iter()
                    .map(|i| i.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(isa)
    }
}

static FORCED: OnceLock<Isa> = OnceLock::new();

/// The path `QLAB_KERNEL` names: `None` when it is unset, an error naming the variable when it
/// names no path this CPU has. The one place the variable is read; the command line forces
/// what it returns (an explicit `--kernel` wins).
pub fn from_env() -> crate::core::error::Result<Option<Isa>> {
    match std::env::var_os("QLAB_KERNEL") {
        // `QLAB_KERNEL= qlab ...` is the shell's way of unsetting it.
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v
            .to_string_lossy()
            .parse()
            .map(Some)
            .map_err(|e| crate::core::error::Error::Invalid(format!("QLAB_KERNEL: {e}"))),
    }
}

/// Forces a path for the whole process (`--kernel`, `QLAB_KERNEL`); the first call wins.
pub fn force(isa: Isa) {
    let _ = FORCED.set(isa);
}

/// The forced path, if one was.
pub fn forced() -> Option<Isa> {
    FORCED.get().copied()
}

/// The path kernels use: the forced one, else the best the CPU supports.
pub fn active() -> Isa {
    forced().unwrap_or_else(best)
}

/// The best path this CPU supports, detected once.
pub fn best() -> Isa {
    static BEST: OnceLock<Isa> = OnceLock::new();
    *BEST.get_or_init(|| {
        if Isa::Avx512Vnni.available() {
            Isa::Avx512Vnni
        } else if Isa::Avx2Vnni.available() {
            Isa::Avx2Vnni
        } else if Isa::Avx2.available() {
            Isa::Avx2
        } else {
            Isa::Scalar
        }
    })
}

/// Columns of x per packed panel.
pub const NR: usize = 32;
/// Rows of W per micro-kernel tile.
pub const MR: usize = 8;
/// Multiply-adds below which a GEMM stays on the calling thread.
pub const PARALLEL_WORK: usize = 1 << 22;
/// K per exact i32 chunk (see the module docs).
#[cfg(target_arch = "x86_64")]
const K_CHUNK: usize = 65_536;

/// Calls `f` on every `(index, chunk)` of `out` (chunks of `size`), on rayon's threads when
/// `work` (multiply-adds or bytes touched) is worth it. Every stage of a GEMM, packing
/// included, goes through here: a stage left serial caps the speed-up of threads.
#[cfg(target_arch = "x86_64")]
fn for_chunks<T: Send>(
    out: &mut [T],
    size: usize,
    work: usize,
    f: impl Fn((usize, &mut [T])) + Sync + Send,
) {
    use rayon::prelude::*;
    if work < PARALLEL_WORK {
        out.chunks_mut(size.max(1)).enumerate().for_each(f);
    } else {
        out.par_chunks_mut(size.max(1)).enumerate().for_each(f);
    }
}

/// Raw accumulators Σ_k a[m][k]·b[n][k] for `a` (`m × k`) and `b` (`n × k`), exact, `m × n`:
/// the portable kernel, rows in parallel (the scalar path of [`int8_gemm`]).
pub fn int8_dots(a: &[i8], b: &[i8], m: usize, n: usize, k: usize) -> Vec<i64> {
    use rayon::prelude::*;
    let mut out = vec![0i64; m * n];
    if n == 0 {
        return out;
    }
    out.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        for (j, acc) in row.iter_mut().enumerate() {
            *acc = crate::core::kernel::int8::dot(&a[i * k..(i + 1) * k], &b[j * k..(j + 1) * k]);
        }
    });
    out
}

/// Zero-point correction and scale of every row of W and every column of x: what turns a raw
/// accumulator into an output, exactly as `int8::finish` does.
pub struct Int8Epilogue<'a> {
    pub w_zero: &'a [i64],
    pub w_scale: &'a [f32],
    pub w_sum: &'a [i64],
    pub x_zero: &'a [i64],
    pub x_scale: &'a [f32],
    pub x_sum: &'a [i64],
}

impl Int8Epilogue<'_> {
    /// gemmlowp's zero-point correction, −zW·Σqx − zx·ΣqW + K·zW·zx: added to Σ qW·qx it
    /// gives Σ (qW − zW)(qx − zx). The one statement of it (traces use it too).
    #[inline]
    pub fn correction(zw: i64, zx: i64, w_sum: i64, x_sum: i64, k: usize) -> i64 {
        -zw * x_sum - zx * w_sum + k as i64 * zw * zx
    }

    #[inline]
    pub fn apply(&self, i: usize, j: usize, k: usize, acc: i64) -> f32 {
        let (zw, zx) = (self.w_zero[i], self.x_zero[j]);
        let corrected = acc + Self::correction(zw, zx, self.w_sum[i], self.x_sum[j], k);
        corrected as f32 * (self.w_scale[i] * self.x_scale[j])
    }
}

/// y = W·x for INT8 codes `a` (`m × k`) and `b` (`n × k`) with the epilogue fused into the
/// micro-kernel's write-back (no intermediate accumulator matrix); `isa` must be available.
pub fn int8_gemm(
    isa: Isa,
    a: &[i8],
    b: &[i8],
    (m, n, k): (usize, usize, usize),
    e: &Int8Epilogue,
) -> Vec<f32> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni | Isa::Avx2Vnni | Isa::Avx2 if isa.available() => {
            x86::int8_gemm(a, b, m, n, k, e, isa)
        }
        _ => int8_dots(a, b, m, n, k)
            .iter()
            .enumerate()
            .map(|(i, &acc)| e.apply(i / n, i % n, k, acc))
            .collect(),
    }
}

/// Smallest and largest value of `data` (with 0 included: the INT8 range always holds 0), or
/// `None` when a value is NaN or infinite.
pub fn min_max_finite(isa: Isa, data: &[f32]) -> Option<(f32, f32)> {
    #[cfg(target_arch = "x86_64")]
    if isa.available() {
        match isa {
            // SAFETY: AVX-512 F is available (checked just above).
            Isa::Avx512Vnni => return unsafe { x86::min_max_finite(data) },
            // SAFETY: AVX2 is available (checked just above).
            Isa::Avx2 | Isa::Avx2Vnni => return unsafe { x86::min_max_finite_avx2(data) },
            Isa::Scalar => {}
        }
    }
    let _ = isa;
    let mut lo = 0.0f32;
    let mut hi = 0.0f32;
    let mut finite = true;
    for &v in data {
        finite &= v.is_finite();
        lo = if v < lo { v } else { lo };
        hi = if v > hi { v } else { hi };
    }
    finite.then_some((lo, hi))
}

/// INT8 codes clamp(round(v / scale) + zp) of a row's leading elements on the SIMD path:
/// returns how many it wrote (whole vectors), and the caller's portable loop does the rest.
/// 0 when the path does not apply (scalar ISA, stochastic rounding).
pub fn int8_quantize_row(
    isa: Isa,
    src: &[f32],
    (scale, zero_point): (f32, i32),
    (qmin, qmax): (i32, i32),
    rounding: Rounding,
    dst: &mut [i8],
) -> usize {
    let n = src.len().min(dst.len());
    let args = (
        scale,
        zero_point as f32,
        (qmin as f32, qmax as f32),
        rounding,
    );
    #[cfg(target_arch = "x86_64")]
    if !matches!(rounding, Rounding::Stochastic { .. }) && isa.available() {
        match isa {
            Isa::Avx512Vnni => {
                let n = n / 16 * 16;
                // SAFETY: AVX-512 F/BW are available (checked just above); n ≤ both lengths.
                unsafe { x86::int8_quantize_16s(&src[..n], args, &mut dst[..n]) };
                return n;
            }
            Isa::Avx2 | Isa::Avx2Vnni => {
                let n = n / 8 * 8;
                // SAFETY: AVX2 is available (checked just above); n ≤ both lengths.
                unsafe { x86::int8_quantize_8s_avx2(&src[..n], args, &mut dst[..n]) };
                return n;
            }
            Isa::Scalar => {}
        }
    }
    let _ = (isa, src, args, dst, n);
    0
}

/// MXFP4 codes and scale bytes of one row in blocks of `block`, on the SIMD path; `false`
/// when it does not apply (scalar ISA, a block size that is not a multiple of the vector:
/// 16 lanes on AVX-512, 8 on AVX2).
pub fn mx_quantize_row(
    isa: Isa,
    src: &[f32],
    block: usize,
    rule: ScaleRule,
    codes: &mut [u8],
    scales: &mut [u8],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let lanes = match isa {
            Isa::Avx512Vnni => 16,
            Isa::Avx2 | Isa::Avx2Vnni => 8,
            Isa::Scalar => 0,
        };
        if lanes > 0 && isa.available() && block > 0 && block.is_multiple_of(lanes) {
            for ((vals, cs), byte) in src
                .chunks(block)
                .zip(codes.chunks_mut(block))
                .zip(scales.iter_mut())
            {
                *byte = if vals.len() < block {
                    crate::core::format::mx::quantize_block(vals, rule, cs)
                } else if lanes == 16 {
                    // SAFETY: AVX-512 F/BW are available; the block holds a multiple of 16.
                    unsafe { x86::mx_quantize_block(vals, rule, cs) }
                } else {
                    // SAFETY: AVX2 is available; the block holds a multiple of 8 values.
                    unsafe { x86::mx_quantize_block_avx2(vals, rule, cs) }
                };
            }
            return true;
        }
    }
    let _ = (isa, src, block, rule, codes, scales);
    false
}

/// The reference GEMM's 2 × 2 tile (`reference::dots`, the same code) compiled for AVX2, when
/// `isa` is a SIMD path; `None` for the scalar path. The arithmetic and its order are those of
/// the portable code; only the width of the registers differs, so the bits are the same.
pub fn f64_dots_2x2(isa: Isa, a: [&[f64]; 2], b: [&[f64]; 2]) -> Option<[[f64; 2]; 2]> {
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Scalar && Isa::Avx2.available() {
        // SAFETY: AVX2 is available (checked just above).
        return Some(unsafe { x86::f64_dots_2x2(a, b) });
    }
    let _ = (isa, a, b);
    None
}

/// The side of the reference GEMM's tiles on `isa`: 4 with AVX-512, else 2.
pub fn f64_tile(isa: Isa) -> usize {
    if isa == Isa::Avx512Vnni && isa.available() {
        4
    } else {
        2
    }
}

/// The reference GEMM's 4 × 4 tile on AVX-512, when `isa` is the AVX-512 path; `None`
/// otherwise. Its scalar twin is `reference::dots`, whose order (eight partial sums, no FMA)
/// it keeps lane for lane.
pub fn f64_dots_4x4(isa: Isa, a: [&[f64]; 4], b: [&[f64]; 4]) -> Option<[[f64; 4]; 4]> {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512Vnni && isa.available() {
        // SAFETY: AVX-512 F is available (checked just above).
        return Some(unsafe { x86::f64_dots_4x4(a, b) });
    }
    let _ = (isa, a, b);
    None
}

/// The f32 baseline of `qlab bench`: C = A · B (row-major, `m × k` times `k × n`) with the
/// `matrixmultiply` crate, whose API takes raw pointers.
pub fn sgemm_baseline(a: &[f32], b: &[f32], c: &mut [f32], (m, k, n): (usize, usize, usize)) {
    assert!(
        a.len() == m * k && b.len() == k * n && c.len() == m * n,
        "sgemm: shapes"
    );
    // SAFETY: the slices hold m·k, k·n and m·n elements in row-major order, matching the
    // strides passed (row stride = columns, column stride = 1); `c` is exclusively borrowed.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            n as isize,
            1,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Packs `b` (`n × k`) into panels of NR columns × (k padded to kp) in groups of 4 bytes:
/// panel p, group g, column c holds b[p·NR + c][4g .. 4g + 4]. The buffer is reused.
#[cfg(target_arch = "x86_64")]
fn pack_panels_into(b: &[u8], n: usize, k: usize, kp: usize, out: &mut Vec<u8>) {
    let panels = n.div_ceil(NR);
    out.clear();
    out.resize(panels * NR * kp, 0);
    let pack = |(p, dst): (usize, &mut [u8])| {
        let cols = p * NR..((p + 1) * NR).min(n);
        let whole = k / 4;
        // Whole groups: the destination is written in order, four bytes per column.
        for (g, out) in dst.chunks_exact_mut(NR * 4).take(whole).enumerate() {
            for (c, j) in cols.clone().enumerate() {
                out[c * 4..c * 4 + 4].copy_from_slice(&b[j * k + 4 * g..j * k + 4 * g + 4]);
            }
        }
        // A last partial group (k not a multiple of 4); the rest stays zero.
        if !k.is_multiple_of(4) {
            for (c, j) in cols.enumerate() {
                let at = whole * NR * 4 + c * 4;
                dst[at..at + k % 4].copy_from_slice(&b[j * k + 4 * whole..(j + 1) * k]);
            }
        }
    };
    for_chunks(out, NR * kp, n * k * 64, pack);
}

#[cfg(target_arch = "x86_64")]
thread_local! {
    /// Packing buffers reused from call to call: fresh multi-megabyte allocations are mapped
    /// and faulted in anew each time, which costs as much as the GEMM itself at n = 1024.
    static SCRATCH: std::cell::RefCell<[Vec<u8>; 3]> = const {
        std::cell::RefCell::new([Vec::new(), Vec::new(), Vec::new()])
    };
}

/// Runs `f` with the calling thread's three scratch buffers. A GEMM that waits inside rayon
/// can run another task on the same thread (work stealing), and that task's GEMM may arrive
/// here while the buffers are lent out: it then gets fresh ones rather than a panic.
#[cfg(target_arch = "x86_64")]
fn with_scratch<R>(f: impl FnOnce(&mut [Vec<u8>; 3]) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut buffers) => f(&mut buffers),
        Err(_) => f(&mut [Vec::new(), Vec::new(), Vec::new()]),
    })
}

/// MXFP4 GEMM on E2M1 codes: `a` (`m × k`, W's codes), `b` (`n × k`, xᵀ's), blocks of
/// `block` along k with scale bytes `sa` (`m × blocks`) and `sb` (`n × blocks`); f32
/// accumulation. `None` when `isa` has no MXFP4 kernel (or is not available): the caller runs
/// the scalar twin, `mxfp4::gemm`. The AVX2 kernel serves AVX2-VNNI CPUs too.
pub fn mx_gemm_f32(
    isa: Isa,
    a: &[u8],
    b: &[u8],
    sa: &[u8],
    sb: &[u8],
    (m, n, k, block): (usize, usize, usize, usize),
) -> Option<Vec<f32>> {
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Scalar && isa.available() {
        let wide = isa == Isa::Avx512Vnni;
        return Some(x86::mx_gemm(a, b, sa, sb, (m, n, k, block), wide));
    }
    let _ = (isa, a, b, sa, sb, m, n, k, block);
    None
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{MR, NR};
    use crate::core::format::int8::Rounding;
    use crate::core::format::mx::{self, ScaleRule};
    use crate::core::format::{e2m1, e8m0};

    /// The INT8 GEMM on AVX-512 VNNI, AVX2 with AVX-VNNI or plain AVX2 (`isa`): the same
    /// packing and tiles, a 512- or 256-bit micro-kernel, and the epilogue vectorised on
    /// AVX-512 only.
    pub fn int8_gemm(
        a: &[i8],
        b: &[i8],
        m: usize,
        n: usize,
        k: usize,
        e: &super::Int8Epilogue,
        isa: super::Isa,
    ) -> Vec<f32> {
        if m == 0 || n == 0 {
            return vec![0f32; m * n];
        }
        super::with_scratch(|[au, packed, _]| int8_gemm_in(a, b, (m, n, k), e, (au, packed), isa))
    }

    fn int8_gemm_in(
        a: &[i8],
        b: &[i8],
        (m, n, k): (usize, usize, usize),
        e: &super::Int8Epilogue,
        (au, packed): (&mut Vec<u8>, &mut Vec<u8>),
        isa: super::Isa,
    ) -> Vec<f32> {
        let wide = isa == super::Isa::Avx512Vnni;
        let mut out = vec![0f32; m * n];
        let kp = k.div_ceil(4) * 4;
        au.clear();
        au.resize(m.div_ceil(MR) * MR * kp, 128);
        // The two operands are prepared side by side: one fork-join, not two in a row (each
        // costs a wake-up of the pool, which shows at n = 512).
        rayon::join(
            || {
                super::for_chunks(au, kp, m * k * 64, |(r, dst)| {
                    for (d, &s) in dst
                        .iter_mut()
                        .zip(a.get(r * k..(r + 1) * k).unwrap_or_default())
                    {
                        *d = (s as u8) ^ 0x80;
                    }
                })
            },
            || super::pack_panels_into(bytemuck_i8(b), n, k, kp, packed),
        );
        let (au, packed) = (&*au, &*packed);
        // Σ(a + 128)·b = Σab + 128·Σb: the offset comes back out in the epilogue. Columns are
        // padded to whole panels so the vector epilogue can read full registers.
        let np = n.div_ceil(NR) * NR;
        let pad = |v: &[i64]| -> Vec<i64> {
            v.iter()
                .copied()
                .chain(std::iter::repeat(0))
                .take(np)
                .collect()
        };
        let excess: Vec<i64> = pad(&e.x_sum.iter().map(|s| 128 * s).collect::<Vec<_>>());
        let (xsum, xzero) = (pad(e.x_sum), pad(e.x_zero));
        let xscale: Vec<f32> = e
            .x_scale
            .iter()
            .copied()
            .chain(std::iter::repeat(0.0))
            .take(np)
            .collect();
        let rows_per_task = MR * 8;
        // An i32 lane holds the sum over K_CHUNK k at most: a longer K runs the kernel chunk
        // by chunk and adds the chunks' sums in i64 (then the epilogue is the scalar one).
        let groups = kp / 4;
        let chunk_groups = super::K_CHUNK / 4;
        let long = groups > chunk_groups;
        let work = |(t, chunk): (usize, &mut [f32])| {
            let r0 = t * rows_per_task;
            let rows = chunk.len() / n;
            let mut tile = [0i32; MR * NR];
            let mut sums = [0i64; MR * NR];
            // Panels outer, row tiles inner: one panel of B stays in L1/L2 while the task's
            // rows of A (L2-sized) stream past it.
            for p in 0..n.div_ceil(NR) {
                for i0 in (0..rows).step_by(MR) {
                    let mr = MR.min(rows - i0);
                    let panel = &packed[p * NR * kp..(p + 1) * NR * kp];
                    let rows_a = &au[(r0 + i0) * kp..(r0 + i0 + MR) * kp];
                    let run = |g: Range<usize>, tile: &mut [i32; MR * NR]| {
                        // SAFETY: the caller's dispatch checked the features of the chosen
                        // kernel, MR padded rows of kp bytes exist, and the panel holds kp/4
                        // groups, of which g is a part.
                        unsafe {
                            match isa {
                                super::Isa::Avx512Vnni => kernel_8x32(rows_a, kp, g, panel, tile),
                                super::Isa::Avx2Vnni => {
                                    kernel_8x32_avx2(rows_a, kp, g, panel, tile)
                                }
                                _ => kernel_8x32_avx2_plain(rows_a, kp, g, panel, tile),
                            }
                        }
                    };
                    if long {
                        sums.fill(0);
                        for g0 in (0..groups).step_by(chunk_groups) {
                            run(g0..(g0 + chunk_groups).min(groups), &mut tile);
                            for (s, &t) in sums.iter_mut().zip(&tile) {
                                *s += i64::from(t);
                            }
                        }
                    } else {
                        run(0..groups, &mut tile);
                    }
                    let nc = NR.min(n - p * NR);
                    let cols = p * NR..(p + 1) * NR;
                    for r in 0..mr {
                        let i = r0 + i0 + r;
                        if !wide || long {
                            // The scalar epilogue: the same arithmetic as the vector one.
                            for c in 0..nc {
                                let j = p * NR + c;
                                let raw = if long {
                                    sums[r * NR + c]
                                } else {
                                    i64::from(tile[r * NR + c])
                                };
                                chunk[(i0 + r) * n + j] = e.apply(i, j, k, raw - excess[j]);
                            }
                            continue;
                        }
                        let mut ys = [0f32; NR];
                        // SAFETY: the features are available; every slice holds NR values.
                        unsafe {
                            epilogue_32(
                                &tile[r * NR..(r + 1) * NR],
                                (
                                    e.w_zero[i],
                                    e.w_sum[i] - k as i64 * e.w_zero[i],
                                    e.w_scale[i],
                                ),
                                (
                                    &excess[cols.clone()],
                                    &xsum[cols.clone()],
                                    &xzero[cols.clone()],
                                    &xscale[cols.clone()],
                                ),
                                &mut ys,
                            )
                        };
                        chunk[(i0 + r) * n + p * NR..(i0 + r) * n + p * NR + nc]
                            .copy_from_slice(&ys[..nc]);
                    }
                }
            }
        };
        super::for_chunks(&mut out, rows_per_task * n, m * n * k, work);
        out
    }

    /// The INT8 epilogue for one row of a tile, 8 lanes of i64 at a time:
    /// corrected = acc − 128·Σb − zW·Σb − zx·(ΣqW − K·zW), then (corrected as f32) · (sW · sx),
    /// the same integers and the same two f32 roundings as `Int8Epilogue::apply`.
    #[target_feature(enable = "avx512f,avx512dq")]
    unsafe fn epilogue_32(
        acc: &[i32],
        (zw, w_term, sw): (i64, i64, f32),
        (excess, xsum, xzero, xscale): (&[i64], &[i64], &[i64], &[f32]),
        out: &mut [f32; NR],
    ) {
        let (zw, w_term, sw) = (
            _mm512_set1_epi64(zw),
            _mm512_set1_epi64(w_term),
            _mm256_set1_ps(sw),
        );
        for q in 0..NR / 8 {
            // SAFETY: every slice holds NR = 32 values; q·8 + 8 ≤ 32.
            unsafe {
                let a =
                    _mm512_cvtepi32_epi64(_mm256_loadu_si256(acc.as_ptr().add(8 * q) as *const _));
                let ex = _mm512_loadu_si512(excess.as_ptr().add(8 * q) as *const _);
                let xs = _mm512_loadu_si512(xsum.as_ptr().add(8 * q) as *const _);
                let zx = _mm512_loadu_si512(xzero.as_ptr().add(8 * q) as *const _);
                let c = _mm512_sub_epi64(
                    _mm512_sub_epi64(_mm512_sub_epi64(a, ex), _mm512_mullo_epi64(zw, xs)),
                    _mm512_mullo_epi64(zx, w_term),
                );
                let scale = _mm256_mul_ps(sw, _mm256_loadu_ps(xscale.as_ptr().add(8 * q)));
                _mm256_storeu_ps(
                    out.as_mut_ptr().add(8 * q),
                    _mm256_mul_ps(_mm512_cvtepi64_ps(c), scale),
                );
            }
        }
    }

    /// [`min_max_finite`] on AVX2, 8 lanes at a time.
    #[target_feature(enable = "avx2")]
    pub unsafe fn min_max_finite_avx2(data: &[f32]) -> Option<(f32, f32)> {
        let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let inf = _mm256_set1_ps(f32::INFINITY);
        let sign = _mm256_set1_ps(-0.0);
        let mut finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
        let chunks = data.chunks_exact(8);
        let tail = chunks.remainder();
        for c in chunks {
            // SAFETY: 8 floats.
            let v = unsafe { _mm256_loadu_ps(c.as_ptr()) };
            // |v| < inf is false for ±inf and for NaN (an ordered comparison).
            let ok = _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_andnot_ps(sign, v), inf);
            finite = _mm256_and_ps(finite, ok);
            lo = _mm256_min_ps(lo, v);
            hi = _mm256_max_ps(hi, v);
        }
        let (mut los, mut his) = ([0f32; 8], [0f32; 8]);
        // SAFETY: 8 floats each.
        unsafe {
            _mm256_storeu_ps(los.as_mut_ptr(), lo);
            _mm256_storeu_ps(his.as_mut_ptr(), hi);
        }
        let mut ok = _mm256_movemask_ps(finite) == 0xFF;
        let (mut l, mut h) = (los[0], his[0]);
        for (&a, &b) in los.iter().zip(&his).skip(1) {
            l = if a < l { a } else { l };
            h = if b > h { b } else { h };
        }
        for &v in tail {
            ok &= v.is_finite();
            l = if v < l { v } else { l };
            h = if v > h { v } else { h };
        }
        ok.then_some((l, h))
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn min_max_finite(data: &[f32]) -> Option<(f32, f32)> {
        let (mut lo, mut hi) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let inf = _mm512_set1_ps(f32::INFINITY);
        let mut finite: u16 = 0xFFFF;
        let chunks = data.chunks_exact(16);
        let tail = chunks.remainder();
        for c in chunks {
            // SAFETY: 16 floats.
            let v = unsafe { _mm512_loadu_ps(c.as_ptr()) };
            // |v| < inf is false for ±inf and for NaN (an ordered comparison).
            finite &= _mm512_cmp_ps_mask::<_CMP_LT_OQ>(_mm512_abs_ps(v), inf);
            lo = _mm512_min_ps(lo, v);
            hi = _mm512_max_ps(hi, v);
        }
        let (mut l, mut h) = (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi));
        let mut ok = finite == 0xFFFF;
        for &v in tail {
            ok &= v.is_finite();
            l = if v < l { v } else { l };
            h = if v > h { v } else { h };
        }
        ok.then_some((l, h))
    }

    /// The arguments of the INT8 row quantizers: scale, zero point (as f32), the code range
    /// (as f32) and the rounding.
    pub type Int8RowArgs = (f32, f32, (f32, f32), Rounding);

    /// INT8 codes of `src` (a multiple of 16 values): clamp(round(v / scale) + zp), the
    /// portable loop's arithmetic, 16 lanes at a time.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub unsafe fn int8_quantize_16s(
        src: &[f32],
        (scale, zp, (qmin, qmax), rounding): Int8RowArgs,
        dst: &mut [i8],
    ) {
        let (s, zp) = (_mm512_set1_ps(scale), _mm512_set1_ps(zp));
        let (lo, hi) = (_mm512_set1_ps(qmin), _mm512_set1_ps(qmax));
        let half = _mm512_set1_ps(0.5);
        for i in (0..src.len()).step_by(16) {
            // SAFETY: the length is a multiple of 16, so i + 16 ≤ len for both slices.
            unsafe {
                let q = _mm512_div_ps(_mm512_loadu_ps(src.as_ptr().add(i)), s);
                let r = match rounding {
                    Rounding::Floor => {
                        _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(q)
                    }
                    Rounding::HalfAway => {
                        // Only exact halves differ from half-even; for them q ± 0.5 is exact.
                        let r = _mm512_roundscale_ps::<
                            { _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC },
                        >(q);
                        let tie = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(
                            _mm512_abs_ps(_mm512_sub_ps(q, r)),
                            half,
                        );
                        let away = _mm512_add_ps(
                            q,
                            _mm512_or_ps(half, _mm512_and_ps(q, _mm512_set1_ps(-0.0))),
                        );
                        _mm512_mask_blend_ps(tie, r, away)
                    }
                    _ => {
                        _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(q)
                    }
                };
                let c = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(r, zp), lo), hi);
                _mm_storeu_si128(
                    dst.as_mut_ptr().add(i) as *mut _,
                    _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(c)),
                );
            }
        }
    }

    /// [`int8_quantize_16s`] on AVX2, 8 lanes at a time (a multiple of 8 values).
    #[target_feature(enable = "avx2")]
    pub unsafe fn int8_quantize_8s_avx2(
        src: &[f32],
        (scale, zp, (qmin, qmax), rounding): Int8RowArgs,
        dst: &mut [i8],
    ) {
        let (s, zp) = (_mm256_set1_ps(scale), _mm256_set1_ps(zp));
        let (lo, hi) = (_mm256_set1_ps(qmin), _mm256_set1_ps(qmax));
        let (half, sign) = (_mm256_set1_ps(0.5), _mm256_set1_ps(-0.0));
        for i in (0..src.len()).step_by(8) {
            // SAFETY: the length is a multiple of 8, so i + 8 ≤ len for both slices.
            unsafe {
                let q = _mm256_div_ps(_mm256_loadu_ps(src.as_ptr().add(i)), s);
                let r = match rounding {
                    Rounding::Floor => {
                        _mm256_round_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(q)
                    }
                    Rounding::HalfAway => {
                        let r =
                            _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(q);
                        // |q − r| == 0.5 marks the ties; there q ± 0.5 is exact.
                        let diff = _mm256_andnot_ps(sign, _mm256_sub_ps(q, r));
                        let tie = _mm256_cmp_ps::<_CMP_EQ_OQ>(diff, half);
                        let away = _mm256_add_ps(q, _mm256_or_ps(half, _mm256_and_ps(q, sign)));
                        _mm256_blendv_ps(r, away, tie)
                    }
                    _ => _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(q),
                };
                let c = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(r, zp), lo), hi);
                // Clamped to [−128, 127]: the saturating packs are exact.
                let w = _mm256_cvtps_epi32(c);
                let w16 =
                    _mm_packs_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256::<1>(w));
                _mm_storel_epi64(dst.as_mut_ptr().add(i) as *mut _, _mm_packs_epi16(w16, w16));
            }
        }
    }

    /// One MX block (a multiple of 16 values): its scale byte, and its codes into `codes`.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub unsafe fn mx_quantize_block(vals: &[f32], rule: ScaleRule, codes: &mut [u8]) -> u8 {
        let inf = _mm512_set1_ps(f32::INFINITY);
        let mut amax = _mm512_setzero_ps();
        let mut finite: u16 = 0xFFFF;
        for c in vals.chunks_exact(16) {
            // SAFETY: 16 floats.
            let a = _mm512_abs_ps(unsafe { _mm512_loadu_ps(c.as_ptr()) });
            finite &= _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, inf);
            amax = _mm512_max_ps(amax, a);
        }
        if finite != 0xFFFF {
            // NaN or Inf: the portable quantizer's rules (a NaN scale, zero codes).
            return mx::quantize_block(vals, rule, codes);
        }
        let byte = mx::scale_byte(_mm512_reduce_max_ps(amax), rule);
        let inv = _mm512_set1_ps(mx::inverse_scale(byte));
        // The decision table of e2m1::encode, one threshold at a time.
        let thresholds: [(f32, bool); 7] = [
            (0.25, false),
            (0.75, true),
            (1.25, false),
            (1.75, true),
            (2.5, false),
            (3.5, true),
            (5.0, false),
        ];
        let one = _mm512_set1_epi32(1);
        for (i, c) in vals.chunks_exact(16).enumerate() {
            // SAFETY: 16 floats in, 16 codes out (codes has the block's length).
            unsafe {
                let v = _mm512_mul_ps(_mm512_loadu_ps(c.as_ptr()), inv);
                let a = _mm512_abs_ps(v);
                let mut m = _mm512_setzero_si512();
                for (t, inclusive) in thresholds {
                    let t = _mm512_set1_ps(t);
                    let k = if inclusive {
                        _mm512_cmp_ps_mask::<_CMP_GE_OQ>(a, t)
                    } else {
                        _mm512_cmp_ps_mask::<_CMP_GT_OQ>(a, t)
                    };
                    m = _mm512_mask_add_epi32(m, k, m, one);
                }
                let sign = _mm512_and_si512(
                    _mm512_srli_epi32::<28>(_mm512_castps_si512(v)),
                    _mm512_set1_epi32(8),
                );
                let code = _mm512_or_si512(m, sign);
                _mm_storeu_si128(
                    codes.as_mut_ptr().add(16 * i) as *mut _,
                    _mm512_cvtepi32_epi8(code),
                );
            }
        }
        byte
    }

    /// [`mx_quantize_block`] on AVX2, 8 lanes at a time (a multiple of 8 values).
    #[target_feature(enable = "avx2")]
    pub unsafe fn mx_quantize_block_avx2(vals: &[f32], rule: ScaleRule, codes: &mut [u8]) -> u8 {
        let inf = _mm256_set1_ps(f32::INFINITY);
        let sign_bit = _mm256_set1_ps(-0.0);
        let mut amax = _mm256_setzero_ps();
        let mut finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
        for c in vals.chunks_exact(8) {
            // SAFETY: 8 floats.
            let a = _mm256_andnot_ps(sign_bit, unsafe { _mm256_loadu_ps(c.as_ptr()) });
            finite = _mm256_and_ps(finite, _mm256_cmp_ps::<_CMP_LT_OQ>(a, inf));
            amax = _mm256_max_ps(amax, a);
        }
        if _mm256_movemask_ps(finite) != 0xFF {
            // NaN or Inf: the portable quantizer's rules (a NaN scale, zero codes).
            return mx::quantize_block(vals, rule, codes);
        }
        let mut lanes = [0f32; 8];
        // SAFETY: 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), amax) };
        let amax = lanes.iter().fold(0f32, |m, &v| if v > m { v } else { m });
        let byte = mx::scale_byte(amax, rule);
        let inv = _mm256_set1_ps(mx::inverse_scale(byte));
        // The decision table of e2m1::encode, one threshold at a time (as on AVX-512).
        let thresholds: [(f32, bool); 7] = [
            (0.25, false),
            (0.75, true),
            (1.25, false),
            (1.75, true),
            (2.5, false),
            (3.5, true),
            (5.0, false),
        ];
        for (i, c) in vals.chunks_exact(8).enumerate() {
            // SAFETY: 8 floats in, 8 codes out (codes has the block's length).
            unsafe {
                let v = _mm256_mul_ps(_mm256_loadu_ps(c.as_ptr()), inv);
                let a = _mm256_andnot_ps(sign_bit, v);
                let mut m = _mm256_setzero_si256();
                for (t, inclusive) in thresholds {
                    let t = _mm256_set1_ps(t);
                    let k = if inclusive {
                        _mm256_cmp_ps::<_CMP_GE_OQ>(a, t)
                    } else {
                        _mm256_cmp_ps::<_CMP_GT_OQ>(a, t)
                    };
                    // A true comparison is −1 in every bit: subtracting it counts it.
                    m = _mm256_sub_epi32(m, _mm256_castps_si256(k));
                }
                let sign = _mm256_and_si256(
                    _mm256_srli_epi32::<28>(_mm256_castps_si256(v)),
                    _mm256_set1_epi32(8),
                );
                let code = _mm256_or_si256(m, sign);
                // Codes are 0..=15: the saturating packs are exact.
                let w16 = _mm_packs_epi32(
                    _mm256_castsi256_si128(code),
                    _mm256_extracti128_si256::<1>(code),
                );
                _mm_storel_epi64(
                    codes.as_mut_ptr().add(8 * i) as *mut _,
                    _mm_packus_epi16(w16, w16),
                );
            }
        }
        byte
    }

    /// `reference::dots` for a 4 × 4 tile on AVX-512: each dot's eight partial sums (k mod 8)
    /// are the eight lanes of one zmm, multiplied and added separately (no FMA), then summed in
    /// the portable code's order.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn f64_dots_4x4(a: [&[f64]; 4], b: [&[f64]; 4]) -> [[f64; 4]; 4] {
        let k = a[0].len();
        let whole = k / 8 * 8;
        let mut acc = [[_mm512_setzero_pd(); 4]; 4];
        let (pa, pb) = (a.map(|r| r.as_ptr()), b.map(|r| r.as_ptr()));
        for base in (0..whole).step_by(8) {
            // SAFETY: base + 8 ≤ k, and all eight rows hold k values.
            unsafe {
                let x = pa.map(|p| _mm512_loadu_pd(p.add(base)));
                let y = pb.map(|p| _mm512_loadu_pd(p.add(base)));
                for (acc_r, x_r) in acc.iter_mut().zip(&x) {
                    for (acc_rs, y_s) in acc_r.iter_mut().zip(&y) {
                        *acc_rs = _mm512_add_pd(*acc_rs, _mm512_mul_pd(*x_r, *y_s));
                    }
                }
            }
        }
        let mut out = [[0.0f64; 4]; 4];
        for (r, (acc_r, out_r)) in acc.iter().zip(out.iter_mut()).enumerate() {
            for (s, (acc_rs, y)) in acc_r.iter().zip(out_r.iter_mut()).enumerate() {
                let mut partial = [0.0f64; 8];
                // SAFETY: 8 f64.
                unsafe { _mm512_storeu_pd(partial.as_mut_ptr(), *acc_rs) };
                let tail: f64 = a[r][whole..k]
                    .iter()
                    .zip(&b[s][whole..k])
                    .map(|(&p, &q)| p * q)
                    .sum();
                *y = partial.iter().sum::<f64>() + tail;
            }
        }
        out
    }

    /// `reference::dots` for a 2 × 2 tile on AVX2: each dot's eight partial sums (k mod 8)
    /// are two ymm of four lanes, multiplied and added separately (no FMA, which would round
    /// once instead of twice), then summed in the portable code's order.
    #[target_feature(enable = "avx2")]
    pub unsafe fn f64_dots_2x2(a: [&[f64]; 2], b: [&[f64]; 2]) -> [[f64; 2]; 2] {
        let k = a[0].len();
        let whole = k / 8 * 8;
        let mut acc = [[[_mm256_setzero_pd(); 2]; 2]; 2];
        let (pa, pb) = (
            [a[0].as_ptr(), a[1].as_ptr()],
            [b[0].as_ptr(), b[1].as_ptr()],
        );
        for base in (0..whole).step_by(8) {
            // SAFETY: base + 8 ≤ k, and all four rows hold k values.
            unsafe {
                let load = |p: *const f64| {
                    [
                        _mm256_loadu_pd(p.add(base)),
                        _mm256_loadu_pd(p.add(base + 4)),
                    ]
                };
                let (x, y) = (pa.map(load), pb.map(load));
                for r in 0..2 {
                    for s in 0..2 {
                        for h in 0..2 {
                            acc[r][s][h] =
                                _mm256_add_pd(acc[r][s][h], _mm256_mul_pd(x[r][h], y[s][h]));
                        }
                    }
                }
            }
        }
        let mut out = [[0.0f64; 2]; 2];
        for r in 0..2 {
            for s in 0..2 {
                let mut partial = [0.0f64; 8];
                // SAFETY: 4 + 4 f64.
                unsafe {
                    _mm256_storeu_pd(partial.as_mut_ptr(), acc[r][s][0]);
                    _mm256_storeu_pd(partial.as_mut_ptr().add(4), acc[r][s][1]);
                }
                let tail: f64 = a[r][whole..k]
                    .iter()
                    .zip(&b[s][whole..k])
                    .map(|(&p, &q)| p * q)
                    .sum();
                out[r][s] = partial.iter().sum::<f64>() + tail;
            }
        }
        out
    }

    /// i8 codes viewed as bytes.
    fn bytemuck_i8(b: &[i8]) -> &[u8] {
        // SAFETY: i8 and u8 have the same size and alignment, and every bit pattern is valid
        // for both.
        unsafe { std::slice::from_raw_parts(b.as_ptr() as *const u8, b.len()) }
    }

    /// Rows r0 and r0 + 1 of a tile from the AVX2 kernels' accumulators (four ymm per row).
    #[target_feature(enable = "avx2")]
    fn store_rows_avx2(acc: &[[__m256i; 4]; 2], r0: usize, tile: &mut [i32; MR * NR]) {
        for (h, acc_r) in acc.iter().enumerate() {
            for (q, v) in acc_r.iter().enumerate() {
                let at = (r0 + h) * NR + 8 * q;
                // SAFETY: row r0 + h < MR of NR = 32 i32: 8 lanes at 8q fit.
                unsafe { _mm256_storeu_si256(tile[at..at + 8].as_mut_ptr() as *mut _, *v) };
            }
        }
    }

    /// [`kernel_8x32`] on 256-bit registers (AVX-VNNI): the 32 columns as four ymm of 8,
    /// two rows at a time, so the accumulators fit AVX2's 16 registers.
    #[target_feature(enable = "avx2,avxvnni")]
    unsafe fn kernel_8x32_avx2(
        au: &[u8],
        kp: usize,
        groups: Range<usize>,
        panel: &[u8],
        tile: &mut [i32; MR * NR],
    ) {
        let (pa, pb) = (au.as_ptr(), panel.as_ptr());
        for r0 in (0..MR).step_by(2) {
            let mut acc = [[_mm256_setzero_si256(); 4]; 2];
            for g in groups.clone() {
                // SAFETY: g < kp/4: the loads lie inside the panel; rows r0, r0 + 1 < MR.
                unsafe {
                    let b = [0, 1, 2, 3]
                        .map(|q| _mm256_loadu_si256(pb.add(g * NR * 4 + 32 * q) as *const _));
                    for (h, acc_r) in acc.iter_mut().enumerate() {
                        let av = _mm256_set1_epi32(
                            (pa.add((r0 + h) * kp + 4 * g) as *const i32).read_unaligned(),
                        );
                        for q in 0..4 {
                            acc_r[q] = _mm256_dpbusd_avx_epi32(acc_r[q], av, b[q]);
                        }
                    }
                }
            }
            store_rows_avx2(&acc, r0, tile);
        }
    }

    /// [`kernel_8x32_avx2`] without AVX-VNNI: each `vpdpbusd` becomes two `vpmaddubsw` (on the
    /// low 7 bits and on the top bit of W's offset bytes, so no i16 saturates) and two
    /// `vpmaddwd` that widen and sum the pairs into the i32 lanes, the top bit's weighted by 128.
    #[target_feature(enable = "avx2")]
    unsafe fn kernel_8x32_avx2_plain(
        au: &[u8],
        kp: usize,
        groups: Range<usize>,
        panel: &[u8],
        tile: &mut [i32; MR * NR],
    ) {
        let (pa, pb) = (au.as_ptr(), panel.as_ptr());
        let (low7, top, ones, w128) = (
            _mm256_set1_epi8(0x7f),
            _mm256_set1_epi8(1),
            _mm256_set1_epi16(1),
            _mm256_set1_epi16(128),
        );
        for r0 in (0..MR).step_by(2) {
            let mut acc = [[_mm256_setzero_si256(); 4]; 2];
            for g in groups.clone() {
                // SAFETY: g < kp/4: the loads lie inside the panel; rows r0, r0 + 1 < MR.
                unsafe {
                    let parts = [0, 1].map(|h| {
                        let av = _mm256_set1_epi32(
                            (pa.add((r0 + h) * kp + 4 * g) as *const i32).read_unaligned(),
                        );
                        (
                            _mm256_and_si256(av, low7),
                            _mm256_and_si256(_mm256_srli_epi16::<7>(av), top),
                        )
                    });
                    for q in 0..4 {
                        let b = _mm256_loadu_si256(pb.add(g * NR * 4 + 32 * q) as *const _);
                        for (acc_r, &(lo, hi)) in acc.iter_mut().zip(&parts) {
                            let l = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, b), ones);
                            let h = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, b), w128);
                            acc_r[q] = _mm256_add_epi32(acc_r[q], _mm256_add_epi32(l, h));
                        }
                    }
                }
            }
            store_rows_avx2(&acc, r0, tile);
        }
    }

    /// One MR × NR tile: Σ over kp of au[r][k] · panel[c][k] into `tile` (i32, exact).
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn kernel_8x32(
        au: &[u8],
        kp: usize,
        groups: Range<usize>,
        panel: &[u8],
        tile: &mut [i32; MR * NR],
    ) {
        let mut acc = [[_mm512_setzero_si512(); 2]; MR];
        let pb = panel.as_ptr();
        let pa = au.as_ptr();
        for g in groups {
            // SAFETY: g < kp/4, so both 64-byte loads lie inside the panel.
            let (b0, b1) = unsafe {
                (
                    _mm512_loadu_si512(pb.add(g * NR * 4) as *const _),
                    _mm512_loadu_si512(pb.add(g * NR * 4 + 64) as *const _),
                )
            };
            for (r, acc_r) in acc.iter_mut().enumerate() {
                // SAFETY: row r < MR is inside `au` (MR rows of kp bytes) and 4g + 4 ≤ kp.
                let w = unsafe { (pa.add(r * kp + 4 * g) as *const i32).read_unaligned() };
                let av = _mm512_set1_epi32(w);
                acc_r[0] = _mm512_dpbusd_epi32(acc_r[0], av, b0);
                acc_r[1] = _mm512_dpbusd_epi32(acc_r[1], av, b1);
            }
        }
        for (r, acc_r) in acc.iter().enumerate() {
            // SAFETY: the tile has NR = 32 i32 per row.
            unsafe {
                _mm512_storeu_si512(tile.as_mut_ptr().add(r * NR) as *mut _, acc_r[0]);
                _mm512_storeu_si512(tile.as_mut_ptr().add(r * NR + 16) as *mut _, acc_r[1]);
            }
        }
    }

    /// 2^(e − 1) as f64 for a scale byte (NaN for 0xFF): half of each block's exponent, so
    /// that the product of two of them is 2^(ea + eb − 2), exactly.
    fn half_scale(byte: u8) -> f64 {
        e8m0::exponent(byte).map_or(f64::NAN, |e| e8m0::pow2(e - 1))
    }

    /// Rows of W per MXFP4 tile.
    const MX_MR: usize = 4;

    /// Whether a half-scale 2^(e − 1) keeps every block product exact in f32: with both
    /// exponents in [−60, 50] the scale 2^(ea + eb − 2) is a normal f32 and |dot| · scale
    /// (|dot| < 2^24) stays inside f32's normal range, so f32(dot) · scale needs no rounding,
    /// exactly like the f64 route.
    fn f32_safe(byte: u8) -> bool {
        e8m0::exponent(byte).is_some_and(|e| (-59..=51).contains(&e))
    }

    /// The MXFP4 GEMM with the AVX-512 (`wide`) or the AVX2 micro-kernel.
    pub fn mx_gemm(
        a: &[u8],
        b: &[u8],
        sa: &[u8],
        sb: &[u8],
        (m, n, k, block): (usize, usize, usize, usize),
        wide: bool,
    ) -> Vec<f32> {
        if m == 0 || n == 0 {
            return vec![0f32; m * n];
        }
        // W: doubled codes + 12 (so ≥ 0), block-padded, rows padded to whole tiles;
        // B: doubled codes, block-padded, packed in panels; in the thread's reused buffers.
        super::with_scratch(|[au, bs, packed]| {
            mx_gemm_in(a, b, sa, sb, (m, n, k, block), (au, bs, packed), wide)
        })
    }

    #[allow(clippy::type_complexity)]
    fn mx_gemm_in(
        a: &[u8],
        b: &[u8],
        sa: &[u8],
        sb: &[u8],
        (m, n, k, block): (usize, usize, usize, usize),
        (au, bs, packed): (&mut Vec<u8>, &mut Vec<u8>, &mut Vec<u8>),
        wide: bool,
    ) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        let blocks = k.div_ceil(block);
        let bp = block.div_ceil(4) * 4; // padded block
        let kp = blocks * bp;
        let mp = m.div_ceil(MX_MR) * MX_MR;
        au.clear();
        au.resize(mp * kp, 12);
        bs.clear();
        bs.resize(n * kp, 0);
        // Rows block-padded, codes doubled (the integers 2·value): W's offset by 12 (so u8),
        // xᵀ's as they are (two's complement). Done here, on the threads, in one pass.
        let pad_blocks = |src: &[u8], dst: &mut [u8], offset: i8| {
            for (blk, codes) in src.chunks(block).enumerate() {
                for (d, &c) in dst[blk * bp..].iter_mut().zip(codes) {
                    *d = (e2m1::doubled(c) + offset) as u8;
                }
            }
        };
        // W and xᵀ are prepared side by side (one fork-join rather than several in a row: each
        // costs a wake-up of the pool, which shows at n = 512).
        let panels = n.div_ceil(NR);
        let mut meta = vec![PanelBlock::default(); panels * blocks];
        rayon::join(
            || {
                super::for_chunks(au, kp, m * k * 64, |(r, dst)| {
                    if r < m {
                        pad_blocks(&a[r * k..(r + 1) * k], dst, 12);
                    }
                })
            },
            || {
                super::for_chunks(bs, kp, n * k * 64, |(j, dst)| {
                    pad_blocks(&b[j * k..(j + 1) * k], dst, 0)
                });
                let bs = &*bs;
                rayon::join(
                    || super::pack_panels_into(bs, n, kp, kp, packed),
                    || panel_blocks(bs, sb, (n, kp, blocks, bp), &mut meta),
                );
            },
        );
        let (au, packed, meta) = (&*au, &*packed, &meta);
        let ascale: Vec<f64> = (0..mp * blocks)
            .map(|i| {
                if i < m * blocks {
                    half_scale(sa[i])
                } else {
                    1.0
                }
            })
            .collect();
        let asafe: Vec<bool> = (0..mp * blocks)
            .map(|i| i >= m * blocks || f32_safe(sa[i]))
            .collect();
        // Tasks of 16 tiles; within a task, panels outer and row tiles inner, so one panel of
        // B stays in cache while the task's rows of A stream past it.
        let task_rows = MX_MR * 16;
        let work = |(t, chunk): (usize, &mut [f32])| {
            let rows = chunk.len() / n;
            let mut tile = [0f32; MX_MR * NR];
            for p in 0..panels {
                let b = Panel {
                    codes: &packed[p * NR * kp..(p + 1) * NR * kp],
                    blocks: &meta[p * blocks..(p + 1) * blocks],
                };
                let nc = NR.min(n - p * NR);
                for r0 in (0..rows).step_by(MX_MR) {
                    let i0 = t * task_rows + r0;
                    let a = Rows {
                        codes: &au[i0 * kp..(i0 + MX_MR) * kp],
                        scale: &ascale[i0 * blocks..(i0 + MX_MR) * blocks],
                        safe: &asafe[i0 * blocks..(i0 + MX_MR) * blocks],
                    };
                    // SAFETY: the kernel's features are available (dispatch: AVX-512
                    // F/BW/DQ/VNNI when `wide`, else AVX2); the slices above hold MX_MR padded
                    // rows of kp bytes, a panel of kp/4 groups, and blocks·NR entries.
                    unsafe {
                        if wide {
                            mx_kernel_4x32(&a, &b, blocks, bp, &mut tile)
                        } else {
                            mx_kernel_4x32_avx2(&a, &b, blocks, bp, &mut tile)
                        }
                    };
                    for r in 0..MX_MR.min(rows - r0) {
                        chunk[(r0 + r) * n + p * NR..(r0 + r) * n + p * NR + nc]
                            .copy_from_slice(&tile[r * NR..r * NR + nc]);
                    }
                }
            }
        };
        super::for_chunks(&mut out, task_rows * n, m * n * k, work);
        out
    }

    /// What each block of each panel needs (see [`PanelBlock`]), from xᵀ's block-padded
    /// doubled codes `bs` (`n` rows of `kp`) and its scale bytes `sb`.
    fn panel_blocks(
        bs: &[u8],
        sb: &[u8],
        (n, kp, blocks, bp): (usize, usize, usize, usize),
        meta: &mut [PanelBlock],
    ) {
        super::for_chunks(meta, blocks, n * kp * 64, |(p, meta)| {
            for (blk, m) in meta.iter_mut().enumerate() {
                m.safe = true;
                for (c, j) in (p * NR..((p + 1) * NR).min(n)).enumerate() {
                    // The padded block of column j (padding is 0), as signed doubled codes.
                    let padded = &bs[j * kp + blk * bp..j * kp + (blk + 1) * bp];
                    m.sum[c] = 12 * padded.iter().map(|&v| i32::from(v as i8)).sum::<i32>();
                    let byte = sb[j * blocks + blk];
                    m.scale[c] = half_scale(byte);
                    m.scale32[c] = m.scale[c] as f32;
                    m.safe &= f32_safe(byte);
                }
            }
        });
    }

    /// MX_MR rows of W, block-padded, with their half-scales.
    struct Rows<'a> {
        codes: &'a [u8],
        scale: &'a [f64],
        safe: &'a [bool],
    }

    /// One packed panel of NR columns of xᵀ with what each of its blocks needs.
    struct Panel<'a> {
        codes: &'a [u8],
        blocks: &'a [PanelBlock],
    }

    /// One block of a panel: for each of the NR columns, 12·Σb and 2^(eb − 1) in f64 and in
    /// f32; and whether every column's scale allows the exact f32 route. Padding columns
    /// past n hold zeros.
    #[derive(Clone, Copy, Default)]
    struct PanelBlock {
        sum: [i32; NR],
        scale: [f64; NR],
        scale32: [f32; NR],
        safe: bool,
    }

    /// [`mx_kernel_4x32`] on AVX2: two rows at a time (the i32 sums of 2 × 32 columns fill
    /// eight ymm), the f32 sums kept in `tile`. A block dot comes from `vpmaddubsw` (W's
    /// offset codes ≤ 24 times xᵀ's |codes| ≤ 12: pairs ≤ 576, exact in i16) and `vpmaddwd`
    /// against ones; the scaling is the same exact f32-or-f64 step as on AVX-512.
    #[target_feature(enable = "avx2")]
    unsafe fn mx_kernel_4x32_avx2(
        a: &Rows,
        b: &Panel,
        blocks: usize,
        bp: usize,
        tile: &mut [f32; MX_MR * NR],
    ) {
        let (pa, pb) = (a.codes.as_ptr(), b.codes.as_ptr());
        let kp = blocks * bp;
        let groups = bp / 4;
        let ones = _mm256_set1_epi16(1);
        tile.fill(0.0);
        for r0 in (0..MX_MR).step_by(2) {
            for blk in 0..blocks {
                let mut acc = [[_mm256_setzero_si256(); 4]; 2];
                for g in blk * groups..(blk + 1) * groups {
                    // SAFETY: g < kp/4: the loads lie inside the panel and rows r0, r0 + 1.
                    unsafe {
                        let av = [0, 1].map(|h| {
                            _mm256_set1_epi32(
                                (pa.add((r0 + h) * kp + 4 * g) as *const i32).read_unaligned(),
                            )
                        });
                        for q in 0..4 {
                            let bq = _mm256_loadu_si256(pb.add(g * NR * 4 + 32 * q) as *const _);
                            for (acc_r, &a_r) in acc.iter_mut().zip(&av) {
                                let d = _mm256_madd_epi16(_mm256_maddubs_epi16(a_r, bq), ones);
                                acc_r[q] = _mm256_add_epi32(acc_r[q], d);
                            }
                        }
                    }
                }
                let meta = &b.blocks[blk];
                let fast = meta.safe && (0..2).all(|h| a.safe[(r0 + h) * blocks + blk]);
                for (h, acc_r) in acc.iter().enumerate() {
                    let sa = a.scale[(r0 + h) * blocks + blk];
                    for (q, &acc_q) in acc_r.iter().enumerate() {
                        // SAFETY: every per-block array holds NR = 32 values and the tile NR
                        // per row: 8q + 8 ≤ 32, row r0 + h < MX_MR.
                        unsafe {
                            let c = _mm256_loadu_si256(meta.sum.as_ptr().add(8 * q) as *const _);
                            let dot = _mm256_sub_epi32(acc_q, c);
                            let v = if fast {
                                // f32(dot) and its product with 2^(ea+eb−2) are exact: one
                                // rounding, in the add.
                                let s = _mm256_mul_ps(
                                    _mm256_set1_ps(sa as f32),
                                    _mm256_loadu_ps(meta.scale32.as_ptr().add(8 * q)),
                                );
                                _mm256_mul_ps(_mm256_cvtepi32_ps(dot), s)
                            } else {
                                // Exact in f64 (an integer times powers of two), one rounding
                                // to f32, four lanes at a time.
                                let half = |lanes: __m128i, at: usize| {
                                    _mm256_cvtpd_ps(_mm256_mul_pd(
                                        _mm256_mul_pd(
                                            _mm256_cvtepi32_pd(lanes),
                                            _mm256_set1_pd(sa),
                                        ),
                                        _mm256_loadu_pd(meta.scale.as_ptr().add(8 * q + at)),
                                    ))
                                };
                                _mm256_set_m128(
                                    half(_mm256_extracti128_si256::<1>(dot), 4),
                                    half(_mm256_castsi256_si128(dot), 0),
                                )
                            };
                            let y = tile.as_mut_ptr().add((r0 + h) * NR + 8 * q);
                            _mm256_storeu_ps(y, _mm256_add_ps(_mm256_loadu_ps(y), v));
                        }
                    }
                }
            }
        }
    }

    /// MX_MR rows of W against one panel of 32 columns, block by block: exact i32 block dots,
    /// scaled exactly (in f32 when the scales allow, else in f64) and added to f32 sums.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vnni")]
    unsafe fn mx_kernel_4x32(
        a: &Rows,
        b: &Panel,
        blocks: usize,
        bp: usize,
        tile: &mut [f32; MX_MR * NR],
    ) {
        let mut y = [[_mm512_setzero_ps(); 2]; MX_MR];
        let (pa, pb) = (a.codes.as_ptr(), b.codes.as_ptr());
        let kp = blocks * bp;
        let groups = bp / 4;
        for blk in 0..blocks {
            let mut acc = [[_mm512_setzero_si512(); 2]; MX_MR];
            for g in blk * groups..(blk + 1) * groups {
                // SAFETY: g < kp/4: the loads lie inside the panel and each row.
                unsafe {
                    let b0 = _mm512_loadu_si512(pb.add(g * NR * 4) as *const _);
                    let b1 = _mm512_loadu_si512(pb.add(g * NR * 4 + 64) as *const _);
                    for (r, acc_r) in acc.iter_mut().enumerate() {
                        let av = _mm512_set1_epi32(
                            (pa.add(r * kp + 4 * g) as *const i32).read_unaligned(),
                        );
                        acc_r[0] = _mm512_dpbusd_epi32(acc_r[0], av, b0);
                        acc_r[1] = _mm512_dpbusd_epi32(acc_r[1], av, b1);
                    }
                }
            }
            let meta = &b.blocks[blk];
            // SAFETY: each per-block array holds NR = 32 values.
            let (c0, c1) = unsafe {
                (
                    _mm512_loadu_si512(meta.sum.as_ptr() as *const _),
                    _mm512_loadu_si512(meta.sum.as_ptr().add(16) as *const _),
                )
            };
            let fast = meta.safe && (0..MX_MR).all(|r| a.safe[r * blocks + blk]);
            if fast {
                // SAFETY: as above.
                let (s0, s1) = unsafe {
                    (
                        _mm512_loadu_ps(meta.scale32.as_ptr()),
                        _mm512_loadu_ps(meta.scale32.as_ptr().add(16)),
                    )
                };
                for (r, (acc_r, y_r)) in acc.iter().zip(y.iter_mut()).enumerate() {
                    let sa = _mm512_set1_ps(a.scale[r * blocks + blk] as f32);
                    // f32(dot) is exact, and so is its product with 2^(ea+eb−2): one rounding,
                    // in the add, as in the scalar kernel.
                    let v0 = _mm512_mul_ps(
                        _mm512_cvtepi32_ps(_mm512_sub_epi32(acc_r[0], c0)),
                        _mm512_mul_ps(sa, s0),
                    );
                    let v1 = _mm512_mul_ps(
                        _mm512_cvtepi32_ps(_mm512_sub_epi32(acc_r[1], c1)),
                        _mm512_mul_ps(sa, s1),
                    );
                    y_r[0] = _mm512_add_ps(y_r[0], v0);
                    y_r[1] = _mm512_add_ps(y_r[1], v1);
                }
            } else {
                for (r, (acc_r, y_r)) in acc.iter().zip(y.iter_mut()).enumerate() {
                    let sav = _mm512_set1_pd(a.scale[r * blocks + blk]);
                    for h in 0..2 {
                        let dot = _mm512_sub_epi32(acc_r[h], if h == 0 { c0 } else { c1 });
                        let mut halves = [_mm256_setzero_ps(); 2];
                        for (q, half) in halves.iter_mut().enumerate() {
                            let lanes = if q == 0 {
                                _mm512_castsi512_si256(dot)
                            } else {
                                _mm512_extracti64x4_epi64::<1>(dot)
                            };
                            // SAFETY: 8 f64 at blk·NR + 16h + 8q, inside the block's NR entries.
                            let sbv =
                                unsafe { _mm512_loadu_pd(meta.scale.as_ptr().add(16 * h + 8 * q)) };
                            // Exact in f64 (an integer times powers of two), one rounding to f32.
                            *half = _mm512_cvtpd_ps(_mm512_mul_pd(
                                _mm512_mul_pd(_mm512_cvtepi32_pd(lanes), sav),
                                sbv,
                            ));
                        }
                        let v =
                            _mm512_insertf32x8::<1>(_mm512_castps256_ps512(halves[0]), halves[1]);
                        y_r[h] = _mm512_add_ps(y_r[h], v);
                    }
                }
            }
        }
        for (r, y_r) in y.iter().enumerate() {
            // SAFETY: the tile holds MX_MR rows of NR f32.
            unsafe {
                _mm512_storeu_ps(tile.as_mut_ptr().add(r * NR), y_r[0]);
                _mm512_storeu_ps(tile.as_mut_ptr().add(r * NR + 16), y_r[1]);
            }
        }
    }
}
