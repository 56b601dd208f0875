//! Content-addressed body store: `sha256/<2 hex>/<2 hex>/<64 hex>.zst`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("body {0} not found")]
    NotFound(String),
    #[error("malformed body key {0:?}")]
    BadKey(String),
    #[error("body store I/O on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("body {0} decompresses past the size cap")]
    TooLarge(String),
}

#[async_trait]
pub trait BodyStore: Send + Sync {
    /// Store a body; returns its key. Idempotent.
    async fn put(&self, body: Bytes) -> Result<String, StoreError>;
    async fn get(&self, key: &str) -> Result<Bytes, StoreError>;
    /// The consumer is done with this body (the memory store frees it; the
    /// file store keeps bodies as the crawl's raw archive).
    async fn release(&self, key: &str);
}

/// The content address of a body.
pub fn body_key(body: &[u8]) -> String {
    let hex = hex(&Sha256::digest(body));
    format!("sha256/{}/{}/{}", &hex[..2], &hex[2..4], hex)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// SHA-256 hex of any bytes (document text hashes use the same form).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The embedded mode's store: bodies live until the parser releases them.
/// References are counted because identical bodies (print copies) share a key.
#[derive(Default)]
pub struct MemoryBodyStore {
    bodies: Mutex<HashMap<String, (Bytes, usize)>>,
}

#[async_trait]
impl BodyStore for MemoryBodyStore {
    async fn put(&self, body: Bytes) -> Result<String, StoreError> {
        let key = body_key(&body);
        let mut m = self.bodies.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(key.clone()).or_insert((body, 0)).1 += 1;
        Ok(key)
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let m = self.bodies.lock().unwrap_or_else(|p| p.into_inner());
        m.get(key).map(|(b, _)| b.clone()).ok_or_else(|| StoreError::NotFound(key.to_string()))
    }

    async fn release(&self, key: &str) {
        let mut m = self.bodies.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, refs)) = m.get_mut(key) {
            *refs -= 1;
            if *refs == 0 {
                m.remove(key);
            }
        }
    }
}

/// Bodies as zstd files under a directory shared by fetchers and parsers
/// (a volume in compose; an object store would implement the same trait).
/// Writes go to a temporary file renamed into place, so a reader never sees
/// a partial body and concurrent writers of one body cannot corrupt it.
pub struct FsBodyStore {
    root: PathBuf,
    max_body: usize,
    level: i32,
}

impl FsBodyStore {
    /// `max_body`: largest decompressed size `get` accepts.
    pub fn new(root: impl Into<PathBuf>, max_body: usize) -> Result<FsBodyStore, StoreError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|source| StoreError::Io { path: root.clone(), source })?;
        // Level 1: a body is written once and read once, so speed matters
        // more than the last tenth of compression ratio.
        Ok(FsBodyStore { root, max_body, level: 1 })
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        let valid = key.len() == 7 + 3 + 3 + 64
            && key.starts_with("sha256/")
            && key[7..].bytes().all(|b| b.is_ascii_hexdigit() || b == b'/');
        if !valid {
            return Err(StoreError::BadKey(key.to_string()));
        }
        Ok(self.root.join(format!("{key}.zst")))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

#[async_trait]
impl BodyStore for FsBodyStore {
    async fn put(&self, body: Bytes) -> Result<String, StoreError> {
        let key = body_key(&body);
        let path = self.path_of(&key)?;
        let level = self.level;
        tokio::task::spawn_blocking(move || {
            if path.exists() {
                return Ok(());
            }
            let dir = path.parent().expect("key has directories");
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            let compressed = zstd::bulk::compress(&body, level).map_err(io(&path))?;
            let tmp = path.with_extension(tmp_suffix());
            std::fs::write(&tmp, compressed).map_err(io(&tmp))?;
            std::fs::rename(&tmp, &path).map_err(io(&path))
        })
        .await
        .expect("body store writer panicked")?;
        Ok(key)
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let path = self.path_of(key)?;
        let max = self.max_body;
        let key = key.to_string();
        tokio::task::spawn_blocking(move || {
            let data = match std::fs::read(&path) {
                Ok(d) => d,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(StoreError::NotFound(key));
                }
                Err(e) => return Err(io(&path)(e)),
            };
            // A stored body is never larger than the fetcher's cap; refuse
            // anything that claims to be (a corrupt or planted file).
            zstd::bulk::decompress(&data, max).map(Bytes::from).map_err(|_| StoreError::TooLarge(key))
        })
        .await
        .expect("body store reader panicked")
    }

    async fn release(&self, _key: &str) {}
}

/// Distinguishes temporary files of concurrent writers (threads and processes).
fn tmp_suffix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("tmp.{}.{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_counts_references() {
        let s = MemoryBodyStore::default();
        let k1 = s.put(Bytes::from_static(b"same")).await.unwrap();
        let k2 = s.put(Bytes::from_static(b"same")).await.unwrap();
        assert_eq!(k1, k2);
        s.release(&k1).await;
        assert_eq!(s.get(&k1).await.unwrap(), "same");
        s.release(&k1).await;
        assert!(matches!(s.get(&k1).await, Err(StoreError::NotFound(_))));
    }

    #[tokio::test]
    async fn fs_store_round_trips_and_checks_keys() {
        let dir = std::env::temp_dir().join(format!("bodies-{}", std::process::id()));
        let s = FsBodyStore::new(&dir, 1 << 20).unwrap();
        let body = Bytes::from("<html>".repeat(1000));
        let k = s.put(body.clone()).await.unwrap();
        assert!(k.starts_with("sha256/"));
        assert_eq!(s.put(body.clone()).await.unwrap(), k, "idempotent");
        assert_eq!(s.get(&k).await.unwrap(), body);
        assert!(matches!(s.get("../../etc/passwd").await, Err(StoreError::BadKey(_))));
        let small = FsBodyStore::new(&dir, 10).unwrap();
        assert!(matches!(small.get(&k).await, Err(StoreError::TooLarge(_))));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
