//! The parser: a fetched page in, a document and its links out.
//!
//! Extraction is CPU work (milliseconds per page), so it runs on the
//! blocking pool, never on the async threads that keep connections and
//! queues moving. A page that makes the extractor fail or panic becomes a
//! counted parse error, and the worker carries on.
//!
//! Sitemaps and RSS/Atom feeds are read here too: they make no document,
//! only links, in batches small enough for one admission round trip each.

use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use crawl_core::{CanonOptions, Counter, Counters, Discovery, DocLink, Document, FetchResult, LinkBatch};
use crawl_extract::feed;
use crawl_extract::{Extracted, Input, Limits};
use crawl_queue::{Inbox, Outbox};
use crawl_store::{BodyStore, StoreError};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::StageError;
use crate::pool::{self, Disposition};

/// Remembers which text was seen first, for exact content duplicates
/// (syndicated stories, print versions).
#[async_trait]
pub trait ContentIndex: Send + Sync {
    /// Record `url` for `content_sha256`; return the URL recorded first if
    /// it is another one.
    async fn first_seen(&self, content_sha256: &str, url: &str) -> Result<Option<String>, StageError>;
}

/// In-process content index (embedded mode).
#[derive(Default)]
pub struct MemoryContentIndex {
    first: Mutex<HashMap<u64, String>>,
}

#[async_trait]
impl ContentIndex for MemoryContentIndex {
    async fn first_seen(&self, content_sha256: &str, url: &str) -> Result<Option<String>, StageError> {
        let key = sha_prefix_key(content_sha256);
        let mut m = self.first.lock().unwrap_or_else(|p| p.into_inner());
        let first = m.entry(key).or_insert_with(|| url.to_string());
        Ok((first != url).then(|| first.clone()))
    }
}

/// The first 16 hex digits of a SHA-256 are a 64-bit key as good as any.
fn sha_prefix_key(sha_hex: &str) -> u64 {
    u64::from_str_radix(sha_hex.get(..16).unwrap_or("0"), 16).unwrap_or(0)
}

#[derive(Debug, Clone)]
pub struct ParserConfig {
    pub limits: Limits,
    /// Pages parsed at once (CPU-bound: about the number of cores).
    pub concurrency: usize,
    /// Do not follow `rel=nofollow` links.
    pub skip_nofollow: bool,
    pub canon: CanonOptions,
}

impl Default for ParserConfig {
    fn default() -> Self {
        ParserConfig {
            limits: Limits::default(),
            concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            skip_nofollow: false,
            canon: CanonOptions::default(),
        }
    }
}

/// What parsing one page produced.
#[derive(Debug, Default)]
pub struct Parsed {
    pub document: Option<Document>,
    pub links: Vec<LinkBatch>,
    pub fate: Option<Counter>,
    pub duplicate: bool,
}

pub struct Parser {
    config: ParserConfig,
    bodies: Arc<dyn BodyStore>,
    content: Arc<dyn ContentIndex>,
    counters: Arc<Counters>,
}

impl Parser {
    pub fn new(
        config: ParserConfig,
        bodies: Arc<dyn BodyStore>,
        content: Arc<dyn ContentIndex>,
        counters: Arc<Counters>,
    ) -> Parser {
        Parser { config, bodies, content, counters }
    }

    pub async fn handle(&self, result: &FetchResult) -> Result<Parsed, StageError> {
        let body = self.bodies.get(&result.body_ref).await?;
        let url = Url::parse(&result.url)
            .map_err(|e| StageError::Poison(format!("bad URL {}: {e}", result.url)))?;
        let ct = result.meta.content_type.clone();
        if feed::is_feed(ct.as_deref(), &body)
            && let Some(parsed) = self.read_feed(result, &url, body.clone()).await
        {
            return Ok(parsed);
        }
        if !crawl_extract::is_html(ct.as_deref(), &body) {
            return Ok(Parsed { fate: Some(Counter::PagesNotHtml), ..Parsed::default() });
        }
        let limits = self.config.limits.clone();
        let cl = result.meta.content_language.clone();
        let fetched_at = result.fetched_at;
        let job_url = url.clone();
        let (canon, skip_nofollow) = (self.config.canon.clone(), self.config.skip_nofollow);
        let started = std::time::Instant::now();
        let extracted = tokio::task::spawn_blocking(move || {
            let input = Input {
                url: &job_url,
                body: &body,
                content_type: ct.as_deref(),
                content_language: cl.as_deref(),
                fetched_at,
            };
            crawl_extract::extract(&input, &limits).map(|ex| {
                let links = if ex.nofollow {
                    Vec::new()
                } else {
                    let followed = ex.links.iter().filter(|l| !(skip_nofollow && l.nofollow));
                    canonical_links(followed.map(|l| l.url.clone()), &canon)
                };
                (ex, links)
            })
        })
        .await;
        metrics::histogram!("crawler_parse_duration_seconds").record(started.elapsed().as_secs_f64());
        let (ex, links) = match extracted {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                tracing::info!(url = %url, error = %e, "page could not be parsed");
                return Ok(Parsed { fate: Some(Counter::PagesParseError), ..Parsed::default() });
            }
            Err(panic) => {
                tracing::error!(url = %url, error = %panic, "extractor panicked on a page");
                return Ok(Parsed { fate: Some(Counter::PagesParseError), ..Parsed::default() });
            }
        };
        let links = link_batches(result, Discovery::Page, links);
        if ex.noindex {
            return Ok(Parsed { links, fate: Some(Counter::PagesNoindex), ..Parsed::default() });
        }
        let duplicate_of = self.content.first_seen(&ex.content_sha256, &result.url).await?;
        let duplicate = duplicate_of.is_some();
        Ok(Parsed {
            document: Some(document(result, ex, duplicate_of)),
            links,
            fate: Some(Counter::PagesParsed),
            duplicate,
        })
    }

    /// A sitemap's or feed's URLs, or `None` when the XML is something else
    /// (an XHTML page, say) and the HTML path should have it.
    async fn read_feed(&self, result: &FetchResult, url: &Url, body: bytes::Bytes) -> Option<Parsed> {
        let max = self.config.limits.max_html_bytes;
        let base = url.clone();
        let canon = self.config.canon.clone();
        let read = tokio::task::spawn_blocking(move || {
            feed::parse(&body, &base, max).map(|feed| {
                let links = canonical_links(feed.urls.into_iter(), &canon);
                (feed.kind, links, feed.truncated)
            })
        })
        .await;
        let (kind, links, truncated) = match read {
            Ok(Ok(read)) => read,
            Ok(Err(feed::FeedError::NotAFeed(_))) => return None,
            Ok(Err(e)) => {
                tracing::info!(url = %url, error = %e, "sitemap or feed could not be read");
                return Some(Parsed { fate: Some(Counter::PagesParseError), ..Parsed::default() });
            }
            Err(panic) => {
                tracing::error!(url = %url, error = %panic, "feed reader panicked");
                return Some(Parsed { fate: Some(Counter::PagesParseError), ..Parsed::default() });
            }
        };
        if truncated {
            tracing::info!(url = %url, ?kind, urls = links.len(), "sitemap or feed cut short; its first URLs are kept");
        } else {
            tracing::debug!(url = %url, ?kind, urls = links.len(), "sitemap or feed read");
        }
        let links = link_batches(result, Discovery::Sitemap, links);
        Some(Parsed { links, fate: Some(Counter::PagesFeed), ..Parsed::default() })
    }

    async fn process(
        &self,
        result: FetchResult,
        documents: &dyn Outbox<Document>,
        links: &dyn Outbox<LinkBatch>,
    ) -> Disposition {
        let parsed = match self.handle(&result).await {
            Ok(p) => p,
            Err(StageError::Store(StoreError::NotFound(key))) => {
                return Disposition::DeadLetter(format!("body {key} is missing from the body store"));
            }
            Err(StageError::Poison(reason)) => {
                self.bodies.release(&result.body_ref).await;
                return Disposition::DeadLetter(reason);
            }
            Err(e) => return Disposition::Retry(e.to_string()),
        };
        if let Some(doc) = parsed.document
            && let Err(e) = documents.send(vec![doc]).await
        {
            return Disposition::Retry(format!("publishing the document: {e}"));
        }
        if !parsed.links.is_empty()
            && let Err(e) = links.send(parsed.links).await
        {
            return Disposition::Retry(format!("publishing the links: {e}"));
        }
        self.bodies.release(&result.body_ref).await;
        if let Some(fate) = parsed.fate {
            self.counters.incr(fate);
        }
        if parsed.duplicate {
            self.counters.incr(Counter::PagesDuplicateContent);
        }
        Disposition::Ack
    }
}

/// Canonical forms of `urls`, each once, in their order (the crawl order
/// within a host). CPU work: called on the blocking pool.
fn canonical_links(urls: impl Iterator<Item = Url>, canon: &CanonOptions) -> Vec<String> {
    let mut seen = HashSet::new();
    urls.filter_map(|u| crawl_core::canon::canonicalize(u, canon).ok())
        .map(String::from)
        .filter(|u| seen.insert(u.clone()))
        .collect()
}

/// Links for the scheduler in batches of [`LINKS_PER_BATCH`].
fn link_batches(result: &FetchResult, kind: Discovery, links: Vec<String>) -> Vec<LinkBatch> {
    links
        .chunks(LINKS_PER_BATCH)
        .map(|chunk| LinkBatch {
            v: crawl_core::message::MESSAGE_VERSION,
            kind,
            source: Some(result.url.clone()),
            depth: result.depth + 1,
            redirects: 0,
            origin: None,
            links: chunk.to_vec(),
        })
        .collect()
}

/// A page's 5,000 links fit one message; a 50,000-URL sitemap becomes
/// several, each admitted in one frontier round trip.
const LINKS_PER_BATCH: usize = 5000;

fn document(result: &FetchResult, ex: Extracted, duplicate_of: Option<String>) -> Document {
    Document {
        v: crawl_core::message::MESSAGE_VERSION,
        url: result.origin.clone().unwrap_or_else(|| result.url.clone()),
        final_url: result.url.clone(),
        canonical_url: ex.canonical_url.map(String::from),
        fetched_at: result.fetched_at,
        status: result.status,
        depth: result.depth,
        title: ex.title,
        site_name: ex.site_name,
        author: ex.author,
        published_at: ex.published_at,
        modified_at: ex.modified_at,
        description: ex.description,
        lang: ex.lang,
        encoding: Some(ex.encoding.to_string()),
        text: ex.text,
        links: ex
            .links
            .into_iter()
            .map(|l| DocLink {
                url: l.url.into(),
                text: l.text,
                in_content: l.in_content,
                nofollow: l.nofollow,
            })
            .collect(),
        content_sha256: ex.content_sha256,
        simhash: Some(format!("{:016x}", ex.simhash)),
        duplicate_of,
        body_ref: Some(result.body_ref.clone()),
    }
}

/// The parse stage: until the inbox closes or `shutdown`.
pub async fn run(
    parser: Arc<Parser>,
    results: &mut dyn Inbox<FetchResult>,
    documents: Arc<dyn Outbox<Document>>,
    links: Arc<dyn Outbox<LinkBatch>>,
    shutdown: CancellationToken,
) {
    let concurrency = parser.config.concurrency;
    let counters = parser.counters.clone();
    pool::run(results, concurrency, &shutdown, &counters, |result, _| {
        let parser = parser.clone();
        let documents = documents.clone();
        let links = links.clone();
        async move { parser.process(result, documents.as_ref(), links.as_ref()).await }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crawl_core::UrlHash;
    use crawl_store::MemoryBodyStore;

    async fn parse(url: &str, content_type: &str, body: &'static [u8]) -> Parsed {
        let bodies = Arc::new(MemoryBodyStore::default());
        let body_ref = bodies.put(bytes::Bytes::from_static(body)).await.unwrap();
        let parser = Parser::new(
            ParserConfig::default(),
            bodies,
            Arc::new(MemoryContentIndex::default()),
            Arc::new(Counters::default()),
        );
        let url = Url::parse(url).unwrap();
        let result = FetchResult {
            v: crawl_core::message::MESSAGE_VERSION,
            task_id: "t".into(),
            url: url.to_string(),
            url_hash: UrlHash::of(&url),
            origin: None,
            depth: 1,
            status: 200,
            fetched_at: chrono::Utc::now(),
            elapsed_ms: 1,
            meta: crawl_core::ResponseMeta { content_type: Some(content_type.into()), ..Default::default() },
            body_ref,
            body_len: body.len() as u64,
        };
        parser.handle(&result).await.unwrap()
    }

    #[tokio::test]
    async fn a_sitemap_yields_links_and_no_document() {
        let parsed = parse(
            "http://news.example/sitemap.xml",
            "application/xml",
            b"<urlset><url><loc>http://news.example/a.html#top</loc></url>\
              <url><loc>http://news.example/a.html</loc></url><url><loc>/b.html</loc></url></urlset>",
        )
        .await;
        assert!(parsed.document.is_none());
        assert_eq!(parsed.fate, Some(Counter::PagesFeed));
        let [batch] = &parsed.links[..] else { panic!("one batch: {:?}", parsed.links) };
        assert_eq!(batch.kind, Discovery::Sitemap);
        assert_eq!(batch.depth, 2);
        assert_eq!(
            batch.links,
            ["http://news.example/a.html", "http://news.example/b.html"],
            "canonical, once"
        );
    }

    #[tokio::test]
    async fn xml_that_is_neither_feed_nor_page_is_counted() {
        let broken = parse("http://news.example/s.xml.gz", "application/gzip", b"\x1F\x8Bnot gzip").await;
        assert_eq!(broken.fate, Some(Counter::PagesParseError));
        let other = parse("http://news.example/api.xml", "application/xml", b"<data><x>1</x></data>").await;
        assert_eq!(other.fate, Some(Counter::PagesNotHtml));
        assert!(other.links.is_empty() && other.document.is_none());
    }
}
