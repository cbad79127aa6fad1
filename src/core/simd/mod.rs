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
//! the dispatching wrappers here, which check the CPU first. Both GEMMs are micro-kernels of the
//! one blocked driver in `mod blocked` (tasks of row tiles; in a task, column blocks of x
//! that fit in L2, row tiles of W, panels).
//!
//! One fallback convention: every dispatcher returns an `Option`, `None` when the ISA asked
//! for has no kernel for these arguments or the CPU lacks it; the caller then runs the
//! portable twin that the dispatcher's documentation names.
#![allow(unsafe_code)]

use std::sync::OnceLock;

use crate::core::codec::minifloat::F32Encoder;
use crate::core::codec::rounding::Rounding;

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
    /// AVX-512 VNNI plus AMX-INT8 tiles (Sapphire Rapids and later): its own micro-kernels
    /// (`tdpbssd`) for the INT8 GEMM, the MX block GEMM (MXFP4, MXINT8, MXFP6 E2M3, NVFP4,
    /// INT groups) and the exact-f64 block GEMM of integers up to 2^21 (MXFP8 E4M3, MXFP6
    /// E3M2, FP8 E4M3), as 7-bit digits; every other kernel is the AVX-512 one.
    Amx,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx2Vnni => "avx2-vnni",
            Isa::Avx512Vnni => "avx512-vnni",
            Isa::Amx => "amx",
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
            Isa::Amx => {
                #[cfg(target_arch = "x86_64")]
                {
                    Isa::Avx512Vnni.available() && x86::amx_available()
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    false
                }
            }
        }
    }

    /// The vector instruction set of the path: AMX's kernels other than its tile GEMMs are the
    /// AVX-512 ones.
    pub fn vector(self) -> Isa {
        match self {
            Isa::Amx => Isa::Avx512Vnni,
            other => other,
        }
    }

    pub const ALL: [Isa; 5] = [
        Isa::Scalar,
        Isa::Avx2,
        Isa::Avx2Vnni,
        Isa::Avx512Vnni,
        Isa::Amx,
    ];

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
            "amx" => Isa::Amx,
            _ => {
                return Err(crate::core::error::Error::Invalid(format!(
                    "unknown kernel '{}'; expected scalar, avx2, avx2-vnni, avx512-vnni or amx",
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
        if Isa::Amx.available() {
            Isa::Amx
        } else if Isa::Avx512Vnni.available() {
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

/// Longest K whose raw accumulator Σ a·b (|a|, |b| ≤ 128) is exact in i32: 65536 · 2^14 = 2^30.
/// Longer rows are summed in chunks of this length into an i64, never wrapped.
pub const EXACT_I32_K: usize = 65_536;

/// Σ a·b over one row pair, i32 inside a chunk, i64 across chunks: the portable twin of every
/// INT8 micro-kernel's dot.
pub fn dot(a: &[i8], b: &[i8]) -> i64 {
    a.chunks(EXACT_I32_K)
        .zip(b.chunks(EXACT_I32_K))
        .map(|(a, b)| {
            let s: i32 = a
                .iter()
                .zip(b)
                .map(|(&p, &q)| i32::from(p) * i32::from(q))
                .sum();
            i64::from(s)
        })
        .sum()
}

/// Multiply-adds below which a GEMM stays on the calling thread.
pub const PARALLEL_WORK: usize = 1 << 22;

/// Whether a stage of `work` (multiply-adds or bytes touched) runs on rayon's threads: it is
/// worth a fork-join, and the pool has more than one thread (with one, handing the stage to
/// it and waiting costs a wake-up and a sleep per stage and gains nothing).
pub fn parallel(work: usize) -> bool {
    work >= PARALLEL_WORK && rayon::current_num_threads() > 1
}

/// `a` and `b`, side by side on the pool when [`parallel`]`(work)`, else one after the other.
pub fn join<A: Send, B: Send>(
    work: usize,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if parallel(work) {
        rayon::join(a, b)
    } else {
        (a(), b())
    }
}

/// Runs a whole GEMM, `f`, on one of the pool's threads when its `work` is worth threads: a
/// caller outside the pool would otherwise hand each stage (sums, packing, tiles) over and
/// wait for it, one round trip per stage; inside, the stages fork and join among the
/// workers. Called from a worker (an experiment's GEMMs in parallel), it runs in place.
pub fn on_pool<R: Send>(work: usize, f: impl FnOnce() -> R + Send) -> R {
    if parallel(work) && rayon::current_thread_index().is_none() {
        rayon::scope(|_| f())
    } else {
        f()
    }
}

/// Raw accumulators `Σ_k a[m][k]·b[n][k]` for `a` (`m × k`) and `b` (`n × k`), exact, `m × n`:
/// the portable kernel, rows in parallel (the scalar path of [`int8_gemm`]).
pub fn int8_dots(a: &[i8], b: &[i8], m: usize, n: usize, k: usize) -> Vec<i64> {
    use rayon::prelude::*;
    let mut out = vec![0i64; m * n];
    if n == 0 {
        return out;
    }
    out.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        for (j, acc) in row.iter_mut().enumerate() {
            *acc = dot(&a[i * k..(i + 1) * k], &b[j * k..(j + 1) * k]);
        }
    });
    out
}

/// Zero-point correction and scale of every row of W and every column of x: what turns a raw
/// accumulator into an output, exactly as `int8::finish` does.
pub struct Int8Epilogue<'a> {
    pub w_zero: &'a [i64],
    pub w_scale: &'a [f32],
    /// ΣqW per row; any values (zeros) when every zx is 0, as it is only ever taken times zx.
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
/// micro-kernel's write-back (no intermediate accumulator matrix); `None` when `isa` has no
/// INT8 kernel or is not available. Portable twin: [`int8_gemm_portable`].
pub fn int8_gemm(
    isa: Isa,
    a: &[i8],
    b: &[i8],
    (m, n, k): (usize, usize, usize),
    e: &Int8Epilogue,
) -> Option<Vec<f32>> {
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Scalar && isa.available() {
        return Some(x86::int8_gemm(a, b, (m, n, k), e, isa));
    }
    let _ = (isa, a, b, m, n, k, e);
    None
}

/// The portable INT8 GEMM: [`int8_dots`], then [`Int8Epilogue::apply`] on each sum.
pub fn int8_gemm_portable(
    a: &[i8],
    b: &[i8],
    (m, n, k): (usize, usize, usize),
    e: &Int8Epilogue,
) -> Vec<f32> {
    int8_dots(a, b, m, n, k)
        .iter()
        .enumerate()
        .map(|(i, &acc)| e.apply(i / n, i % n, k, acc))
        .collect()
}

/// Smallest and largest value of a slice with 0 included (the INT8 range always holds 0), or
/// `None` when a value is NaN or infinite.
pub type MinMax = Option<(f32, f32)>;

/// [`MinMax`] of `data` on `isa`; `None` when `isa` has no such kernel or is not available.
/// Portable twin: [`min_max_finite_portable`].
pub fn min_max_finite(isa: Isa, data: &[f32]) -> Option<MinMax> {
    #[cfg(target_arch = "x86_64")]
    if isa.available() {
        match isa.vector() {
            // SAFETY: AVX-512 F is available (checked just above).
            Isa::Avx512Vnni => return Some(unsafe { x86::min_max_finite(data) }),
            // SAFETY: AVX2 is available (checked just above).
            Isa::Avx2 | Isa::Avx2Vnni => return Some(unsafe { x86::min_max_finite_avx2(data) }),
            Isa::Scalar | Isa::Amx => {}
        }
    }
    let _ = (isa, data);
    None
}

/// The portable [`MinMax`] of `data`, branch-free so that it compiles to vector code.
pub fn min_max_finite_portable(data: &[f32]) -> MinMax {
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
/// returns how many it wrote (whole vectors), and the caller's portable loop (the twin,
/// `format::int8`'s `fill_row`) does the rest; `None` when the path does not apply (scalar
/// ISA, stochastic rounding).
pub fn int8_quantize_row(
    isa: Isa,
    src: &[f32],
    (scale, zero_point): (f32, i32),
    (qmin, qmax): (i32, i32),
    rounding: Rounding,
    dst: &mut [i8],
) -> Option<usize> {
    let n = src.len().min(dst.len());
    let args = (
        scale,
        zero_point as f32,
        (qmin as f32, qmax as f32),
        rounding,
    );
    #[cfg(target_arch = "x86_64")]
    if !matches!(rounding, Rounding::Stochastic { .. }) && isa.available() {
        match isa.vector() {
            Isa::Avx512Vnni => {
                let n = n / 16 * 16;
                // SAFETY: AVX-512 F/BW are available (checked just above); n ≤ both lengths.
                unsafe { x86::int8_quantize_16s(&src[..n], args, &mut dst[..n]) };
                return Some(n);
            }
            Isa::Avx2 | Isa::Avx2Vnni => {
                let n = n / 8 * 8;
                // SAFETY: AVX2 is available (checked just above); n ≤ both lengths.
                unsafe { x86::int8_quantize_8s_avx2(&src[..n], args, &mut dst[..n]) };
                return Some(n);
            }
            Isa::Scalar | Isa::Amx => {}
        }
    }
    let _ = (isa, src, args, dst, n);
    None
}

/// Codes of v · `factors[j]` (or v / `factors[j]` when `divide`: FP8's real scales) for a
/// row's values in blocks of `block` (block j scaled by `factors[j]`) under ties to even, a
/// negative zero stored as +0 when `flush_zero`, on the SIMD path: how many leading values it
/// coded — whole vectors, up to the first vector holding a scaled value that is not finite —
/// for the caller's portable loop to go on from; `None` on the scalar path or for a block that
/// is not a multiple of 8 (16 lanes on AVX-512 where the block is a multiple of 16, else 8 on
/// AVX2). The product and the quotient are IEEE's, lane by lane as in scalar code. Portable
/// twin: `Element::encode_f32`.
pub fn element_codes(
    isa: Isa,
    e: &F32Encoder,
    src: &[f32],
    (block, factors, divide): (usize, &[f32], bool),
    flush_zero: bool,
    codes: &mut [u8],
) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Scalar && isa.available() && block > 0 {
        let args = (block, factors, divide);
        if isa.vector() == Isa::Avx512Vnni && block.is_multiple_of(16) {
            // SAFETY: AVX-512 F is available (checked just above).
            return Some(unsafe { x86::element_codes_16s(e, src, args, flush_zero, codes) });
        }
        if block.is_multiple_of(8) && Isa::Avx2.available() {
            // SAFETY: AVX2 is available (checked just above).
            return Some(unsafe { x86::element_codes_avx2(e, src, args, flush_zero, codes) });
        }
    }
    let _ = (isa, e, src, block, factors, divide, flush_zero, codes);
    None
}

/// The index of the first NaN or ±Inf of `data`, 16 (AVX-512) or 8 (AVX2) values a compare,
/// the tail portably; `None` when there is none. The scalar path is the portable twin,
/// `matrix::first_non_finite`.
pub fn first_non_finite(isa: Isa, data: &[f32]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Scalar && isa.available() {
        let (lanes, found) = if isa.vector() == Isa::Avx512Vnni {
            // SAFETY: AVX-512 F is available (checked just above).
            (16, unsafe { x86::first_non_finite_16s(data) })
        } else {
            // SAFETY: every SIMD path has AVX2 (checked just above).
            (8, unsafe { x86::first_non_finite_avx2(data) })
        };
        if found.is_some() {
            return found;
        }
        let whole = data.len() / lanes * lanes;
        return crate::core::matrix::first_non_finite(&data[whole..]).map(|i| whole + i);
    }
    let _ = isa;
    crate::core::matrix::first_non_finite(data)
}

/// Σ v, exact: 64 (AVX-512) or 32 (AVX2) codes a `vpsadbw` on the SIMD paths; the portable
/// twin sums in i32 inside chunks of [`EXACT_I32_K`] (|Σ| ≤ 2^23 there, so it vectorises).
pub fn code_sum(isa: Isa, v: &[i8]) -> i64 {
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Scalar && isa.available() {
        return if isa.vector() == Isa::Avx512Vnni {
            // SAFETY: AVX-512 F and BW are available (every AVX-512 path has them).
            unsafe { x86::code_sum_64s(v) }
        } else {
            // SAFETY: every SIMD path has AVX2 (checked just above).
            unsafe { x86::code_sum_avx2(v) }
        };
    }
    let _ = isa;
    v.chunks(EXACT_I32_K)
        .map(|c| i64::from(c.iter().map(|&q| i32::from(q)).sum::<i32>()))
        .sum()
}

/// The whole groups of 4 bytes of one full panel of x (columns `c0 .. c0 + NR` of `b`, rows
/// of `k` bytes) into `dst`, as `blocked::pack_panels` lays them out, by 16 × 16 transposes on
/// AVX-512; `false` (nothing written) on other paths, which pack column by column. On x86
/// only, like the driver.
#[cfg(target_arch = "x86_64")]
fn pack_groups(isa: Isa, b: &[u8], k: usize, c0: usize, dst: &mut [u8]) -> bool {
    if isa != Isa::Scalar && isa.available() && isa.vector() == Isa::Avx512Vnni {
        // SAFETY: AVX-512 F is available (checked just above).
        unsafe { x86::pack_groups_16s(b, k, c0, dst) };
        return true;
    }
    false
}

/// `src` mapped byte by byte through `table`, or `None` when any mapped byte is `reject`: 64
/// bytes a step by `vpermi2b` where the CPU has AVX-512 VBMI (on a SIMD path), else one
/// lookup a byte.
pub fn map_bytes(isa: Isa, table: &[u8; 256], src: &[u8], reject: u8) -> Option<Vec<u8>> {
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Scalar
        && isa.available()
        && isa.vector() == Isa::Avx512Vnni
        && std::arch::is_x86_feature_detected!("avx512vbmi")
    {
        let mut out = vec![0u8; src.len()];
        // SAFETY: AVX-512 F, BW (every AVX-512 path) and VBMI are available (checked above).
        let hit = unsafe { x86::map_bytes_vbmi(table, src, &mut out, reject) };
        return (!hit).then_some(out);
    }
    let _ = isa;
    let out: Vec<u8> = src.iter().map(|&c| table[usize::from(c)]).collect();
    (!out.contains(&reject)).then_some(out)
}

/// The largest magnitude of each block of `block` values of a row (NaN for a block holding a
/// NaN) into `out`, on the SIMD path; `None` on the scalar path. Portable twin:
/// `codec::mx_block::block_amax`.
pub fn block_amaxes(isa: Isa, src: &[f32], block: usize, out: &mut [f32]) -> Option<()> {
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Scalar && isa.available() && block > 0 {
        if isa.vector() == Isa::Avx512Vnni {
            // SAFETY: AVX-512 F is available (checked just above).
            unsafe { x86::block_amaxes_16s(src, block, out) };
        } else {
            // SAFETY: every SIMD path has AVX2 (checked just above).
            unsafe { x86::block_amaxes_avx2(src, block, out) };
        }
        return Some(());
    }
    let _ = (isa, src, block, out);
    None
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
    if isa.vector() == Isa::Avx512Vnni && isa.available() {
        4
    } else {
        2
    }
}

/// The reference GEMM's 4 × 4 tile on AVX-512, when `isa` is the AVX-512 path; `None`
/// otherwise. Every value must be an f32 widened to f64 (as `reference::gemm_f64` makes
/// them): then each product is exact and the kernel's FMA gives the bits of its scalar twin,
/// `reference::dots`, whose order (eight partial sums) it keeps lane for lane.
pub fn f64_dots_4x4(isa: Isa, a: [&[f64]; 4], b: [&[f64]; 4]) -> Option<[[f64; 4]; 4]> {
    #[cfg(target_arch = "x86_64")]
    if isa.vector() == Isa::Avx512Vnni && isa.available() {
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

/// The MX block GEMM of i8 integer elements (`a`, `b`: the integers' bytes, `m × k` and
/// `n × k`; each worth int · 2^−frac): per block the exact i32 dot, times 2^(ea + eb − 2·frac),
/// rounded once to f32, summed in f32 in K order — `kernel::segments`'s rule, whose general
/// code is the portable twin. The caller checks |int| ≤ 127, no −128 in `b`, and
/// block · 127² < 2^24. `None` when `isa` has no such kernel (AMX tiles on the AMX path,
/// AVX-512 VNNI on the AVX-512 one, the AVX2 kernel on the others).
pub fn mx_gemm_i8(
    isa: Isa,
    (a, b): (&[u8], &[u8]),
    (sa, sb): (&[u8], &[u8]),
    (m, n, k, block): (usize, usize, usize, usize),
    frac: i32,
) -> Option<Vec<f32>> {
    #[cfg(target_arch = "x86_64")]
    return mx_block(
        isa,
        (a, b),
        (sa, sb),
        (m, n, k, block),
        x86::Elements::Int8 { frac },
    );
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (isa, a, b, sa, sb, m, n, k, block, frac);
        None
    }
}

/// The MX block kernel for `elements` with byte scales when `isa` is a SIMD path (see
/// [`block_kernel`]). What MXFP4, the integer MX formats and NVFP4 share.
#[cfg(target_arch = "x86_64")]
fn mx_block(
    isa: Isa,
    (a, b): (&[u8], &[u8]),
    (sa, sb): (&[u8], &[u8]),
    dims: (usize, usize, usize, usize),
    elements: x86::Elements,
) -> Option<Vec<f32>> {
    let scales = x86::Scales::Bytes(sa, sb);
    block_kernel(isa, (a, b), scales, dims, elements)
}

/// The block kernel for `isa`, when it is a SIMD path: AMX tiles on the AMX path, AVX-512
/// VNNI's on the AVX-512 one, else AVX2's (with FMA, which every AVX2 CPU qlab knows has).
#[cfg(target_arch = "x86_64")]
fn block_kernel(
    isa: Isa,
    (a, b): (&[u8], &[u8]),
    scales: x86::Scales,
    dims: (usize, usize, usize, usize),
    elements: x86::Elements,
) -> Option<Vec<f32>> {
    let avx2 = Isa::Avx2.available() && std::arch::is_x86_feature_detected!("fma");
    let kernel = match isa {
        Isa::Amx => x86::MxKernel::Amx,
        Isa::Avx512Vnni => x86::MxKernel::Avx512,
        _ if avx2 => x86::MxKernel::Avx2,
        _ => return None,
    };
    (isa != Isa::Scalar && isa.available()).then(|| {
        let work = dims.0 * dims.1 * dims.2;
        on_pool(work, || x86::mx_gemm(a, b, scales, dims, kernel, elements))
    })
}

/// The NVFP4 GEMM before the tensor scales: E2M1 codes `a` (`m × k`) and `b` (`n × k`), E4M3
/// scale bytes per block of 16, per block dot · (sW · sx) / 4 (exact in f32) summed in f32 in
/// K order. `None` when `isa` has no such kernel. Portable twin: `format::nvfp4::gemm_with
/// (Isa::Scalar, ..)`.
pub fn nvfp4_gemm(
    isa: Isa,
    (a, b): (&[u8], &[u8]),
    (sa, sb): (&[u8], &[u8]),
    (m, n, k): (usize, usize, usize),
) -> Option<Vec<f32>> {
    #[cfg(target_arch = "x86_64")]
    return mx_block(isa, (a, b), (sa, sb), (m, n, k, 16), x86::Elements::Nvfp4);
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (isa, a, b, sa, sb, m, n, k);
        None
    }
}

/// How [`scaled_i8_gemm`] forms each block's term from its exact dot and real scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockRule {
    /// INT's: f32(dot) · (f32(sa) · f32(sb)), each step rounded in f32
    /// (`format::int_group::gemm`).
    IntF32,
    /// The segment rule: dot · sa · sb rounded once to f32 (`codec::exact::round_once`).
    RoundOnce,
}

/// The block GEMM of i8 integers with real scales: `a` (`m × k`) and `b` (`n × k`)
/// (|int| ≤ 127), one f64 scale per row and block of `block` (`sa`: `m ×
/// blocks`, `sb`: `n × blocks`; finite, > 0, f32 values or f32 values times a power of two);
/// per block the exact i32 dot (the caller checks block · 255 · 128 < 2^31), its term by
/// `rule`, summed in f32 in K order. `None` when `isa` has no such kernel. Portable twins:
/// `format::int_group::gemm` ([`BlockRule::IntF32`]) and `kernel::segments::gemm`
/// ([`BlockRule::RoundOnce`]).
pub fn scaled_i8_gemm(
    isa: Isa,
    (a, b): (&[i8], &[i8]),
    (sa, sb): (&[f64], &[f64]),
    (m, n, k, block): (usize, usize, usize, usize),
    rule: BlockRule,
) -> Option<Vec<f32>> {
    #[cfg(target_arch = "x86_64")]
    return block_kernel(
        isa,
        (x86::bytemuck_i8(a), x86::bytemuck_i8(b)),
        x86::Scales::Real(sa, sb, rule),
        (m, n, k, block),
        x86::Elements::Int8 { frac: 0 },
    );
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (isa, a, b, sa, sb, m, n, k, block, rule);
        None
    }
}

/// The block kernels' round-once step on eight lanes, alone (for tests): `dot[l] · s[l]`
/// rounded once to f32, as `codec::exact::round_once(dot, s, 0)` gives it wherever the
/// product is a normal f64 far from f64's range ends. `None` when `isa` has no such step.
pub fn round_once_lanes(isa: Isa, dot: [i32; 8], s: [f64; 8]) -> Option<[f32; 8]> {
    #[cfg(target_arch = "x86_64")]
    {
        if isa.vector() == Isa::Avx512Vnni && isa.available() {
            return Some(x86::round_once_lanes_avx512(dot, s));
        }
        if isa != Isa::Scalar && Isa::Avx2.available() && std::arch::is_x86_feature_detected!("fma")
        {
            return Some(x86::round_once_lanes_avx2(dot, s));
        }
    }
    let _ = (isa, dot, s);
    None
}

/// How [`exact_f64_block_gemm`] forms and rounds a block's term.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum F64Blocks {
    /// One f64 sum per block (the caller's bound keeps every partial sum below 2^53),
    /// power-of-two scales: the term is exact until its one rounding to f32.
    PowerOfTwo,
    /// As `PowerOfTwo` with any positive f32 scales: the term rounded once through the FMA
    /// residual (FP8's real scales).
    RealScales,
    /// Two f64 sums per block — products of magnitude below `threshold` in one, the rest in
    /// the other, each exact by the caller's bound (every product exact, the low sum below
    /// 2^53, the high sum's addends multiples of a power of two that keeps it below 2^53 of
    /// them) — and power-of-two scales: their exact total rounded once (MXFP8 E5M2).
    Split { threshold: f64 },
}

/// The block GEMM of integers exact in f64 (`a`: `m × k`, `b`: `n × k`), one scale
/// per row and block of `block` (`sa`: `m × blocks`, `sb`: `n × blocks`, NaN for a NaN block)
/// — powers of two, or any positive f32 values for [`F64Blocks::RealScales`] (every product
/// of two exact in f64); per block the exact dot (by the caller's bound for `mode`), times
/// both scales, rounded once to f32, summed in f32 in K order. On the AVX-512 paths (on AMX,
/// integers of up to three 7-bit digits as byte dots: `x86::limb_gemm`); `None` elsewhere.
/// Portable twin: `kernel::segments`'s rule.
pub fn exact_f64_block_gemm(
    isa: Isa,
    (a, b): (&[i64], &[i64]),
    (sa, sb): (&[f64], &[f64]),
    (m, n, k, block): (usize, usize, usize, usize),
    mode: F64Blocks,
) -> Option<Vec<f32>> {
    #[cfg(target_arch = "x86_64")]
    if has_exact_f64_blocks(isa) {
        return Some(on_pool(m * n * k, || {
            // On AMX, integers of up to three 7-bit digits as byte dots (`x86::limb_gemm`).
            (isa == Isa::Amx)
                .then(|| x86::limb_gemm((a, b), (sa, sb), (m, n, k, block), mode))
                .flatten()
                .unwrap_or_else(|| {
                    x86::exact_f64_block_gemm((a, b), (sa, sb), (m, n, k, block), mode)
                })
        }));
    }
    let _ = (isa, a, b, sa, sb, m, n, k, block, mode);
    None
}

/// Whether [`exact_f64_block_gemm`] runs on `isa` (so that callers convert operands only
/// then).
pub fn has_exact_f64_blocks(isa: Isa) -> bool {
    cfg!(target_arch = "x86_64") && isa.vector() == Isa::Avx512Vnni && isa.available()
}

/// The block dots of four rows of i16 integers against one: `out[blk][r] = Σ xs[r][k]·y[k]`
/// over block `blk` (blocks of `seg` along the rows; the last may be shorter), in i32 — the
/// caller guarantees that no block's sum leaves i32. Compiled for AVX2 (`vpmaddwd`) when
/// `isa` is a SIMD path; `None` otherwise. Portable twin: [`block_dots_4_portable`], the same
/// code compiled for the baseline (integer sums: the same values).
pub fn block_dots_4(
    isa: Isa,
    xs: [&[i16]; 4],
    y: &[i16],
    seg: usize,
    out: &mut [[i32; 4]],
) -> Option<()> {
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Scalar && Isa::Avx2.available() {
        // SAFETY: AVX2 is available (checked just above).
        unsafe { block_dots_4_avx2(xs, y, seg, out) };
        return Some(());
    }
    let _ = (isa, xs, y, seg, out);
    None
}

/// [`block_dots_4`] on the baseline instruction set.
pub fn block_dots_4_portable(xs: [&[i16]; 4], y: &[i16], seg: usize, out: &mut [[i32; 4]]) {
    block_dots_4_body(xs, y, seg, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_dots_4_avx2(xs: [&[i16]; 4], y: &[i16], seg: usize, out: &mut [[i32; 4]]) {
    block_dots_4_body(xs, y, seg, out);
}

/// The one body of [`block_dots_4`]'s two builds (inlined into each, so each compiles it
/// for its own instruction set).
#[inline(always)]
fn block_dots_4_body(xs: [&[i16]; 4], y: &[i16], seg: usize, out: &mut [[i32; 4]]) {
    let seg = seg.max(1);
    for (blk, (o, yb)) in out.iter_mut().zip(y.chunks(seg)).enumerate() {
        let span = blk * seg..blk * seg + yb.len();
        for (r, x) in xs.iter().enumerate() {
            o[r] = x[span.clone()]
                .iter()
                .zip(yb)
                .map(|(&p, &q)| i32::from(p) * i32::from(q))
                .sum();
        }
    }
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
    return mx_block(isa, (a, b), (sa, sb), (m, n, k, block), x86::Elements::Fp4);
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (isa, a, b, sa, sb, m, n, k, block);
        None
    }
}

#[cfg(target_arch = "x86_64")]
mod blocked;
#[cfg(target_arch = "x86_64")]
mod x86;
