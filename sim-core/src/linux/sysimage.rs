//! The system image a simulated Linux boots with: real files of a named
//! distribution release (the dynamic loader, the C library), each shipped
//! in part. A file's headers, program headers, dynamic section, symbol,
//! string, version and relocation tables are shipped byte for byte; its
//! code and read-only data are not. Every byte not shipped is a hole the
//! machine knows about (`LinuxState::holes`), so reading one is reported,
//! never a silent zero.

use super::LinuxState;
use crate::wire::{self, WireError};
use std::sync::Arc;

/// The first bytes of an encoded image.
pub const MAGIC: &[u8; 8] = b"SIMSYS\x00\x01";
/// The largest file an image may hold.
pub const MAX_FILE: u64 = 64 << 20;

/// A set of files and links, as `fixtures/system/build.sh` extracts them
/// from a distribution's packages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemImage {
    /// Which release and packages: "Debian 12 (bookworm), libc6 2.36-9+deb12u14 amd64".
    pub label: String,
    /// Symbolic links: path and target.
    pub links: Vec<(String, String)>,
    /// Files.
    pub files: Vec<ImageFile>,
}

/// One file: its size and the byte ranges shipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageFile {
    /// Absolute path.
    pub path: String,
    /// Its size on the real system.
    pub size: u64,
    /// Shipped ranges, sorted and disjoint: offset and bytes.
    pub extents: Vec<(u64, Vec<u8>)>,
}

crate::wire_struct! {
    SystemImage { label, links, files }
    ImageFile { path, size, extents }
}

/// Why bytes are not a usable system image.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    /// Not an image of this format.
    #[error("not a system image of this simulator version: {0}")]
    Format(#[from] WireError),
    /// A file's extents overlap, are out of order or run past its size.
    #[error("system image: {path}: extent at {offset:#x} overlaps another or runs past the file's {size} bytes")]
    Extent {
        /// The file.
        path: String,
        /// The extent's offset.
        offset: u64,
        /// The file's size.
        size: u64,
    },
    /// A file larger than the simulator holds.
    #[error("system image: {path} is {size} bytes; the simulator holds files of up to {MAX_FILE} bytes")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
    },
    /// A path that is not absolute.
    #[error("system image: {0:?} is not an absolute path")]
    Path(String),
}

impl SystemImage {
    /// The encoded image.
    pub fn encode(&self) -> Vec<u8> {
        wire::encode_with(MAGIC, self)
    }

    /// Reads an image, checking every path and extent.
    pub fn decode(bytes: &[u8]) -> Result<SystemImage, ImageError> {
        let image: SystemImage = wire::decode_with(MAGIC, bytes)?;
        for (path, _) in &image.links {
            if !path.starts_with('/') {
                return Err(ImageError::Path(path.clone()));
            }
        }
        for f in &image.files {
            if !f.path.starts_with('/') {
                return Err(ImageError::Path(f.path.clone()));
            }
            if f.size > MAX_FILE {
                return Err(ImageError::TooLarge { path: f.path.clone(), size: f.size });
            }
            let mut end = 0;
            for (offset, bytes) in &f.extents {
                let last = offset.checked_add(bytes.len() as u64).filter(|e| *offset >= end && *e <= f.size);
                end = last.ok_or_else(|| ImageError::Extent { path: f.path.clone(), offset: *offset, size: f.size })?;
            }
        }
        Ok(image)
    }
}

impl ImageFile {
    /// The ranges not shipped, `[start, end)`, in order.
    pub fn holes(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut at = 0;
        for (offset, bytes) in &self.extents {
            if *offset > at {
                out.push((at, *offset));
            }
            at = offset + bytes.len() as u64;
        }
        if at < self.size {
            out.push((at, self.size));
        }
        out
    }

    /// The whole file with zeros where it has holes.
    pub fn contents(&self) -> Vec<u8> {
        let mut data = vec![0; self.size as usize];
        for (offset, bytes) in &self.extents {
            data[*offset as usize..*offset as usize + bytes.len()].copy_from_slice(bytes);
        }
        data
    }
}

impl LinuxState {
    /// Puts the image's files and links into the file system; a file's
    /// holes are remembered.
    pub fn install_image(&mut self, image: &SystemImage) {
        for (path, target) in &image.links {
            self.links.insert(path.clone(), target.clone());
        }
        for f in &image.files {
            self.files.insert(f.path.clone(), Arc::from(f.contents()));
            let holes = f.holes();
            if holes.is_empty() {
                self.holes.remove(&f.path);
            } else {
                self.holes.insert(f.path.clone(), holes);
            }
        }
    }

    /// How many bytes of `[start, end)` of `path` are not shipped.
    pub fn unshipped(&self, path: &str, start: u64, end: u64) -> u64 {
        self.holes.get(path).map_or(0, |hs| hs.iter().map(|(a, b)| (*b).min(end).saturating_sub((*a).max(start))).sum())
    }
}
