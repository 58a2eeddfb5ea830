//! Writing files atomically and without overwriting.
//!
//! A file is first written in full to a temporary name in the same directory, then
//! given its final name with a hard link, which fails if the name exists (so two
//! campaigns saving into one directory never overwrite each other), or with a rename
//! where overwriting was asked for. A reader never sees a half-written file.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes the temporary files of one process.
static TEMP_NEXT: AtomicU64 = AtomicU64::new(0);

/// Writes `contents` to `path` atomically. Unless `overwrite`, fails with
/// [`io::ErrorKind::AlreadyExists`] if `path` exists.
pub fn write_atomic(path: &Path, contents: &str, overwrite: bool) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        TEMP_NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        drop(f);
        if overwrite {
            return std::fs::rename(&tmp, path);
        }
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
            // A file system without hard links: check, then rename (not race-free).
            Err(_) if path.exists() => Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists")),
            Err(_) => std::fs::rename(&tmp, path),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Saves `contents` as `dir/stem.json`, or `dir/stem-2.json`, `dir/stem-3.json`, ...
/// (the first name that is free), creating `dir` if needed. Never overwrites.
pub fn save_new(dir: &Path, stem: &str, contents: &str) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    for n in 1u32.. {
        let name = if n == 1 { format!("{stem}.json") } else { format!("{stem}-{n}.json") };
        let path = dir.join(name);
        match write_atomic(&path, contents, false) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("some name is free")
}
