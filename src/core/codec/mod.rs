//! Codecs: the element and scale formats bit by bit (E2M1, E8M0), one MX block, the rounding
//! modes. The lowest layer of the formats, which the quantizers (`format`) and the SIMD
//! kernels (`simd`) both build on; it imports neither.

pub mod dialect;
pub mod e2m1;
pub mod e8m0;
pub mod exact;
pub mod minifloat;
pub mod mx_block;
pub mod rounding;
