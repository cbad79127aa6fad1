//! The INT8 GEMM on x86: packing, the blocked driver, the 8 × 32 micro-kernels (AVX-512 VNNI,
//! AVX2 + AVX-VNNI, plain AVX2) and the fused epilogue. Portable twin: `simd::int8_dots` and
//! `kernel::int8::gemm_with(Isa::Scalar, ..)`.

use std::arch::x86_64::*;
use std::mem::MaybeUninit;
use std::ops::Range;

use super::super::blocked::{self, MicroKernel, NR, TileOut};
use super::super::{EXACT_I32_K, Int8Epilogue, Isa};

/// Rows of W per INT8 tile.
const MR: usize = 8;

/// The INT8 GEMM on AVX-512 VNNI, AVX2 with AVX-VNNI or plain AVX2 (`isa`): the same
/// packing and tiles, a 512- or 256-bit micro-kernel, and the epilogue vectorised on
/// AVX-512 only.
pub fn int8_gemm(
    a: &[i8],
    b: &[i8],
    (m, n, k): (usize, usize, usize),
    e: &Int8Epilogue,
    isa: Isa,
) -> Vec<f32> {
    if m == 0 || n == 0 {
        return vec![0f32; m * n];
    }
    // Plain AVX2 takes the sign path when no x code is −128 (x symmetric, the default):
    // exact in 4 operations per 32 multiply-adds instead of 6.
    let kernel = match isa {
        Isa::Amx => Kernel::Amx,
        Isa::Avx512Vnni => Kernel::Vnni512,
        Isa::Avx2Vnni => Kernel::Vnni256,
        _ if !b.contains(&i8::MIN) => Kernel::Sign,
        _ => Kernel::Split,
    };
    blocked::with_scratch(|[au, packed, _]| {
        // AMX reads K in steps of 64 bytes and W in tiles of 32 rows.
        let (kstep, mr) = if kernel == Kernel::Amx {
            (64, super::amx::MR)
        } else {
            (4, MR)
        };
        let kp = k.div_ceil(kstep) * kstep;
        prepare(a, b, (m, n, k, kp), mr, (au, packed), kernel);
        let operands = (blocked::from_line(au), blocked::from_line(packed));
        let tiles = Tiles::new(operands, (m, n, k, kp), e, kernel);
        if kernel == Kernel::Amx {
            blocked::gemm(&super::amx::AmxTiles(tiles), m, n, m * n * k)
        } else {
            blocked::gemm(&tiles, m, n, m * n * k)
        }
    })
}

/// The micro-kernel a GEMM runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kernel {
    /// `tdpbssd` on AMX tiles (signed × signed, so W's codes go in as they are).
    Amx,
    /// `vpdpbusd` on zmm (AVX-512 VNNI).
    Vnni512,
    /// `vpdpbusd` on ymm (AVX-VNNI).
    Vnni256,
    /// Plain AVX2, W's offset bytes split in 7 + 1 bits ([`kernel_8x32_avx2_plain`]).
    Split,
    /// Plain AVX2 on |a| and b·sign(a) ([`kernel_8x32_avx2_sign`]); x must hold no −128.
    Sign,
}

impl Kernel {
    /// The offset W's codes are stored with: 128 for the u8 × s8 kernels, 0 for the sign
    /// kernel, which reads them signed.
    fn offset(self) -> u8 {
        if matches!(self, Kernel::Sign | Kernel::Amx) {
            0
        } else {
            0x80
        }
    }

    /// The instruction set it runs on, as far as packing cares (AVX-512 or AVX2).
    fn isa(self) -> Isa {
        if self.avx512() {
            Isa::Avx512Vnni
        } else {
            Isa::Avx2
        }
    }

    /// Whether the CPU running it has AVX-512 (the vector epilogue's instruction set).
    fn avx512(self) -> bool {
        matches!(self, Kernel::Vnni512 | Kernel::Amx)
    }
}

/// W's codes plus the kernel's offset (as u8, rows padded to whole tiles of `mr` and to kp
/// with the code of 0) into `au`, and xᵀ's codes packed in panels into `packed`.
fn prepare(
    a: &[i8],
    b: &[i8],
    (m, n, k, kp): (usize, usize, usize, usize),
    mr: usize,
    (au, packed): (&mut Vec<u8>, &mut Vec<u8>),
    kernel: Kernel,
) {
    let offset = kernel.offset();
    let au = blocked::aligned(au, m.div_ceil(mr) * mr * kp);
    // The two operands are prepared side by side: one fork-join, not two in a row (each
    // costs a wake-up of the pool, which shows at n = 512).
    super::super::join(
        (m + n) * k * 64,
        || {
            // Every byte of a row is written, the padding with the code of 0: its products
            // with x's zero padding vanish whatever it holds, but no stale byte is left.
            blocked::for_chunks(au, kp, m * k * 64, |(r, dst)| {
                let codes = a.get(r * k..(r + 1) * k).unwrap_or_default();
                for (d, &s) in dst.iter_mut().zip(codes) {
                    *d = (s as u8) ^ offset;
                }
                dst[codes.len()..].fill(offset);
            });
        },
        || blocked::pack_panels_into(bytemuck_i8(b), (n, k, kp), packed, kernel.isa()),
    );
}

/// The INT8 micro-kernel of the blocked driver: the prepared operands and the epilogue's
/// per-column terms, padded to whole panels so the vector epilogue reads full registers.
pub(super) struct Tiles<'a> {
    au: &'a [u8],
    packed: &'a [u8],
    e: &'a Int8Epilogue<'a>,
    kernel: Kernel,
    /// m, n, k and K padded to groups of 4.
    dims: (usize, usize, usize, usize),
    /// 128·Σb per column: Σ(a + 128)·b = Σab + 128·Σb, taken back out in the epilogue
    /// (0 for the sign kernel, which multiplies a itself).
    excess: Vec<i64>,
    xsum: Vec<i64>,
    xzero: Vec<i64>,
    xscale: Vec<f32>,
    /// The same three as f64, for the AVX2 epilogue, and whether every term of the
    /// correction is below 2^50, so that the f64 sum of four of them is the exact integer.
    f64_terms: Option<(Vec<f64>, Vec<f64>, Vec<f64>)>,
    /// Σb and zx wrapped to i32 (zx `None` when every one is 0, x symmetric: the default),
    /// when the corrected sum itself fits an i32 (see [`fits_i32`]): then the correction mod
    /// 2^32 is the exact value, 16 or 8 lanes at a time, and the offset's excess folds into
    /// zW's term: 128·Σb + zW·Σb ≡ (128 + zW)·Σb, one multiply fewer per output.
    i32_terms: Option<(Vec<i32>, Option<Vec<i32>>)>,
    /// Every row's [`row_terms`] (rows padded to whole tiles), computed once rather than for
    /// every tile of the row, when `i32_terms` is there: what every i32 epilogue reads.
    i32_rows: Vec<(i32, i32, f32)>,
}

/// Whether every corrected sum Σ (qW − zW)(qx − zx) fits an i32, from the zero points alone:
/// |qW − zW| ≤ 128 + |zW| and |qx − zx| ≤ 128 + |zx|, over at most `EXACT_I32_K` terms (so
/// the raw i32 sums are exact too). True whenever one side is symmetric (255 · 128 · 65536 <
/// 2^31): the default, x symmetric.
fn fits_i32(e: &Int8Epilogue, k: usize) -> bool {
    let max = |v: &[i64]| v.iter().map(|z| z.unsigned_abs()).max().unwrap_or(0);
    let (w, x) = (128 + max(e.w_zero), 128 + max(e.x_zero));
    k <= EXACT_I32_K && (k as u128) * u128::from(w) * u128::from(x) < 1 << 31
}

/// Whether every term of the correction acc − excess − zW·Σb − zx·(ΣqW − K·zW) lies below
/// 2^50 in magnitude: then their sum (below 2^53) is exact in f64, and its one rounding to f32
/// is the scalar epilogue's `i64 as f32`.
fn exact_in_f64(e: &Int8Epilogue, k: usize, excess: &[i64]) -> bool {
    let max = |v: &mut dyn Iterator<Item = i64>| v.map(i64::unsigned_abs).max().unwrap_or(0) as f64;
    let lim = 2f64.powi(50);
    let w_term = max(&mut e
        .w_sum
        .iter()
        .zip(e.w_zero)
        .map(|(&s, &z)| s.saturating_sub((k as i64).saturating_mul(z))));
    max(&mut excess.iter().copied()) < lim
        && max(&mut e.w_zero.iter().copied()) * max(&mut e.x_sum.iter().copied()) < lim
        && max(&mut e.x_zero.iter().copied()) * w_term < lim
}

impl<'a> Tiles<'a> {
    fn new(
        (au, packed): (&'a [u8], &'a [u8]),
        dims: (usize, usize, usize, usize),
        e: &'a Int8Epilogue<'a>,
        kernel: Kernel,
    ) -> Self {
        let np = dims.1.div_ceil(NR) * NR;
        let pad = |v: &mut dyn Iterator<Item = i64>| -> Vec<i64> {
            v.chain(std::iter::repeat(0)).take(np).collect()
        };
        let excess = pad(&mut e.x_sum.iter().map(|s| i64::from(kernel.offset()) * s));
        let xsum = pad(&mut e.x_sum.iter().copied());
        let xzero = pad(&mut e.x_zero.iter().copied());
        let f = |v: &[i64]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
        let f64_terms = (!kernel.avx512() && exact_in_f64(e, dims.2, &excess))
            .then(|| (f(&excess), f(&xsum), f(&xzero)));
        // `as i32` keeps the low 32 bits: the terms mod 2^32.
        let narrow = |v: &[i64]| v.iter().map(|&x| x as i32).collect::<Vec<i32>>();
        let i32_terms = fits_i32(e, dims.2).then(|| {
            let xz = xzero.iter().any(|&z| z != 0).then(|| narrow(&xzero));
            (narrow(&xsum), xz)
        });
        let i32_rows = if i32_terms.is_some() {
            let rows = dims.0.div_ceil(MR) * MR;
            let offset = kernel.offset();
            (0..rows)
                .map(|i| {
                    if i < dims.0 {
                        row_terms(e, i, dims.2, offset)
                    } else {
                        (0, 0, 0.0)
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        Tiles {
            au,
            packed,
            e,
            kernel,
            dims,
            excess,
            xsum,
            xzero,
            f64_terms,
            i32_terms,
            i32_rows,
            xscale: e
                .x_scale
                .iter()
                .copied()
                .chain(std::iter::repeat(0.0))
                .take(np)
                .collect(),
        }
    }

    /// The raw i32 sums of rows i0.. against panel p over the groups `g` of 4 k.
    fn sums(&self, i0: usize, p: usize, g: Range<usize>, tile: &mut [i32; MR * NR]) {
        let kp = self.dims.3;
        let (rows_a, panel) = self.operands(i0, p, MR);
        // SAFETY: the caller's dispatch checked the features of the chosen kernel, MR padded
        // rows of kp bytes exist, and the panel holds kp/4 groups, of which g is a part.
        unsafe {
            match self.kernel {
                Kernel::Vnni512 => kernel_8x32(rows_a, kp, g, panel, tile),
                Kernel::Vnni256 => kernel_8x32_avx2(rows_a, kp, g, panel, tile),
                Kernel::Split => kernel_8x32_avx2_plain(rows_a, kp, g, panel, tile),
                Kernel::Sign => kernel_8x32_avx2_sign(rows_a, kp, g, panel, tile),
                Kernel::Amx => unreachable!("AMX tiles are 32 rows: amx::AmxTiles"),
            }
        }
    }
}

impl MicroKernel for Tiles<'_> {
    const MR: usize = MR;
    const TASK_ROWS: usize = MR * 8;

    fn panel_bytes(&self) -> usize {
        NR * self.dims.3
    }

    fn tile(&self, i0: usize, p: usize, mut out: TileOut<'_>) {
        let kp = self.dims.3;
        // An i32 lane holds the sum over EXACT_I32_K k at most: a longer K runs the kernel
        // chunk by chunk and adds the chunks' sums in i64 (then the epilogue is the scalar one).
        let (groups, chunk_groups) = (kp / 4, EXACT_I32_K / 4);
        let long = groups > chunk_groups;
        if let (Kernel::Vnni512, Some((xs, xz)), false) = (self.kernel, &self.i32_terms, long)
            && let Some(whole) = out.whole(MR)
        {
            let (rows_a, panel) = self.operands(i0, p, MR);
            let cols = p * NR..(p + 1) * NR;
            let terms = (&xs[cols.clone()], xz.as_ref().map(|z| &z[cols.clone()]));
            let rows = &self.i32_rows[i0..i0 + MR];
            // SAFETY: the AVX-512 VNNI kernel's dispatch checked its features; `whole` is
            // the first output of MR whole rows of NR outputs `stride` apart.
            unsafe {
                kernel_8x32_fused(
                    (rows_a, kp, panel),
                    rows,
                    (terms, &self.xscale[cols]),
                    whole,
                );
            };
            return;
        }
        let mut tile = [0i32; MR * NR];
        if long {
            // Zeroed only here: 2 KB per tile was a memset of ~9 % of a GEMM at n = 512.
            let mut wide_sums = [0i64; MR * NR];
            for g0 in (0..groups).step_by(chunk_groups) {
                self.sums(i0, p, g0..(g0 + chunk_groups).min(groups), &mut tile);
                for (s, &t) in wide_sums.iter_mut().zip(&tile) {
                    *s += i64::from(t);
                }
            }
            self.write_back(i0, p, &tile, Some(&wide_sums), out);
        } else {
            self.sums(i0, p, 0..groups, &mut tile);
            self.write_back(i0, p, &tile, None, out);
        }
    }
}

impl Tiles<'_> {
    /// Pointers to the `rows` prepared rows of W from i0 (kp bytes each) and to panel p.
    pub(super) fn operands(&self, i0: usize, p: usize, rows: usize) -> (&[u8], &[u8]) {
        let kp = self.dims.3;
        (
            &self.au[i0 * kp..(i0 + rows) * kp],
            &self.packed[p * NR * kp..(p + 1) * NR * kp],
        )
    }

    /// The prepared dimensions: m, n, k and K padded.
    pub(super) fn dims(&self) -> (usize, usize, usize, usize) {
        self.dims
    }

    /// The outputs of the tile at rows i0.. and panel p (those `out` holds) from their raw
    /// sums, `tile` (i32, row-major with NR columns), or `wide` (i64) when K was summed in
    /// chunks: the epilogue, vectorised where the kernel's instruction set allows, written
    /// straight into the output (through a row buffer at a last, partial panel).
    pub(super) fn write_back(
        &self,
        i0: usize,
        p: usize,
        tile: &[i32],
        wide: Option<&[i64]>,
        mut out: TileOut<'_>,
    ) {
        let nc = out.nc;
        if let (Some((xs, xz)), None, true, NR) = (&self.i32_terms, wide, self.kernel.avx512(), nc)
        {
            let cols = p * NR..(p + 1) * NR;
            let terms = (&xs[cols.clone()], xz.as_ref().map(|z| &z[cols.clone()]));
            let rows = &self.i32_rows[i0..i0 + out.rows];
            // SAFETY: AVX-512 F is available (the AVX-512 kernels' dispatch); every column
            // slice holds NR values, `tile` one row of NR sums per row of `out`.
            unsafe {
                epilogue_tile_i32_16s(tile, rows, terms, &self.xscale[cols], &mut out);
            }
            return;
        }
        let mut buf = [MaybeUninit::uninit(); NR];
        for r in 0..out.rows {
            let (acc, wide) = (&tile[r * NR..(r + 1) * NR], wide.map(|w| &w[r * NR..]));
            if nc == NR {
                self.row(i0 + r, p, acc, wide, out.row(r));
            } else {
                self.row(i0 + r, p, acc, wide, &mut buf);
                out.row(r).copy_from_slice(&buf[..nc]);
            }
        }
    }

    /// One row's NR outputs (`row`, of which those below n are kept) from its raw sums.
    fn row(
        &self,
        i: usize,
        p: usize,
        acc: &[i32],
        wide: Option<&[i64]>,
        row: &mut [MaybeUninit<f32>],
    ) {
        let (k, e) = (self.dims.2, self.e);
        let cols = p * NR..(p + 1) * NR;
        let xscale = &self.xscale[cols.clone()];
        let (zw, w_term) = (e.w_zero[i], e.w_sum[i] - k as i64 * e.w_zero[i]);
        if let (Some((xs, xz)), None) = (&self.i32_terms, wide) {
            let terms = (&xs[cols.clone()], xz.as_ref().map(|z| &z[cols.clone()]));
            let per_row = self.i32_rows[i];
            // SAFETY: AVX-512 F (the AVX-512 kernels' dispatch) or AVX2 (every other kernel
            // is an AVX2 one) is available; every slice holds NR values.
            unsafe {
                if self.kernel.avx512() {
                    epilogue_i32_16s(acc, per_row, terms, xscale, row);
                } else {
                    epilogue_i32_8s_avx2(acc, per_row, terms, xscale, row);
                }
            }
            return;
        }
        if let (Some((ex, xs, xz)), None) = (&self.f64_terms, wide) {
            // SAFETY: AVX2 is available (every kernel but the AVX-512 ones is an AVX2
            // kernel, and only those fill f64_terms); every slice holds NR values.
            unsafe {
                epilogue_32_avx2(
                    acc,
                    (zw as f64, w_term as f64, e.w_scale[i]),
                    (&ex[cols.clone()], &xs[cols.clone()], &xz[cols.clone()]),
                    xscale,
                    row,
                );
            }
            return;
        }
        if !self.kernel.avx512() || wide.is_some() {
            // The scalar epilogue: the same arithmetic as the vector ones.
            let nc = NR.min(self.dims.1 - p * NR);
            for (c, y) in row.iter_mut().enumerate().take(nc) {
                let j = p * NR + c;
                let raw = match wide {
                    Some(w) => w[c],
                    None => i64::from(acc[c]),
                };
                y.write(e.apply(i, j, k, raw - self.excess[j]));
            }
            return;
        }
        // SAFETY: AVX-512 F/DQ are available (the AVX-512 kernels' dispatch); every slice
        // holds NR values.
        unsafe {
            epilogue_32(
                acc,
                (zw, w_term, e.w_scale[i]),
                (
                    &self.excess[cols.clone()],
                    &self.xsum[cols.clone()],
                    &self.xzero[cols],
                    xscale,
                ),
                row,
            );
        }
    }
}

/// Row i's terms of the i32 epilogue, wrapped to i32 like the per-column ones (the
/// correction mod 2^32): (offset + zW), the factor of Σb (offset·Σb is the excess of the
/// u8 × s8 kernels' offset codes), ΣqW − K·zW, the factor of zx, and sW.
fn row_terms(e: &Int8Epilogue, i: usize, k: usize, offset: u8) -> (i32, i32, f32) {
    let zw = e.w_zero[i];
    (
        i64::from(offset).wrapping_add(zw) as i32,
        e.w_sum[i].wrapping_sub((k as i64).wrapping_mul(zw)) as i32,
        e.w_scale[i],
    )
}

/// One panel's per-column terms of the i32 epilogue: Σb and zx (`None` when every one is 0).
type ColTerms<'a> = (&'a [i32], Option<&'a [i32]>);

/// One panel's per-column terms of the i32 epilogue in registers: Σb, zx (`None` when every
/// one is 0) and sx, 2 × 16 lanes.
#[derive(Clone, Copy)]
struct Cols16 {
    xs: [__m512i; 2],
    xz: Option<[__m512i; 2]>,
    sx: [__m512; 2],
}

impl Cols16 {
    /// The terms of the panel's NR columns.
    #[target_feature(enable = "avx512f")]
    fn load((xsum, xzero): ColTerms, xscale: &[f32]) -> Self {
        assert!(xsum.len() >= NR && xscale.len() >= NR && xzero.is_none_or(|z| z.len() >= NR));
        // SAFETY: every slice holds NR = 32 values (asserted above).
        let ld =
            |v: &[i32], q: usize| unsafe { _mm512_loadu_si512(v.as_ptr().add(16 * q) as *const _) };
        // SAFETY: as above.
        let sx = |q: usize| unsafe { _mm512_loadu_ps(xscale.as_ptr().add(16 * q)) };
        Cols16 {
            xs: [ld(xsum, 0), ld(xsum, 1)],
            xz: xzero.map(|z| [ld(z, 0), ld(z, 1)]),
            sx: [sx(0), sx(1)],
        }
    }

    /// The INT8 epilogue of one row's NR raw sums `acc` (the row's terms from [`row_terms`]):
    /// acc − (offset + zW)·Σb − zx·(ΣqW − K·zW) in i32 arithmetic mod 2^32, which is the
    /// exact integer because the caller checked that it fits an i32 ([`fits_i32`]); the zx
    /// term left out when every zx is 0; then (corrected as f32) · (sW · sx): the same value
    /// and the same two f32 roundings as `Int8Epilogue::apply`.
    #[target_feature(enable = "avx512f")]
    fn row(&self, acc: [__m512i; 2], (ozw, w_term, sw): (i32, i32, f32)) -> [__m512; 2] {
        let (ozw, w_term, sw) = (
            _mm512_set1_epi32(ozw),
            _mm512_set1_epi32(w_term),
            _mm512_set1_ps(sw),
        );
        // A loop, not a closure: the closure was once left out of line, spilling the
        // fused kernel's accumulators (a third slower).
        let mut y = [_mm512_setzero_ps(); 2];
        for (q, y) in y.iter_mut().enumerate() {
            let mut c = _mm512_sub_epi32(acc[q], _mm512_mullo_epi32(ozw, self.xs[q]));
            if let Some(xz) = self.xz {
                c = _mm512_sub_epi32(c, _mm512_mullo_epi32(xz[q], w_term));
            }
            *y = _mm512_mul_ps(_mm512_cvtepi32_ps(c), _mm512_mul_ps(sw, self.sx[q]));
        }
        y
    }
}

/// NR sums of row-major `tile` at `at` into two registers.
#[target_feature(enable = "avx512f")]
fn load_row(tile: &[i32], at: usize) -> [__m512i; 2] {
    let row = &tile[at..at + NR];
    // SAFETY: the row holds NR = 32 i32.
    [0, 16].map(|q| unsafe { _mm512_loadu_si512(row.as_ptr().add(q) as *const _) })
}

/// Two registers of outputs into the first NR floats of `out`.
///
/// # Safety
/// `out` must be valid for writes of NR floats.
#[target_feature(enable = "avx512f")]
unsafe fn store_row(y: [__m512; 2], out: *mut f32) {
    // SAFETY: the caller's guarantee.
    unsafe {
        _mm512_storeu_ps(out, y[0]);
        _mm512_storeu_ps(out.add(16), y[1]);
    }
}

/// [`Cols16::row`] for one row of a tile into `out`.
#[target_feature(enable = "avx512f")]
fn epilogue_i32_16s(
    acc: &[i32],
    per_row: (i32, i32, f32),
    cols: ColTerms,
    xscale: &[f32],
    out: &mut [MaybeUninit<f32>],
) {
    let out = &mut out[..NR];
    let y = Cols16::load(cols, xscale).row(load_row(acc, 0), per_row);
    // SAFETY: `out` holds NR floats.
    unsafe { store_row(y, out.as_mut_ptr().cast()) };
}

/// [`Cols16::row`] for every row of a full-width tile (`rows`: each row's [`row_terms`]):
/// the per-column terms loaded once and kept in registers across the rows, the per-row ones
/// broadcast.
#[target_feature(enable = "avx512f")]
fn epilogue_tile_i32_16s(
    tile: &[i32],
    rows: &[(i32, i32, f32)],
    cols: ColTerms,
    xscale: &[f32],
    out: &mut TileOut<'_>,
) {
    assert!(tile.len() >= rows.len() * NR && out.nc == NR);
    let cols = Cols16::load(cols, xscale);
    for (r, &terms) in rows.iter().enumerate() {
        let y = cols.row(load_row(tile, r * NR), terms);
        // SAFETY: the row holds nc = NR outputs (asserted above).
        unsafe { store_row(y, out.row(r).as_mut_ptr().cast()) };
    }
}

/// [`epilogue_i32_16s`] on AVX2, 8 lanes at a time: the same i32 arithmetic, so the same bits.
#[target_feature(enable = "avx2")]
unsafe fn epilogue_i32_8s_avx2(
    acc: &[i32],
    (ozw, w_term, sw): (i32, i32, f32),
    (xsum, xzero): ColTerms,
    xscale: &[f32],
    out: &mut [MaybeUninit<f32>],
) {
    assert!(acc.len() >= NR && out.len() >= NR && xscale.len() >= NR && xsum.len() >= NR);
    assert!(xzero.is_none_or(|z| z.len() >= NR));
    let (ozw, w_term, sw) = (
        _mm256_set1_epi32(ozw),
        _mm256_set1_epi32(w_term),
        _mm256_set1_ps(sw),
    );
    let ld = |v: &[i32], q: usize| {
        // SAFETY: every slice holds NR = 32 values (asserted above); 8q + 8 ≤ 32.
        unsafe { _mm256_loadu_si256(v.as_ptr().add(8 * q) as *const _) }
    };
    for q in 0..NR / 8 {
        let mut c = _mm256_sub_epi32(ld(acc, q), _mm256_mullo_epi32(ozw, ld(xsum, q)));
        if let Some(xz) = xzero {
            c = _mm256_sub_epi32(c, _mm256_mullo_epi32(ld(xz, q), w_term));
        }
        // SAFETY: as above, for xscale and out.
        unsafe {
            let scale = _mm256_mul_ps(sw, _mm256_loadu_ps(xscale.as_ptr().add(8 * q)));
            _mm256_storeu_ps(
                out.as_mut_ptr().cast::<f32>().add(8 * q),
                _mm256_mul_ps(_mm256_cvtepi32_ps(c), scale),
            );
        }
    }
}

/// The INT8 epilogue for one row of a tile, 8 lanes of i64 at a time:
/// corrected = acc − 128·Σb − zW·Σb − zx·(ΣqW − K·zW), then (corrected as f32) · (sW · sx),
/// the same integers and the same two f32 roundings as `Int8Epilogue::apply`.
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn epilogue_32(
    acc: &[i32],
    (zw, w_term, sw): (i64, i64, f32),
    (excess, xsum, xzero, xscale): (&[i64], &[i64], &[i64], &[f32]),
    out: &mut [MaybeUninit<f32>],
) {
    let (zw, w_term, sw) = (
        _mm512_set1_epi64(zw),
        _mm512_set1_epi64(w_term),
        _mm256_set1_ps(sw),
    );
    assert!(acc.len() >= NR && out.len() >= NR);
    for q in 0..NR / 8 {
        // SAFETY: every slice holds NR = 32 values; q·8 + 8 ≤ 32.
        unsafe {
            let a = _mm512_cvtepi32_epi64(_mm256_loadu_si256(acc.as_ptr().add(8 * q) as *const _));
            let ex = _mm512_loadu_si512(excess.as_ptr().add(8 * q) as *const _);
            let xs = _mm512_loadu_si512(xsum.as_ptr().add(8 * q) as *const _);
            let zx = _mm512_loadu_si512(xzero.as_ptr().add(8 * q) as *const _);
            let c = _mm512_sub_epi64(
                _mm512_sub_epi64(_mm512_sub_epi64(a, ex), _mm512_mullo_epi64(zw, xs)),
                _mm512_mullo_epi64(zx, w_term),
            );
            let scale = _mm256_mul_ps(sw, _mm256_loadu_ps(xscale.as_ptr().add(8 * q)));
            _mm256_storeu_ps(
                out.as_mut_ptr().cast::<f32>().add(8 * q),
                _mm256_mul_ps(_mm512_cvtepi64_ps(c), scale),
            );
        }
    }
}

/// The INT8 epilogue for one row of a tile on AVX2, 4 lanes of f64 at a time: the same
/// integer acc − excess − zW·Σb − zx·(ΣqW − K·zW), exact in f64 (the caller checked that every
/// term is below 2^50), rounded once to f32, times (sW · sx) in f32: the scalar epilogue's
/// bits.
#[target_feature(enable = "avx2")]
unsafe fn epilogue_32_avx2(
    acc: &[i32],
    (zw, w_term, sw): (f64, f64, f32),
    (excess, xsum, xzero): (&[f64], &[f64], &[f64]),
    xscale: &[f32],
    out: &mut [MaybeUninit<f32>],
) {
    assert!(acc.len() >= NR && out.len() >= NR);
    assert!(excess.len() >= NR && xsum.len() >= NR && xzero.len() >= NR && xscale.len() >= NR);
    let (zw, w_term, sw) = (_mm256_set1_pd(zw), _mm256_set1_pd(w_term), _mm_set1_ps(sw));
    for q in 0..NR / 4 {
        // SAFETY: every slice holds NR = 32 values (asserted above); 4q + 4 ≤ 32.
        unsafe {
            let a = _mm256_cvtepi32_pd(_mm_loadu_si128(acc.as_ptr().add(4 * q) as *const _));
            let ex = _mm256_loadu_pd(excess.as_ptr().add(4 * q));
            let xs = _mm256_loadu_pd(xsum.as_ptr().add(4 * q));
            let zx = _mm256_loadu_pd(xzero.as_ptr().add(4 * q));
            let c = _mm256_sub_pd(
                _mm256_sub_pd(_mm256_sub_pd(a, ex), _mm256_mul_pd(zw, xs)),
                _mm256_mul_pd(zx, w_term),
            );
            let scale = _mm_mul_ps(sw, _mm_loadu_ps(xscale.as_ptr().add(4 * q)));
            _mm_storeu_ps(
                out.as_mut_ptr().cast::<f32>().add(4 * q),
                _mm_mul_ps(_mm256_cvtpd_ps(c), scale),
            );
        }
    }
}

/// i8 codes viewed as bytes.
pub fn bytemuck_i8(b: &[i8]) -> &[u8] {
    // SAFETY: i8 and u8 have the same size and alignment, and every bit pattern is valid
    // for both.
    unsafe { std::slice::from_raw_parts(b.as_ptr() as *const u8, b.len()) }
}

/// Σ v (as i64), 64 codes a step: each byte flipped to v + 128 (an u8) and summed by
/// `vpsadbw` against zero into eight u64 lanes, which no i8 input can overflow; the 128 per
/// code taken back at the end, the tail summed portably. Portable twin: `simd::code_sum`'s
/// scalar path.
#[target_feature(enable = "avx512f,avx512bw")]
pub unsafe fn code_sum_64s(v: &[i8]) -> i64 {
    let (flip, zero) = (_mm512_set1_epi8(i8::MIN), _mm512_setzero_si512());
    let chunks = v.chunks_exact(64);
    let tail: i64 = chunks.remainder().iter().map(|&q| i64::from(q)).sum();
    let whole = (v.len() - chunks.remainder().len()) as i64;
    let mut acc = zero;
    for c in chunks {
        // SAFETY: the chunk holds 64 bytes.
        let x = unsafe { _mm512_loadu_si512(c.as_ptr().cast()) };
        acc = _mm512_add_epi64(acc, _mm512_sad_epu8(_mm512_xor_si512(x, flip), zero));
    }
    _mm512_reduce_add_epi64(acc) - 128 * whole + tail
}

/// [`code_sum_64s`] on AVX2, 32 codes a step: the same exact integer.
#[target_feature(enable = "avx2")]
pub unsafe fn code_sum_avx2(v: &[i8]) -> i64 {
    let (flip, zero) = (_mm256_set1_epi8(i8::MIN), _mm256_setzero_si256());
    let chunks = v.chunks_exact(32);
    let tail: i64 = chunks.remainder().iter().map(|&q| i64::from(q)).sum();
    let whole = (v.len() - chunks.remainder().len()) as i64;
    let mut acc = zero;
    for c in chunks {
        // SAFETY: the chunk holds 32 bytes.
        let x = unsafe { _mm256_loadu_si256(c.as_ptr().cast()) };
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(_mm256_xor_si256(x, flip), zero));
    }
    let mut lanes = [0i64; 4];
    // SAFETY: four i64 lanes into four i64s.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc) };
    lanes.iter().sum::<i64>() - 128 * whole + tail
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

/// [`kernel_8x32_avx2_plain`] on W's codes as they are (signed) when no x code is −128:
/// a·b = |a| · (b·sign(a)), so `vpsignb` gives the signed operand (b·sign(a) ∈ [−127, 127],
/// no overflow since b ≠ −128) and `vpabsb` the unsigned one (|a| ≤ 128). A pair of products
/// is at most 2 · 128 · 127 = 32512 < 2^15, so `vpmaddubsw` never saturates: exact, in four
/// operations per 32 multiply-adds (sign, maddubs, madd, add) against the split kernel's six.
#[target_feature(enable = "avx2")]
unsafe fn kernel_8x32_avx2_sign(
    au: &[u8],
    kp: usize,
    groups: Range<usize>,
    panel: &[u8],
    tile: &mut [i32; MR * NR],
) {
    let (pa, pb) = (au.as_ptr(), panel.as_ptr());
    let ones = _mm256_set1_epi16(1);
    for r0 in (0..MR).step_by(2) {
        let mut acc = [[_mm256_setzero_si256(); 4]; 2];
        for g in groups.clone() {
            // SAFETY: g < kp/4: the loads lie inside the panel; rows r0, r0 + 1 < MR.
            unsafe {
                let rows = [0, 1].map(|h| {
                    let a = _mm256_set1_epi32(
                        (pa.add((r0 + h) * kp + 4 * g) as *const i32).read_unaligned(),
                    );
                    (_mm256_abs_epi8(a), a)
                });
                for q in 0..4 {
                    let b = _mm256_loadu_si256(pb.add(g * NR * 4 + 32 * q) as *const _);
                    for (acc_r, &(abs, a)) in acc.iter_mut().zip(&rows) {
                        let p = _mm256_maddubs_epi16(abs, _mm256_sign_epi8(b, a));
                        acc_r[q] = _mm256_add_epi32(acc_r[q], _mm256_madd_epi16(p, ones));
                    }
                }
            }
        }
        store_rows_avx2(&acc, r0, tile);
    }
}

/// One MR × NR tile: Σ over the groups `groups` of 4 k of au[r][k] · panel[c][k] (exact
/// i32), two registers of 16 columns per row.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
fn sums_8x32(au: &[u8], kp: usize, groups: Range<usize>, panel: &[u8]) -> [[__m512i; 2]; MR] {
    assert!(au.len() >= MR * kp && panel.len() >= NR * kp && groups.end * 4 <= kp);
    let mut acc = [[_mm512_setzero_si512(); 2]; MR];
    let pb = panel.as_ptr();
    let pa = au.as_ptr();
    for g in groups {
        // SAFETY: g < kp/4, so both 64-byte loads lie inside the panel (asserted above).
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
    acc
}

/// [`sums_8x32`] into `tile` (row-major, NR per row).
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn kernel_8x32(
    au: &[u8],
    kp: usize,
    groups: Range<usize>,
    panel: &[u8],
    tile: &mut [i32; MR * NR],
) {
    for (r, acc_r) in sums_8x32(au, kp, groups, panel).iter().enumerate() {
        // SAFETY: the tile has NR = 32 i32 per row.
        unsafe {
            _mm512_storeu_si512(tile.as_mut_ptr().add(r * NR) as *mut _, acc_r[0]);
            _mm512_storeu_si512(tile.as_mut_ptr().add(r * NR + 16) as *mut _, acc_r[1]);
        }
    }
}

/// [`sums_8x32`] over all of K and the epilogue ([`Cols16::row`], each row's terms from
/// `rows`) on the registers, the MR rows of outputs written to `out` (`stride` floats per
/// row): the sums never go through memory (the tile's store, reload and its zeroing were
/// ~10 % of a GEMM at n = 512).
///
/// # Safety
/// `out + r·stride` must be valid for writes of NR floats for every r < MR.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn kernel_8x32_fused(
    (au, kp, panel): (&[u8], usize, &[u8]),
    rows: &[(i32, i32, f32)],
    (cols, xscale): (ColTerms, &[f32]),
    (out, stride): (*mut f32, usize),
) {
    assert!(rows.len() >= MR);
    let acc = sums_8x32(au, kp, 0..kp / 4, panel);
    let cols = Cols16::load(cols, xscale);
    for ((r, acc_r), &terms) in acc.into_iter().enumerate().zip(rows) {
        let y = cols.row(acc_r, terms);
        // SAFETY: the caller's guarantee.
        unsafe { store_row(y, out.add(r * stride)) };
    }
}
