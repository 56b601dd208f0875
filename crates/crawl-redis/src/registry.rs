//! What the workers of a crawl tell each other and `crawler status`:
//!
//! - the crawl scope (`ns:scope`): hosts admitted by seeds and `--allow-host`,
//!   so every scheduler applies the same scope;
//! - the fate counters (`ns:stats`): each worker adds its deltas every second,
//!   so the crawl's ledger survives any worker;
//! - heartbeats (`ns:workers`): who is alive, in which role, with how much
//!   work in flight.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use crawl_core::{Counter, Counters, Snapshot};
use crawl_stages::StageError;
use crawl_stages::scheduler::ScopeStore;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::Store;

/// A worker is considered gone when its heartbeat is older than this.
pub const HEARTBEAT_STALE: Duration = Duration::from_secs(15);
const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How often a snapshot of the counters is kept for rates, and how many.
const HISTORY_EVERY: Duration = Duration::from_secs(10);
const HISTORY_KEPT: isize = 40;

/// This machine's (or container's) name, for worker ids and connection names.
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()))
        .unwrap_or_else(|| "localhost".into())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[derive(Clone)]
pub struct Registry {
    store: Store,
}

/// One live worker, as its last heartbeat described it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerInfo {
    pub id: String,
    pub role: String,
    pub pid: u32,
    pub hostname: String,
    pub started_ms: u64,
    pub seen_ms: u64,
    /// Deliveries taken and not yet settled.
    pub in_flight: u64,
}

impl Registry {
    pub fn new(store: Store) -> Registry {
        Registry { store }
    }

    /// The crawl's counters, summed over every worker that ever ran.
    pub async fn counters(&self) -> redis::RedisResult<Snapshot> {
        let mut conn = self.store.conn.clone();
        let map: std::collections::HashMap<String, u64> = conn.hgetall(self.store.key("stats")).await?;
        Ok(Snapshot(map.into_iter().filter_map(|(k, v)| Counter::from_name(&k).map(|c| (c, v))).collect()))
    }

    async fn add_counters(&self, delta: &Snapshot) -> redis::RedisResult<()> {
        let key = self.store.key("stats");
        let mut pipe = redis::pipe();
        let mut any = false;
        for (c, v) in delta.0.iter().filter(|(_, v)| **v > 0) {
            pipe.hincr(&key, c.name(), *v).ignore();
            any = true;
        }
        if !any {
            return Ok(());
        }
        pipe.query_async(&mut self.store.conn.clone()).await
    }

    /// Keep a snapshot of the crawl's counters every ten seconds (about seven
    /// minutes of them), so `crawler status` can give rates over the last 1
    /// and 5 minutes. Any worker may write it; a short lock makes it one.
    async fn record_history(&self) -> redis::RedisResult<()> {
        let mut conn = self.store.conn.clone();
        let lock: Option<String> = redis::cmd("SET")
            .arg(self.store.key("history:lock"))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(HISTORY_EVERY.as_millis() as u64 - 500)
            .query_async(&mut conn)
            .await?;
        if lock.is_none() {
            return Ok(());
        }
        let snapshot = self.counters().await?;
        let entry = serde_json::json!({ "at_ms": now_ms(), "counters": snapshot.to_map() });
        let key = self.store.key("history");
        redis::pipe()
            .lpush(&key, entry.to_string())
            .ignore()
            .ltrim(&key, 0, HISTORY_KEPT - 1)
            .ignore()
            .query_async(&mut conn)
            .await
    }

    /// Past snapshots, newest first: (time in ms, counters).
    pub async fn history(&self) -> redis::RedisResult<Vec<(u64, Snapshot)>> {
        let mut conn = self.store.conn.clone();
        let raw: Vec<String> = conn.lrange(self.store.key("history"), 0, -1).await?;
        Ok(raw
            .iter()
            .filter_map(|r| {
                let v: serde_json::Value = serde_json::from_str(r).ok()?;
                let at = v.get("at_ms")?.as_u64()?;
                let counters = v
                    .get("counters")?
                    .as_object()?
                    .iter()
                    .filter_map(|(k, n)| Some((Counter::from_name(k)?, n.as_u64()?)))
                    .collect();
                Some((at, Snapshot(counters)))
            })
            .collect())
    }

    /// Flush this worker's counter deltas every second until `stop`, and once
    /// more after it (so a drained worker's last counts are not lost).
    pub fn spawn_flusher(
        &self,
        counters: Arc<Counters>,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let reg = self.clone();
        tokio::spawn(async move {
            let mut flushed = Snapshot::default();
            let mut last_history = std::time::Instant::now();
            loop {
                let stopping = tokio::select! {
                    _ = stop.cancelled() => true,
                    _ = tokio::time::sleep(FLUSH_EVERY) => false,
                };
                let now = counters.snapshot();
                match reg.add_counters(&now.delta(&flushed)).await {
                    Ok(()) => flushed = now,
                    // Kept for the next flush: the deltas accumulate.
                    Err(e) => tracing::warn!(error = %e, "cannot flush counters to Redis"),
                }
                if last_history.elapsed() >= HISTORY_EVERY {
                    last_history = std::time::Instant::now();
                    if let Err(e) = reg.record_history().await {
                        tracing::warn!(error = %e, "cannot record counter history");
                    }
                }
                if stopping {
                    break;
                }
            }
        })
    }

    /// Heartbeat every two seconds until `stop`; the entry is removed on stop.
    pub fn spawn_heartbeat(
        &self,
        role: &str,
        in_flight: fn() -> u64,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let reg = self.clone();
        let hostname = hostname();
        let pid = std::process::id();
        let started_ms = now_ms();
        let id = format!("{role}-{hostname}-{pid}-{:04x}", started_ms & 0xffff);
        let role = role.to_string();
        tokio::spawn(async move {
            let key = reg.store.key("workers");
            loop {
                let info = WorkerInfo {
                    id: id.clone(),
                    role: role.clone(),
                    pid,
                    hostname: hostname.clone(),
                    started_ms,
                    seen_ms: now_ms(),
                    in_flight: in_flight(),
                };
                let json = serde_json::to_string(&info).expect("worker info serialises");
                let mut conn = reg.store.conn.clone();
                if let Err(e) = conn.hset::<_, _, _, ()>(&key, &id, json).await {
                    tracing::warn!(error = %e, "cannot send the heartbeat");
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(HEARTBEAT_EVERY) => {}
                }
            }
            let _: redis::RedisResult<()> = reg.store.conn.clone().hdel(&key, &id).await;
        })
    }

    /// Live workers; stale entries (workers that died) are pruned.
    pub async fn workers(&self) -> redis::RedisResult<Vec<WorkerInfo>> {
        let key = self.store.key("workers");
        let mut conn = self.store.conn.clone();
        let all: std::collections::HashMap<String, String> = conn.hgetall(&key).await?;
        let now = now_ms();
        let mut live = Vec::new();
        for (id, json) in all {
            match serde_json::from_str::<WorkerInfo>(&json) {
                Ok(w) if now.saturating_sub(w.seen_ms) < HEARTBEAT_STALE.as_millis() as u64 => live.push(w),
                _ => {
                    let _: redis::RedisResult<()> = conn.hdel(&key, &id).await;
                }
            }
        }
        live.sort_by(|a, b| a.role.cmp(&b.role).then(a.id.cmp(&b.id)));
        Ok(live)
    }
}

#[async_trait]
impl ScopeStore for Registry {
    async fn add_hosts(&self, hosts: &[String]) -> Result<(), StageError> {
        if hosts.is_empty() {
            return Ok(());
        }
        let mut conn = self.store.conn.clone();
        conn.sadd::<_, _, ()>(self.store.key("scope"), hosts)
            .await
            .map_err(|e| StageError::Unavailable(format!("scope store: {e}")))
    }

    async fn count(&self) -> Result<usize, StageError> {
        let mut conn = self.store.conn.clone();
        conn.scard(self.store.key("scope"))
            .await
            .map_err(|e| StageError::Unavailable(format!("scope store: {e}")))
    }

    async fn hosts(&self) -> Result<Vec<String>, StageError> {
        let mut conn = self.store.conn.clone();
        conn.smembers(self.store.key("scope"))
            .await
            .map_err(|e| StageError::Unavailable(format!("scope store: {e}")))
    }
}
