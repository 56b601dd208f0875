//! Document sinks.
//!
//! Delivery is at-least-once, so a sink sees a document again when a parser
//! died after publishing it. The JSON-lines sink therefore remembers which
//! pages it has written (by final URL, re-read from its file on start) and
//! writes each page once, across restarts.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use crawl_core::Document;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("sink I/O on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("document could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

#[async_trait]
pub trait DocumentSink: Send {
    /// Write documents durably (flushed before returning); returns how many
    /// were new.
    async fn write(&mut self, docs: &[Document]) -> Result<usize, SinkError>;
}

/// Appends documents to a JSON-lines file, one page once.
pub struct JsonlSink {
    path: PathBuf,
    out: BufWriter<std::fs::File>,
    written: HashSet<u64>,
}

fn page_key(final_url: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(final_url.as_bytes())
}

impl JsonlSink {
    /// Open (or create) `path` for appending, remembering the pages already in it.
    pub fn open(path: &Path) -> Result<JsonlSink, SinkError> {
        let io = |source| SinkError::Io { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut written = HashSet::new();
        if let Ok(f) = std::fs::File::open(path) {
            for line in BufReader::new(f).lines() {
                let line = line.map_err(io)?;
                // A torn last line (crash mid-write) is skipped, and its page
                // written again.
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && let Some(u) = v.get("final_url").and_then(|u| u.as_str())
                {
                    written.insert(page_key(u));
                }
            }
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
        Ok(JsonlSink { path: path.to_path_buf(), out: BufWriter::new(file), written })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl DocumentSink for JsonlSink {
    async fn write(&mut self, docs: &[Document]) -> Result<usize, SinkError> {
        let io = |source| SinkError::Io { path: self.path.clone(), source };
        let mut new = 0;
        for d in docs {
            if !self.written.insert(page_key(&d.final_url)) {
                continue;
            }
            serde_json::to_writer(&mut self.out, d)?;
            self.out.write_all(b"\n").map_err(io)?;
            new += 1;
        }
        self.out.flush().map_err(io)?;
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(url: &str) -> Document {
        Document {
            v: 1,
            url: url.into(),
            final_url: url.into(),
            canonical_url: None,
            fetched_at: chrono::Utc::now(),
            status: 200,
            depth: 0,
            title: Some("t".into()),
            site_name: None,
            author: None,
            published_at: None,
            modified_at: None,
            description: None,
            lang: None,
            encoding: None,
            text: "x".into(),
            links: vec![],
            content_sha256: String::new(),
            simhash: None,
            duplicate_of: None,
            body_ref: None,
        }
    }

    #[tokio::test]
    async fn writes_each_page_once_across_restarts() {
        let path = std::env::temp_dir().join(format!("docs-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut s = JsonlSink::open(&path).unwrap();
        assert_eq!(s.write(&[doc("http://a/1"), doc("http://a/2"), doc("http://a/1")]).await.unwrap(), 2);
        drop(s);
        let mut s = JsonlSink::open(&path).unwrap();
        assert_eq!(s.write(&[doc("http://a/2"), doc("http://a/3")]).await.unwrap(), 1);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
        std::fs::remove_file(path).unwrap();
    }
}
