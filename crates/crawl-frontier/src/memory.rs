//! In-memory frontier for the embedded mode: the same semantics as the Redis
//! one (leases, fencing, politeness clocks, dedup in the push), held in one
//! mutex. Every operation is O(log hosts) plus the batch size, so the lock is
//! never held for long.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use crawl_core::{FrontierEntry, HostKey, UrlHash};
use tokio::time::{Duration, Instant};

use crate::{
    Admission, Candidate, Claim, Completed, Completion, Frontier, FrontierConfig, FrontierError,
    FrontierStats, Leased, Release, new_token,
};

/// Completed lease tokens remembered to recognise redelivered tasks.
const DONE_TOKENS_KEPT: usize = 65_536;

#[derive(Debug)]
struct Host {
    queue: VecDeque<(UrlHash, FrontierEntry)>,
    lease: Option<u64>,
    /// When the host may be fetched next, or when its lease expires.
    at: Instant,
    backoff: bool,
}

#[derive(Debug, Default)]
struct State {
    seen: HashSet<u64>,
    admitted: u64,
    /// Only kept under a per-host budget: a host's record goes away when its
    /// queue empties, its budget must not.
    admitted_per_host: HashMap<HostKey, u64>,
    hosts: HashMap<HostKey, Host>,
    /// Every host record, keyed by its `at`.
    schedule: BTreeSet<(Instant, HostKey)>,
    urls_queued: u64,
    leased: u64,
    done: HashSet<u64>,
    done_order: VecDeque<u64>,
}

impl State {
    fn reschedule(&mut self, key: &HostKey, at: Instant) {
        if let Some(h) = self.hosts.get_mut(key) {
            self.schedule.remove(&(h.at, key.clone()));
            h.at = at;
            self.schedule.insert((at, key.clone()));
        }
    }

    /// Host record for a push; a new host is due now, a known one keeps its
    /// clock (so a host whose queue ran dry still waits out its delay).
    fn host_for_push(&mut self, key: &HostKey, now: Instant) -> &mut Host {
        if !self.hosts.contains_key(key) {
            self.schedule.insert((now, key.clone()));
            self.hosts
                .insert(key.clone(), Host { queue: VecDeque::new(), lease: None, at: now, backoff: false });
        }
        self.hosts.get_mut(key).expect("inserted above")
    }

    fn remember_done(&mut self, token: u64) {
        if self.done.insert(token) {
            self.done_order.push_back(token);
            if self.done_order.len() > DONE_TOKENS_KEPT
                && let Some(old) = self.done_order.pop_front()
            {
                self.done.remove(&old);
            }
        }
    }
}

/// The embedded mode's frontier.
pub struct MemoryFrontier {
    config: FrontierConfig,
    state: Mutex<State>,
    /// Wakes the scheduler when work appears, so a host that becomes free
    /// is released at once rather than at the next poll.
    work: tokio::sync::Notify,
}

impl MemoryFrontier {
    pub fn new(config: FrontierConfig) -> MemoryFrontier {
        MemoryFrontier { config, state: Mutex::new(State::default()), work: tokio::sync::Notify::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every
        // method mutates in an order that keeps the invariants), so poison
        // is not fatal.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Frontier for MemoryFrontier {
    async fn admit(&self, batch: &[Candidate]) -> Result<Vec<Admission>, FrontierError> {
        let now = Instant::now();
        let mut st = self.lock();
        let mut out = Vec::with_capacity(batch.len());
        for c in batch {
            if st.seen.contains(&c.hash.0) {
                out.push(Admission::Duplicate);
                continue;
            }
            if self.config.max_urls.is_some_and(|max| st.admitted >= max) {
                out.push(Admission::OverLimit);
                continue;
            }
            if let Some(max) = self.config.max_urls_per_host {
                let admitted = st.admitted_per_host.entry(c.host.clone()).or_default();
                if *admitted >= max {
                    out.push(Admission::OverHostLimit);
                    continue;
                }
                *admitted += 1;
            }
            st.seen.insert(c.hash.0);
            st.admitted += 1;
            st.urls_queued += 1;
            st.host_for_push(&c.host, now).queue.push_back((c.hash, c.entry.clone()));
            out.push(Admission::Queued);
        }
        drop(st);
        if out.contains(&Admission::Queued) {
            self.work.notify_one();
        }
        Ok(out)
    }

    async fn release(&self, max: usize) -> Result<Release, FrontierError> {
        let now = Instant::now();
        let mut st = self.lock();
        let mut leased = Vec::new();
        while leased.len() < max {
            let Some((at, key)) = st.schedule.first().cloned() else {
                break;
            };
            if at > now {
                break;
            }
            st.schedule.pop_first();
            let host = st.hosts.get_mut(&key).expect("scheduled host exists");
            let expired_lease = host.lease.take().is_some();
            host.backoff = false;
            match host.queue.pop_front() {
                Some((hash, entry)) => {
                    let token = new_token();
                    host.lease = Some(token);
                    host.at = now + self.config.queue_lease;
                    let at = host.at;
                    st.schedule.insert((at, key.clone()));
                    st.urls_queued -= 1;
                    if !expired_lease {
                        st.leased += 1;
                    }
                    leased.push(Leased { host: key, token, hash, entry });
                }
                None => {
                    st.hosts.remove(&key);
                    if expired_lease {
                        st.leased -= 1;
                    }
                }
            }
        }
        let next_due_in = st.schedule.first().map(|(at, _)| at.saturating_duration_since(now));
        Ok(Release { leased, next_due_in })
    }

    async fn claim(&self, host: &HostKey, token: u64) -> Result<Claim, FrontierError> {
        let now = Instant::now();
        let mut st = self.lock();
        if st.done.contains(&token) {
            return Ok(Claim::AlreadyDone);
        }
        match st.hosts.get(host) {
            Some(h) if h.lease == Some(token) => {
                st.reschedule(host, now + self.config.fetch_lease);
                Ok(Claim::Granted)
            }
            _ => Ok(Claim::Stale),
        }
    }

    async fn complete(&self, c: Completion) -> Result<Completed, FrontierError> {
        let now = Instant::now();
        let mut st = self.lock();
        let valid = st.hosts.get(&c.host).is_some_and(|h| h.lease == Some(c.token));
        if let Some(item) = c.requeue {
            st.urls_queued += 1;
            st.host_for_push(&c.host, now).queue.push_front(item);
        }
        if !valid {
            return Ok(Completed::Stale);
        }
        st.remember_done(c.token);
        st.leased -= 1;
        let host = st.hosts.get_mut(&c.host).expect("checked above");
        host.lease = None;
        host.backoff = c.backoff;
        st.reschedule(&c.host, now + c.delay);
        drop(st);
        self.work.notify_one();
        Ok(Completed::Ok)
    }

    async fn requeue(
        &self,
        host: &HostKey,
        hash: UrlHash,
        entry: FrontierEntry,
    ) -> Result<(), FrontierError> {
        let now = Instant::now();
        let mut st = self.lock();
        st.urls_queued += 1;
        st.host_for_push(host, now).queue.push_front((hash, entry));
        drop(st);
        self.work.notify_one();
        Ok(())
    }

    async fn wait_for_work(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.work.notified()).await;
    }

    async fn stats(&self) -> Result<FrontierStats, FrontierError> {
        let now = Instant::now();
        let st = self.lock();
        let mut s = FrontierStats {
            urls_queued: st.urls_queued,
            urls_seen: st.seen.len() as u64,
            hosts_leased: st.leased,
            ..FrontierStats::default()
        };
        for h in st.hosts.values() {
            if h.queue.is_empty() && h.lease.is_none() {
                continue; // only a politeness clock left
            }
            s.hosts += 1;
            if h.lease.is_some() {
                continue;
            }
            if h.at <= now {
                s.hosts_due += 1;
                s.oldest_due_ms = s.oldest_due_ms.max(now.duration_since(h.at).as_millis() as u64);
            } else if h.backoff {
                s.hosts_backoff += 1;
            } else {
                s.hosts_waiting += 1;
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frontier() -> MemoryFrontier {
        MemoryFrontier::new(FrontierConfig::default())
    }

    #[tokio::test]
    async fn leases_and_politeness() {
        crate::conformance::leases_and_politeness(&frontier()).await;
    }

    #[tokio::test]
    async fn empty_host_keeps_its_clock() {
        crate::conformance::empty_host_keeps_its_clock(&frontier()).await;
    }

    #[tokio::test]
    async fn requeue_keeps_urls() {
        crate::conformance::requeue_keeps_urls(&frontier()).await;
    }

    #[tokio::test]
    async fn admission_limit() {
        let f = MemoryFrontier::new(FrontierConfig { max_urls: Some(3), ..FrontierConfig::default() });
        crate::conformance::admission_limit(&f, 3).await;
    }

    #[tokio::test]
    async fn host_admission_limit() {
        let f =
            MemoryFrontier::new(FrontierConfig { max_urls_per_host: Some(3), ..FrontierConfig::default() });
        crate::conformance::host_admission_limit(&f, 3).await;
    }

    #[tokio::test(start_paused = true)]
    async fn expired_lease_releases_the_host_again() {
        let f = MemoryFrontier::new(FrontierConfig {
            queue_lease: Duration::from_secs(10),
            ..FrontierConfig::default()
        });
        f.admit(&[crate::conformance::cand("x.test", "/1"), crate::conformance::cand("x.test", "/2")])
            .await
            .unwrap();
        let first = f.release(1).await.unwrap().leased.remove(0);
        tokio::time::advance(Duration::from_secs(11)).await;
        let second = f.release(1).await.unwrap().leased.remove(0);
        assert_ne!(first.token, second.token);
        assert_eq!(f.claim(&first.host, first.token).await.unwrap(), Claim::Stale);
        assert_eq!(f.stats().await.unwrap().hosts_leased, 1);
    }
}
