//! Breached passwords: the Pwned Passwords list as a sorted table of SHA-1 hashes, searched
//! with ~30 positioned reads, so the full ~1 billion-hash list (20 GB) needs no memory.
//!
//! File: `MVBP1\0` ‖ count (u64 BE) ‖ count × 20-byte SHA-1, strictly increasing. Exact: no
//! false positives, unlike a probabilistic filter.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

const MAGIC: &[u8; 6] = b"MVBP1\0";
const HEADER: u64 = 6 + 8;
const HASH: usize = 20;
pub const FILE_NAME: &str = "breached-passwords.bin";

#[derive(Debug, thiserror::Error)]
pub enum BreachError {
    #[error("cannot read {0}")]
    Read(String, #[source] io::Error),
    #[error("cannot write {0}")]
    Write(String, #[source] io::Error),
    #[error("{0}:{1}: expected `SHA1:COUNT` (40 hex characters, or 35 in a range file)")]
    Malformed(String, usize),
    #[error("{0}:{1}: hashes must be in ascending order; use the list ordered by hash")]
    Unsorted(String, usize),
    #[error("{0} is not a medvault breached-password table")]
    NotATable(String),
}

/// An imported table, opened for lookups.
#[derive(Debug)]
pub struct BreachedPasswords {
    file: File,
    count: u64,
}

impl BreachedPasswords {
    pub fn open(path: &Path) -> Result<Self, BreachError> {
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|e| BreachError::Read(shown.clone(), e))?;
        let mut header = [0u8; HEADER as usize];
        file.read_exact_at(&mut header, 0)
            .map_err(|e| BreachError::Read(shown.clone(), e))?;
        let count = u64::from_be_bytes(header[6..].try_into().expect("8 bytes"));
        let length = file
            .metadata()
            .map_err(|e| BreachError::Read(shown.clone(), e))?
            .len();
        if &header[..6] != MAGIC || length != HEADER + count * HASH as u64 {
            return Err(BreachError::NotATable(shown));
        }
        Ok(Self { file, count })
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Is `password` in the table? Binary search over the sorted hashes.
    pub fn contains(&self, password: &str) -> io::Result<bool> {
        let wanted: [u8; HASH] = Sha1::digest(password.as_bytes()).into();
        let (mut low, mut high) = (0u64, self.count);
        let mut entry = [0u8; HASH];
        while low < high {
            let middle = low + (high - low) / 2;
            self.file
                .read_exact_at(&mut entry, HEADER + middle * HASH as u64)?;
            match entry.cmp(&wanted) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Ok(true),
            }
        }
        Ok(false)
    }
}

/// Streams `SHA1:COUNT` lines (with `prefix` prepended for range files) into `out`, keeping
/// hashes seen at least `min_count` times. Returns how many were kept.
fn copy_lines(
    source: &Path,
    prefix: &str,
    min_count: u64,
    previous: &mut Option<[u8; HASH]>,
    out: &mut impl Write,
) -> Result<u64, BreachError> {
    let shown = source.display().to_string();
    let reader =
        BufReader::new(File::open(source).map_err(|e| BreachError::Read(shown.clone(), e))?);
    let mut kept = 0;
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| BreachError::Read(shown.clone(), e))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let malformed = || BreachError::Malformed(shown.clone(), n + 1);
        let (hash, count) = line.split_once(':').ok_or_else(malformed)?;
        let full = format!("{prefix}{hash}");
        let hash: [u8; HASH] = crate::hex::decode(&full)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(malformed)?;
        let count: u64 = count.trim().parse().map_err(|_| malformed())?;
        if previous.is_some_and(|p| p >= hash) {
            return Err(BreachError::Unsorted(shown, n + 1));
        }
        *previous = Some(hash);
        if count >= min_count {
            out.write_all(&hash)
                .map_err(|e| BreachError::Write("the table".into(), e))?;
            kept += 1;
        }
    }
    Ok(kept)
}

/// `medvault breach import`: a file of `SHA1:COUNT` lines ordered by hash, or a directory of
/// 5-hex-character range files. Writes `target` atomically; returns how many hashes it holds.
pub fn import(source: &Path, target: &Path, min_count: u64) -> Result<u64, BreachError> {
    let shown = target.display().to_string();
    let temp: PathBuf = target.with_extension("bin.tmp");
    let file = File::create(&temp).map_err(|e| BreachError::Write(shown.clone(), e))?;
    let mut out = BufWriter::new(file);
    out.write_all(MAGIC)
        .and_then(|()| out.write_all(&0u64.to_be_bytes()))
        .map_err(|e| BreachError::Write(shown.clone(), e))?;
    let mut previous = None;
    let mut kept = 0;
    if source.is_dir() {
        let mut ranges: Vec<(String, PathBuf)> = fs::read_dir(source)
            .map_err(|e| BreachError::Read(source.display().to_string(), e))?
            .filter_map(Result::ok)
            .map(|entry| {
                (
                    entry.file_name().to_string_lossy().to_uppercase(),
                    entry.path(),
                )
            })
            .filter(|(name, _)| name.len() == 5 && name.chars().all(|c| c.is_ascii_hexdigit()))
            .collect();
        ranges.sort();
        for (prefix, path) in ranges {
            kept += copy_lines(&path, &prefix, min_count, &mut previous, &mut out)?;
        }
    } else {
        kept = copy_lines(source, "", min_count, &mut previous, &mut out)?;
    }
    let file = out
        .into_inner()
        .map_err(|e| BreachError::Write(shown.clone(), e.into_error()))?;
    file.write_all_at(&kept.to_be_bytes(), 6)
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&temp, target))
        .map_err(|e| BreachError::Write(shown, e))?;
    Ok(kept)
}
