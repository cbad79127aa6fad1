//! Checkpoints read a tensor at a time. A `.safetensors` file is its header (8 bytes of
//! length, then JSON) and the tensors' bytes; qlab reads the header, then only the byte range
//! of the tensor asked for, with one positioned read: memory holds that tensor and nothing
//! else of the file, however large the file. (A memory map would do the same with `unsafe`
//! and a SIGBUS if the file shrank under it; a positioned read fails with an error instead.)
//!
//! A sharded checkpoint — a folder of `.safetensors` files, or the `*.index.json` that maps
//! each tensor to its shard — reads as one list of tensors.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use safetensors::Dtype;
use safetensors::tensor::Metadata;

use crate::core::error::{Error, Result};
use crate::core::text;

/// The crate's limit on a header's size (100 MB).
const MAX_HEADER: u64 = 100_000_000;

/// One tensor of a checkpoint: where its bytes are.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub dtype: Dtype,
    /// Its logical shape (for a packed MXFP4 tensor, the values', rows × K).
    pub shape: Vec<usize>,
    /// The file that holds it.
    pub file: PathBuf,
    /// Its bytes: `len` from `offset` (from the start of the file).
    pub offset: u64,
    pub len: u64,
    pub packing: Packing,
}

/// How a tensor's bytes hold its values.
#[derive(Clone, Debug, PartialEq)]
pub enum Packing {
    /// One element per `dtype` item.
    Plain,
    /// MXFP4 as Hugging Face ships gpt-oss: `NAME_blocks` (U8, `[…, blocks, 16]`, element 2j
    /// in the low nibble of byte j) beside `NAME_scales` (U8 E8M0, `[…, blocks]`), whose bytes
    /// are these.
    GptOss { scales_offset: u64, scales_len: u64 },
    /// GGUF's `block_mxfp4` (type 39): per 32 elements one E8M0 byte, then 16 bytes with
    /// element j in the low nibble and j + 16 in the high nibble of byte j.
    Ggml,
    /// A type qlab does not read (a GGUF quantization of its own, say), by its name.
    Other(String),
}

impl Tensor {
    /// A plain tensor.
    pub fn plain(
        name: String,
        dtype: Dtype,
        shape: Vec<usize>,
        file: PathBuf,
        offset: u64,
        len: u64,
    ) -> Tensor {
        Tensor {
            name,
            dtype,
            shape,
            file,
            offset,
            len,
            packing: Packing::Plain,
        }
    }

    /// The dtype as the header writes it (`BF16`), or the packing's name.
    pub fn dtype_name(&self) -> String {
        match &self.packing {
            Packing::Plain => format!("{:?}", self.dtype),
            Packing::GptOss { .. } => "MXFP4".into(),
            Packing::Ggml => "MXFP4 (GGUF)".into(),
            Packing::Other(name) => name.clone(),
        }
    }

    /// Whether qlab reads it as a float tensor (MXFP4 checkpoints decoded to their values).
    pub fn is_float(&self) -> bool {
        match self.packing {
            Packing::Plain => {
                matches!(
                    self.dtype,
                    Dtype::F32 | Dtype::F64 | Dtype::F16 | Dtype::BF16
                )
            }
            Packing::GptOss { .. } | Packing::Ggml => true,
            Packing::Other(_) => false,
        }
    }

    /// The values of a packed MXFP4 tensor from its bytes (`data`: the blocks'), exactly as
    /// qlab's own MXFP4 dequantizes the same codes and scale bytes (0xFF: NaN, as OCP says).
    pub fn unpack(&self, data: &[u8]) -> Result<crate::core::matrix::Matrix> {
        Ok(self.unpack_mx(data)?.dequantize())
    }

    /// A packed MXFP4 tensor's codes and scale bytes, as qlab's MXFP4 holds them.
    pub fn unpack_mx(&self, data: &[u8]) -> Result<crate::core::format::mx::MxMatrix> {
        use crate::core::format::mx::MxMatrix;
        let [rows, k] = self.shape[..] else {
            return Err(Error::file(&self.file, "a packed tensor must be 2-D"));
        };
        let m = match &self.packing {
            Packing::Ggml => crate::core::format::packed::from_ggml(data, rows, k)
                .map_err(|e| Error::file(&self.file, e.to_string()))?,
            Packing::GptOss {
                scales_offset,
                scales_len,
            } => {
                let scales = Tensor {
                    offset: *scales_offset,
                    len: *scales_len,
                    ..self.clone()
                }
                .read_bytes()?;
                let codes = crate::core::format::packed::unpack_linear(data, rows, k)
                    .map_err(|e| Error::file(&self.file, e.to_string()))?;
                MxMatrix::from_parts(rows, k, 32, codes, scales)
                    .map_err(|e| Error::file(&self.file, e.to_string()))?
            }
            _ => return Err(Error::file(&self.file, "not a packed tensor")),
        };
        Ok(m)
    }

    /// Reads the tensor's bytes: one positioned read of its range.
    pub fn read_bytes(&self) -> Result<Vec<u8>> {
        let (file, _) = crate::core::files::input::open(&self.file)?;
        let limit = crate::core::files::input::read_limit();
        if self.len > limit {
            return Err(Error::file(
                &self.file,
                format!(
                    "tensor '{}' is {}, more than half the {} of memory available",
                    text::echo(&self.name),
                    crate::core::system::gib(self.len),
                    crate::core::system::gib(limit.saturating_mul(2))
                ),
            ));
        }
        let len = usize::try_from(self.len).map_err(|_| Error::file(&self.file, "too large"))?;
        let mut bytes = vec![0u8; len];
        file.read_exact_at(&mut bytes, self.offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::file(
                    &self.file,
                    format!(
                        "ends before tensor '{}' does (the file shrank after its header was read?)",
                        text::echo(&self.name)
                    ),
                )
            } else {
                Error::io(&self.file, e)
            }
        })?;
        Ok(bytes)
    }
}

fn invalid(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::file(path, format!("not a valid .safetensors file: {why}"))
}

/// The crate's message for a header that does not describe its tensors: its validation
/// errors as the crate words them, anything else as invalid JSON (with serde's position).
fn metadata_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let bare = msg
        .rsplit_once(" at line ")
        .map_or(msg.as_str(), |(m, _)| m);
    let validation = bare == "invalid shape, data type, or offset for tensor"
        || bare.starts_with("invalid offset for tensor `")
        || bare.starts_with("overflow computing buffer size")
        || bare.starts_with("The slice is slicing for subbytes dtypes");
    if e.classify() == serde_json::error::Category::Data && validation {
        bare.to_string()
    } else {
        format!("invalid JSON in header: {msg}")
    }
}

/// The tensors of one `.safetensors` file, sorted by name, from its header alone. Checks
/// what the safetensors crate checks (in its words), that no name is given twice, and that
/// the tensors' bytes cover the rest of the file exactly.
pub fn header(path: &Path) -> Result<Vec<Tensor>> {
    let (file, meta) = crate::core::files::input::open(path)?;
    let file_len = meta.len();
    let read_at = |file: &File, buf: &mut [u8], at: u64| {
        file.read_exact_at(buf, at).map_err(|e| Error::io(path, e))
    };
    if file_len < 8 {
        return Err(invalid(path, "header too small"));
    }
    let mut len = [0u8; 8];
    read_at(&file, &mut len, 0)?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER {
        return Err(invalid(path, "header too large"));
    }
    if 8 + n > file_len {
        return Err(invalid(path, "invalid header length"));
    }
    let mut bytes = vec![0u8; n as usize];
    read_at(&file, &mut bytes, 8)?;
    let json = std::str::from_utf8(&bytes)
        .map_err(|e| invalid(path, format!("invalid UTF-8 in header: {e}")))?;
    // The crate keeps the last of two entries with one name; a file that says two things
    // about one tensor is broken, not a choice to make silently.
    if let Some(dup) = duplicate_key(json) {
        return Err(invalid(
            path,
            format!("its header names tensor '{}' twice", text::echo(&dup)),
        ));
    }
    let metadata: Metadata =
        serde_json::from_str(json).map_err(|e| invalid(path, metadata_error(&e)))?;
    if 8 + n + metadata.data_len() as u64 != file_len {
        return Err(invalid(path, "incomplete metadata, file not fully covered"));
    }
    let start = 8 + n;
    let mut tensors: Vec<Tensor> = metadata
        .tensors()
        .into_iter()
        .map(|(name, info)| {
            Tensor::plain(
                name,
                info.dtype,
                info.shape.clone(),
                path.to_path_buf(),
                start + info.data_offsets.0 as u64,
                (info.data_offsets.1 - info.data_offsets.0) as u64,
            )
        })
        .collect();
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(pair_gpt_oss(tensors))
}

/// Joins each `NAME_blocks` / `NAME_scales` pair of U8 tensors laid out as gpt-oss ships
/// MXFP4 (`[…, n, 16]` and `[…, n]`) into one MXFP4 tensor `NAME` of `prod(…) × 32n` values.
fn pair_gpt_oss(tensors: Vec<Tensor>) -> Vec<Tensor> {
    let find = |name: &str| tensors.iter().find(|t| t.name == name);
    let mut out = Vec::new();
    let mut used: Vec<String> = Vec::new();
    for t in &tensors {
        let Some(prefix) = t.name.strip_suffix("_blocks") else {
            continue;
        };
        let scales_name = format!("{prefix}_scales");
        let Some(s) = find(&scales_name) else {
            continue;
        };
        let ok = t.dtype == Dtype::U8
            && s.dtype == Dtype::U8
            && t.shape.len() >= 2
            && t.shape.last() == Some(&16)
            && s.shape[..] == t.shape[..t.shape.len() - 1];
        if !ok {
            continue;
        }
        let n = t.shape[t.shape.len() - 2];
        let rows: usize = t.shape[..t.shape.len() - 2].iter().product();
        out.push(Tensor {
            name: prefix.to_string(),
            dtype: Dtype::U8,
            shape: vec![rows, n * 32],
            file: t.file.clone(),
            offset: t.offset,
            len: t.len,
            packing: Packing::GptOss {
                scales_offset: s.offset,
                scales_len: s.len,
            },
        });
        used.push(t.name.clone());
        used.push(scales_name);
    }
    out.extend(tensors.into_iter().filter(|t| !used.contains(&t.name)));
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// A name the JSON header gives twice, if any.
fn duplicate_key(json: &str) -> Option<String> {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> std::result::Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some(k) = map.next_key::<String>()? {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(V)
        }
    }
    let Keys(mut keys) = serde_json::from_str(json).ok()?;
    keys.sort_unstable();
    keys.windows(2).find(|w| w[0] == w[1]).map(|w| w[0].clone())
}

/// Whether `path` names a sharded checkpoint: a folder, or an `*.index.json`.
pub fn is_sharded(path: &Path) -> bool {
    path.is_dir() || path.to_string_lossy().ends_with(".index.json")
}

/// Every tensor of a checkpoint, sorted by name: one `.safetensors` file, a folder (its one
/// `*.index.json` if it has one, otherwise every `*.safetensors` in it), or an index.
pub fn open(path: &Path) -> Result<Vec<Tensor>> {
    if path.is_dir() {
        let mut indexes = Vec::new();
        let mut shards = Vec::new();
        let entries = std::fs::read_dir(path).map_err(|e| Error::io(path, e))?;
        for e in entries {
            let p = e.map_err(|e| Error::io(path, e))?.path();
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            match name {
                Some(n) if n.ends_with(".index.json") => indexes.push(p),
                Some(n) if n.ends_with(".safetensors") && p.is_file() => shards.push(p),
                _ => {}
            }
        }
        indexes.sort();
        shards.sort();
        return match (indexes.len(), shards.is_empty()) {
            (1, _) => from_index(&indexes[0]),
            (0, true) => Err(Error::file(
                path,
                "holds no .safetensors files and no *.index.json; expected a checkpoint folder",
            )),
            (0, false) => merge(path, &shards, None),
            _ => Err(Error::file(
                path,
                format!(
                    "holds {} *.index.json files; name the one to read",
                    indexes.len()
                ),
            )),
        };
    }
    if path.to_string_lossy().ends_with(".index.json") {
        return from_index(path);
    }
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
    {
        return crate::core::data::gguf::header(path);
    }
    header(path)
}

/// The tensors an index maps to its shards (paths relative to the index's folder).
fn from_index(index: &Path) -> Result<Vec<Tensor>> {
    let text = crate::core::files::read_text(index)?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::file(
            index,
            format!("not a valid index: {}", text::cut(&e.to_string(), 200)),
        )
    })?;
    let map = value
        .get("weight_map")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| {
            Error::file(
                index,
                "not a valid index: no \"weight_map\" object (tensor name → shard file)",
            )
        })?;
    let dir = index.parent().unwrap_or(Path::new(""));
    let mut wanted: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (name, file) in map {
        let file = file.as_str().ok_or_else(|| {
            Error::file(
                index,
                format!(
                    "weight_map: tensor '{}' maps to {}; expected a file name",
                    text::echo(name),
                    text::cut(&file.to_string(), 60)
                ),
            )
        })?;
        wanted.insert(name.clone(), dir.join(file));
    }
    if wanted.is_empty() {
        return Err(Error::file(index, "weight_map names no tensors"));
    }
    let mut shards: Vec<PathBuf> = wanted.values().cloned().collect();
    shards.sort();
    shards.dedup();
    merge(index, &shards, Some(&wanted))
}

/// The tensors of several shards as one sorted list; a name in two shards is an error, and
/// so is a name the index places in a shard that does not hold it.
fn merge(
    origin: &Path,
    shards: &[PathBuf],
    wanted: Option<&BTreeMap<String, PathBuf>>,
) -> Result<Vec<Tensor>> {
    let mut all: BTreeMap<String, Tensor> = BTreeMap::new();
    for shard in shards {
        for t in header(shard)? {
            if let Some(w) = wanted
                && w.get(&t.name) != Some(shard)
            {
                continue;
            }
            if let Some(other) = all.get(&t.name) {
                return Err(Error::file(
                    origin,
                    format!(
                        "tensor '{}' is in both {} and {}",
                        text::echo(&t.name),
                        other.file.display(),
                        shard.display()
                    ),
                ));
            }
            all.insert(t.name.clone(), t);
        }
    }
    if let Some(w) = wanted
        && let Some((name, file)) = w.iter().find(|(n, _)| !all.contains_key(*n))
    {
        return Err(Error::file(
            origin,
            format!(
                "weight_map places tensor '{}' in {}, which does not hold it",
                text::echo(name),
                file.display()
            ),
        ));
    }
    Ok(all.into_values().collect())
}

/// Sorts names so that numbers compare as numbers: `layer.2` before `layer.10`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (&a[..da], &b[..db]);
                let strip = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
                let (ta, tb) = (&na[strip(na)..], &nb[strip(nb)..]);
                let ord = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_names_sort_as_numbers() {
        let mut v = vec!["l.10.w", "l.2.w", "l.1.w", "a", "l.02.b"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["a", "l.1.w", "l.02.b", "l.2.w", "l.10.w"]);
    }
}
