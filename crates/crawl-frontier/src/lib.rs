//! The crawl frontier: which URL is fetched next, and when.
//!
//! Politeness is decided here and nowhere else (Mercator's back queues, as
//! Heritrix, Nutch and StormCrawler do it). The frontier keeps one queue of
//! URLs per host and a schedule of hosts by the time they may next be
//! fetched. [`Frontier::release`] hands out at most one URL per due host and
//! *leases* the host: no other URL of that host is released until the fetcher
//! reports [`Frontier::complete`] (which starts the politeness clock) or the
//! lease expires (the fetcher died). Leases carry a random fencing token, so
//! a late completion from a fetcher that lost its lease is recognised as
//! stale and cannot disturb the host's schedule.
//!
//! URL deduplication lives in the same step as the push
//! ([`Frontier::admit`]): test-and-set "seen" and enqueue are one atomic
//! operation, so two schedulers can never both admit one URL.
//!
//! Because fetchers never sleep on politeness while holding a task, the fetch
//! queue stays short and a slow host never blocks the others (head-of-line
//! blocking was what sank the shared-queue designs we measured).
//!
//! Two implementations: [`memory::MemoryFrontier`] for the embedded mode and
//! `redis::RedisFrontier` (Lua scripts) for the distributed one.

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod memory;

use std::time::Duration;

use async_trait::async_trait;
use crawl_core::{FrontierEntry, HostKey, UrlHash};

/// A URL offered to the frontier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub hash: UrlHash,
    pub host: HostKey,
    pub entry: FrontierEntry,
}

/// What [`Frontier::admit`] did with one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// New URL, queued.
    Queued,
    /// Seen before.
    Duplicate,
    /// Not queued: the crawl reached its URL budget (`--max-pages`).
    OverLimit,
    /// Not queued: the URL's host reached its budget (`--max-pages-per-host`).
    OverHostLimit,
}

/// A URL released for fetching, with the lease on its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leased {
    pub host: HostKey,
    pub token: u64,
    pub hash: UrlHash,
    pub entry: FrontierEntry,
}

/// Result of [`Frontier::release`].
#[derive(Debug, Default)]
pub struct Release {
    pub leased: Vec<Leased>,
    /// When the next host becomes due (None: nothing is waiting).
    pub next_due_in: Option<Duration>,
}

/// Result of [`Frontier::claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The lease is ours: fetch.
    Granted,
    /// This lease was already completed (a redelivered task whose work is
    /// done): drop the task.
    AlreadyDone,
    /// The lease expired and the host moved on: give the URL back with
    /// [`Frontier::requeue`] and drop the task.
    Stale,
}

/// How a leased fetch ended, as far as the frontier is concerned.
#[derive(Debug, Clone)]
pub struct Completion {
    pub host: HostKey,
    pub token: u64,
    /// Politeness gap before the host's next request.
    pub delay: Duration,
    /// The host is backing off (429/503, errors), not merely being polite.
    pub backoff: bool,
    /// Put this URL back at the head of the host's queue (a retry, or the
    /// page that waited for robots.txt).
    pub requeue: Option<(UrlHash, FrontierEntry)>,
}

/// Result of [`Frontier::complete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completed {
    Ok,
    /// The token did not match the host's lease: the schedule was left
    /// alone (a requeued URL is still put back, so nothing is lost).
    Stale,
}

/// Counts for `crawler status` and the crawl's end condition.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FrontierStats {
    /// Hosts with queued URLs or a lease.
    pub hosts: u64,
    /// Hosts due now, not leased: waiting for a fetch slot.
    pub hosts_due: u64,
    /// Hosts leased to a fetcher.
    pub hosts_leased: u64,
    /// Hosts waiting on their politeness delay.
    pub hosts_waiting: u64,
    /// Hosts waiting on a backoff (429/503/errors).
    pub hosts_backoff: u64,
    pub urls_queued: u64,
    pub urls_seen: u64,
    /// How long the most overdue host has been due, in ms.
    pub oldest_due_ms: u64,
}

impl FrontierStats {
    /// Nothing queued and nothing leased.
    pub fn is_empty(&self) -> bool {
        self.urls_queued == 0 && self.hosts_leased == 0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FrontierError {
    #[error("frontier store unavailable: {0}")]
    Unavailable(String),
    #[error("frontier data corrupt: {0}")]
    Corrupt(String),
}

/// Settings shared by the implementations.
#[derive(Debug, Clone)]
pub struct FrontierConfig {
    /// How long a released URL may wait in the fetch queue before its host
    /// lease expires and the host is released again.
    pub queue_lease: Duration,
    /// How long a claimed fetch may take before its host lease expires.
    /// Must exceed the fetcher's total request timeout.
    pub fetch_lease: Duration,
    /// Stop admitting new URLs after this many (`--max-pages`).
    pub max_urls: Option<u64>,
    /// Stop admitting new URLs of a host after this many
    /// (`--max-pages-per-host`): the budget that ends a spider trap, an
    /// endless calendar or faceted search, on that host alone.
    pub max_urls_per_host: Option<u64>,
}

impl Default for FrontierConfig {
    fn default() -> Self {
        FrontierConfig {
            queue_lease: Duration::from_secs(300),
            fetch_lease: Duration::from_secs(180),
            max_urls: None,
            max_urls_per_host: None,
        }
    }
}

#[async_trait]
pub trait Frontier: Send + Sync {
    /// Deduplicate and enqueue, atomically per URL. One call per link batch.
    async fn admit(&self, batch: &[Candidate]) -> Result<Vec<Admission>, FrontierError>;

    /// Release up to `max` due hosts, one URL each, leasing each host.
    async fn release(&self, max: usize) -> Result<Release, FrontierError>;

    /// Confirm a lease before fetching (and restart its clock with the
    /// fetch lease). A task that sat in a queue, or was redelivered after a
    /// crash, may hold a lease that is no longer valid.
    async fn claim(&self, host: &HostKey, token: u64) -> Result<Claim, FrontierError>;

    /// Report the end of a leased fetch: the host's politeness clock starts.
    async fn complete(&self, completion: Completion) -> Result<Completed, FrontierError>;

    /// Put a URL back at the head of its host's queue, bypassing dedup
    /// (the URL of a stale task).
    async fn requeue(&self, host: &HostKey, hash: UrlHash, entry: FrontierEntry)
    -> Result<(), FrontierError>;

    async fn stats(&self) -> Result<FrontierStats, FrontierError>;

    /// Wait until the frontier may have new work to release (a URL was
    /// admitted or requeued, a lease completed) or `timeout` passes. The
    /// default polls; an implementation that can be told does better.
    async fn wait_for_work(&self, timeout: Duration) {
        tokio::time::sleep(timeout.min(Duration::from_millis(10))).await;
    }
}

/// Random fencing tokens: unique per lease with overwhelming probability,
/// and not guessable from the host or time, so a stale completion can never
/// match by accident.
pub fn new_token() -> u64 {
    loop {
        let t: u64 = rand::random();
        if t != 0 {
            return t;
        }
    }
}
