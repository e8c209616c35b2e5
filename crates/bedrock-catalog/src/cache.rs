//! Where a fetched catalog is kept between builds: a JSON file or process memory.
//!
//! The file is written to a temporary file in the same directory and renamed over the old one, so a
//! reader never sees a torn file even when two processes refresh at once (the last rename wins).
//! A file that is unreadable, corrupt, of another schema version, too old, or that covers other
//! regions is reported as a [`CacheMiss`] with the reason, and the caller refreshes and rewrites it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::error::Error;
use crate::snapshot::Snapshot;

/// File name of the cache inside the cache directory.
pub const CACHE_FILE_NAME: &str = "bedrock_catalog.json";

/// How a built catalog is cached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheMode {
    /// A JSON file in the platform cache directory (or the one given); survives restarts.
    #[default]
    File,
    /// Process memory only; shared by builders in the same process.
    Memory,
    /// No caching: every build fetches.
    None,
}

/// The default cache directory: `<platform cache dir>/llmmanager`, or the temp dir.
#[must_use]
pub fn default_cache_dir() -> PathBuf {
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("llmmanager")
}

/// Why a cache entry was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheMiss {
    /// Whether the entry existed (and will be overwritten), as opposed to simply absent.
    pub(crate) present: bool,
    pub(crate) reason: String,
}

fn check(
    snap: &Snapshot,
    now: SystemTime,
    max_age: Duration,
    regions: &[String],
) -> Result<(), String> {
    let at = snap.generated_time().ok_or("bad timestamp")?;
    let age = now.duration_since(at).unwrap_or(Duration::ZERO);
    if age > max_age {
        return Err(format!("older than {max_age:?} ({}s old)", age.as_secs()));
    }
    if let Some(r) = regions.iter().find(|r| !snap.regions_queried.contains(r)) {
        return Err(format!("does not cover region {r}"));
    }
    Ok(())
}

/// Reads and validates the cache file.
pub(crate) fn read_file(
    path: &Path,
    now: SystemTime,
    max_age: Duration,
    regions: &[String],
) -> Result<Snapshot, CacheMiss> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CacheMiss {
                present: false,
                reason: "no cache file".into(),
            });
        }
        Err(e) => {
            return Err(CacheMiss {
                present: true,
                reason: format!("unreadable: {e}"),
            });
        }
    };
    let snap = Snapshot::parse(&text, "cache file").map_err(|e| CacheMiss {
        present: true,
        reason: e.to_string(),
    })?;
    check(&snap, now, max_age, regions).map_err(|reason| CacheMiss {
        present: true,
        reason,
    })?;
    Ok(snap)
}

/// Writes the cache file atomically (temp file in the same directory, then rename).
pub(crate) fn write_file(path: &Path, snap: &Snapshot) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let io = |operation, source| Error::Io {
        operation,
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| io("create cache directory", e))?;
    let json = snap.to_json()?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io("create temp file in", e))?;
    tmp.write_all(json.as_bytes())
        .map_err(|e| io("write temp file in", e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| io("sync temp file in", e))?;
    tmp.persist(path).map_err(|e| Error::Io {
        operation: "replace cache file",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

static MEMORY: Mutex<BTreeMap<String, Arc<Snapshot>>> = Mutex::new(BTreeMap::new());

fn memory_key(regions: &[String]) -> String {
    let mut r = regions.to_vec();
    r.sort();
    r.join(",")
}

/// Looks up the process-wide memory cache.
pub(crate) fn read_memory(
    now: SystemTime,
    max_age: Duration,
    regions: &[String],
) -> Result<Arc<Snapshot>, CacheMiss> {
    let map = MEMORY.lock().unwrap_or_else(PoisonError::into_inner);
    let snap = map.get(&memory_key(regions)).cloned().ok_or(CacheMiss {
        present: false,
        reason: "nothing in memory".into(),
    })?;
    check(&snap, now, max_age, regions).map_err(|reason| CacheMiss {
        present: true,
        reason,
    })?;
    Ok(snap)
}

/// Stores a snapshot in the process-wide memory cache.
pub(crate) fn write_memory(regions: &[String], snap: Arc<Snapshot>) {
    MEMORY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(memory_key(regions), snap);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    fn snap(at: &str, regions: &[&str]) -> Snapshot {
        Snapshot {
            schema_version: crate::snapshot::SNAPSHOT_SCHEMA_VERSION,
            data_version: "v".into(),
            generated_at: at.into(),
            source: "api".into(),
            regions_queried: regions.iter().map(|r| (*r).to_owned()).collect(),
            models: Vec::new(),
        }
    }

    #[test]
    fn validity_rules() {
        let now = parse_rfc3339("2026-01-02T00:00:00Z").unwrap();
        let day = Duration::from_secs(86_400);
        let us = vec!["us-east-1".to_owned()];
        assert!(check(&snap("2026-01-01T00:00:00Z", &["us-east-1"]), now, day, &us).is_ok());
        assert!(
            check(&snap("2025-12-31T23:59:59Z", &["us-east-1"]), now, day, &us)
                .unwrap_err()
                .contains("older")
        );
        assert!(
            check(&snap("2026-01-01T12:00:00Z", &["eu-west-1"]), now, day, &us)
                .unwrap_err()
                .contains("us-east-1")
        );
    }

    #[test]
    fn file_round_trip_and_misses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(CACHE_FILE_NAME);
        let now = parse_rfc3339("2026-01-01T01:00:00Z").unwrap();
        let day = Duration::from_secs(86_400);
        let us = vec!["us-east-1".to_owned()];
        let miss = read_file(&path, now, day, &us).unwrap_err();
        assert!(!miss.present);
        let s = snap("2026-01-01T00:00:00Z", &["us-east-1"]);
        write_file(&path, &s).unwrap();
        assert_eq!(read_file(&path, now, day, &us).unwrap(), s);
        std::fs::write(&path, "{\"schema_version\":1,\"data_v").unwrap();
        let miss = read_file(&path, now, day, &us).unwrap_err();
        assert!(
            miss.present && miss.reason.contains("malformed"),
            "{miss:?}"
        );
    }
}
