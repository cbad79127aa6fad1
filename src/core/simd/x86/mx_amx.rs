//! The MX block GEMM's micro-kernel on AMX (MXFP4, MXINT8, MXFP6 E2M3, NVFP4, INT groups and
//! their mixed pairs: every operand whose integers are signed bytes). A block's dots are one
//! tile product each — `tdpbssd` of W's 16 rows × the block's bytes by x's 16 columns × the
//! same bytes (two or more products when a block is longer than a tile row of 64 bytes) —
//! into four 16 × 16 i32 tiles: the 32 × 32 exact block dots, stored, then scaled and added
//! to the tile's f32 sums by the AVX-512 kernel's step (`mx::add_block_row`), in K order as
//! every path. Signed × signed, so neither operand carries an offset.
//!
//! Availability and the `asm!` conventions are those of the INT8 AMX kernel (`amx`); the
//! tile shapes depend on the block, so the configuration is built per GEMM.

use std::arch::asm;
use std::arch::x86_64::*;

use super::super::blocked::{MicroKernel, NR, TileOut};
use super::mx::{Route, Tiles, add_block_row};

/// Rows of W per tile: two 16-row tiles.
pub const MR: usize = 32;

/// A palette-1 tile configuration, 64-byte aligned as `ldtilecfg` wants.
#[repr(C, align(64))]
struct Config([u8; 64]);

impl Config {
    /// Tiles 0–3 the 16 × 16 i32 dots, 4–5 W's two 16-row tiles of `chunk` bytes, 6–7 x's
    /// two 16-column tiles of chunk / 4 rows (four k per column, as the panels hold them).
    fn new(chunk: usize) -> Self {
        debug_assert!(chunk.is_multiple_of(4) && (4..=64).contains(&chunk));
        let mut c = [0u8; 64];
        c[0] = 1;
        for t in 0..8 {
            let (bytes, rows) = match t {
                0..=3 => (64, 16),
                4 | 5 => (chunk, 16),
                _ => (64, chunk / 4),
            };
            c[16 + 2 * t] = bytes as u8;
            c[48 + t] = rows as u8;
        }
        Config(c)
    }
}

/// 32 × 32 i32 block dots, on a cache line as `tilestored` prefers.
#[repr(C, align(64))]
struct Sums([i32; MR * NR]);

/// The tile's f32 sums.
#[repr(C, align(64))]
struct Outputs([f32; MR * NR]);

/// The MX micro-kernel on AMX: [`Tiles`] (prepared without offsets, blocks padded to whole
/// chunks) and, per 32-row tile and block, whether every row's scale allows the f32 route.
pub struct AmxMxTiles<'a> {
    tiles: Tiles<'a>,
    rows_safe: Vec<bool>,
    config: Config,
}

impl<'a> AmxMxTiles<'a> {
    pub fn new(tiles: Tiles<'a>) -> Self {
        let blocks = tiles.shape.blocks;
        let rows_safe = tiles
            .asafe
            .chunks(MR * blocks)
            .flat_map(|t| (0..blocks).map(move |blk| (0..MR).all(|r| t[r * blocks + blk])))
            .collect();
        let config = Config::new(tiles.shape.chunk);
        AmxMxTiles {
            tiles,
            rows_safe,
            config,
        }
    }
}

impl MicroKernel for AmxMxTiles<'_> {
    const MR: usize = MR;
    const TASK_ROWS: usize = MR * 2;

    fn panel_bytes(&self) -> usize {
        NR * self.tiles.shape.kp
    }

    /// Configured once per task and released after it, as the INT8 AMX kernel's.
    fn task(&self, f: impl FnOnce()) {
        // SAFETY: AMX is available (the dispatch checked it); the configuration is a valid
        // palette-1 one (`Config::new`), 64-byte aligned.
        unsafe {
            asm!("ldtilecfg [{cfg}]", cfg = in(reg) self.config.0.as_ptr(), options(nostack));
        }
        f();
        // SAFETY: AMX is available; releasing returns the tiles to their initial state.
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }

    fn tile(&self, i0: usize, p: usize, mut out: TileOut<'_>) {
        let t = &self.tiles;
        let s = t.shape;
        let a = &t.au[i0 * s.kp..(i0 + MR) * s.kp];
        let panel = &t.packed[p * NR * s.kp..(p + 1) * NR * s.kp];
        let meta = &t.meta[p * s.blocks..(p + 1) * s.blocks];
        let scales = &t.ascale[i0 * s.blocks..(i0 + MR) * s.blocks];
        let safe = &self.rows_safe[i0 / MR * s.blocks..(i0 / MR + 1) * s.blocks];
        // Not zeroed: block 0's step starts from zero sums instead of loading these.
        let mut y = std::mem::MaybeUninit::<Outputs>::uninit();
        let mut sums = std::mem::MaybeUninit::<Sums>::uninit();
        let direct = out.whole(MR);
        let ybuf = y.as_mut_ptr().cast::<f32>();
        let (chunks, chunk) = (s.bp / s.chunk, s.chunk);
        // Software-pipelined: block blk + 1's tile products are issued before block blk's
        // scaling, so the AMX unit multiplies while the vector units scale (the tiles have
        // no renaming: without this each block waits for the one before).
        // SAFETY (both calls): AMX is available and configured with this shape's chunk
        // (`task`); `a` holds MR rows of kp bytes and the panel kp/4 groups of NR · 4 bytes,
        // block b is bp = chunks · chunk bytes of each, b < blocks.
        unsafe { block_products(a, panel, s.kp, 0, (chunks, chunk)) };
        for blk in 0..s.blocks {
            // SAFETY: AMX is configured; the products of block blk are in the tiles (issued
            // just above or in the previous iteration); the store writes every dot.
            let sums = unsafe {
                store_dots(sums.as_mut_ptr());
                sums.assume_init_ref()
            };
            if blk + 1 < s.blocks {
                // SAFETY: as for block 0, block blk + 1 < blocks.
                unsafe { block_products(a, panel, s.kp, (blk + 1) * s.bp, (chunks, chunk)) };
            }
            let route = Route::of(meta[blk].safe && safe[blk], t.exact);
            // The last block of a whole tile goes straight into the output (a copy of the
            // tile was ~5 % of MXFP4's GEMM).
            let last = if blk + 1 == s.blocks { direct } else { None };
            let to = last.unwrap_or((ybuf, NR));
            // SAFETY: AVX-512 F/BW/DQ come with the AMX path (the dispatch checked them); y is
            // written whole by block 0's step before any later step reads it; `to` is y (NR
            // floats per row) or the whole tile's MR rows of NR outputs (`TileOut::whole`).
            unsafe {
                scale_block(
                    &sums.0,
                    scales,
                    (blk, s.blocks),
                    (&meta[blk], route),
                    ybuf,
                    to,
                );
            }
        }
        if direct.is_none() {
            // SAFETY: block 0 (there is at least one block: k ≥ 1) wrote every output to y.
            out.store(unsafe { &y.assume_init_ref().0 });
        }
    }
}

/// The 32 × 32 exact dots of block bytes `at .. at + chunks · chunk` of the 32 rows of `a`
/// (row stride kp) and the panel's 32 columns, into tiles 0–3 (rows 0–15 and 16–31 by
/// columns 0–15 and 16–31), for [`store_dots`].
///
/// # Safety
/// AMX-INT8 must be available, granted and configured with `Config::new(chunk)`; `a` must
/// hold 32 rows of `kp` bytes and `panel` kp/4 groups of NR · 4 bytes, with at + chunks ·
/// chunk ≤ kp, at and chunk multiples of 4, chunks ≥ 1.
unsafe fn block_products(
    a: &[u8],
    panel: &[u8],
    kp: usize,
    at: usize,
    (chunks, chunk): (usize, usize),
) {
    assert!(
        a.len() >= MR * kp
            && panel.len() >= NR * kp
            && at + chunks * chunk <= kp
            && chunks >= 1
            && at.is_multiple_of(4)
    );
    let a0 = a[at..].as_ptr();
    // SAFETY: row 16 exists (a holds 32 rows).
    let a1 = unsafe { a0.add(16 * kp) };
    // x's tile rows are the panel's groups of four k (NR · 4 = 128 bytes); its two tiles
    // the first and second 16 columns of each.
    let b = panel[at / 4 * NR * 4..].as_ptr();
    // SAFETY: the caller guarantees AMX and its configuration; every tile load reads 16 rows
    // of `chunk` bytes inside `a` (rows 0–31, the block's bytes) or chunk/4 rows of 64
    // bytes inside the panel (the block's groups). No memory is written.
    unsafe {
        asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            "2:",
            "tileloadd tmm4, [{a0} + {kp}*1]",
            "tileloadd tmm6, [{b} + {bs}*1]",
            "tileloadd tmm7, [{b} + {bs}*1 + 64]",
            "tdpbssd tmm0, tmm4, tmm6",
            "tileloadd tmm5, [{a1} + {kp}*1]",
            "tdpbssd tmm1, tmm4, tmm7",
            "tdpbssd tmm2, tmm5, tmm6",
            "tdpbssd tmm3, tmm5, tmm7",
            "add {a0}, {chunk}",
            "add {a1}, {chunk}",
            "add {b}, {step}",
            "dec {n}",
            "jnz 2b",
            a0 = inout(reg) a0 => _,
            a1 = inout(reg) a1 => _,
            b = inout(reg) b => _,
            n = inout(reg) chunks => _,
            chunk = in(reg) chunk,
            step = in(reg) chunk / 4 * NR * 4,
            kp = in(reg) kp,
            bs = in(reg) NR * 4,
            options(nostack, readonly),
        );
    }
}

/// Tiles 0–3 (as [`block_products`] leaves them) into `sums`, row-major with NR columns.
///
/// # Safety
/// AMX must be available and configured with a `Config`; `sums` must be valid for writes.
unsafe fn store_dots(sums: *mut Sums) {
    let c = sums.cast::<i32>();
    // SAFETY: the caller guarantees AMX and its configuration; every store writes 16 rows of
    // 64 bytes inside `sums` (32 rows of 128 bytes).
    unsafe {
        asm!(
            "tilestored [{c} + {bs}*1], tmm0",
            "tilestored [{c} + {bs}*1 + 64], tmm1",
            "tilestored [{c2} + {bs}*1], tmm2",
            "tilestored [{c2} + {bs}*1 + 64], tmm3",
            bs = in(reg) NR * 4,
            c = in(reg) c,
            c2 = in(reg) c.add(16 * NR),
            options(nostack),
        );
    }
}

/// Block `blk` (of `blocks`) of a tile: each row's 32 dots scaled by its scale in `scales`
/// (MR rows × blocks) and the columns' in `meta`, added to the row's sums read from `from`
/// (row-major, NR per row) and written to `to` (row stride given) — to zero sums for block
/// 0, as the scalar kernel starts (0 + −0 is +0), without reading `from`.
///
/// # Safety
/// `from` must be valid for reading MR rows of NR floats, initialised unless `blk` is 0;
/// `to` for writing MR rows of NR floats at its stride (it may be `from` with stride NR).
#[target_feature(enable = "avx512f,avx512bw,avx512dq")]
unsafe fn scale_block(
    sums: &[i32; MR * NR],
    scales: &[f64],
    (blk, blocks): (usize, usize),
    (meta, route): (&super::mx::PanelBlock, Route),
    from: *const f32,
    (to, stride): (*mut f32, usize),
) {
    for (r, dots) in sums.chunks_exact(NR).enumerate() {
        // SAFETY: each row of `sums` holds NR = 32 values: two vectors of 16; row r of
        // `from` is NR floats at r · NR and of `to` NR floats at r · stride (the caller's
        // contract).
        unsafe {
            let dot = [0, 16].map(|at| _mm512_loadu_si512(dots.as_ptr().add(at) as *const _));
            let v = if blk == 0 {
                [_mm512_setzero_ps(); 2]
            } else {
                [0, 16].map(|at| _mm512_loadu_ps(from.add(r * NR + at)))
            };
            let v = add_block_row(dot, scales[r * blocks + blk], meta, route, v);
            let to_r = to.add(r * stride);
            _mm512_storeu_ps(to_r, v[0]);
            _mm512_storeu_ps(to_r.add(16), v[1]);
        }
    }
}
