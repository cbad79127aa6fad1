//! The INT8 GEMM's micro-kernel on AMX (Sapphire Rapids and later): `tdpbssd` multiplies a
//! 16 × 64 tile of W's signed codes by a 16 × 64 tile of x's (16 columns, four consecutive k
//! per column: the layout the INT8 panels already have) into a 16 × 16 tile of i32 sums. A
//! 32 × 32 output tile is four accumulator tiles fed by two tiles of W and two of x — the
//! eight tile registers. Signed × signed, so W needs no offset and the epilogue no excess.
//! The sums are exact in i32 over chunks of `EXACT_I32_K` (as every INT8 kernel), and the
//! epilogue is the AVX-512 one: the same bits as the scalar kernel.
//!
//! Stable Rust has no AMX intrinsics, so the kernel is `asm!`: the tiles are configured once
//! per task of the blocked driver and released after it, and each tile's `asm!` block zeroes
//! the sums, runs the K loop and stores them. The operands start on cache lines (a tile load
//! of line-split rows takes twice as long). Availability needs the CPUID bits, the OS saving tile state (XCR0 bits 17
//! and 18) and, on Linux, the process's permission, asked once with
//! `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`.

use std::arch::asm;
use std::sync::OnceLock;

use super::super::EXACT_I32_K;
use super::super::blocked::{MicroKernel, NR, TileOut};
use super::int8::Tiles;

/// Rows of W per AMX output tile: two 16-row tiles.
pub const MR: usize = 32;
/// Bytes of K per `tdpbssd`: a tile row of 64 bytes.
const KSTEP: usize = 64;

/// Whether this CPU and OS run AMX-INT8, with this process allowed its tile data; checked
/// once.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| cpu_has_amx_int8() && os_saves_tiles() && request_tile_data())
}

/// CPUID leaf 7: EDX bit 24 is AMX-TILE, bit 25 AMX-INT8.
fn cpu_has_amx_int8() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    if __cpuid(0).eax < 7 {
        return false;
    }
    let edx = __cpuid_count(7, 0).edx;
    edx & (1 << 24) != 0 && edx & (1 << 25) != 0
}

/// XCR0 bits 17 (XTILECFG) and 18 (XTILEDATA): the OS saves the tile state on a switch.
fn os_saves_tiles() -> bool {
    // CPUID leaf 1, ECX bit 27: OSXSAVE, without which XGETBV faults.
    if std::arch::x86_64::__cpuid(1).ecx & (1 << 27) == 0 {
        return false;
    }
    let (lo, _hi): (u32, u32);
    // SAFETY: XGETBV with ECX = 0 reads XCR0; OSXSAVE is set (checked above), so it is
    // allowed at every privilege level. It touches no memory.
    unsafe {
        asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") _hi,
             options(nomem, nostack, preserves_flags));
    }
    lo & (0b11 << 17) == 0b11 << 17
}

/// Linux hands out the tile data state only on request (since 5.16): one `arch_prctl` per
/// process, after which every thread may use it. Elsewhere, no AMX path.
fn request_tile_data() -> bool {
    #[cfg(target_os = "linux")]
    {
        const SYS_ARCH_PRCTL: i64 = 158;
        const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
        const XFEATURE_XTILEDATA: i64 = 18;
        let ret: i64;
        // SAFETY: the arch_prctl system call with a request code and a feature number: it
        // reads and writes no user memory. `syscall` clobbers rcx and r11.
        unsafe {
            asm!("syscall",
                 inlateout("rax") SYS_ARCH_PRCTL => ret,
                 in("rdi") ARCH_REQ_XCOMP_PERM,
                 in("rsi") XFEATURE_XTILEDATA,
                 lateout("rcx") _, lateout("r11") _,
                 options(nostack));
        }
        ret == 0
    }
    #[cfg(not(target_os = "linux"))]
    false
}

/// The tile configuration (palette 1): tiles 0–3 the 16 × 16 i32 sums, 4–5 W's two 16-row
/// tiles and 6–7 x's two 16-column tiles, every one 16 rows of 64 bytes.
#[repr(C, align(64))]
struct Config([u8; 64]);

const CONFIG: Config = {
    let mut c = [0u8; 64];
    c[0] = 1; // palette
    let mut t = 0;
    while t < 8 {
        c[16 + 2 * t] = KSTEP as u8; // bytes per row (u16, little-endian)
        c[48 + t] = 16; // rows
        t += 1;
    }
    Config(c)
};

/// The INT8 micro-kernel on AMX: 32 rows of W against one panel of 32 columns of x.
pub struct AmxTiles<'a>(pub Tiles<'a>);

/// A 32 × 32 tile of i32 sums, on a cache line as `tilestored` prefers.
#[repr(C, align(64))]
struct Sums([i32; MR * NR]);

impl MicroKernel for AmxTiles<'_> {
    const MR: usize = MR;
    const TASK_ROWS: usize = MR * 2;

    fn panel_bytes(&self) -> usize {
        self.0.panel_bytes()
    }

    /// The tiles are configured once per task (it costs as much as a few `tdpbssd`) and
    /// released after it: between the two, nothing on this thread touches tile registers —
    /// the compiler emits no AMX instructions of its own, and a task runs no other work.
    fn task(&self, f: impl FnOnce()) {
        // SAFETY: AMX is available (the dispatch checked it); the configuration is a valid
        // palette-1 one, 64-byte aligned.
        unsafe { asm!("ldtilecfg [{cfg}]", cfg = in(reg) CONFIG.0.as_ptr(), options(nostack)) };
        f();
        // SAFETY: AMX is available; releasing returns the tiles to their initial state.
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }

    fn tile(&self, i0: usize, p: usize, out: TileOut<'_>) {
        let kp = self.0.dims().3;
        let (a, panel) = self.0.operands(i0, p, MR);
        let (steps, chunk) = (kp / KSTEP, EXACT_I32_K / KSTEP);
        // Not zeroed: every call of tile_32x32 stores all of it (a 4 KB memset per tile
        // showed as a few per cent of the GEMM at n = 512).
        let mut sums = std::mem::MaybeUninit::<Sums>::uninit();
        if steps <= chunk {
            // SAFETY: AMX is available and configured (`task`); `a` holds MR rows of kp
            // bytes and the panel kp/4 groups of NR · 4 bytes, kp a multiple of 64. The
            // call stores every sum, so `sums` is initialised after it.
            let sums = unsafe {
                tile_32x32(a, kp, 0..steps, panel, sums.as_mut_ptr());
                sums.assume_init_ref()
            };
            self.0.write_back(i0, p, &sums.0, None, out);
            return;
        }
        // K beyond what an i32 holds exactly: chunks summed in i64.
        let mut wide = [0i64; MR * NR];
        for s0 in (0..steps).step_by(chunk) {
            // SAFETY: as above; s0 .. s0 + chunk clipped to the steps that exist.
            let sums = unsafe {
                tile_32x32(a, kp, s0..(s0 + chunk).min(steps), panel, sums.as_mut_ptr());
                sums.assume_init_ref()
            };
            for (w, &s) in wide.iter_mut().zip(&sums.0) {
                *w += i64::from(s);
            }
        }
        // SAFETY: the loop ran at least once (steps > chunk), storing every sum.
        let sums = unsafe { sums.assume_init_ref() };
        self.0.write_back(i0, p, &sums.0, Some(&wide), out);
    }
}

/// Σ over the K steps `steps` (64 bytes each) of a[r][k] · panel[c][k] for the 32 rows of `a`
/// (row stride kp) and the panel's 32 columns, into `sums` (row-major 32 × 32, i32).
///
/// # Safety
/// AMX-INT8 must be available, granted and configured with [`CONFIG`]; `a` must hold 32 rows
/// of `kp` bytes and `panel` kp/4 groups of NR · 4 bytes, with `steps` inside kp / 64;
/// `sums` must be valid for writes (every one of its sums is stored).
unsafe fn tile_32x32(
    a: &[u8],
    kp: usize,
    steps: std::ops::Range<usize>,
    panel: &[u8],
    sums: *mut Sums,
) {
    assert!(a.len() >= MR * kp && panel.len() >= NR * kp && steps.end * KSTEP <= kp);
    // W's two tiles start at rows 0 and 16; x's tile rows are the panel's groups (NR · 4 =
    // 128 bytes), its two tiles the first and second 16 columns of each.
    let a0 = a[steps.start * KSTEP..].as_ptr();
    // SAFETY: row 16 exists (a holds 32 rows).
    let a1 = unsafe { a0.add(16 * kp) };
    let b = panel[steps.start * 16 * NR * 4..].as_ptr();
    let c = sums.cast::<i32>();
    // SAFETY: the caller guarantees AMX and its configuration; every tile load reads 16
    // rows of 64 bytes inside `a` (rows 0–31, bytes of the steps) or the panel (groups of
    // the steps), every store writes 16 rows of 64 bytes inside `sums` (32 rows of 128
    // bytes).
    unsafe {
        asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            "test {n}, {n}",
            "jz 3f",
            "2:",
            "tileloadd tmm4, [{a0} + {kp}*1]",
            // The B panel (2 KB per step) streams from L2 and the hardware prefetcher falls
            // behind at large n: fetch the step two ahead, one line per 64 bytes. Prefetches
            // past the panel's end do not fault. On SPR at n = 2048 one thread this took
            // 470 to 560–585 GOPS; blocking K instead gained nothing.
            ".irp off, 4096,4160,4224,4288,4352,4416,4480,4544,4608,4672,4736,4800,4864,4928,4992,5056,5120,5184,5248,5312,5376,5440,5504,5568,5632,5696,5760,5824,5888,5952,6016,6080",
            "prefetcht0 [{b} + \\off]",
            ".endr",
            "tileloadd tmm6, [{b} + {bs}*1]",
            "tileloadd tmm7, [{b} + {bs}*1 + 64]",
            "tdpbssd tmm0, tmm4, tmm6",
            "tileloadd tmm5, [{a1} + {kp}*1]",
            "tdpbssd tmm1, tmm4, tmm7",
            "tdpbssd tmm2, tmm5, tmm6",
            "tdpbssd tmm3, tmm5, tmm7",
            "add {a0}, 64",
            "add {a1}, 64",
            "add {b}, 2048",
            "dec {n}",
            "jnz 2b",
            "3:",
            "tilestored [{c} + {bs}*1], tmm0",
            "tilestored [{c} + {bs}*1 + 64], tmm1",
            "tilestored [{c2} + {bs}*1], tmm2",
            "tilestored [{c2} + {bs}*1 + 64], tmm3",
            a0 = inout(reg) a0 => _,
            a1 = inout(reg) a1 => _,
            b = inout(reg) b => _,
            n = inout(reg) steps.len() => _,
            kp = in(reg) kp,
            bs = in(reg) NR * 4,
            c = in(reg) c,
            c2 = in(reg) c.add(16 * NR),
            options(nostack),
        );
    }
}
