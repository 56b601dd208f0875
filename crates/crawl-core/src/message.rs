//! The messages the stages exchange (schema version 1).
//!
//! They are JSON on the wire in the distributed mode and plain values in the
//! embedded one. Compatibility rules: every message carries `v`; unknown
//! fields are ignored; new fields are optional. Page bodies never travel in a
//! message, only a reference into the body store (a backlog of bodies would
//! otherwise live in the broker's RAM).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::canon::{HostKey, UrlHash};

pub const MESSAGE_VERSION: u32 = 1;

fn v1() -> u32 {
    MESSAGE_VERSION
}

/// How a batch of links was found; decides depth and redirect accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Discovery {
    /// Given by the user (`crawl` arguments, `seed`).
    #[default]
    Seed,
    /// Links of a parsed page.
    Page,
    /// The `Location` of a 3xx answer.
    Redirect,
    /// A sitemap or feed listed by robots.txt or a page.
    Sitemap,
}

/// Links for the scheduler: one message per page (or seed list, or redirect).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkBatch {
    #[serde(default = "v1")]
    pub v: u32,
    pub kind: Discovery,
    /// The page the links were found on, if any.
    #[serde(default)]
    pub source: Option<String>,
    /// Crawl depth the links get (source depth + 1; seeds 0; redirect
    /// targets keep their source's depth).
    #[serde(default)]
    pub depth: u32,
    /// Redirect hops already followed to reach these links.
    #[serde(default)]
    pub redirects: u32,
    /// First URL of the redirect chain these links continue, if any.
    #[serde(default)]
    pub origin: Option<String>,
    /// Absolute URLs (the scheduler canonicalises them again: never trust a
    /// producer to have done it).
    pub links: Vec<String>,
}

/// A URL waiting in the frontier: what the frontier stores per URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrontierEntry {
    pub url: String,
    #[serde(default)]
    pub depth: u32,
    /// Fetch attempts made so far (retries after timeouts, 5xx, 429).
    #[serde(default)]
    pub attempt: u32,
    #[serde(default)]
    pub redirects: u32,
    #[serde(default)]
    pub origin: Option<String>,
}

/// A URL the frontier released for fetching, under a lease on its host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchTask {
    #[serde(default = "v1")]
    pub v: u32,
    /// Unique per release: `<url hash>-<lease>`.
    pub task_id: String,
    pub url_hash: UrlHash,
    pub host: HostKey,
    /// Fencing token of the host lease; a completion with another token is
    /// stale (the lease expired and the host moved on) and is ignored.
    pub lease: u64,
    #[serde(flatten)]
    pub entry: FrontierEntry,
}

/// Response metadata the parser and sinks need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseMeta {
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub content_language: Option<String>,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub last_modified: Option<String>,
}

/// A successful (2xx) fetch whose body waits in the body store for the parser.
/// Failures and redirects are settled by the fetcher and never reach the parser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchResult {
    #[serde(default = "v1")]
    pub v: u32,
    pub task_id: String,
    /// The URL that was requested and answered.
    pub url: String,
    pub url_hash: UrlHash,
    /// First URL of the redirect chain that led here, if any.
    #[serde(default)]
    pub origin: Option<String>,
    pub depth: u32,
    pub status: u16,
    pub fetched_at: DateTime<Utc>,
    pub elapsed_ms: u64,
    #[serde(default)]
    pub meta: ResponseMeta,
    /// Key in the body store (content address of the raw body).
    pub body_ref: String,
    pub body_len: u64,
}

/// A link of a document, with what the parser learned about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocLink {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Inside the article body (as opposed to menus, tickers, footers).
    #[serde(default)]
    pub in_content: bool,
    /// `rel=nofollow` (or `ugc`, `sponsored`) was set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nofollow: bool,
}

/// A clean document: what the crawl is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    #[serde(default = "v1")]
    pub v: u32,
    /// The URL as linked (the start of the redirect chain, if there was one).
    pub url: String,
    /// The URL that answered with this content.
    pub final_url: String,
    /// `<link rel=canonical>`, when the page declares one.
    #[serde(default)]
    pub canonical_url: Option<String>,
    pub fetched_at: DateTime<Utc>,
    pub status: u16,
    pub depth: u32,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub site_name: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    /// ISO 8601.
    #[serde(default)]
    pub published_at: Option<String>,
    #[serde(default)]
    pub modified_at: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// ISO 639-1 code detected from the text.
    #[serde(default)]
    pub lang: Option<String>,
    /// Character encoding the page was decoded with.
    #[serde(default)]
    pub encoding: Option<String>,
    pub text: String,
    #[serde(default)]
    pub links: Vec<DocLink>,
    /// SHA-256 of the text, hex: exact content duplicates share it.
    pub content_sha256: String,
    /// 64-bit SimHash of the text, hex: near-duplicates differ in few bits.
    #[serde(default)]
    pub simhash: Option<String>,
    /// URL of an earlier document with the same text, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// The raw body in the body store.
    #[serde(default)]
    pub body_ref: Option<String>,
}

impl LinkBatch {
    /// Seed URLs, as the user gave them.
    pub fn seeds(links: Vec<String>) -> LinkBatch {
        LinkBatch {
            v: MESSAGE_VERSION,
            kind: Discovery::Seed,
            source: None,
            depth: 0,
            redirects: 0,
            origin: None,
            links,
        }
    }
}

impl FetchTask {
    pub fn new(host: HostKey, lease: u64, url_hash: UrlHash, entry: FrontierEntry) -> FetchTask {
        FetchTask {
            v: MESSAGE_VERSION,
            task_id: format!("{url_hash}-{lease:x}"),
            url_hash,
            host,
            lease,
            entry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_ignored_and_defaults_filled() {
        let j = r#"{"kind":"page","links":["http://a/"],"future_field":42}"#;
        let b: LinkBatch = serde_json::from_str(j).unwrap();
        assert_eq!(b.v, 1);
        assert_eq!(b.depth, 0);
        assert_eq!(b.links, vec!["http://a/"]);
    }

    #[test]
    fn fetch_task_round_trips_flat() {
        let t = FetchTask::new(
            HostKey::from("example.com"),
            7,
            UrlHash(1),
            FrontierEntry {
                url: "http://example.com/".into(),
                depth: 1,
                attempt: 0,
                redirects: 0,
                origin: None,
            },
        );
        let j = serde_json::to_value(&t).unwrap();
        assert_eq!(j["url"], "http://example.com/");
        assert_eq!(j["task_id"], "0000000000000001-7");
        assert_eq!(serde_json::from_value::<FetchTask>(j).unwrap(), t);
    }
}
