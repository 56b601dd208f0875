//! The frontier in Redis: the same semantics as the in-memory one, shared by
//! any number of schedulers and fetchers.
//!
//! Keys (under the namespace `ns`):
//! - `ns:q:<host>`: list of queued entries of the host;
//! - `ns:sched`: sorted set of hosts by the time they are next due (or, while
//!   leased, by the time their lease expires);
//! - `ns:lease`: hash host → fencing token of the lease in flight;
//! - `ns:done`: hash host → the last few completed tokens (recognises tasks
//!   redelivered after their work was done);
//! - `ns:seen:<bucket>`: URL dedup, 64-bit hashes in bucketed integer sets;
//! - `ns:queued`, `ns:admitted`: counters, `ns:backoff`: hosts backing off;
//! - `ns:host_admitted`: hash host → URLs admitted, kept only under a
//!   per-host budget;
//! - `ns:wake`: a one-element list the scheduler blocks on.
//!
//! Dedup in bucketed sets: Redis stores a small set of integers as an
//! *intset*, 8 bytes per member plus a header. Hashing URLs to 64 bits and
//! spreading them over 2^k sets of a few hundred members each keeps them in
//! that encoding (below `set-max-intset-entries`, 512 by default). Size the
//! bucket count at about expected URLs / 256.

use std::time::Duration;

use async_trait::async_trait;
use crawl_core::{FrontierEntry, HostKey, UrlHash};
use crawl_frontier::{
    Admission, Candidate, Claim, Completed, Completion, Frontier, FrontierConfig, FrontierError,
    FrontierStats, Leased, Release,
};
use redis::Script;
use tokio::sync::Mutex;

use crate::Store;

struct Scripts {
    admit: Script,
    release: Script,
    claim: Script,
    complete: Script,
    requeue: Script,
    stats: Script,
    top_hosts: Script,
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            admit: Script::new(include_str!("lua/admit.lua")),
            release: Script::new(include_str!("lua/release.lua")),
            claim: Script::new(include_str!("lua/claim.lua")),
            complete: Script::new(include_str!("lua/complete.lua")),
            requeue: Script::new(include_str!("lua/requeue.lua")),
            stats: Script::new(include_str!("lua/stats.lua")),
            top_hosts: Script::new(include_str!("lua/top_hosts.lua")),
        }
    }
}

pub struct RedisFrontier {
    store: Store,
    config: FrontierConfig,
    bucket_mask: u64,
    scripts: Scripts,
    /// A connection of its own for the blocking wait, so it never delays
    /// the commands of the shared one.
    waker: Mutex<Option<redis::aio::MultiplexedConnection>>,
}

fn unavailable(e: redis::RedisError) -> FrontierError {
    FrontierError::Unavailable(e.to_string())
}

/// `hash \t depth \t attempt \t redirects \t origin \t url`: canonical URLs
/// never contain a tab, and this is a third of the size of JSON. The URL's
/// `scheme://host` is implied by the queue it sits in: `h` stands for
/// `http://<host>`, `s` for `https://<host>`, `=` marks a URL kept whole.
pub fn encode_entry(hash: UrlHash, host: &HostKey, e: &FrontierEntry) -> String {
    let url = &e.url;
    let short = [("h", "http://"), ("s", "https://")].iter().find_map(|(code, scheme)| {
        let rest = url.strip_prefix(scheme)?.strip_prefix(host.as_str())?;
        (rest.starts_with('/') || rest.starts_with(':')).then(|| format!("{code}{rest}"))
    });
    format!(
        "{hash}\t{}\t{}\t{}\t{}\t{}",
        e.depth,
        e.attempt,
        e.redirects,
        e.origin.as_deref().unwrap_or(""),
        short.unwrap_or_else(|| format!("={url}"))
    )
}

pub fn decode_entry(s: &str, host: &HostKey) -> Result<(UrlHash, FrontierEntry), FrontierError> {
    let corrupt = || FrontierError::Corrupt(format!("bad frontier entry {s:?}"));
    let mut f = s.splitn(6, '\t');
    let mut next = || f.next().ok_or_else(corrupt);
    let hash = u64::from_str_radix(next()?, 16).map_err(|_| corrupt())?;
    let depth = next()?.parse().map_err(|_| corrupt())?;
    let attempt = next()?.parse().map_err(|_| corrupt())?;
    let redirects = next()?.parse().map_err(|_| corrupt())?;
    let origin = Some(next()?).filter(|o| !o.is_empty()).map(str::to_string);
    let stored = next()?;
    let url = match stored.split_at_checked(1) {
        Some(("h", rest)) => format!("http://{host}{rest}"),
        Some(("s", rest)) => format!("https://{host}{rest}"),
        Some(("=", url)) => url.to_string(),
        _ => return Err(corrupt()),
    };
    Ok((UrlHash(hash), FrontierEntry { url, depth, attempt, redirects, origin }))
}

impl RedisFrontier {
    /// `buckets`: number of dedup sets (rounded up to a power of two).
    pub fn new(store: Store, config: FrontierConfig, buckets: u64) -> RedisFrontier {
        let buckets = buckets.max(1).next_power_of_two();
        RedisFrontier {
            store,
            config,
            bucket_mask: buckets - 1,
            scripts: Scripts::new(),
            waker: Mutex::new(None),
        }
    }

    /// The `n` hosts with the longest queues, among the `scan` most overdue
    /// (bounded work, for `crawler status`).
    pub async fn top_hosts(&self, n: usize, scan: usize) -> Result<Vec<(String, u64)>, FrontierError> {
        let flat: Vec<String> = self
            .scripts
            .top_hosts
            .prepare_invoke()
            .arg(&self.store.ns)
            .arg(n)
            .arg(scan)
            .invoke_async(&mut self.store.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(flat.chunks_exact(2).map(|p| (p[0].clone(), p[1].parse().unwrap_or(0))).collect())
    }

    fn ms(d: Duration) -> u64 {
        d.as_millis() as u64
    }
}

#[async_trait]
impl Frontier for RedisFrontier {
    async fn admit(&self, batch: &[Candidate]) -> Result<Vec<Admission>, FrontierError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = self.scripts.admit.prepare_invoke();
        inv.arg(&self.store.ns)
            .arg(self.config.max_urls.unwrap_or(0))
            .arg(self.config.max_urls_per_host.unwrap_or(0));
        for c in batch {
            // Signed: Redis keeps integers that fit an i64 in an intset.
            inv.arg(c.hash.0 as i64)
                .arg(c.hash.0 & self.bucket_mask)
                .arg(c.host.as_str())
                .arg(encode_entry(c.hash, &c.host, &c.entry));
        }
        let codes: Vec<u8> = inv.invoke_async(&mut self.store.conn.clone()).await.map_err(unavailable)?;
        Ok(codes
            .into_iter()
            .map(|c| match c {
                0 => Admission::Queued,
                1 => Admission::Duplicate,
                2 => Admission::OverLimit,
                _ => Admission::OverHostLimit,
            })
            .collect())
    }

    async fn release(&self, max: usize) -> Result<Release, FrontierError> {
        // 15 random digits, then the script appends a 4-digit index: 19
        // digits, always below u64::MAX.
        let base = 100_000_000_000_000 + crawl_frontier::new_token() % 900_000_000_000_000;
        let mut inv = self.scripts.release.prepare_invoke();
        inv.arg(&self.store.ns).arg(Self::ms(self.config.queue_lease)).arg(max.min(9999)).arg(base);
        let out: Vec<String> = inv.invoke_async(&mut self.store.conn.clone()).await.map_err(unavailable)?;
        let next: i64 = out.first().and_then(|s| s.parse().ok()).unwrap_or(-1);
        let mut leased = Vec::with_capacity((out.len() - 1) / 3);
        for triple in out[1..].chunks_exact(3) {
            let token =
                triple[1].parse().map_err(|_| FrontierError::Corrupt(format!("bad token {}", triple[1])))?;
            let host = HostKey::from(triple[0].as_str());
            let (hash, entry) = decode_entry(&triple[2], &host)?;
            leased.push(Leased { host, token, hash, entry });
        }
        let next_due_in = (next >= 0).then(|| Duration::from_millis(next as u64));
        Ok(Release { leased, next_due_in })
    }

    async fn claim(&self, host: &HostKey, token: u64) -> Result<Claim, FrontierError> {
        let code: u8 = self
            .scripts
            .claim
            .prepare_invoke()
            .arg(&self.store.ns)
            .arg(host.as_str())
            .arg(token)
            .arg(Self::ms(self.config.fetch_lease))
            .invoke_async(&mut self.store.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(match code {
            0 => Claim::Granted,
            1 => Claim::AlreadyDone,
            _ => Claim::Stale,
        })
    }

    async fn complete(&self, c: Completion) -> Result<Completed, FrontierError> {
        let requeue = c.requeue.as_ref().map(|(h, e)| encode_entry(*h, &c.host, e)).unwrap_or_default();
        let code: u8 = self
            .scripts
            .complete
            .prepare_invoke()
            .arg(&self.store.ns)
            .arg(c.host.as_str())
            .arg(c.token)
            .arg(Self::ms(c.delay))
            .arg(u8::from(c.backoff))
            .arg(requeue)
            .invoke_async(&mut self.store.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(if code == 0 { Completed::Ok } else { Completed::Stale })
    }

    async fn requeue(
        &self,
        host: &HostKey,
        hash: UrlHash,
        entry: FrontierEntry,
    ) -> Result<(), FrontierError> {
        let _: u8 = self
            .scripts
            .requeue
            .prepare_invoke()
            .arg(&self.store.ns)
            .arg(host.as_str())
            .arg(encode_entry(hash, host, &entry))
            .invoke_async(&mut self.store.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn stats(&self) -> Result<FrontierStats, FrontierError> {
        let v: Vec<u64> = self
            .scripts
            .stats
            .prepare_invoke()
            .arg(&self.store.ns)
            .invoke_async(&mut self.store.conn.clone())
            .await
            .map_err(unavailable)?;
        let [hosts, due, leased, backoff, queued, admitted, oldest] = v[..] else {
            return Err(FrontierError::Corrupt(format!("bad stats reply {v:?}")));
        };
        Ok(FrontierStats {
            hosts,
            hosts_due: due,
            hosts_leased: leased,
            hosts_waiting: hosts.saturating_sub(due + leased + backoff),
            hosts_backoff: backoff,
            urls_queued: queued,
            urls_seen: admitted,
            oldest_due_ms: oldest,
        })
    }

    async fn wait_for_work(&self, timeout: Duration) {
        let mut waker = self.waker.lock().await;
        if waker.is_none() {
            *waker = self.store.client.get_multiplexed_async_connection().await.ok();
        }
        let Some(conn) = waker.as_mut() else {
            tokio::time::sleep(timeout.min(Duration::from_millis(100))).await;
            return;
        };
        // BLPOP's timeout 0 means forever: never pass it.
        let secs = timeout.as_secs_f64().clamp(0.01, 1.0);
        let res: redis::RedisResult<Option<(String, String)>> =
            redis::cmd("BLPOP").arg(self.store.key("wake")).arg(secs).query_async(conn).await;
        if res.is_err() {
            // Redis restarted or went away: reconnect on the next call.
            *waker = None;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let host = HostKey::from("a.test");
        let e = FrontierEntry {
            url: "http://a.test/x?y=1".into(),
            depth: 3,
            attempt: 1,
            redirects: 2,
            origin: Some("http://a.test/old".into()),
        };
        let s = encode_entry(UrlHash(42), &host, &e);
        assert!(s.ends_with("\th/x?y=1"), "{s}");
        assert_eq!(decode_entry(&s, &host).unwrap(), (UrlHash(42), e.clone()));
        for url in ["https://a.test:8443/p", "http://a.testing/p", "http://b.test/p", "http://a.test"] {
            let other = FrontierEntry { url: url.into(), origin: None, ..e.clone() };
            assert_eq!(
                decode_entry(&encode_entry(UrlHash(7), &host, &other), &host).unwrap().1,
                other,
                "{url}"
            );
        }
        assert!(decode_entry("garbage", &host).is_err());
    }
}
