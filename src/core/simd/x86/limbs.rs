//! The exact-f64 block GEMM on AMX, for integers too wide for one byte but narrow enough for
//! three (MXFP8 E4M3 as int · 2^−9 up to 2^17.8, MXFP6 E3M2, FP8 E4M3 per tensor or channel):
//! each integer is split into signed 7-bit digits, v = d0 + 2^7·d1 + 2^14·d2 (every digit
//! with v's sign, |d| ≤ 127), and a block's dot is Σ_w 2^(7w) · C_w with C_w = Σ_{i+j=w}
//! Σ_k d_i(a_k) · d_j(b_k) — byte dots, which `tdpbssd` sums exactly in i32 (the caller's
//! bound: 3 · 127² · block < 2^31). The combination is exact in f64: every partial sum is
//! at most Σ_k |a_k| · |b_k| < 2^53, the exact-f64 kernel's own bound. The term is then that
//! kernel's (`exact_f64`): dot · sa · sb rounded once to f32 (through the FMA residual for
//! real scales), summed in f32 in K order — so this is its twin bit for bit.
//!
//! Tiles: C_0 … C_4 in tmm0–4 (16 × 16 i32 each, one per digit weight), a digit plane of W
//! in tmm5 (16 rows × a chunk of the block), one of x in tmm6; a 16 × 32 output tile is two
//! passes of 16 columns.

use std::arch::asm;
use std::arch::x86_64::*;

use super::super::blocked::{self, MicroKernel, NR, TileOut};
use super::super::{F64Blocks, Isa};
use super::exact_f64::round_once_8;

/// Rows of W per tile: one 16-row tile.
const MR: usize = 16;
/// Bits per digit: |d| ≤ 127.
const DIGIT: u32 = 7;
/// At most three digits per integer (2^21), so at most five weights: five C tiles.
const MAX_DIGITS: usize = 3;

/// How many digits the integers of `v` need, when three do.
fn digits(v: &[i64]) -> Option<usize> {
    let max = v.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0);
    let bits = 64 - max.leading_zeros();
    let d = bits.div_ceil(DIGIT).max(1) as usize;
    (d <= MAX_DIGITS).then_some(d)
}

/// The digits `t` of `vals` (each below 2^21 in magnitude: [`digits`]) as bytes (two's
/// complement), each with its integer's sign. Branch-free i32 arithmetic, which the compiler
/// vectorises (a branch on the sign was half of the GEMM).
fn put_digits(vals: &[i64], t: usize, out: &mut [u8]) {
    let shift = DIGIT as usize * t;
    for (d, &v) in out.iter_mut().zip(vals) {
        let v = v as i32;
        let sign = v >> 31;
        let mag = (v ^ sign) - sign;
        *d = ((((mag >> shift) & 127) ^ sign) - sign) as u8;
    }
}

/// y = A · Bᵀ by the exact-f64 block rule on AMX (`a`: `m × k`, `b`: `n × k`, scales per
/// row and block as for `exact_f64::block_gemm`), when the integers fit three digits, the
/// digit dots an i32 and `mode` is one sum per block; `None` otherwise. The caller checks
/// AMX (with AVX-512).
pub fn limb_gemm(
    (a, b): (&[i64], &[i64]),
    (sa, sb): (&[f64], &[f64]),
    (m, n, k, block): (usize, usize, usize, usize),
    mode: F64Blocks,
) -> Option<Vec<f32>> {
    let real = match mode {
        F64Blocks::PowerOfTwo => false,
        F64Blocks::RealScales => true,
        F64Blocks::Split { .. } => return None,
    };
    let (da, db) = (digits(a)?, digits(b)?);
    let block = block.min(k);
    // Each C_w sums at most three digit pairs' dots over a block.
    if m == 0 || n == 0 || k == 0 || 3 * 127 * 127 * block as u64 >= 1 << 31 {
        return None;
    }
    let blocks = k.div_ceil(block);
    // Blocks padded to whole tile rows (chunks of at most 64 bytes), as the MX AMX kernel.
    let chunks = block.div_ceil(64);
    let chunk = block.div_ceil(chunks).div_ceil(4) * 4;
    let bp = chunks * chunk;
    let kp = blocks * bp;
    let mp = m.div_ceil(MR) * MR;
    // W: one plane per digit, mp rows of kp bytes; x: one block-padded plane per digit,
    // then its panels. Padding digits are 0, padding scales 0.
    let pad = |src: &[i64], rows: usize, t: usize, dst: &mut [u8]| {
        for (r, row) in dst.chunks_exact_mut(kp).enumerate().take(rows) {
            for (blk, vals) in src[r * k..(r + 1) * k].chunks(block).enumerate() {
                put_digits(vals, t, &mut row[blk * bp..]);
            }
        }
    };
    // In the thread's reused buffers (page faults of fresh ones showed in the profile).
    blocked::with_scratch(|[wa, xa, xp]| {
        let wa = blocked::aligned(wa, da * mp * kp);
        wa.fill(0);
        blocked::for_chunks(wa, mp * kp, m * k * 8, |(t, dst)| pad(a, m, t, dst));
        let xa = blocked::aligned(xa, n * kp);
        let panel_len = n.div_ceil(NR) * NR * kp;
        let xp = blocked::aligned(xp, db * panel_len);
        for (t, packed) in xp.chunks_exact_mut(panel_len).enumerate() {
            xa.fill(0);
            blocked::for_chunks(xa, kp, n * k * 8, |(j, dst)| {
                for (blk, vals) in b[j * k..(j + 1) * k].chunks(block).enumerate() {
                    put_digits(vals, t, &mut dst[blk * bp..]);
                }
            });
            blocked::pack_panels(xa, (n, kp, kp), packed, Isa::Avx512Vnni);
        }
        let (wa, xp) = (&*wa, &*xp);
        run(
            (wa, xp, panel_len),
            (sa, sb),
            (m, n, k),
            (blocks, bp, chunks, chunk),
            (da, db),
            real,
        )
    })
}

/// The GEMM on the prepared digit planes.
fn run(
    (wa, xp, panel_len): (&[u8], &[u8], usize),
    (sa, sb): (&[f64], &[f64]),
    (m, n, k): (usize, usize, usize),
    (blocks, bp, chunks, chunk): (usize, usize, usize, usize),
    (da, db): (usize, usize),
    real: bool,
) -> Option<Vec<f32>> {
    let (mp, kp) = (m.div_ceil(MR) * MR, blocks * bp);
    let np = n.div_ceil(NR) * NR;
    let mut sbp = vec![0f64; blocks * np];
    // x's scales block-major per column: a block's 32 columns of a panel side by side.
    for j in 0..n {
        for blk in 0..blocks {
            sbp[blk * np + j] = sb[j * blocks + blk];
        }
    }
    let mut sap = sa.to_vec();
    sap.resize(mp * blocks, 0.0);
    let tiles = Tiles {
        w: wa,
        x: xp.chunks_exact(panel_len).collect(),
        sa: &sap,
        sb: &sbp,
        shape: (mp, np, kp, blocks),
        digits: (da, db),
        chunk: (chunks, chunk, bp),
        real,
        config: config(chunk),
    };
    Some(blocked::gemm(&tiles, m, n, m * n * k))
}

/// Palette 1: tiles 0–4 the sums (16 × 64 bytes), 5 a W digit tile (16 rows × `chunk`), 6 an
/// x digit tile (chunk / 4 rows of 16 columns × 4 k).
#[repr(C, align(64))]
struct Config([u8; 64]);

fn config(chunk: usize) -> Config {
    let mut c = [0u8; 64];
    c[0] = 1;
    for t in 0..7 {
        let (bytes, rows) = match t {
            0..=4 => (64, 16),
            5 => (chunk, 16),
            _ => (64, chunk / 4),
        };
        c[16 + 2 * t] = bytes as u8;
        c[48 + t] = rows as u8;
    }
    Config(c)
}

struct Tiles<'a> {
    /// W's digit planes, each mp × kp, from a cache line.
    w: &'a [u8],
    /// x's digit planes in panels, each from a cache line.
    x: Vec<&'a [u8]>,
    sa: &'a [f64],
    /// x's scales, blocks × np.
    sb: &'a [f64],
    /// (mp, np, kp, blocks).
    shape: (usize, usize, usize, usize),
    /// Digits of W's and of x's integers.
    digits: (usize, usize),
    /// (chunks per block, bytes per chunk, padded block).
    chunk: (usize, usize, usize),
    real: bool,
    config: Config,
}

/// Sixteen rows of 16 i32 sums, as `tilestored` writes one tile.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Sums([i32; 256]);

impl MicroKernel for Tiles<'_> {
    const MR: usize = MR;
    const TASK_ROWS: usize = MR * 4;

    fn panel_bytes(&self) -> usize {
        NR * self.shape.2 * self.digits.1
    }

    /// Configured once per task and released after it, as the other AMX kernels.
    fn task(&self, f: impl FnOnce()) {
        // SAFETY: AMX is available (the dispatch checked it); the configuration is a valid
        // palette-1 one, 64-byte aligned.
        unsafe {
            asm!("ldtilecfg [{cfg}]", cfg = in(reg) self.config.0.as_ptr(), options(nostack));
        }
        f();
        // SAFETY: AMX is available; releasing returns the tiles to their initial state.
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }

    fn tile(&self, i0: usize, p: usize, mut out: TileOut<'_>) {
        let (mp, np, kp, blocks) = self.shape;
        let (da, db) = self.digits;
        let (chunks, chunk, bp) = self.chunk;
        let weights = da + db - 1;
        let mut tile = [0f32; MR * NR];
        let mut sums = [Sums([0; 256]); 5];
        for half in 0..2 {
            // Zero bits are +0.0 in every lane.
            // SAFETY: __m256 is plain data.
            let mut y: [__m256; 2 * MR] = unsafe { std::mem::zeroed() };
            for blk in 0..blocks {
                // SAFETY: AMX is configured (`task`) with this chunk; every W tile is 16 rows
                // of `chunk` bytes inside plane t (rows i0.., stride kp, bytes of block blk),
                // every x tile chunk / 4 groups of 128 bytes inside panel p of plane t (64
                // bytes from `half`); the stores write five 1 KB tiles into `sums`.
                unsafe {
                    zero_sums();
                    for ch in 0..chunks {
                        let at = blk * bp + ch * chunk;
                        let mut loaded = usize::MAX;
                        for i in 0..da {
                            let plane = &self.w[i * mp * kp..(i + 1) * mp * kp];
                            load_w(plane[i0 * kp + at..].as_ptr(), kp);
                            // Snake order: the x digit loaded last is used first.
                            for jj in 0..db {
                                let j = if i % 2 == 0 { jj } else { db - 1 - jj };
                                if j != loaded {
                                    let panel = &self.x[j][p * NR * kp..(p + 1) * NR * kp];
                                    load_x(panel[at / 4 * NR * 4 + 64 * half..].as_ptr());
                                    loaded = j;
                                }
                                dot_into(i + j);
                            }
                        }
                    }
                    for (w, s) in sums.iter_mut().enumerate().take(weights) {
                        store_sums(w, s);
                    }
                }
                let cols = blk * np + p * NR + 16 * half;
                // SAFETY: AVX-512 F/DQ come with the AMX path.
                unsafe {
                    scale_block(
                        &sums[..weights],
                        &self.sa[i0 * blocks..],
                        (blk, blocks),
                        &self.sb[cols..cols + 16],
                        self.real,
                        &mut y,
                    );
                }
            }
            // SAFETY: AVX is available (the AMX path has AVX-512).
            unsafe { store_half(&y, half, &mut tile) };
        }
        out.store(&tile);
    }
}

/// tmm0–4 = 0.
///
/// # Safety
/// AMX configured.
unsafe fn zero_sums() {
    // SAFETY: the caller's contract.
    unsafe {
        asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            "tilezero tmm4",
            options(nostack, nomem)
        );
    }
}

/// tmm5 = 16 rows of W's digits from `at`, `stride` bytes apart.
///
/// # Safety
/// AMX configured; 16 rows of the configured chunk readable at `at`.
unsafe fn load_w(at: *const u8, stride: usize) {
    // SAFETY: the caller's contract.
    unsafe {
        asm!("tileloadd tmm5, [{a} + {s}*1]", a = in(reg) at, s = in(reg) stride,
             options(nostack, readonly));
    }
}

/// tmm6 = chunk / 4 groups of 16 columns of x's digits from `at`, 128 bytes apart.
///
/// # Safety
/// AMX configured; the groups readable at `at`.
unsafe fn load_x(at: *const u8) {
    // SAFETY: the caller's contract.
    unsafe {
        asm!("tileloadd tmm6, [{a} + {s}*1]", a = in(reg) at, s = in(reg) NR * 4,
             options(nostack, readonly));
    }
}

/// `asm!` on the sum tile of weight `w` (tmm0–tmm4), named between `pre` and `post`: a
/// tile register is part of the instruction, so one arm per register.
macro_rules! on_sum_tile {
    ($w:expr, $pre:literal, $post:literal, $($rest:tt)*) => {
        match $w {
            0 => asm!(concat!($pre, "tmm0", $post), $($rest)*),
            1 => asm!(concat!($pre, "tmm1", $post), $($rest)*),
            2 => asm!(concat!($pre, "tmm2", $post), $($rest)*),
            3 => asm!(concat!($pre, "tmm3", $post), $($rest)*),
            _ => asm!(concat!($pre, "tmm4", $post), $($rest)*),
        }
    };
}

/// C_w += tmm5 · tmm6.
///
/// # Safety
/// AMX configured; w < 5.
unsafe fn dot_into(w: usize) {
    // SAFETY: the caller's contract.
    unsafe { on_sum_tile!(w, "tdpbssd ", ", tmm5, tmm6", options(nostack, nomem)) };
}

/// `s` = C_w.
///
/// # Safety
/// AMX configured; w < 5.
unsafe fn store_sums(w: usize, s: &mut Sums) {
    let c = s.0.as_mut_ptr();
    // SAFETY: the caller's contract; 16 rows of 64 bytes into the 1 KB of `s`.
    unsafe {
        on_sum_tile!(w, "tilestored [{c} + {s}*1], ", "", c = in(reg) c, s = in(reg) 64usize,
                     options(nostack));
    }
}

/// One block of 16 rows × 16 columns: the dot Σ_w 2^(7w) · C_w in f64 (exact), times
/// sa · sb, rounded once to f32 (`real`: through the residual) and added to `y` (per row,
/// two halves of 8 columns).
#[target_feature(enable = "avx512f,avx512dq")]
fn scale_block(
    sums: &[Sums],
    sa: &[f64],
    (blk, blocks): (usize, usize),
    sb: &[f64],
    real: bool,
    y: &mut [__m256; 2 * MR],
) {
    assert!(sb.len() >= 16 && sa.len() >= MR * blocks);
    // SAFETY: 16 scales (asserted).
    let sbv = unsafe { [0, 8].map(|h| _mm512_loadu_pd(sb.as_ptr().add(h))) };
    for r in 0..MR {
        let s = _mm512_set1_pd(sa[r * blocks + blk]);
        for h in 0..2 {
            let mut dot = _mm512_setzero_pd();
            for (w, c) in sums.iter().enumerate() {
                // SAFETY: row r's 16 sums, 8 from 8h.
                let lanes =
                    unsafe { _mm256_loadu_si256(c.0.as_ptr().add(16 * r + 8 * h) as *const _) };
                let weight = _mm512_set1_pd((1u64 << (DIGIT as usize * w)) as f64);
                dot = _mm512_fmadd_pd(_mm512_cvtepi32_pd(lanes), weight, dot);
            }
            let scale = _mm512_mul_pd(s, sbv[h]);
            let v = if real {
                round_once_8(dot, scale)
            } else {
                _mm512_cvtpd_ps(_mm512_mul_pd(dot, scale))
            };
            y[2 * r + h] = _mm256_add_ps(y[2 * r + h], v);
        }
    }
}

/// The 16 × 16 sums `y` into columns 16·half.. of the row-major MR × NR tile.
#[target_feature(enable = "avx")]
fn store_half(y: &[__m256; 2 * MR], half: usize, tile: &mut [f32; MR * NR]) {
    for (r, pair) in y.chunks_exact(2).enumerate() {
        for (q, &v) in pair.iter().enumerate() {
            let at = r * NR + 16 * half + 8 * q;
            // SAFETY: row r < MR of NR floats; columns 16·half + 8q + 8 ≤ 32.
            unsafe { _mm256_storeu_ps(tile[at..at + 8].as_mut_ptr(), v) };
        }
    }
}
