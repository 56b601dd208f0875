//! The scheduler: links in, fetch tasks out.
//!
//! Ingest turns each link batch into frontier candidates (canonicalise →
//! scope → depth and redirect limits → one atomic dedup-and-push per batch)
//! and counts every link's fate. Release keeps the fetch queue near a small
//! target depth: it only hands out URLs whose host is due, so fetchers
//! never hold a task while waiting on politeness, and the queue's depth
//! stays a measure of fetcher capacity rather than of the crawl's size.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use crawl_core::{
    CanonOptions, Counter, Counters, Discovery, FetchTask, FrontierEntry, HostKey, LinkBatch, Scope, UrlHash,
};
use crawl_frontier::{Admission, Candidate, Frontier, FrontierError};
use crawl_queue::{Inbox, Outbox, QueueError};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::StageError;
use crate::pool::{self, Disposition};

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub scope: Scope,
    pub canon: CanonOptions,
    /// Links deeper than this are not followed (seeds are depth 0).
    pub max_depth: Option<u32>,
    /// Longest redirect chain followed.
    pub max_redirects: u32,
    /// Tasks kept waiting in the fetch queue (≈ 2 × total fetch concurrency).
    pub fetch_queue_target: usize,
    /// Longest wait between two release rounds.
    pub release_interval: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            scope: Scope::default(),
            canon: CanonOptions::default(),
            max_depth: None,
            max_redirects: 10,
            fetch_queue_target: 128,
            release_interval: Duration::from_millis(50),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Frontier(#[from] FrontierError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Where the crawl scope is shared between schedulers (Redis in the
/// distributed mode): seeds add their hosts, every scheduler reads them.
#[async_trait]
pub trait ScopeStore: Send + Sync {
    async fn add_hosts(&self, hosts: &[String]) -> Result<(), StageError>;
    async fn hosts(&self) -> Result<Vec<String>, StageError>;
    /// How many hosts the store holds (cheap: checked on every batch that
    /// has out-of-scope links).
    async fn count(&self) -> Result<usize, StageError>;
}

pub struct Scheduler {
    config: SchedulerConfig,
    scope: RwLock<ScopeState>,
    scope_store: Option<Arc<dyn ScopeStore>>,
    frontier: Arc<dyn Frontier>,
    counters: Arc<Counters>,
}

struct ScopeState {
    scope: Scope,
    /// Hosts read from the store so far (to notice that it grew).
    known: usize,
}

impl Scheduler {
    pub fn new(config: SchedulerConfig, frontier: Arc<dyn Frontier>, counters: Arc<Counters>) -> Scheduler {
        let scope = RwLock::new(ScopeState { scope: config.scope.clone(), known: 0 });
        Scheduler { config, scope, scope_store: None, frontier, counters }
    }

    /// Share the scope through `store` (the distributed mode).
    pub fn with_scope_store(mut self, store: Arc<dyn ScopeStore>) -> Scheduler {
        self.scope_store = Some(store);
        self
    }

    fn in_scope(&self, url: &Url) -> bool {
        self.scope.read().unwrap_or_else(|p| p.into_inner()).scope.contains(url)
    }

    /// Seeds bring their hosts into the scope, before any of their pages can
    /// be fetched (so before any link from them can reach another scheduler).
    async fn extend_scope(&self, seeds: &[Url]) -> Result<(), StageError> {
        let hosts: Vec<String> = seeds.iter().map(|u| HostKey::of(u).to_string()).collect();
        if let Some(store) = &self.scope_store {
            store.add_hosts(&hosts).await?;
        }
        let mut st = self.scope.write().unwrap_or_else(|p| p.into_inner());
        for h in &hosts {
            st.scope.allow_host(h);
        }
        Ok(())
    }

    /// Re-read the shared scope if it grew since we last looked. Returns
    /// whether it changed.
    async fn refresh_scope(&self) -> Result<bool, StageError> {
        let Some(store) = &self.scope_store else { return Ok(false) };
        let known = self.scope.read().unwrap_or_else(|p| p.into_inner()).known;
        if store.count().await? == known {
            return Ok(false);
        }
        let hosts = store.hosts().await?;
        let mut st = self.scope.write().unwrap_or_else(|p| p.into_inner());
        st.known = hosts.len();
        for h in &hosts {
            st.scope.allow_host(h);
        }
        Ok(true)
    }

    /// Admit the links of one batch; every link is counted in one fate.
    pub async fn ingest(&self, batch: &LinkBatch) -> Result<(), StageError> {
        let mut invalid = 0;
        let mut urls = Vec::with_capacity(batch.links.len());
        for link in &batch.links {
            match crawl_core::canon::canonicalize_str(link, &self.config.canon) {
                Ok(u) => urls.push(u),
                Err(e) => {
                    tracing::debug!(%link, error = %e, "invalid link");
                    invalid += 1;
                }
            }
        }
        if batch.kind == Discovery::Seed {
            self.extend_scope(&urls).await?;
        }
        let (mut inside, mut outside): (Vec<Url>, Vec<Url>) =
            urls.into_iter().partition(|u| self.in_scope(u));
        if !outside.is_empty() && self.refresh_scope().await? {
            let (now_in, still_out) = outside.into_iter().partition(|u| self.in_scope(u));
            inside.extend::<Vec<Url>>(now_in);
            outside = still_out;
        }

        let mut too_deep = 0;
        let mut redirect_limit = 0;
        let mut in_batch_dups = 0;
        let mut candidates = Vec::with_capacity(inside.len());
        if self.config.max_depth.is_some_and(|max| batch.depth > max) {
            too_deep = inside.len() as u64;
        } else if batch.kind == Discovery::Redirect && batch.redirects > self.config.max_redirects {
            tracing::info!(source = ?batch.source, "redirect chain too long");
            redirect_limit = inside.len() as u64;
        } else {
            // A page that links one URL many times offers it once; the
            // page's order is kept (it is the crawl order within a host).
            let mut seen = HashSet::with_capacity(inside.len());
            for url in inside {
                let hash = UrlHash::of(&url);
                if !seen.insert(hash) {
                    in_batch_dups += 1;
                    continue;
                }
                candidates.push(Candidate {
                    hash,
                    host: HostKey::of(&url),
                    entry: FrontierEntry {
                        url: url.into(),
                        depth: batch.depth,
                        attempt: 0,
                        redirects: batch.redirects,
                        origin: batch.origin.clone(),
                    },
                });
            }
        }
        let admissions =
            if candidates.is_empty() { Vec::new() } else { self.frontier.admit(&candidates).await? };

        let c = &self.counters;
        c.add(Counter::LinksDiscovered, batch.links.len() as u64);
        c.add(Counter::LinkInvalid, invalid);
        c.add(Counter::LinkOutOfScope, outside.len() as u64);
        c.add(Counter::LinkTooDeep, too_deep);
        c.add(Counter::LinkRedirectLimit, redirect_limit);
        c.add(Counter::LinkDuplicate, in_batch_dups);
        for a in admissions {
            c.incr(match a {
                Admission::Queued => Counter::UrlAdmitted,
                Admission::Duplicate => Counter::LinkDuplicate,
                Admission::OverLimit => Counter::LinkOverLimit,
                Admission::OverHostLimit => Counter::LinkOverHostLimit,
            });
        }
        Ok(())
    }

    /// One release round: top the fetch queue up to its target with due
    /// URLs. Returns how long until another round is worth it.
    pub async fn release(&self, fetch: &dyn Outbox<FetchTask>) -> Result<Duration, SchedulerError> {
        let idle = self.config.release_interval;
        let depth = fetch.depth().await? as usize;
        let room = self.config.fetch_queue_target.saturating_sub(depth);
        if room == 0 {
            return Ok(idle);
        }
        let release = self.frontier.release(room).await?;
        let full = release.leased.len() == room;
        let tasks: Vec<FetchTask> =
            release.leased.into_iter().map(|l| FetchTask::new(l.host, l.token, l.hash, l.entry)).collect();
        if !tasks.is_empty() {
            fetch.send(tasks).await?;
        }
        Ok(if full { Duration::ZERO } else { release.next_due_in.unwrap_or(idle).min(idle) })
    }
}

/// The scheduler stage: ingest link batches as they come, release due URLs
/// as hosts become due. Releasing stops at `stop_release` (and the fetch
/// outbox is dropped, which closes an in-process queue); ingesting stops at
/// `stop_ingest` or when the links inbox closes. The embedded mode keeps
/// ingesting while the other stages drain, so they never block on a full
/// links queue.
pub async fn run(
    scheduler: Arc<Scheduler>,
    links: &mut dyn Inbox<LinkBatch>,
    fetch: Arc<dyn Outbox<FetchTask>>,
    stop_release: CancellationToken,
    stop_ingest: CancellationToken,
) {
    let releaser = {
        let scheduler = scheduler.clone();
        let shutdown = stop_release.clone();
        tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                let wait = match scheduler.release(fetch.as_ref()).await {
                    Ok(wait) => {
                        failures = 0;
                        wait
                    }
                    Err(e) => {
                        failures += 1;
                        let wait = Duration::from_millis(100 << failures.min(6));
                        tracing::warn!(error = %e, retry_in = ?wait, "release failed");
                        wait
                    }
                };
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = scheduler.frontier.wait_for_work(wait) => {}
                }
            }
        })
    };
    // Link batches are ingested one at a time: each is one frontier call,
    // and ordering them keeps the frontier's FIFO meaningful.
    let counters = scheduler.counters.clone();
    pool::run(links, 1, &stop_ingest, &counters, |batch, _| {
        let scheduler = scheduler.clone();
        async move {
            match scheduler.ingest(&batch).await {
                Ok(()) => Disposition::Ack,
                Err(e) => Disposition::Retry(format!("frontier: {e}")),
            }
        }
    })
    .await;
    stop_release.cancel();
    if let Err(e) = releaser.await {
        tracing::error!(error = %e, "release loop failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crawl_core::ScopeMode;
    use crawl_frontier::FrontierConfig;
    use crawl_frontier::memory::MemoryFrontier;

    fn scheduler(max_depth: Option<u32>) -> (Scheduler, Arc<Counters>) {
        let mut scope = Scope::new(ScopeMode::Host);
        scope.allow_host("site.test");
        let counters = Arc::new(Counters::default());
        let frontier = Arc::new(MemoryFrontier::new(FrontierConfig::default()));
        let cfg = SchedulerConfig { scope, max_depth, ..SchedulerConfig::default() };
        (Scheduler::new(cfg, frontier, counters.clone()), counters)
    }

    fn batch(depth: u32, links: &[&str]) -> LinkBatch {
        LinkBatch {
            v: 1,
            kind: Discovery::Page,
            source: None,
            depth,
            redirects: 0,
            origin: None,
            links: links.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[tokio::test]
    async fn every_link_gets_one_fate() {
        let (s, c) = scheduler(Some(3));
        s.ingest(&batch(
            1,
            &[
                "http://site.test/a?utm_source=x",
                "HTTP://SITE.TEST/a#frag",
                "http://site.test/b",
                "http://elsewhere.test/",
                "mailto:x@site.test",
                "http://site.test/b",
            ],
        ))
        .await
        .unwrap();
        s.ingest(&batch(4, &["http://site.test/deep"])).await.unwrap();
        s.ingest(&batch(1, &["http://site.test/a"])).await.unwrap();
        let snap = c.snapshot();
        assert_eq!(snap.get(Counter::LinksDiscovered), 8);
        assert_eq!(snap.get(Counter::UrlAdmitted), 2);
        assert_eq!(snap.get(Counter::LinkDuplicate), 3);
        assert_eq!(snap.get(Counter::LinkOutOfScope), 1);
        assert_eq!(snap.get(Counter::LinkInvalid), 1);
        assert_eq!(snap.get(Counter::LinkTooDeep), 1);
        assert_eq!(snap.sum(crawl_core::fate::LINK_FATES), 8);
    }
}
