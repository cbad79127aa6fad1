//! Number formats: how f32 values become codes and scales, and back. Normative rules are in
//! DESIGN §1; every rule here has a test that pins it.

pub use crate::core::codec::{e2m1, e8m0};

pub mod elementwise;
pub mod fixed;
pub mod int8;
pub mod int_group;
pub mod mx;
pub mod mx_element;
pub mod nvfp4;
pub mod packed;
pub mod scaled_fp8;

pub use int8::{Affine, Granularity, Int8Config, Int8Matrix, Rounding, Scheme};
pub use mx::{BlockSize, MxConfig, MxMatrix, ScaleRule};

/// Storage cost of INT8 per element: 8 bits plus the scale and zero point (32 + 32 bits)
/// amortised over `elements_per_scale` elements.
pub fn int8_bits_per_element(elements_per_scale: usize) -> f64 {
    8.0 + 64.0 / elements_per_scale.max(1) as f64
}

/// Storage cost of MXFP4 per element: 4 bits plus one 8-bit scale per block.
pub fn mxfp4_bits_per_element(block: usize) -> f64 {
    4.0 + 8.0 / block.max(1) as f64
}
