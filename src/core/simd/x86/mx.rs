//! The MX block GEMM on x86: doubled E2M1 codes (or the i8 integers of MXINT8 and MXFP6
//! E2M3), block-padded and packed in panels, the 4 × 32 micro-kernels (AVX-512 VNNI, AVX2) and
//! the exact per-block scaling. Portable twins: `kernel::mxfp4::gemm_with(Isa::Scalar, ..)`
//! and `kernel::segments::gemm` (the rule every MX pair follows).

use std::arch::x86_64::*;

use super::super::BlockRule as Rule;
use super::super::Isa;
use super::super::blocked::{self, MicroKernel, NR, TileOut};
use crate::core::codec::{e2m1, e8m0, minifloat};

/// 2^(e − 1) as f64 for a scale byte (NaN for 0xFF): half of each block's exponent, so
/// that the product of two of them is 2^(ea + eb − 2), exactly.
fn half_scale(byte: u8) -> f64 {
    e8m0::exponent(byte).map_or(f64::NAN, |e| e8m0::pow2(e - 1))
}

/// Rows of W per MXFP4 tile.
const MX_MR: usize = 4;

/// Which micro-kernel runs the block GEMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// AVX2 (with FMA): `vpmaddubsw` on offset or sign-tricked bytes, 2 × 32 at a time.
    Avx2,
    /// AVX-512 VNNI: `vpdpbusd` on W's offset bytes, 4 × 32 tiles.
    Avx512,
    /// AMX-INT8: `tdpbssd` on signed bytes, 32 × 32 tiles, one tile product per block; the
    /// scaling is AVX-512's (`super::mx_amx`).
    Amx,
}

impl Kernel {
    /// The instruction set it runs on, as far as packing cares (AVX-512 or AVX2).
    fn isa(self) -> Isa {
        if self == Kernel::Avx2 {
            Isa::Avx2
        } else {
            Isa::Avx512Vnni
        }
    }

    /// Rows of W per tile (W's rows are padded to a multiple).
    fn mr(self) -> usize {
        match self {
            Kernel::Amx => super::mx_amx::MR,
            _ => MX_MR,
        }
    }
}

/// What the element bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elements {
    /// E2M1 codes: doubled (|2v| ≤ 12), W's offset by 12 for `vpmaddubsw`, scales 2^(e − 1).
    Fp4,
    /// i8 integers worth int · 2^−frac (MXINT8: q, frac 6; MXFP6 E2M3: 8v, frac 3), |int| ≤
    /// 127 and no −128 in x; multiplied by the sign trick (|a| times b·sign(a)), scales
    /// 2^(e − frac).
    Int8 { frac: i32 },
    /// NVFP4: E2M1 codes as for `Fp4`, scale bytes E4M3 codes worth s / 2 each, so that the
    /// product of two is (sW · sx) / 4, whose product with a block dot is exact in f32 (a
    /// dot below 2^12 times at most 8 significant bits).
    Nvfp4,
}

impl Elements {
    /// The operand scale of a byte, so that the product of W's and x's is the block's.
    fn scale(self, byte: u8) -> f64 {
        match self {
            Elements::Fp4 => half_scale(byte),
            Elements::Int8 { frac } => {
                e8m0::exponent(byte).map_or(f64::NAN, |e| e8m0::pow2(e - frac))
            }
            Elements::Nvfp4 => f64::from(minifloat::E4M3.decode(byte)) / 2.0,
        }
    }

    /// Whether the f32 route is exact for this byte: the scale 2^(e − frac) and every block
    /// product |dot| · 2^(ea + eb − 2·frac) (|dot| < 2^24, which the caller checked) stay
    /// normal f32 when both exponents lie in [frac − 63, frac + 51].
    fn safe(self, byte: u8) -> bool {
        match self {
            Elements::Fp4 => f32_safe(byte),
            Elements::Int8 { frac } => {
                e8m0::exponent(byte).is_some_and(|e| (frac - 63..=frac + 51).contains(&e))
            }
            Elements::Nvfp4 => minifloat::E4M3.decode(byte).is_finite(),
        }
    }

    /// The offset W's bytes carry so that they are unsigned for `vpdpbusd` / `vpmaddubsw`
    /// (taken back out with offset · Σb). Integer elements take 128 on AVX-512 (`vpdpbusd`
    /// sums its four products in i32: no saturation) and none on AVX2, whose `vpmaddubsw`
    /// saturates pairs at 2^15 − 1, which (q + 128) · b would pass: there the sign trick.
    /// AMX's `tdpbssd` is signed × signed: no offset.
    fn offset(self, kernel: Kernel) -> i32 {
        match (self, kernel) {
            (_, Kernel::Amx) => 0,
            (Elements::Fp4 | Elements::Nvfp4, _) => 12,
            (Elements::Int8 { .. }, Kernel::Avx512) => 128,
            (Elements::Int8 { .. }, Kernel::Avx2) => 0,
        }
    }
}

/// Whether a half-scale 2^(e − 1) keeps every block product exact in f32: with both
/// exponents in [−60, 50] the scale 2^(ea + eb − 2) is a normal f32 and |dot| · scale
/// (|dot| < 2^24) stays inside f32's normal range, so f32(dot) · scale needs no rounding,
/// exactly like the f64 route.
fn f32_safe(byte: u8) -> bool {
    e8m0::exponent(byte).is_some_and(|e| (-59..=51).contains(&e))
}

/// The operands' scales, one per row and block.
#[derive(Clone, Copy)]
pub enum Scales<'a> {
    /// Scale bytes (E8M0, or NVFP4's E4M3), which `Elements` decodes; a block's term is its
    /// dot times both scales, exact (f32 where that is exact, else f64), once rounded.
    Bytes(&'a [u8], &'a [u8]),
    /// Real scales (INT groups, channels, tensors: f32 values) and how a term is formed.
    Real(&'a [f64], &'a [f64], Rule),
}

/// A scale byte's operand scale and whether it allows the f32 route, for all 256 bytes of
/// an element type: one decode per byte value rather than one per row and block.
type ByteScales = [(f64, bool); 256];

fn byte_scales(el: Elements) -> ByteScales {
    std::array::from_fn(|b| (el.scale(b as u8), el.safe(b as u8)))
}

impl Scales<'_> {
    /// W's scale `i` and whether its terms take the f32 route (`table`: the element's
    /// [`byte_scales`]).
    fn a(&self, table: &ByteScales, i: usize) -> (f64, bool) {
        match *self {
            Scales::Bytes(sa, _) => table[usize::from(sa[i])],
            Scales::Real(sa, _, rule) => (sa[i], rule == Rule::IntF32),
        }
    }

    /// xᵀ's scale `i`, likewise.
    fn b(&self, table: &ByteScales, i: usize) -> (f64, bool) {
        match *self {
            Scales::Bytes(_, sb) => table[usize::from(sb[i])],
            Scales::Real(_, sb, rule) => (sb[i], rule == Rule::IntF32),
        }
    }
}

/// The MX block GEMM on `kernel` (the caller checks its features: AVX2 and FMA, AVX-512
/// F/BW/DQ/VNNI, AMX-INT8 with AVX-512).
pub fn mx_gemm(
    a: &[u8],
    b: &[u8],
    scales: Scales,
    (m, n, k, block): (usize, usize, usize, usize),
    kernel: Kernel,
    el: Elements,
) -> Vec<f32> {
    if m == 0 || n == 0 {
        return vec![0f32; m * n];
    }
    // W: integers + offset, block-padded, rows padded to whole tiles; xᵀ: integers,
    // block-padded, packed in panels; in the thread's reused buffers.
    blocked::with_scratch(|[au, bs, packed]| {
        let shape = Shape::new(m, n, k, block, kernel);
        let table = byte_scales(el);
        let mut meta = vec![PanelBlock::default(); n.div_ceil(NR) * shape.blocks];
        prepare(
            (a, b, scales, &table),
            shape,
            (au, bs, packed),
            &mut meta,
            (el, kernel),
        );
        let mp = shape.mp(kernel);
        let (ascale, asafe): (Vec<f64>, Vec<bool>) = (0..mp * shape.blocks)
            .map(|i| {
                if i < m * shape.blocks {
                    scales.a(&table, i)
                } else {
                    (1.0, true)
                }
            })
            .unzip();
        let blocks = shape.blocks;
        let panel_safe = (0..n.div_ceil(NR))
            .map(|p| meta[p * blocks..(p + 1) * blocks].iter().all(|m| m.safe))
            .collect();
        let rows_safe = (0..mp / MX_MR)
            .map(|t| {
                asafe[t * MX_MR * blocks..(t + 1) * MX_MR * blocks]
                    .iter()
                    .all(|&s| s)
            })
            .collect();
        let tiles = Tiles {
            au: blocked::from_line(au),
            packed: blocked::from_line(packed),
            meta: &meta,
            ascale,
            asafe,
            panel_safe,
            rows_safe,
            shape,
            kernel,
            sign: kernel == Kernel::Avx2 && matches!(el, Elements::Int8 { .. }),
            exact: matches!(scales, Scales::Bytes(..)),
        };
        if kernel == Kernel::Amx {
            blocked::gemm(&super::mx_amx::AmxMxTiles::new(tiles), m, n, m * n * k)
        } else {
            blocked::gemm(&tiles, m, n, m * n * k)
        }
    })
}

/// The padded layout: blocks per row, the block padded to groups of 4 (on AMX to whole
/// chunks: what one tile product takes, at most 64 bytes), the padded row.
#[derive(Clone, Copy)]
pub(super) struct Shape {
    m: usize,
    n: usize,
    k: usize,
    block: usize,
    pub(super) blocks: usize,
    pub(super) bp: usize,
    pub(super) kp: usize,
    /// Bytes of K per tile product (AMX): bp is a whole number of them.
    pub(super) chunk: usize,
}

impl Shape {
    fn new(m: usize, n: usize, k: usize, block: usize, kernel: Kernel) -> Self {
        let blocks = k.div_ceil(block);
        let (bp, chunk) = if kernel == Kernel::Amx {
            // The fewest tile products per block, each of the same length (a multiple of 4).
            let chunks = block.div_ceil(64);
            let chunk = block.div_ceil(chunks).div_ceil(4) * 4;
            (chunks * chunk, chunk)
        } else {
            let bp = block.div_ceil(4) * 4;
            (bp, bp)
        };
        Shape {
            m,
            n,
            k,
            block,
            blocks,
            bp,
            kp: blocks * bp,
            chunk,
        }
    }

    /// W's rows padded to whole tiles of `kernel`.
    fn mp(&self, kernel: Kernel) -> usize {
        self.m.div_ceil(kernel.mr()) * kernel.mr()
    }
}

/// Rows block-padded as integers (E2M1 codes doubled: 2·value): W's plus the kernel's
/// offset ([`Elements::offset`]) into `au`, xᵀ's as they are (two's complement) into `bs`,
/// then packed in panels into `packed`
/// with each panel block's terms in `meta`. Done on the threads, W and xᵀ side by side (one
/// fork-join rather than several in a row: each costs a wake-up of the pool, which shows at
/// n = 512).
fn prepare(
    (a, b, scales, table): (&[u8], &[u8], Scales, &ByteScales),
    s: Shape,
    (au, bs, packed): (&mut Vec<u8>, &mut Vec<u8>, &mut Vec<u8>),
    meta: &mut [PanelBlock],
    (el, kernel): (Elements, Kernel),
) {
    let (m, n, k, kp) = (s.m, s.n, s.k, s.kp);
    // The offset as a byte: W's bytes are int + offset modulo 256 (0..=255 for every int the
    // callers allow), padding is the offset (int 0). Both start on a cache line (AMX's tile
    // loads of line-split rows take twice as long); every byte is written below.
    let w_offset = el.offset(kernel) as u8;
    let au = blocked::aligned(au, s.mp(kernel) * kp);
    let bs = blocked::aligned(bs, n * kp);
    super::super::join(
        (m + n) * k * 64,
        || {
            blocked::for_chunks(au, kp, m * k * 64, |(r, dst)| {
                if r < m {
                    pad_blocks(&a[r * k..(r + 1) * k], dst, s, (el, w_offset));
                } else {
                    dst.fill(w_offset);
                }
            });
        },
        || {
            blocked::for_chunks(bs, kp, n * k * 64, |(j, dst)| {
                pad_blocks(&b[j * k..(j + 1) * k], dst, s, (el, 0));
            });
            let bs = &*bs;
            let pack = |packed: &mut Vec<u8>| {
                blocked::pack_panels_into(bs, (n, kp, kp), packed, kernel.isa());
            };
            if kernel == Kernel::Avx512 && el.offset(kernel) != 0 {
                // The panels first: the column sums come from them.
                pack(packed);
                let panels = (bs, Some(blocked::from_line(packed)));
                panel_blocks(panels, (scales, table), (n, s), meta, (el, kernel));
            } else {
                super::super::join(
                    n * k * 64,
                    || pack(packed),
                    || panel_blocks((bs, None), (scales, table), (n, s), meta, (el, kernel)),
                );
            }
        },
    );
}

/// One row's codes `src` (k of them) as stored bytes (int + offset) in its block-padded row
/// `dst` (kp bytes, every one written; padding is the offset: int 0). Integer elements are
/// their bytes (an add, which the compiler vectorises); E2M1 codes go through a 16-entry
/// table, 32 at a time.
fn pad_blocks(src: &[u8], dst: &mut [u8], s: Shape, (el, offset): (Elements, u8)) {
    let map = |codes: &[u8], out: &mut [u8]| match el {
        Elements::Int8 { .. } => {
            for (d, &c) in out.iter_mut().zip(codes) {
                *d = c.wrapping_add(offset);
            }
        }
        Elements::Fp4 | Elements::Nvfp4 => {
            let table: [u8; 16] =
                std::array::from_fn(|c| (e2m1::doubled(c as u8) as u8).wrapping_add(offset));
            map_nibbles(codes, out, &table);
        }
    };
    if s.bp == s.block {
        // No padding inside the row: one pass, then the last block's tail.
        map(src, &mut dst[..s.k]);
        dst[s.k..].fill(offset);
        return;
    }
    for (codes, out) in src.chunks(s.block).zip(dst.chunks_exact_mut(s.bp)) {
        let (head, pad) = out.split_at_mut(codes.len());
        map(codes, head);
        pad.fill(offset);
    }
}

/// out[i] = table[codes[i] & 15], by `vpshufb` (every x86 path of this kernel has AVX2).
fn map_nibbles(codes: &[u8], out: &mut [u8], table: &[u8; 16]) {
    assert_eq!(codes.len(), out.len());
    // SAFETY: every caller runs on an AVX2 path (AVX2 + FMA, AVX-512, AMX: the dispatch
    // checked); the loads and stores stay inside the two slices of equal length.
    unsafe { map_nibbles_avx2(codes, out, table) }
}

#[target_feature(enable = "avx2")]
unsafe fn map_nibbles_avx2(codes: &[u8], out: &mut [u8], table: &[u8; 16]) {
    // SAFETY: 16 bytes of the table.
    let t = unsafe { _mm_loadu_si128(table.as_ptr() as *const _) };
    let t = _mm256_broadcastsi128_si256(t);
    let low = _mm256_set1_epi8(0x0F);
    let whole = codes.len() / 32 * 32;
    for at in (0..whole).step_by(32) {
        // SAFETY: at + 32 ≤ len for both slices (equal lengths, asserted by the caller).
        unsafe {
            let c = _mm256_loadu_si256(codes.as_ptr().add(at) as *const _);
            let v = _mm256_shuffle_epi8(t, _mm256_and_si256(c, low));
            _mm256_storeu_si256(out.as_mut_ptr().add(at) as *mut _, v);
        }
    }
    for (d, &c) in out[whole..].iter_mut().zip(&codes[whole..]) {
        *d = table[usize::from(c & 0x0F)];
    }
}

/// The MX micro-kernel of the blocked driver: the prepared operands and W's scales, one
/// per row (padded to whole tiles) and block.
pub(super) struct Tiles<'a> {
    pub(super) au: &'a [u8],
    pub(super) packed: &'a [u8],
    pub(super) meta: &'a [PanelBlock],
    pub(super) ascale: Vec<f64>,
    pub(super) asafe: Vec<bool>,
    /// Per panel, whether every block's column scales allow the f32 route; per tile of
    /// MX_MR rows, whether every block's row scales do (checked once, not per tile).
    panel_safe: Vec<bool>,
    rows_safe: Vec<bool>,
    pub(super) shape: Shape,
    kernel: Kernel,
    /// The sign-trick kernel (integer elements) instead of the offset one.
    sign: bool,
    /// Whether a term's product f32(dot) · sa · sb is exact wherever the f32 route is taken
    /// (the byte scales: powers of two, NVFP4's E4M3 pairs), so that it may fuse with the add.
    pub(super) exact: bool,
}

/// How a block's terms are formed (see [`add_block_row`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    /// In f32, the product exact: one FMA.
    Fused,
    /// In f32, each step rounded (INT's rule).
    F32,
    /// Rounded once through f64.
    F64,
}

impl Route {
    /// The route of a block whose scales all allow the f32 one (`fast`) or not, for
    /// operands whose f32 products are `exact` (`Tiles::exact`).
    pub(super) fn of(fast: bool, exact: bool) -> Route {
        match (fast, exact) {
            (false, _) => Route::F64,
            (true, true) => Route::Fused,
            (true, false) => Route::F32,
        }
    }
}

impl MicroKernel for Tiles<'_> {
    const MR: usize = MX_MR;
    // Tasks of 16 tiles.
    const TASK_ROWS: usize = MX_MR * 16;

    fn panel_bytes(&self) -> usize {
        NR * self.shape.kp
    }

    fn tile(&self, i0: usize, p: usize, mut out: TileOut<'_>) {
        let Shape { blocks, bp, kp, .. } = self.shape;
        let b = Panel {
            codes: &self.packed[p * NR * kp..(p + 1) * NR * kp],
            blocks: &self.meta[p * blocks..(p + 1) * blocks],
        };
        let a = Rows {
            codes: &self.au[i0 * kp..(i0 + MX_MR) * kp],
            scale: &self.ascale[i0 * blocks..(i0 + MX_MR) * blocks],
            safe: &self.asafe[i0 * blocks..(i0 + MX_MR) * blocks],
            exact: self.exact,
        };
        if self.kernel != Kernel::Avx2 {
            // A whole tile is written straight into the output, a partial one through a
            // buffer (the copy and the buffer's zeroing were ~6 % of an MXFP4 GEMM at
            // n = 512).
            let mut buf = None;
            let to = match out.whole(MX_MR) {
                Some(whole) => whole,
                None => (buf.insert([0f32; MX_MR * NR]).as_mut_ptr(), NR),
            };
            // A tile whose every block takes an f32 route runs without the f64 one's code,
            // which kept the sums on the stack.
            let f32_only = self.panel_safe[p] && self.rows_safe[i0 / MX_MR];
            // SAFETY: AVX-512 F/BW/DQ/VNNI are available (the dispatch; AMX tiles are
            // `mx_amx`'s, never this); the slices above hold MX_MR padded rows of kp bytes,
            // a panel of kp/4 groups and blocks·NR entries; `to` is MX_MR rows of NR floats
            // `stride` apart (the output's whole tile or `buf`).
            unsafe {
                if f32_only {
                    mx_kernel_4x32::<false>(&a, &b, blocks, bp, to);
                } else {
                    mx_kernel_4x32::<true>(&a, &b, blocks, bp, to);
                }
            }
            if let Some(tile) = buf {
                out.store(&tile);
            }
            return;
        }
        let mut tile = [0f32; MX_MR * NR];
        // SAFETY: AVX2 and FMA are available (the dispatch); the slices as above.
        unsafe {
            if self.sign {
                mx_kernel_4x32_avx2::<true>(&a, &b, blocks, bp, &mut tile);
            } else {
                mx_kernel_4x32_avx2::<false>(&a, &b, blocks, bp, &mut tile);
            }
        }
        out.store(&tile);
    }
}

/// What each block of each panel needs (see [`PanelBlock`]), from xᵀ's block-padded
/// stored bytes `bs` (`n` rows of `kp`) and its scales (`table`: the element's
/// [`byte_scales`]). The column sums only where W carries an offset: given the same bytes
/// packed in panels (`packed`, on AVX-512 only), by `vpdpbusd` of the panel's groups
/// against ones, 32 columns at once; else column by column from `bs`.
fn panel_blocks(
    (bs, packed): (&[u8], Option<&[u8]>),
    (scales, table): (Scales, &ByteScales),
    (n, s): (usize, Shape),
    meta: &mut [PanelBlock],
    (el, kernel): (Elements, Kernel),
) {
    let (kp, blocks, bp) = (s.kp, s.blocks, s.bp);
    let offset = el.offset(kernel);
    blocked::for_chunks(meta, blocks, n * kp * 64, |(p, meta)| {
        for (blk, m) in meta.iter_mut().enumerate() {
            m.safe = true;
            if let (Some(packed), true) = (packed, offset != 0) {
                let groups = blk * bp / 4..(blk + 1) * bp / 4;
                // SAFETY: the panels are given on the AVX-512 kernel's path only, whose
                // dispatch checked AVX-512 F and VNNI.
                let sums =
                    unsafe { panel_sums_16s(&packed[p * NR * kp..(p + 1) * NR * kp], groups) };
                for (d, s) in m.sum.iter_mut().zip(sums) {
                    *d = offset * s;
                }
            }
            for (c, j) in (p * NR..((p + 1) * NR).min(n)).enumerate() {
                if offset != 0 && packed.is_none() {
                    // The padded block of column j (padding is 0), as signed integers.
                    let padded = &bs[j * kp + blk * bp..j * kp + (blk + 1) * bp];
                    m.sum[c] = offset * padded.iter().map(|&v| i32::from(v as i8)).sum::<i32>();
                }
                let (scale, safe) = scales.b(table, j * blocks + blk);
                m.scale[c] = scale;
                m.scale32[c] = scale as f32;
                m.safe &= safe;
            }
        }
    });
}

/// Σ over the groups `groups` of each of a packed panel's NR columns (its bytes as signed
/// integers): `vpdpbusd` of ones (u8) against each group's 128 bytes (s8) sums each
/// column's four bytes into its lane. Padding columns are zeros, so their sums are 0.
#[target_feature(enable = "avx512f,avx512vnni")]
fn panel_sums_16s(panel: &[u8], groups: std::ops::Range<usize>) -> [i32; NR] {
    assert!(groups.end * NR * 4 <= panel.len());
    let ones = _mm512_set1_epi8(1);
    let mut acc = [_mm512_setzero_si512(); 2];
    for g in groups {
        for (h, acc_h) in acc.iter_mut().enumerate() {
            // SAFETY: group g's NR · 4 bytes lie inside the panel (asserted above).
            let v = unsafe { _mm512_loadu_si512(panel.as_ptr().add(g * NR * 4 + 64 * h).cast()) };
            *acc_h = _mm512_dpbusd_epi32(*acc_h, ones, v);
        }
    }
    let mut out = [0i32; NR];
    // SAFETY: two registers of 16 i32 into NR = 32.
    unsafe {
        _mm512_storeu_si512(out.as_mut_ptr().cast(), acc[0]);
        _mm512_storeu_si512(out.as_mut_ptr().add(16).cast(), acc[1]);
    }
    out
}

/// MX_MR rows of W, block-padded, with their half-scales.
struct Rows<'a> {
    codes: &'a [u8],
    scale: &'a [f64],
    safe: &'a [bool],
    /// `Tiles::exact`.
    exact: bool,
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
pub(super) struct PanelBlock {
    sum: [i32; NR],
    scale: [f64; NR],
    scale32: [f32; NR],
    pub(super) safe: bool,
}

/// [`mx_kernel_4x32`] on AVX2: two rows at a time (the i32 sums of 2 × 32 columns fill
/// eight ymm), the f32 sums kept in `tile`. A block dot comes from `vpmaddubsw` (W's
/// offset codes ≤ 24 times xᵀ's |codes| ≤ 12: pairs ≤ 576, exact in i16) and `vpmaddwd`
/// against ones; the scaling is the same exact f32-or-f64 step as on AVX-512.
#[target_feature(enable = "avx2,fma")]
unsafe fn mx_kernel_4x32_avx2<const SIGN: bool>(
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
                            // SIGN: |a| times b·sign(a), exact for |a| ≤ 128 and b ≠ −128
                            // (pairs ≤ 2 · 128 · 127 < 2^15); else W's offset codes as they are.
                            let p = if SIGN {
                                _mm256_maddubs_epi16(
                                    _mm256_abs_epi8(a_r),
                                    _mm256_sign_epi8(bq, a_r),
                                )
                            } else {
                                _mm256_maddubs_epi16(a_r, bq)
                            };
                            let d = _mm256_madd_epi16(p, ones);
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
                            // dot · sa · sb rounded once to f32, four lanes at a time.
                            let half = |lanes: __m128i, at: usize| {
                                round_once_4(
                                    lanes,
                                    _mm256_mul_pd(
                                        _mm256_set1_pd(sa),
                                        _mm256_loadu_pd(meta.scale.as_ptr().add(8 * q + at)),
                                    ),
                                )
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
/// Without `MAY_F64` the caller has checked that every block's scales allow f32. The sums
/// go to `out`, MX_MR rows of NR floats `stride` apart.
///
/// # Safety
/// `out + r·stride` must be valid for writes of NR floats for every r < MX_MR.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vnni")]
unsafe fn mx_kernel_4x32<const MAY_F64: bool>(
    a: &Rows,
    b: &Panel,
    blocks: usize,
    bp: usize,
    (out, stride): (*mut f32, usize),
) {
    let mut y = [[_mm512_setzero_ps(); 2]; MX_MR];
    let (pa, pb) = (a.codes.as_ptr(), b.codes.as_ptr());
    let kp = blocks * bp;
    let groups = bp / 4;
    for blk in 0..blocks {
        let meta = &b.blocks[blk];
        // The sums start at −(offset · Σb): at the block's end they are its exact dots.
        // SAFETY: each per-block array holds NR = 32 values.
        let c =
            unsafe { [0, 16].map(|at| _mm512_loadu_si512(meta.sum.as_ptr().add(at) as *const _)) };
        let start = c.map(|c| _mm512_sub_epi32(_mm512_setzero_si512(), c));
        let mut acc = [start; MX_MR];
        for g in blk * groups..(blk + 1) * groups {
            // SAFETY: g < kp/4: the loads lie inside the panel and each row.
            unsafe {
                let b0 = _mm512_loadu_si512(pb.add(g * NR * 4) as *const _);
                let b1 = _mm512_loadu_si512(pb.add(g * NR * 4 + 64) as *const _);
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    let av =
                        _mm512_set1_epi32((pa.add(r * kp + 4 * g) as *const i32).read_unaligned());
                    acc_r[0] = _mm512_dpbusd_epi32(acc_r[0], av, b0);
                    acc_r[1] = _mm512_dpbusd_epi32(acc_r[1], av, b1);
                }
            }
        }
        let fast = !MAY_F64 || (meta.safe && (0..MX_MR).all(|r| a.safe[r * blocks + blk]));
        let route = Route::of(fast, a.exact);
        for (r, (&dot, y_r)) in acc.iter().zip(y.iter_mut()).enumerate() {
            *y_r = add_block_row(dot, a.scale[r * blocks + blk], meta, route, *y_r);
        }
    }
    for (r, y_r) in y.iter().enumerate() {
        // SAFETY: row r's NR floats at out + r·stride (the caller's guarantee).
        unsafe {
            _mm512_storeu_ps(out.add(r * stride), y_r[0]);
            _mm512_storeu_ps(out.add(r * stride + 16), y_r[1]);
        }
    }
}

/// One row's term of a block added to its f32 sums `y` (the panel's 32 columns): `dot` the
/// block's exact i32 dots, `sa` the row's scale, `meta` the columns'. On the f32 routes
/// f32(dot) is exact, and so is (for [`Route::Fused`]) its product with sa · sb: one
/// rounding, in the add, as in the scalar kernel — an FMA gives the same bits; INT's rule
/// ([`Route::F32`]) rounds each step in f32. Else dot · sa · sb is rounded once through f64
/// ([`add_block_row_f64`], out of line). The sums go in and out by value, so that they stay
/// in registers across a tile's blocks (by reference, with the f64 route inlined, they
/// lived on the stack: a load and a store per block and row).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq")]
pub(super) fn add_block_row(
    dot: [__m512i; 2],
    sa: f64,
    meta: &PanelBlock,
    route: Route,
    y: [__m512; 2],
) -> [__m512; 2] {
    if route == Route::F64 {
        return add_block_row_f64(dot, sa, meta, y);
    }
    let sa = _mm512_set1_ps(sa as f32);
    let mut out = y;
    for (h, y_h) in out.iter_mut().enumerate() {
        // SAFETY: 16 f32 at 16h, inside the block's NR entries.
        let s = unsafe { _mm512_loadu_ps(meta.scale32.as_ptr().add(16 * h)) };
        let (d, s) = (_mm512_cvtepi32_ps(dot[h]), _mm512_mul_ps(sa, s));
        *y_h = if route == Route::Fused {
            _mm512_fmadd_ps(d, s, *y_h)
        } else {
            _mm512_add_ps(*y_h, _mm512_mul_ps(d, s))
        };
    }
    out
}

/// [`add_block_row`]'s f64 route: dot · sa · sb rounded once to f32, added to `y`.
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512dq")]
fn add_block_row_f64(dot: [__m512i; 2], sa: f64, meta: &PanelBlock, y: [__m512; 2]) -> [__m512; 2] {
    let sav = _mm512_set1_pd(sa);
    // 8 f64 scales at `at`, inside the block's NR entries.
    // SAFETY: at + 8 ≤ NR at every call below.
    let sb = |at: usize| unsafe { _mm512_loadu_pd(meta.scale.as_ptr().add(at)) };
    let mut out = y;
    // Unrolled by hand: as a closure over the halves it was left out of line (half the
    // time of a W4A8 GEMM went to the call).
    for (h, y_h) in out.iter_mut().enumerate() {
        let low = round_once_8(
            _mm512_castsi512_si256(dot[h]),
            _mm512_mul_pd(sav, sb(16 * h)),
        );
        let high = round_once_8(
            _mm512_extracti64x4_epi64::<1>(dot[h]),
            _mm512_mul_pd(sav, sb(16 * h + 8)),
        );
        let v = _mm512_insertf32x8::<1>(_mm512_castps256_ps512(low), high);
        *y_h = _mm512_add_ps(*y_h, v);
    }
    out
}

/// `exact_f64::round_once_8` of i32 dots (`s` = sa · sb, exact in f64: two f32 values or two
/// powers of two): an exact product (every MX block) is p itself, a NaN scale NaN.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn round_once_8(dot: __m256i, s: __m512d) -> __m256 {
    super::exact_f64::round_once_8(_mm512_cvtepi32_pd(dot), s)
}

/// [`round_once_8`] on AVX2 + FMA, four lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn round_once_4(dot: __m128i, s: __m256d) -> __m128 {
    let d = _mm256_cvtepi32_pd(dot);
    let p = _mm256_mul_pd(d, s);
    let e = _mm256_fmsub_pd(d, s, p);
    let bits = _mm256_castpd_si256(p);
    let one = _mm256_set1_epi64x(1);
    let even = _mm256_cmpeq_epi64(_mm256_and_si256(bits, one), _mm256_setzero_si256());
    let inexact = _mm256_castpd_si256(_mm256_cmp_pd::<_CMP_NEQ_OQ>(e, _mm256_setzero_pd()));
    let differ = _mm256_cmpgt_epi64(
        _mm256_setzero_si256(),
        _mm256_xor_si256(_mm256_castpd_si256(e), bits),
    );
    let step = _mm256_and_si256(
        _mm256_or_si256(differ, one),
        _mm256_and_si256(even, inexact),
    );
    _mm256_cvtpd_ps(_mm256_castsi256_pd(_mm256_add_epi64(bits, step)))
}

/// [`round_once_8`] on arrays (the test hook `simd::round_once_lanes`); the caller checks
/// AVX-512 F/DQ.
pub fn round_once_lanes_avx512(dot: [i32; 8], s: [f64; 8]) -> [f32; 8] {
    let mut out = [0f32; 8];
    // SAFETY: AVX-512 F and DQ are available (the caller checked); the arrays hold 8 lanes.
    unsafe {
        let v = round_once_8(
            _mm256_loadu_si256(dot.as_ptr() as *const _),
            _mm512_loadu_pd(s.as_ptr()),
        );
        _mm256_storeu_ps(out.as_mut_ptr(), v);
    }
    out
}

/// [`round_once_4`] on arrays, twice; the caller checks AVX2 and FMA.
pub fn round_once_lanes_avx2(dot: [i32; 8], s: [f64; 8]) -> [f32; 8] {
    let mut out = [0f32; 8];
    // SAFETY: AVX2 and FMA are available (the caller checked); each half is 4 lanes.
    unsafe {
        for h in 0..2 {
            let v = round_once_4(
                _mm_loadu_si128(dot.as_ptr().add(4 * h) as *const _),
                _mm256_loadu_pd(s.as_ptr().add(4 * h)),
            );
            _mm_storeu_ps(out.as_mut_ptr().add(4 * h), v);
        }
    }
    out
}
