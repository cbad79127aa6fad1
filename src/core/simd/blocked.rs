//! The one blocked GEMM driver, in the style of bluss/matrixmultiply: the output is cut into
//! tasks of whole row tiles (one fork-join over rayon), and inside a task the packed panels
//! of xᵀ are taken in column blocks that fit in L2; within a block each row tile of W stays
//! in L1 while the block's panels stream past it. What differs between GEMMs — how an
//! operand is packed, what a tile's inner product is, how raw sums become outputs — is a
//! [`MicroKernel`]; the INT8 and the MX block GEMMs are two of them (`x86::int8`, `x86::mx`).
//!
//! Also here, shared by every kernel: the panel packing, the thread-local scratch buffers and
//! the rule for when a stage runs on the pool. Nothing in this file is ISA-specific.

use std::mem::MaybeUninit;

use super::Isa;

/// Columns of x per packed panel.
pub const NR: usize = 32;
/// Bytes of packed x per column block: what a task sweeps for each row tile of W, so it must
/// stay in L2 (half of Zen 4's and Zen 5's 1 MB, a quarter of Sapphire Rapids' 2 MB).
const L2_BLOCK: usize = 512 << 10;
/// The largest row tile a micro-kernel may declare.
pub const MAX_MR: usize = 32;

/// One micro-kernel of the driver: an `MR × NR` tile of finished outputs from prepared
/// operands. Implementors hold their packed operands and per-row / per-column terms.
pub trait MicroKernel: Sync {
    /// Rows of W per tile (at most [`MAX_MR`]).
    const MR: usize;
    /// Rows of W per task: a multiple of `MR`, sized so a task's rows of W fit in L2.
    const TASK_ROWS: usize;

    /// Writes the outputs of rows `i0 ..` and of panel `p`'s columns into `out`: every one
    /// of its `rows × nc` (the output starts uninitialised; the driver hands it back as
    /// `f32` once every tile has run).
    fn tile(&self, i0: usize, p: usize, out: TileOut<'_>);

    /// Bytes of one packed panel of x (how many fit in L2 sets the column blocks).
    fn panel_bytes(&self) -> usize;

    /// Runs a task's tiles (`f`): a kernel with per-thread state to set up once per task
    /// rather than once per tile (AMX's tile configuration) wraps them here.
    fn task(&self, f: impl FnOnce()) {
        f();
    }
}

/// Where a tile's outputs go: rows of the output (`stride` floats apart) from the tile's
/// first row, of which `rows` exist, and the panel's columns `c0 .. c0 + nc` in each.
pub struct TileOut<'a> {
    data: &'a mut [MaybeUninit<f32>],
    stride: usize,
    pub rows: usize,
    c0: usize,
    pub nc: usize,
}

impl TileOut<'_> {
    /// Row `r`'s `nc` outputs.
    pub fn row(&mut self, r: usize) -> &mut [MaybeUninit<f32>] {
        let at = r * self.stride + self.c0;
        &mut self.data[at..at + self.nc]
    }

    /// The first output of a whole tile (`rows` rows of NR outputs) and the row stride, for
    /// a kernel that writes its last step straight into the output; `None` for a partial
    /// tile. Every output of the tile must be written through it before the tile returns.
    pub fn whole(&mut self, rows: usize) -> Option<(*mut f32, usize)> {
        if self.rows != rows || self.nc != NR || rows == 0 {
            return None;
        }
        assert!(self.data.len() >= (rows - 1) * self.stride + self.c0 + NR);
        Some((self.data[self.c0..].as_mut_ptr().cast::<f32>(), self.stride))
    }

    /// Copies the existing part of a row-major `MR × NR` tile.
    pub fn store(&mut self, tile: &[f32]) {
        for r in 0..self.rows {
            for (y, &v) in self.row(r).iter_mut().zip(&tile[r * NR..]) {
                y.write(v);
            }
        }
    }
}

/// y (`m × n`, row-major) computed tile by tile by `kernel`; `work` (multiply-adds) decides
/// whether the tasks run on the pool.
pub fn gemm<K: MicroKernel>(kernel: &K, m: usize, n: usize, work: usize) -> Vec<f32> {
    if m == 0 || n == 0 {
        return Vec::new();
    }
    // Uninitialised: zeroing m·n floats that every tile overwrites costs as much as the
    // epilogue (and a fresh allocation is faulted in page by page as it is zeroed).
    let mut out: Vec<MaybeUninit<f32>> = Vec::with_capacity(m * n);
    // SAFETY: MaybeUninit<f32> needs no initialisation; the capacity is m·n.
    unsafe { out.set_len(m * n) };
    debug_assert!(K::MR <= MAX_MR && K::TASK_ROWS.is_multiple_of(K::MR));
    let panels = n.div_ceil(NR);
    let block_panels = (L2_BLOCK / kernel.panel_bytes().max(1)).max(1);
    let task = |(t, chunk): (usize, &mut [MaybeUninit<f32>])| {
        let rows = chunk.len() / n;
        kernel.task(|| {
            // Column blocks of B that fit in L2; inside one, each row tile of W (in L1)
            // meets every panel of the block in turn.
            for block in (0..panels).step_by(block_panels) {
                for r0 in (0..rows).step_by(K::MR) {
                    for p in block..(block + block_panels).min(panels) {
                        let (c0, nc) = (p * NR, NR.min(n - p * NR));
                        let out = TileOut {
                            data: &mut chunk[r0 * n..],
                            stride: n,
                            rows: K::MR.min(rows - r0),
                            c0,
                            nc,
                        };
                        kernel.tile(t * K::TASK_ROWS + r0, p, out);
                    }
                }
            }
        });
    };
    for_chunks(&mut out, K::TASK_ROWS * n, work, task);
    // The tiles cover every row below m and every column below n, and each writes all of
    // its outputs (the trait's contract).
    let mut out = std::mem::ManuallyDrop::new(out);
    let (ptr, len, cap) = (out.as_mut_ptr(), out.len(), out.capacity());
    // SAFETY: every element is initialised (above); MaybeUninit<f32> has f32's size and
    // alignment, so the allocation is a valid Vec<f32> of the same length and capacity.
    unsafe { Vec::from_raw_parts(ptr.cast::<f32>(), len, cap) }
}

/// Calls `f` on every `(index, chunk)` of `out` (chunks of `size`), on rayon's threads when
/// `work` (multiply-adds or bytes touched) is worth it. Every stage of a GEMM, packing
/// included, goes through here: a stage left serial caps the speed-up of threads.
pub fn for_chunks<T: Send>(
    out: &mut [T],
    size: usize,
    work: usize,
    f: impl Fn((usize, &mut [T])) + Sync + Send,
) {
    use rayon::prelude::*;
    if !super::parallel(work) {
        out.chunks_mut(size.max(1)).enumerate().for_each(f);
    } else {
        out.par_chunks_mut(size.max(1)).enumerate().for_each(f);
    }
}

/// A region of `len` bytes of `v` that starts on a 64-byte boundary (a cache line: an AMX
/// tile load of line-split rows takes twice as long); [`from_line`] finds it again. The
/// buffer is reused and only ever grown, never cleared: the region holds what the last call
/// left there, and the caller writes every byte of it (refilling what is then overwritten
/// was ~5 % of an INT8 GEMM at n = 512 in a profile).
pub fn aligned(v: &mut Vec<u8>, len: usize) -> &mut [u8] {
    if v.len() < len + 63 {
        v.resize(len + 63, 0);
    }
    let off = line_offset(v);
    &mut v[off..off + len]
}

/// The part of a buffer filled by [`aligned`]: from its first 64-byte boundary.
pub fn from_line(v: &[u8]) -> &[u8] {
    &v[line_offset(v)..]
}

fn line_offset(v: &[u8]) -> usize {
    v.as_ptr().align_offset(64).min(63).min(v.len())
}

/// Packs `b` (`n × k`) into panels of NR columns × (k padded to kp) in groups of 4 bytes:
/// panel p, group g, column c holds b[p·NR + c][4g .. 4g + 4]; into `out` (reused) from a
/// 64-byte boundary, where [`from_line`] finds the panels. `isa` may pack full panels by
/// vector transposes (`simd::pack_groups`): the same bytes.
pub fn pack_panels_into(b: &[u8], (n, k, kp): (usize, usize, usize), out: &mut Vec<u8>, isa: Isa) {
    pack_panels(b, (n, k, kp), aligned(out, n.div_ceil(NR) * NR * kp), isa);
}

/// [`pack_panels_into`] into `out`, which holds exactly the panels (n / NR rounded up, NR ·
/// kp bytes each); every byte is written.
pub fn pack_panels(b: &[u8], (n, k, kp): (usize, usize, usize), out: &mut [u8], isa: Isa) {
    assert_eq!(out.len(), n.div_ceil(NR) * NR * kp);
    let pack = |(p, dst): (usize, &mut [u8])| {
        let cols = p * NR..((p + 1) * NR).min(n);
        let whole = k / 4;
        // Every byte of the panel is written (the buffer holds the last call's bytes): zeros
        // past the last column in the whole groups and everywhere from the first partial one.
        if cols.len() < NR {
            for group in dst.chunks_exact_mut(NR * 4).take(whole) {
                group[cols.len() * 4..].fill(0);
            }
        }
        dst[whole * NR * 4..].fill(0);
        // Whole groups of a full panel by vector transposes where the ISA has them; else
        // column by column: each column's row of b is read in order and its groups land
        // NR · 4 bytes apart, all inside the panel (in L1).
        let fast = cols.len() == NR && super::pack_groups(isa, b, k, cols.start, dst);
        for (c, j) in cols.clone().enumerate().filter(|_| !fast) {
            let src = b[j * k..j * k + 4 * whole].chunks_exact(4);
            for (d, q) in dst[c * 4..].chunks_mut(NR * 4).zip(src) {
                d[..4].copy_from_slice(q);
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

thread_local! {
    /// Packing buffers reused from call to call: fresh multi-megabyte allocations are mapped
    /// and faulted in anew each time, which costs as much as the GEMM itself at n = 1024.
    static SCRATCH: std::cell::RefCell<[Vec<u8>; 3]> = const {
        std::cell::RefCell::new([Vec::new(), Vec::new(), Vec::new()])
    };
    /// The same for the kernels that pack f64 (the exact-f64 block GEMM).
    static SCRATCH_F64: std::cell::RefCell<[Vec<f64>; 3]> = const {
        std::cell::RefCell::new([Vec::new(), Vec::new(), Vec::new()])
    };
}

/// Runs `f` with the calling thread's three scratch buffers. A GEMM that waits inside rayon
/// can run another task on the same thread (work stealing), and that task's GEMM may arrive
/// here while the buffers are lent out: it then gets fresh ones rather than a panic.
pub fn with_scratch<R>(f: impl FnOnce(&mut [Vec<u8>; 3]) -> R) -> R {
    lend(&SCRATCH, f)
}

/// [`with_scratch`] for f64 buffers.
pub fn with_f64_scratch<R>(f: impl FnOnce(&mut [Vec<f64>; 3]) -> R) -> R {
    lend(&SCRATCH_F64, f)
}

fn lend<T, R>(
    key: &'static std::thread::LocalKey<std::cell::RefCell<[Vec<T>; 3]>>,
    f: impl FnOnce(&mut [Vec<T>; 3]) -> R,
) -> R {
    key.with(|s| match s.try_borrow_mut() {
        Ok(mut buffers) => f(&mut buffers),
        Err(_) => f(&mut [Vec::new(), Vec::new(), Vec::new()]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte of the panels against their definition, on every path this CPU has (the
    /// AVX-512 transposes where it has them): full and partial panels, K in and between whole
    /// groups of 4 and of 16 groups, and a buffer that held other bytes before.
    #[test]
    fn panels_hold_each_column_s_groups_on_every_path() {
        for isa in Isa::supported() {
            for n in [1usize, 31, 32, 33, 64, 70] {
                for k in [1usize, 3, 4, 5, 60, 63, 64, 65, 67, 127, 128, 129, 300] {
                    let kp = k.div_ceil(4) * 4 + 8;
                    let b: Vec<u8> = (0..n * k).map(|i| (i * 7 + i / 3) as u8).collect();
                    let mut out = vec![0xAB; n.div_ceil(NR) * NR * kp];
                    pack_panels(&b, (n, k, kp), &mut out, isa);
                    for (at, &got) in out.iter().enumerate() {
                        let (p, rest) = (at / (NR * kp), at % (NR * kp));
                        let (g, c, byte) = (rest / (NR * 4), rest % (NR * 4) / 4, rest % 4);
                        let (j, kk) = (p * NR + c, 4 * g + byte);
                        let want = if j < n && kk < k { b[j * k + kk] } else { 0 };
                        assert_eq!(
                            got, want,
                            "{isa:?} n={n} k={k} panel {p} group {g} column {c}"
                        );
                    }
                }
            }
        }
    }
}
