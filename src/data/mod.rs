//! Data sources: files and (later) distributions that become a [`crate::matrix::Matrix`].

pub mod distribution;
pub mod npy;
pub mod tensors;

use crate::error::{Error, Result};

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
            "W ({m} × {k}), x ({k} × {n}) and y ({m} × {n}) need about {} of memory; {} is available",
            need.map_or("more than 16 EiB".into(), gib),
            gib(available)
        ))),
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Reads a whole file, refusing one larger than the memory available (a multi-gigabyte file
/// would otherwise be read before its header is even looked at).
pub fn read_bounded(path: &std::path::Path) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let available = available_memory();
    if len > available / 2 {
        return Err(Error::file(
            path,
            format!(
                "the file is {}, more than half the {} of memory available",
                gib(len),
                gib(available)
            ),
        ));
    }
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// MemAvailable from /proc/meminfo, or 8 GiB where that cannot be read.
pub fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(8 << 30, |kb| kb * 1024)
}
