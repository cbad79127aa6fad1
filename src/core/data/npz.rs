//! numpy `.npz` archives (`np.savez`): a zip of `.npy` members, read one member at a time from
//! the zip's central directory with positioned reads. Members stored as they are (what
//! `np.savez` writes) are read; deflated ones (`np.savez_compressed`) are named and refused.

use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::core::error::{Error, Result};
use crate::core::text;

/// One member: its name without `.npy`, and where its bytes are.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub name: String,
    pub offset: u64,
    pub len: u64,
    /// The zip compression method (0 stored, 8 deflated).
    pub method: u16,
}

fn bad(path: &Path, why: &str) -> Error {
    Error::file(path, format!("not a valid .npz (zip) archive: {why}"))
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

/// The archive's members, in the central directory's order.
pub fn members(path: &Path) -> Result<Vec<Member>> {
    let (file, meta) = crate::core::files::input::open(path)?;
    let len = meta.len();
    let read = |at: u64, n: usize| -> Result<Vec<u8>> {
        let mut b = vec![0u8; n];
        file.read_exact_at(&mut b, at)
            .map_err(|_| bad(path, "it ends inside its own directory"))?;
        Ok(b)
    };
    // The end-of-central-directory record: 22 bytes and a comment of up to 64 KiB.
    let tail_len = len.min(22 + 65_535) as usize;
    if tail_len < 22 {
        return Err(bad(path, "too short"));
    }
    let tail = read(len - tail_len as u64, tail_len)?;
    let eocd = (0..=tail_len - 22)
        .rev()
        .find(|&i| u32_at(&tail, i) == 0x0605_4b50)
        .ok_or_else(|| bad(path, "no end-of-directory record"))?;
    let mut count = u64::from(u16_at(&tail, eocd + 10));
    let mut cd_len = u64::from(u32_at(&tail, eocd + 12));
    let mut cd_at = u64::from(u32_at(&tail, eocd + 16));
    // Zip64: the locator sits just before the record and points at the zip64 record.
    if eocd >= 20 && u32_at(&tail, eocd - 20) == 0x0706_4b50 {
        let at = u64_at(&tail, eocd - 20 + 8);
        let z = read(at, 56)?;
        if u32_at(&z, 0) != 0x0606_4b50 {
            return Err(bad(path, "a broken zip64 record"));
        }
        count = u64_at(&z, 32);
        cd_len = u64_at(&z, 40);
        cd_at = u64_at(&z, 48);
    }
    if cd_at.checked_add(cd_len).is_none_or(|end| end > len) || cd_len > 1 << 30 {
        return Err(bad(path, "its directory lies outside the file"));
    }
    let cd = read(cd_at, cd_len as usize)?;
    let mut out = Vec::new();
    let mut i = 0usize;
    for _ in 0..count {
        if i + 46 > cd.len() || u32_at(&cd, i) != 0x0201_4b50 {
            return Err(bad(path, "a broken directory entry"));
        }
        let method = u16_at(&cd, i + 10);
        let mut size = u64::from(u32_at(&cd, i + 20));
        let name_len = usize::from(u16_at(&cd, i + 28));
        let extra_len = usize::from(u16_at(&cd, i + 30));
        let comment_len = usize::from(u16_at(&cd, i + 32));
        let mut local = u64::from(u32_at(&cd, i + 42));
        let end = i + 46 + name_len + extra_len + comment_len;
        if end > cd.len() {
            return Err(bad(path, "a broken directory entry"));
        }
        let name = String::from_utf8_lossy(&cd[i + 46..i + 46 + name_len]).into_owned();
        // Zip64 sizes and offsets live in extra field 0x0001, in this order, each present
        // only where the 32-bit field is 0xFFFFFFFF.
        let mut extra = &cd[i + 46 + name_len..i + 46 + name_len + extra_len];
        while extra.len() >= 4 {
            let (id, n) = (u16_at(extra, 0), usize::from(u16_at(extra, 2)));
            let body = &extra[4..(4 + n).min(extra.len())];
            if id == 1 {
                let mut fields = body.chunks_exact(8).map(|c| u64_at(c, 0));
                if u32_at(&cd, i + 24) == u32::MAX {
                    fields.next(); // the uncompressed size
                }
                if size == u64::from(u32::MAX) {
                    size = fields.next().unwrap_or(size);
                }
                if local == u64::from(u32::MAX) {
                    local = fields.next().unwrap_or(local);
                }
            }
            extra = &extra[(4 + n).min(extra.len())..];
        }
        // The data follows the local header (30 bytes, its own name and extra field).
        let lh = read(local, 30)?;
        if u32_at(&lh, 0) != 0x0403_4b50 {
            return Err(bad(
                path,
                "a member's header is not where the directory says",
            ));
        }
        let offset = local + 30 + u64::from(u16_at(&lh, 26)) + u64::from(u16_at(&lh, 28));
        if offset.checked_add(size).is_none_or(|e| e > len) {
            return Err(bad(path, "a member runs past the end of the file"));
        }
        out.push(Member {
            name: name.strip_suffix(".npy").unwrap_or(&name).to_string(),
            offset,
            len: size,
            method,
        });
        i = end;
    }
    Ok(out)
}

/// The `.npy` bytes of member `key` (`None`: the only member).
pub fn read_member(path: &Path, key: Option<&str>) -> Result<Vec<u8>> {
    let all = members(path)?;
    let names: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
    let member = match key {
        Some(k) => all.iter().find(|m| m.name == k).ok_or_else(|| {
            let hint = text::did_you_mean(k, &names)
                .map(|n| format!("did you mean '{}'? ", text::echo(n)))
                .unwrap_or_default();
            Error::file(
                path,
                format!(
                    "no array named '{}' ({hint}{} arrays: {})",
                    text::echo(k),
                    names.len(),
                    text::list(&names, 5)
                ),
            )
        })?,
        None if all.len() == 1 => &all[0],
        None => {
            return Err(Error::file(
                path,
                format!(
                    "holds {} arrays; name one with --key (or `tensor = \"...\"`): {}",
                    all.len(),
                    text::list(&names, 5)
                ),
            ));
        }
    };
    if member.method != 0 {
        return Err(Error::file(
            path,
            format!(
                "array '{}' is compressed (np.savez_compressed); qlab reads np.savez archives — \
                 save it with np.savez",
                text::echo(&member.name)
            ),
        ));
    }
    // The member's bytes as a checkpoint tensor's: one positioned read, within memory.
    crate::core::data::checkpoint::Tensor::plain(
        member.name.clone(),
        safetensors::Dtype::U8,
        vec![member.len as usize],
        path.to_path_buf(),
        member.offset,
        member.len,
    )
    .read_bytes()
}

/// Member `key` as an array.
pub fn read(path: &Path, key: Option<&str>) -> Result<crate::core::data::npy::NpyArray> {
    let bytes = read_member(path, key)?;
    crate::core::data::npy::decode(&bytes).map_err(|m| Error::file(path, m))
}
