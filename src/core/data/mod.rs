//! Data sources: files and (later) distributions that become a [`crate::core::matrix::Matrix`].

pub mod checkpoint;
pub mod distribution;
pub mod gguf;
pub mod npy;
pub mod npz;
pub mod tensors;

use crate::core::error::{Error, Result};
use crate::core::system::{available_memory, gib};

/// Bytes qlab needs per element of W and x (original, transposed, dequantized copies, codes)
/// and per output element (reference, outputs, error decomposition), rounded up generously.
const BYTES_PER_INPUT: u64 = 24;
const BYTES_PER_OUTPUT: u64 = 48;

/// Refuses shapes whose working set would not fit in the memory available, before
/// allocating anything.
pub fn check_memory(m: usize, k: usize, n: usize) -> Result<()> {
    let (m, k, n) = (m as u64, k as u64, n as u64);
    let need = m
        .checked_mul(k)
        .and_then(|wk| k.checked_mul(n).and_then(|kn| wk.checked_add(kn)))
        .and_then(|inputs| inputs.checked_mul(BYTES_PER_INPUT))
        .and_then(|a| {
            m.checked_mul(n)
                .and_then(|mn| mn.checked_mul(BYTES_PER_OUTPUT))
                .and_then(|b| a.checked_add(b))
        });
    let available = available_memory();
    match need {
        Some(need) if need <= available => Ok(()),
        _ => Err(Error::Invalid(format!(
            "W ({m} × {k}), x ({k} × {n}) and y ({m} × {n}) need {} of memory; {} is available",
            need.map_or("more than 16 EiB".into(), |b| format!("about {}", gib(b))),
            gib(available)
        ))),
    }
}
