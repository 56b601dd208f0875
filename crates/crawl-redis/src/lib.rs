//! Redis behind the stores of the distributed mode.
//!
//! Everything the workers share lives here, under one key prefix (the crawl
//! namespace), so two crawls (or two tests) share one Redis without touching
//! each other:
//!
//! - [`frontier::RedisFrontier`]: per-host queues, the schedule of hosts,
//!   leases with fencing tokens and URL dedup, each step one Lua script;
//! - [`robots::RedisRobotsStore`]: robots.txt answers, shared by fetchers;
//! - [`content::RedisContentIndex`]: first URL seen per text hash;
//! - [`registry`]: crawl scope, counters flushed by every worker, and
//!   worker heartbeats, read by `crawler status`.
//!
//! Redis must run with `maxmemory-policy noeviction`: eviction would drop
//! frontier state without a trace.

pub mod content;
pub mod frontier;
pub mod registry;
pub mod robots;

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub use frontier::RedisFrontier;

/// A connection to the crawl's Redis, with its key namespace.
#[derive(Clone)]
pub struct Store {
    pub(crate) conn: ConnectionManager,
    pub(crate) client: redis::Client,
    pub(crate) ns: String,
}

#[derive(Debug, thiserror::Error)]
#[error("Redis at {url}: {source}")]
pub struct ConnectError {
    url: String,
    source: redis::RedisError,
}

impl Store {
    /// Connect (retrying for a while: Redis may still be starting). The
    /// connection manager reconnects by itself after a Redis restart; the
    /// command that meets the broken connection fails, later ones wait.
    pub async fn connect(url: &str, namespace: &str) -> Result<Store, ConnectError> {
        let err = |source| ConnectError { url: crawl_core::redact_url(url), source };
        let client = redis::Client::open(url).map_err(err)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(8)
            .set_max_delay(Duration::from_secs(2));
        let conn = client.get_connection_manager_with_config(config).await.map_err(err)?;
        Ok(Store { conn, client, ns: namespace.to_string() })
    }

    pub fn namespace(&self) -> &str {
        &self.ns
    }

    pub(crate) fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.ns)
    }

    /// Delete every key of the namespace (tests; `crawler reset`).
    pub async fn purge(&self) -> redis::RedisResult<u64> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}:*", self.ns);
        let mut deleted = 0;
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                deleted += redis::cmd("UNLINK").arg(&keys).query_async::<u64>(&mut conn).await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// `INFO memory` used_memory, for status and benchmarks.
    pub async fn used_memory(&self) -> redis::RedisResult<u64> {
        let mut conn = self.conn.clone();
        let info: String = redis::cmd("INFO").arg("memory").query_async(&mut conn).await?;
        Ok(info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }
}
