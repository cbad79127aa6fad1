//! The x86-64 kernels, each behind `#[target_feature]` and reached only through the
//! dispatching wrappers of `simd`, which check the CPU first. One file per kernel family:
//! `int8` (the INT8 GEMM and its micro-kernels), `amx` (its AMX micro-kernel), `mx` (the MX block GEMM),
//! `mx_amx` (its AMX micro-kernel), `limbs` (the exact-f64 block GEMM on AMX, by 7-bit digits), `pack` (x's panels, byte tables), `quant` (the
//! quantizers), `f64` (the reference's dot tiles). Each names its portable twin.

mod amx;
mod exact_f64;
mod f64;
mod int8;
mod limbs;
mod mx;
mod mx_amx;
mod pack;
mod quant;

pub use amx::available as amx_available;
pub use exact_f64::block_gemm as exact_f64_block_gemm;
pub use f64::{f64_dots_2x2, f64_dots_4x4};
pub use int8::{bytemuck_i8, code_sum_64s, code_sum_avx2, int8_gemm};
pub use limbs::limb_gemm;
pub use mx::{
    Elements, Kernel as MxKernel, Scales, mx_gemm, round_once_lanes_avx2, round_once_lanes_avx512,
};
pub use pack::{map_bytes_vbmi, pack_groups_16s};
pub use quant::{
    block_amaxes_16s, block_amaxes_avx2, element_codes_16s, element_codes_avx2,
    first_non_finite_16s, first_non_finite_avx2, int8_quantize_8s_avx2, int8_quantize_16s,
    min_max_finite, min_max_finite_avx2,
};
