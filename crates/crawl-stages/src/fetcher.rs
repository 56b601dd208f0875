//! The fetcher: one leased URL in, one request out, the host's politeness
//! clock started.
//!
//! Every task makes at most one request to its host, robots.txt included:
//! when robots.txt is not known yet, the task fetches it, reports the lease
//! complete (with the host's delay) and puts its URL back at the head of the
//! host's queue. So the frontier's "one request in flight per host, then a
//! rest" holds for every request the crawler makes.
//!
//! The order of effects is what makes a crash harmless: publish outputs and
//! wait for their confirmation, then complete the lease, then acknowledge
//! the task. A crash before the completion redelivers the task to another
//! fetcher, which still holds a valid lease (at most one duplicate fetch); a
//! crash after it redelivers a task whose lease is done, and the claim says
//! so.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use crawl_core::{Counter, Counters, Discovery, FetchResult, FetchTask, LinkBatch, ResponseMeta};
use crawl_fetch::client::ErrorKind;
use crawl_fetch::politeness::parse_retry_after;
use crawl_fetch::{HttpClient, Politeness, Request, RobotsCache, RobotsState, header};
use crawl_frontier::{Claim, Completion, Frontier};
use crawl_queue::{Inbox, Outbox};
use crawl_store::BodyStore;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::StageError;
use crate::pool::{self, Disposition};
use crate::retry::with_retries;

#[derive(Debug, Clone)]
pub struct FetcherConfig {
    pub politeness: Politeness,
    /// Tries per URL for transient failures (timeouts, 5xx, 429).
    pub max_attempts: u32,
    /// Requests in flight in this process (each to a different host).
    pub concurrency: usize,
    /// Request budget of this process, all hosts together.
    pub max_rps: Option<NonZeroU32>,
    /// Hand the sitemaps robots.txt lists to the scheduler.
    pub follow_sitemaps: bool,
}

impl Default for FetcherConfig {
    fn default() -> Self {
        FetcherConfig {
            politeness: Politeness::default(),
            max_attempts: 3,
            concurrency: 64,
            max_rps: None,
            follow_sitemaps: true,
        }
    }
}

/// What one task led to.
#[derive(Debug, Default)]
pub struct Outcome {
    /// A page for the parsers.
    pub result: Option<FetchResult>,
    /// URLs for the scheduler: a redirect target, or the sitemaps robots.txt lists.
    pub links: Option<LinkBatch>,
    /// The lease to complete.
    pub completion: Option<Completion>,
    /// The URL's terminal state, if it reached one.
    pub fate: Option<Counter>,
    /// Counters to add besides the fate.
    pub extra: Vec<(Counter, u64)>,
}

pub struct Fetcher {
    config: FetcherConfig,
    client: HttpClient,
    robots: RobotsCache,
    frontier: Arc<dyn Frontier>,
    bodies: Arc<dyn BodyStore>,
    counters: Arc<Counters>,
    budget: Option<DefaultDirectRateLimiter>,
}

/// Accept header of page requests: what we can parse, HTML first.
const ACCEPT_PAGES: &str = "text/html,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.1";

/// Bodies worth downloading: HTML, sitemaps and feeds (XML, or gzip for `.xml.gz`
/// sitemaps), or unlabelled (sniffed by the parser).
fn wants_body(headers: &header::HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(ct) => {
            // The exact type: `vnd.openxmlformats…` documents and `.tar.gz`
            // archives are not pages either.
            let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            mime.contains("html")
                || ((mime.ends_with("/xml") || mime.ends_with("+xml")) && !mime.starts_with("image/"))
                || matches!(
                    mime.as_str(),
                    "application/gzip" | "application/x-gzip" | "text/plain" | "application/octet-stream"
                )
        }
    }
}

impl Fetcher {
    pub fn new(
        config: FetcherConfig,
        client: HttpClient,
        robots: RobotsCache,
        frontier: Arc<dyn Frontier>,
        bodies: Arc<dyn BodyStore>,
        counters: Arc<Counters>,
    ) -> Fetcher {
        let budget = config.max_rps.map(|rps| RateLimiter::direct(Quota::per_second(rps)));
        Fetcher { config, client, robots, frontier, bodies, counters, budget }
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Complete the lease with `delay`, optionally putting the URL back.
    fn completion(task: &FetchTask, delay: Duration, backoff: bool, requeue: bool) -> Completion {
        Completion {
            host: task.host.clone(),
            token: task.lease,
            delay,
            backoff,
            requeue: requeue.then(|| (task.url_hash, task.entry.clone())),
        }
    }

    /// Retry later with backoff if tries are left, else end in `fate`.
    fn retry_or(&self, task: &FetchTask, fate: Counter, backoff: Duration) -> Outcome {
        if task.entry.attempt + 1 < self.config.max_attempts {
            let mut retry = Fetcher::completion(task, backoff, true, true);
            if let Some((_, entry)) = retry.requeue.as_mut() {
                entry.attempt += 1;
            }
            Outcome { completion: Some(retry), extra: vec![(Counter::Retries, 1)], ..Outcome::default() }
        } else {
            Outcome {
                completion: Some(Fetcher::completion(task, backoff, true, false)),
                fate: Some(fate),
                ..Outcome::default()
            }
        }
    }

    /// Do the work of one task. Outputs are returned, not published, so the
    /// logic is testable without a transport.
    /// `redelivered`: the task was handed out before, to a fetcher that
    /// died. Its request may have reached the host a moment ago, so the URL
    /// goes back to the head of the queue for one politeness delay instead
    /// of being fetched at once: politeness holds even across a crash.
    pub async fn handle(&self, task: &FetchTask, redelivered: bool) -> Result<Outcome, StageError> {
        let url = match Url::parse(&task.entry.url) {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(url = %task.entry.url, error = %e, "unparsable URL in a fetch task");
                return Ok(Outcome {
                    completion: Some(Fetcher::completion(task, Duration::ZERO, false, false)),
                    fate: Some(Counter::FailedOther),
                    ..Outcome::default()
                });
            }
        };
        match self.frontier.claim(&task.host, task.lease).await? {
            Claim::Granted if redelivered => {
                tracing::info!(url = %url, "redelivered task: the host rests before the URL is tried again");
                let robots = self.robots.lookup(&url).await;
                let rest = self.config.politeness.delay(robots.and_then(|r| r.crawl_delay()), Duration::ZERO);
                return Ok(Outcome {
                    completion: Some(Fetcher::completion(task, rest, false, true)),
                    ..Outcome::default()
                });
            }
            Claim::Granted => {}
            Claim::AlreadyDone => {
                tracing::debug!(url = %url, "task already completed (redelivery)");
                return Ok(Outcome::default());
            }
            Claim::Stale => {
                tracing::info!(url = %url, "lease expired before the fetch; URL goes back to the frontier");
                self.frontier.requeue(&task.host, task.url_hash, task.entry.clone()).await?;
                return Ok(Outcome::default());
            }
        }
        let politeness = &self.config.politeness;

        let robots = match self.robots.lookup(&url).await {
            Some(state) => state,
            None => {
                return Ok(match self.robots.fetch(&self.client, &url).await {
                    Ok(fetched) => {
                        let delay = politeness.delay(fetched.state.crawl_delay(), fetched.elapsed);
                        Outcome {
                            completion: Some(Fetcher::completion(task, delay, false, true)),
                            links: self.sitemaps(task, &url, &fetched.state),
                            extra: vec![(Counter::RobotsFetches, fetched.requests as u64)],
                            ..Outcome::default()
                        }
                    }
                    Err(blocked) => {
                        tracing::warn!(url = %url, "{}", blocked.detail);
                        Outcome {
                            completion: Some(Fetcher::completion(task, Duration::ZERO, false, false)),
                            fate: Some(Counter::FailedBlocked),
                            ..Outcome::default()
                        }
                    }
                });
            }
        };
        let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
        match robots.as_ref() {
            RobotsState::Unreachable => {
                self.robots.forget(&url);
                let backoff = politeness.backoff(task.entry.attempt, None, politeness.min_delay);
                return Ok(self.retry_or(task, Counter::RobotsDenied, backoff));
            }
            state if !state.allows(path) => {
                tracing::debug!(url = %url, "disallowed by robots.txt");
                return Ok(Outcome {
                    // No request was made: the host's rest is unaffected.
                    completion: Some(Fetcher::completion(task, Duration::ZERO, false, false)),
                    fate: Some(Counter::RobotsDenied),
                    ..Outcome::default()
                });
            }
            _ => {}
        }
        if let Some(budget) = &self.budget {
            budget.until_ready().await;
        }

        let req = Request { url: &url, accept: ACCEPT_PAGES, want_body: wants_body, truncate_at: None };
        let resp = match self.client.get(req).await {
            Ok(r) => r,
            Err(e) => {
                let fate = match e.kind {
                    ErrorKind::Timeout => Counter::FailedTimeout,
                    ErrorKind::Connect => Counter::FailedConnect,
                    ErrorKind::Dns => Counter::FailedDns,
                    ErrorKind::Tls => Counter::FailedTls,
                    ErrorKind::Blocked => Counter::FailedBlocked,
                    ErrorKind::TooLarge => Counter::FailedTooLarge,
                    ErrorKind::Body => Counter::FailedBody,
                    ErrorKind::Other => Counter::FailedOther,
                };
                tracing::info!(url = %url, attempt = task.entry.attempt, error = %e, "fetch failed");
                let normal = politeness.delay(robots.crawl_delay(), Duration::ZERO);
                if e.kind.is_transient() {
                    let backoff = politeness.backoff(task.entry.attempt, None, normal);
                    return Ok(self.retry_or(task, fate, backoff));
                }
                return Ok(Outcome {
                    completion: Some(Fetcher::completion(task, normal, false, false)),
                    fate: Some(fate),
                    ..Outcome::default()
                });
            }
        };
        let fetched_at = chrono::Utc::now();
        metrics::histogram!("crawler_fetch_duration_seconds").record(resp.elapsed.as_secs_f64());
        let delay = politeness.delay(robots.crawl_delay(), resp.elapsed);
        let mut out = Outcome {
            completion: Some(Fetcher::completion(task, delay, false, false)),
            extra: vec![(Counter::BytesFetched, resp.body.len() as u64)],
            ..Outcome::default()
        };
        match resp.status {
            200..=299 => {
                out.fate = Some(Counter::Fetched2xx);
                if !wants_body(&resp.headers) {
                    out.extra.push((Counter::PagesNotHtml, 1));
                    return Ok(out);
                }
                let body_len = resp.body.len() as u64;
                let body_ref = self.bodies.put(resp.body.clone()).await?;
                let get = |h| resp.header(h).map(str::to_string);
                out.result = Some(FetchResult {
                    v: crawl_core::message::MESSAGE_VERSION,
                    task_id: task.task_id.clone(),
                    url: url.to_string(),
                    url_hash: task.url_hash,
                    origin: task.entry.origin.clone(),
                    depth: task.entry.depth,
                    status: resp.status,
                    fetched_at,
                    elapsed_ms: resp.elapsed.as_millis() as u64,
                    meta: ResponseMeta {
                        content_type: get(header::CONTENT_TYPE),
                        content_language: get(header::CONTENT_LANGUAGE),
                        etag: get(header::ETAG),
                        last_modified: get(header::LAST_MODIFIED),
                    },
                    body_ref,
                    body_len,
                });
            }
            300..=399 => {
                out.fate = Some(Counter::Fetched3xx);
                match resp.location(&url) {
                    Some(target) => {
                        out.links = Some(LinkBatch {
                            v: crawl_core::message::MESSAGE_VERSION,
                            kind: Discovery::Redirect,
                            source: Some(url.to_string()),
                            depth: task.entry.depth,
                            redirects: task.entry.redirects + 1,
                            origin: Some(task.entry.origin.clone().unwrap_or_else(|| url.to_string())),
                            links: vec![target.to_string()],
                        })
                    }
                    None => {
                        tracing::info!(url = %url, status = resp.status, "redirect without a usable Location")
                    }
                }
            }
            429 | 503 => {
                let retry_after =
                    resp.header(header::RETRY_AFTER).and_then(|v| parse_retry_after(v, fetched_at));
                let backoff = politeness.backoff(task.entry.attempt, retry_after, delay);
                let fate = if resp.status == 429 { Counter::Fetched4xx } else { Counter::Fetched5xx };
                return Ok(self.retry_or(task, fate, backoff));
            }
            500..=599 => {
                let backoff = politeness.backoff(task.entry.attempt, None, delay);
                return Ok(self.retry_or(task, Counter::Fetched5xx, backoff));
            }
            400..=499 => out.fate = Some(Counter::Fetched4xx),
            _ => out.fate = Some(Counter::FetchedOther),
        }
        Ok(out)
    }

    /// The sitemaps a freshly fetched robots.txt lists, for the scheduler (which
    /// applies scope and dedup to them as to any link). Whichever fetcher reads a
    /// host's robots.txt first announces them; a later refresh offers them again and
    /// the dedup drops them.
    fn sitemaps(&self, task: &FetchTask, url: &Url, robots: &RobotsState) -> Option<LinkBatch> {
        let robots_url = url.join("/robots.txt").ok()?;
        // RFC 9309 wants absolute URLs; a relative one is taken as meant.
        let links: Vec<String> = robots
            .sitemaps()
            .iter()
            .filter_map(|s| robots_url.join(s.trim()).ok())
            .map(String::from)
            .collect();
        (self.config.follow_sitemaps && !links.is_empty()).then(|| LinkBatch {
            v: crawl_core::message::MESSAGE_VERSION,
            kind: Discovery::Sitemap,
            source: Some(robots_url.into()),
            depth: task.entry.depth + 1,
            redirects: 0,
            origin: None,
            links,
        })
    }

    /// Handle a task and carry out its outcome in the safe order.
    async fn process(
        &self,
        task: FetchTask,
        redelivered: bool,
        parse: &dyn Outbox<FetchResult>,
        links: &dyn Outbox<LinkBatch>,
    ) -> Disposition {
        let outcome = match self.handle(&task, redelivered).await {
            Ok(o) => o,
            Err(e) => return Disposition::Retry(e.to_string()),
        };
        if let Some(result) = outcome.result
            && let Err(e) = parse.send(vec![result]).await
        {
            return Disposition::Retry(format!("publishing the page: {e}"));
        }
        if let Some(batch) = outcome.links
            && let Err(e) = links.send(vec![batch]).await
        {
            return Disposition::Retry(format!("publishing the links: {e}"));
        }
        if let Some(completion) = outcome.completion {
            metrics::histogram!("crawler_politeness_delay_seconds").record(completion.delay.as_secs_f64());
            let frontier = &self.frontier;
            if let Err(e) = with_retries("complete", || frontier.complete(completion.clone())).await {
                return Disposition::Retry(format!("completing the lease: {e}"));
            }
        }
        if let Some(fate) = outcome.fate {
            self.counters.incr(fate);
        }
        for (c, n) in outcome.extra {
            self.counters.add(c, n);
        }
        Disposition::Ack
    }
}

/// The fetch stage: run tasks concurrently until the inbox closes or `shutdown`.
pub async fn run(
    fetcher: Arc<Fetcher>,
    tasks: &mut dyn Inbox<FetchTask>,
    parse: Arc<dyn Outbox<FetchResult>>,
    links: Arc<dyn Outbox<LinkBatch>>,
    shutdown: CancellationToken,
) {
    let concurrency = fetcher.config.concurrency;
    let counters = fetcher.counters.clone();
    pool::run(tasks, concurrency, &shutdown, &counters, |task, redelivered| {
        let fetcher = fetcher.clone();
        let parse = parse.clone();
        let links = links.clone();
        async move { fetcher.process(task, redelivered, parse.as_ref(), links.as_ref()).await }
    })
    .await;
}
