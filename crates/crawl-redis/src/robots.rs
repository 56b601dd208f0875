//! robots.txt answers shared between fetchers, one key per origin with the
//! TTL of the answer: `B` + body, `A` (no restrictions) or `U` (unreachable).

use std::time::Duration;

use async_trait::async_trait;
use crawl_fetch::{RobotsStore, StoredRobots};
use redis::AsyncCommands;

use crate::Store;

pub struct RedisRobotsStore {
    store: Store,
}

impl RedisRobotsStore {
    pub fn new(store: Store) -> RedisRobotsStore {
        RedisRobotsStore { store }
    }

    fn key(&self, origin: &str) -> String {
        self.store.key(&format!("robots:{origin}"))
    }
}

fn encode(r: &StoredRobots) -> Vec<u8> {
    match r {
        StoredRobots::Body(b) => [b"B".as_slice(), b].concat(),
        StoredRobots::AllowAll => b"A".to_vec(),
        StoredRobots::Unreachable => b"U".to_vec(),
    }
}

fn decode(v: &[u8]) -> Option<StoredRobots> {
    match v.split_first()? {
        (b'B', body) => Some(StoredRobots::Body(body.to_vec())),
        (b'A', _) => Some(StoredRobots::AllowAll),
        (b'U', _) => Some(StoredRobots::Unreachable),
        _ => None,
    }
}

/// A failed read or write only costs a robots.txt refetch, so errors are
/// logged, not propagated.
#[async_trait]
impl RobotsStore for RedisRobotsStore {
    async fn get(&self, origin: &str) -> Option<StoredRobots> {
        let mut conn = self.store.conn.clone();
        match conn.get::<_, Option<Vec<u8>>>(self.key(origin)).await {
            Ok(v) => v.as_deref().and_then(decode),
            Err(e) => {
                tracing::warn!(%origin, error = %e, "cannot read shared robots.txt");
                None
            }
        }
    }

    async fn put(&self, origin: &str, robots: &StoredRobots, ttl: Duration) {
        let mut conn = self.store.conn.clone();
        let secs = ttl.as_secs().max(1);
        if let Err(e) = conn.set_ex::<_, _, ()>(self.key(origin), encode(robots), secs).await {
            tracing::warn!(%origin, error = %e, "cannot share robots.txt");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips() {
        for r in
            [StoredRobots::Body(b"User-agent: *".to_vec()), StoredRobots::AllowAll, StoredRobots::Unreachable]
        {
            assert_eq!(decode(&encode(&r)), Some(r));
        }
        assert_eq!(decode(b""), None);
    }
}
