//! robots.txt per origin: fetched once, cached with a TTL, shared between
//! fetchers through an optional [`RobotsStore`] (Redis in the distributed
//! mode, so eight fetchers do not fetch one robots.txt eight times).
//!
//! Status handling follows RFC 9309 §2.3.1: 2xx is parsed; up to five
//! redirects are followed; 4xx means no restrictions; 429, 5xx and network
//! errors mean *unreachable*, which disallows everything until a short TTL
//! runs out and the file is tried again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use url::Url;

use crate::client::{ErrorKind, FetchError, HttpClient, Request};
use crate::robots::{MAX_ROBOTS_BYTES, Rules};

/// What an origin's robots.txt says, for our user agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RobotsState {
    Rules(Rules),
    /// 429/5xx/network error: everything disallowed for now.
    Unreachable,
}

impl RobotsState {
    pub fn allows(&self, path_and_query: &str) -> bool {
        match self {
            RobotsState::Rules(r) => r.allows(path_and_query),
            RobotsState::Unreachable => false,
        }
    }

    pub fn crawl_delay(&self) -> Option<Duration> {
        match self {
            RobotsState::Rules(r) => r.crawl_delay(),
            RobotsState::Unreachable => None,
        }
    }

    /// The `Sitemap:` URLs robots.txt lists (for every agent).
    pub fn sitemaps(&self) -> &[String] {
        match self {
            RobotsState::Rules(r) => r.sitemaps(),
            RobotsState::Unreachable => &[],
        }
    }
}

/// A robots.txt answer as shared between fetchers: the raw outcome, so each
/// fetcher parses it for its own agent token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredRobots {
    /// A 2xx body (truncated to 500 KiB).
    Body(Vec<u8>),
    /// A 4xx: no restrictions.
    AllowAll,
    Unreachable,
}

/// Shared robots.txt store (the distributed mode's Redis).
#[async_trait]
pub trait RobotsStore: Send + Sync {
    async fn get(&self, origin: &str) -> Option<StoredRobots>;
    async fn put(&self, origin: &str, robots: &StoredRobots, ttl: Duration);
}

#[derive(Debug, Clone)]
pub struct RobotsConfig {
    /// Product token matched against `User-agent` lines.
    pub agent: String,
    /// How long a fetched robots.txt is trusted (RFC 9309: at most 24 h).
    pub ttl: Duration,
    /// How long "unreachable" holds before the file is tried again.
    pub unreachable_ttl: Duration,
    /// Origins kept in the process-local cache.
    pub capacity: usize,
}

impl Default for RobotsConfig {
    fn default() -> Self {
        RobotsConfig {
            agent: "newscrawler".into(),
            ttl: Duration::from_secs(24 * 3600),
            unreachable_ttl: Duration::from_secs(60),
            capacity: 100_000,
        }
    }
}

/// Result of fetching a robots.txt.
#[derive(Debug)]
pub struct Fetched {
    pub state: Arc<RobotsState>,
    /// Requests made (redirect hops included).
    pub requests: u32,
    /// Time of the last request, for the host's politeness clock.
    pub elapsed: Duration,
}

pub struct RobotsCache {
    config: RobotsConfig,
    local: Mutex<HashMap<String, (Arc<RobotsState>, Instant)>>,
    store: Option<Arc<dyn RobotsStore>>,
}

impl RobotsCache {
    pub fn new(config: RobotsConfig, store: Option<Arc<dyn RobotsStore>>) -> RobotsCache {
        RobotsCache { config, local: Mutex::new(HashMap::new()), store }
    }

    /// The cached state for `url`'s origin, if any is still fresh.
    pub async fn lookup(&self, url: &Url) -> Option<Arc<RobotsState>> {
        let origin = url.origin().ascii_serialization();
        if let Some(state) = self.local_get(&origin) {
            return Some(state);
        }
        let stored = self.store.as_ref()?.get(&origin).await?;
        let ttl = self.ttl_of(&stored);
        let state = Arc::new(self.interpret(&stored));
        self.local_put(origin, state.clone(), ttl);
        Some(state)
    }

    /// Fetch `url`'s robots.txt, cache and share it. Fails only when the
    /// SSRF guard refuses the host: then no page of it can be fetched either.
    pub async fn fetch(&self, client: &HttpClient, url: &Url) -> Result<Fetched, FetchError> {
        let origin = url.origin().ascii_serialization();
        let mut target = url.join("/robots.txt").expect("an http(s) URL has a root");
        let mut requests = 0;
        let mut elapsed = Duration::ZERO;
        let stored = loop {
            requests += 1;
            let req = Request {
                url: &target,
                accept: "text/plain,*/*;q=0.5",
                want_body: |_| true,
                truncate_at: Some(MAX_ROBOTS_BYTES),
            };
            match client.get(req).await {
                Ok(resp) => {
                    elapsed = resp.elapsed;
                    match resp.status {
                        200..=299 => break StoredRobots::Body(resp.body.to_vec()),
                        300..=399 if requests <= 5 => match resp.location(&target) {
                            Some(next) => target = next,
                            None => break StoredRobots::AllowAll,
                        },
                        429 => break StoredRobots::Unreachable,
                        400..=499 => break StoredRobots::AllowAll,
                        // Too many redirects counts as unavailable (allow);
                        // a server error as unreachable.
                        300..=399 => break StoredRobots::AllowAll,
                        _ => break StoredRobots::Unreachable,
                    }
                }
                Err(e) if e.kind == ErrorKind::Blocked => return Err(e),
                Err(e) => {
                    tracing::info!(%origin, error = %e, "robots.txt unreachable");
                    break StoredRobots::Unreachable;
                }
            }
        };
        let ttl = self.ttl_of(&stored);
        // "Unreachable" stays local: it is retried with the URL's next
        // attempt (see `forget`), which a shared copy would defeat.
        if let Some(store) = self.store.as_ref().filter(|_| stored != StoredRobots::Unreachable) {
            store.put(&origin, &stored, ttl).await;
        }
        let state = Arc::new(self.interpret(&stored));
        self.local_put(origin, state.clone(), ttl);
        Ok(Fetched { state, requests, elapsed })
    }

    /// Forget what we know of `url`'s robots.txt (it will be fetched again):
    /// a URL retried because robots.txt was unreachable gives the server
    /// another chance at each attempt.
    pub fn forget(&self, url: &Url) {
        let origin = url.origin().ascii_serialization();
        self.local.lock().unwrap_or_else(|p| p.into_inner()).remove(&origin);
    }

    fn interpret(&self, stored: &StoredRobots) -> RobotsState {
        match stored {
            StoredRobots::Body(b) => RobotsState::Rules(Rules::parse(b, &self.config.agent)),
            StoredRobots::AllowAll => RobotsState::Rules(Rules::allow_all()),
            StoredRobots::Unreachable => RobotsState::Unreachable,
        }
    }

    fn ttl_of(&self, stored: &StoredRobots) -> Duration {
        match stored {
            StoredRobots::Unreachable => self.config.unreachable_ttl,
            _ => self.config.ttl,
        }
    }

    fn local_get(&self, origin: &str) -> Option<Arc<RobotsState>> {
        let map = self.local.lock().unwrap_or_else(|p| p.into_inner());
        map.get(origin).filter(|(_, exp)| *exp > Instant::now()).map(|(s, _)| s.clone())
    }

    fn local_put(&self, origin: String, state: Arc<RobotsState>, ttl: Duration) {
        let now = Instant::now();
        let mut map = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.config.capacity {
            map.retain(|_, (_, exp)| *exp > now);
            if map.len() >= self.config.capacity {
                // Still full of live entries: forget an arbitrary half; they
                // are refetched (or re-read from the store) when needed.
                let drop: Vec<String> = map.keys().take(map.len() / 2).cloned().collect();
                for k in drop {
                    map.remove(&k);
                }
            }
        }
        map.insert(origin, (state, now + ttl));
    }
}
