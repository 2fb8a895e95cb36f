//! The audience file as one pass read it, so that a later pass of the same run can use the
//! file's rows without reading it a third time to check it first.
//!
//! A pass hashes the file as it streams (the plan binds that SHA-256), and can also keep the
//! SHA-256 of each [`BLOCK`] of it: an [`AudienceSeal`], 32 bytes per MiB. A later pass opened
//! with a [`SealCheck`] reads the file a block at a time and checks each block against the
//! seal *before* any of its bytes reach the parser, so no row of a changed file is ever used:
//! a changed size is refused before anything is read, and a changed block stops the stream
//! at that block ([`SealCheck::changed`] then tells it from a file that cannot be read).

use std::io::Read as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest as _, Sha256};

use crate::spec::ContentHash;

/// The size of the blocks a seal hashes.
const BLOCK: usize = 1 << 20;

/// A file as a pass read it: its length, its SHA-256 and the SHA-256 of each [`BLOCK`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudienceSeal {
    len: u64,
    hash: ContentHash,
    blocks: Arc<[[u8; 32]]>,
}

impl AudienceSeal {
    /// SHA-256 of the whole file (the hash a plan records).
    pub fn hash(&self) -> &ContentHash {
        &self.hash
    }
}

/// Checks a later pass against a seal; cheap to clone (the clones share what they found).
#[derive(Debug, Clone)]
pub struct SealCheck {
    seal: AudienceSeal,
    changed: Arc<AtomicBool>,
}

impl SealCheck {
    /// A check against `seal`.
    pub fn new(seal: AudienceSeal) -> Self {
        Self {
            seal,
            changed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the file read differs from the sealed one (its size, or a block read so far).
    pub fn changed(&self) -> bool {
        self.changed.load(Ordering::SeqCst)
    }

    fn refuse(&self, what: &str) -> std::io::Error {
        self.changed.store(true, Ordering::SeqCst);
        std::io::Error::other(format!("the file changed after it was planned ({what})"))
    }
}

/// The audience file, hashed as it is read (the plan records the hash of exactly the bytes
/// it classified, and the file is read once per pass); optionally sealed block by block, or
/// checked against an earlier pass's seal.
pub(super) struct HashingFile {
    file: fs_err::File,
    len: u64,
    hasher: Sha256,
    /// Blocks hashed so far, and the current block's hasher and length (when sealing).
    sealing: Option<(Vec<[u8; 32]>, Sha256, usize)>,
    /// The check, the current block's bytes and how many of them were handed out.
    check: Option<(SealCheck, Vec<u8>, usize)>,
    blocks_checked: usize,
}

impl HashingFile {
    /// Hashes `file` as it is read; with `seal`, also block by block.
    pub(super) fn new(file: fs_err::File, seal: bool) -> Self {
        Self {
            file,
            len: 0,
            hasher: Sha256::new(),
            sealing: seal.then(|| (Vec::new(), Sha256::new(), 0)),
            check: None,
            blocks_checked: 0,
        }
    }

    /// Reads `file` only block by block, each checked against `check`'s seal first; a file
    /// of another size is refused at once.
    pub(super) fn checked(file: fs_err::File, check: &SealCheck) -> std::io::Result<Self> {
        let len = file.metadata()?.len();
        if len != check.seal.len {
            return Err(check.refuse("its size differs"));
        }
        Ok(Self {
            check: Some((check.clone(), Vec::with_capacity(BLOCK), 0)),
            ..Self::new(file, false)
        })
    }

    /// Reads the rest of the file and returns its SHA-256. `None` when it cannot be read to
    /// its end.
    pub(super) fn finish(&mut self) -> Option<ContentHash> {
        std::io::copy(self, &mut std::io::sink()).ok()?;
        Some(ContentHash::from_digest(&self.hasher.clone().finalize()))
    }

    /// Reads the rest of the file and returns its seal (for a file opened to be sealed).
    pub(super) fn seal(&mut self) -> Option<AudienceSeal> {
        let hash = self.finish()?;
        let (mut blocks, last, n) = self.sealing.take()?;
        if n > 0 {
            blocks.push(last.finalize().into());
        }
        Some(AudienceSeal {
            len: self.len,
            hash,
            blocks: blocks.into(),
        })
    }

    fn hash(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        let Some((blocks, block, n)) = &mut self.sealing else {
            return;
        };
        let mut rest = bytes;
        while !rest.is_empty() {
            let take = rest.len().min(BLOCK - *n);
            block.update(&rest[..take]);
            *n += take;
            rest = &rest[take..];
            if *n == BLOCK {
                blocks.push(std::mem::take(block).finalize().into());
                *n = 0;
            }
        }
    }

    /// Reads and checks the next block into the check's buffer; `Ok(false)` at the end.
    fn next_block(&mut self) -> std::io::Result<bool> {
        let Some((check, buf, pos)) = &mut self.check else {
            return Ok(false);
        };
        if check.changed() {
            return Err(check.refuse("a block differs"));
        }
        // Filled in place: the buffer never grows past one block.
        buf.resize(BLOCK, 0);
        *pos = 0;
        let mut filled = 0;
        while filled < BLOCK {
            match self.file.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(filled);
        let expected = check.seal.blocks.get(self.blocks_checked);
        if buf.is_empty() {
            return match expected {
                None => Ok(false),
                Some(_) => Err(check.refuse("it is shorter")),
            };
        }
        let digest: [u8; 32] = Sha256::digest(buf.as_slice()).into();
        if expected != Some(&digest) {
            return Err(check.refuse("a block differs"));
        }
        self.blocks_checked += 1;
        self.hasher.update(buf.as_slice());
        self.len += buf.len() as u64;
        Ok(true)
    }
}

impl std::io::Read for HashingFile {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.check.is_none() {
            let n = self.file.read(out)?;
            self.hash(&out[..n]);
            return Ok(n);
        }
        let exhausted = self
            .check
            .as_ref()
            .is_some_and(|(_, buf, pos)| *pos == buf.len());
        if exhausted && !self.next_block()? {
            return Ok(0);
        }
        let Some((_, buf, pos)) = &mut self.check else {
            return Ok(0);
        };
        let n = out.len().min(buf.len() - *pos);
        out[..n].copy_from_slice(&buf[*pos..*pos + n]);
        *pos += n;
        Ok(n)
    }
}

impl AudienceSeal {
    /// Reads and seals the file at `path` (for a file no pass has sealed yet).
    pub fn read(path: &std::path::Path) -> std::io::Result<Self> {
        let mut file = HashingFile::new(super::open_data(path)?, true);
        file.seal()
            .ok_or_else(|| std::io::Error::other("cannot read the file to its end"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(data: &[u8]) -> (tempfile::TempDir, std::path::PathBuf, AudienceSeal) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.csv");
        std::fs::write(&path, data).expect("write");
        let seal = AudienceSeal::read(&path).expect("seal");
        (dir, path, seal)
    }

    fn read_checked(path: &std::path::Path, check: &SealCheck) -> std::io::Result<Vec<u8>> {
        let mut file = HashingFile::checked(fs_err::File::open(path)?, check)?;
        let mut out = Vec::new();
        file.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn a_seal_holds_the_plans_hash_and_one_digest_per_block() {
        let data = vec![b'x'; BLOCK * 2 + 10];
        let (_dir, _path, seal) = sealed(&data);
        assert_eq!(seal.blocks.len(), 3);
        assert_eq!(seal.len, data.len() as u64);
        assert_eq!(seal.hash(), &crate::hash::sha256(&data));
        let (_dir, _path, empty) = sealed(b"");
        assert!(empty.blocks.is_empty());
    }

    #[test]
    fn an_unchanged_file_reads_back_whole() {
        let data: Vec<u8> = (0..BLOCK + 77)
            .map(|i| u8::try_from(i % 251).expect("fits"))
            .collect();
        let (_dir, path, seal) = sealed(&data);
        let check = SealCheck::new(seal);
        assert_eq!(read_checked(&path, &check).expect("reads"), data);
        assert!(!check.changed());
    }

    #[test]
    fn a_changed_block_is_refused_before_its_bytes_are_used() {
        let mut data = vec![b'a'; BLOCK * 2];
        let (_dir, path, seal) = sealed(&data);
        data[BLOCK + 5] = b'b';
        std::fs::write(&path, &data).expect("write");
        let check = SealCheck::new(seal);
        let mut file =
            HashingFile::checked(fs_err::File::open(&path).expect("open"), &check).expect("size");
        let mut out = vec![0u8; BLOCK];
        file.read_exact(&mut out)
            .expect("the first block is unchanged");
        assert!(!check.changed());
        assert!(file.read(&mut out).is_err(), "the second block differs");
        assert!(check.changed());
    }

    #[test]
    fn a_file_of_another_size_is_refused_at_once() {
        let (_dir, path, seal) = sealed(b"key,phone\n1,+15550100100\n");
        std::fs::write(&path, "key,phone\n1,+15550100100\n2,+15550100101\n").expect("write");
        let check = SealCheck::new(seal);
        assert!(read_checked(&path, &check).is_err());
        assert!(check.changed());
    }
}
