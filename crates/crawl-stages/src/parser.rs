//! The parser: a fetched page in, a document and its links out.
//!
//! Extraction is CPU work (milliseconds per page), so it runs on the
//! blocking pool, never on the async threads that keep connections and
//! queues moving. A page that makes the extractor fail or panic becomes a
//! counted parse error, and the worker carries on.

use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use crawl_core::{CanonOptions, Counter, Counters, Discovery, DocLink, Document, FetchResult, LinkBatch};
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
    pub links: Option<LinkBatch>,
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
        if !crawl_extract::is_html(ct.as_deref(), &body) {
            return Ok(Parsed { fate: Some(Counter::PagesNotHtml), ..Parsed::default() });
        }
        let limits = self.config.limits.clone();
        let cl = result.meta.content_language.clone();
        let fetched_at = result.fetched_at;
        let job_url = url.clone();
        let started = std::time::Instant::now();
        let extracted = tokio::task::spawn_blocking(move || {
            let input = Input {
                url: &job_url,
                body: &body,
                content_type: ct.as_deref(),
                content_language: cl.as_deref(),
                fetched_at,
            };
            crawl_extract::extract(&input, &limits)
        })
        .await;
        metrics::histogram!("crawler_parse_duration_seconds").record(started.elapsed().as_secs_f64());
        let ex = match extracted {
            Ok(Ok(ex)) => ex,
            Ok(Err(e)) => {
                tracing::info!(url = %url, error = %e, "page could not be parsed");
                return Ok(Parsed { fate: Some(Counter::PagesParseError), ..Parsed::default() });
            }
            Err(panic) => {
                tracing::error!(url = %url, error = %panic, "extractor panicked on a page");
                return Ok(Parsed { fate: Some(Counter::PagesParseError), ..Parsed::default() });
            }
        };
        let links = (!ex.nofollow).then(|| self.link_batch(result, &ex)).flatten();
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

    /// The page's links for the scheduler, each once.
    fn link_batch(&self, result: &FetchResult, ex: &Extracted) -> Option<LinkBatch> {
        let mut seen = HashSet::new();
        let links: Vec<String> = ex
            .links
            .iter()
            .filter(|l| !(self.config.skip_nofollow && l.nofollow))
            .filter_map(|l| crawl_core::canon::canonicalize(l.url.clone(), &self.config.canon).ok())
            .map(String::from)
            .filter(|u| seen.insert(u.clone()))
            .collect();
        (!links.is_empty()).then(|| LinkBatch {
            v: crawl_core::message::MESSAGE_VERSION,
            kind: Discovery::Page,
            source: Some(result.url.clone()),
            depth: result.depth + 1,
            redirects: 0,
            origin: None,
            links,
        })
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
        if let Some(batch) = parsed.links
            && let Err(e) = links.send(vec![batch]).await
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
