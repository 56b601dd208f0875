//! `crawler status`: the state of a distributed crawl at a glance, and the
//! test of "is it finished?" that `crawler seed --wait` uses.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Args;
use crawl_amqp::Broker;
use crawl_core::fate::{RESPONSES, URL_FATES};
use crawl_core::{Counter, Snapshot};
use crawl_frontier::{Frontier, FrontierConfig, FrontierStats};
use crawl_queue::Queue;
use crawl_redis::registry::{Registry, WorkerInfo};
use crawl_redis::{RedisFrontier, Store};
use serde::Serialize;

use crate::cluster::ClusterArgs;

/// Show queue depths, the frontier, the counters and the live workers.
#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Refresh every second until interrupted.
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueState {
    pub name: String,
    /// Messages waiting (AMQP passive declare: unacknowledged ones excluded).
    pub ready: u32,
    pub consumers: u32,
}

/// One observation of the whole crawl.
#[derive(Debug, Clone, Serialize)]
pub struct CrawlState {
    pub namespace: String,
    pub queues: BTreeMap<String, QueueState>,
    pub retry_ready: u64,
    pub dead_letters: u64,
    pub frontier: FrontierStats,
    pub counters: BTreeMap<&'static str, u64>,
    pub pending_urls: u64,
    pub workers: Vec<WorkerInfo>,
    pub in_flight: u64,
    /// Nothing queued, nothing in flight anywhere.
    pub idle: bool,
    /// Why nothing is being fetched right now, when that is the case.
    pub idle_reason: Option<String>,
    #[serde(skip)]
    pub snapshot: Snapshot,
}

pub struct Observer {
    broker: std::sync::Arc<Broker>,
    frontier: RedisFrontier,
    registry: Registry,
    namespace: String,
}

impl Observer {
    pub async fn connect(cluster: &ClusterArgs) -> anyhow::Result<Observer> {
        let store: Store = cluster.redis().await?;
        let broker = cluster.broker("status", tokio_util::sync::CancellationToken::new()).await?;
        Ok(Observer {
            broker,
            frontier: RedisFrontier::new(store.clone(), FrontierConfig::default(), 1),
            registry: Registry::new(store),
            namespace: cluster.namespace.clone(),
        })
    }

    pub fn broker(&self) -> &std::sync::Arc<Broker> {
        &self.broker
    }

    pub async fn observe(&self) -> anyhow::Result<CrawlState> {
        let t = self.broker.topology();
        let mut queues = BTreeMap::new();
        let mut retry_ready = 0;
        let mut dead_letters = 0;
        for q in Queue::ALL {
            let (ready, consumers) = self.broker.queue_counts(&t.queue(q)).await?;
            queues.insert(q.name().to_string(), QueueState { name: t.queue(q), ready, consumers });
            retry_ready += self.broker.queue_counts(&t.retry_queue(q)).await?.0 as u64;
            dead_letters += self.broker.queue_counts(&t.dead_queue(q)).await?.0 as u64;
        }
        let frontier = self.frontier.stats().await?;
        let snapshot = self.registry.counters().await?;
        let workers = self.registry.workers().await?;
        let in_flight = workers.iter().map(|w| w.in_flight).sum();
        let queued: u64 = queues.values().map(|q| q.ready as u64).sum::<u64>() + retry_ready;
        let idle = frontier.is_empty() && queued == 0 && in_flight == 0;
        let idle_reason = idle_reason(&frontier, &queues, &workers, idle);
        Ok(CrawlState {
            namespace: self.namespace.clone(),
            queues,
            retry_ready,
            dead_letters,
            frontier,
            counters: snapshot.to_map(),
            pending_urls: snapshot.pending_urls(),
            workers,
            in_flight,
            idle,
            idle_reason,
            snapshot,
        })
    }
}

/// The one line that answers "why is nothing being fetched?".
fn idle_reason(
    f: &FrontierStats,
    queues: &BTreeMap<String, QueueState>,
    workers: &[WorkerInfo],
    idle: bool,
) -> Option<String> {
    let fetchers = workers.iter().filter(|w| w.role == "fetcher").count();
    let fetch_ready = queues.get("fetch").map_or(0, |q| q.ready);
    if idle {
        return Some("nothing queued and nothing in flight: the crawl is finished (or not seeded)".into());
    }
    if fetchers == 0 && (fetch_ready > 0 || f.urls_queued > 0) {
        return Some(format!("no fetcher is alive ({} URLs queued)", f.urls_queued + fetch_ready as u64));
    }
    if f.hosts_leased == 0 && fetch_ready == 0 && f.urls_queued > 0 && f.hosts_due == 0 {
        let why = if f.hosts_backoff > 0 && f.hosts_waiting == 0 {
            "every host with queued URLs is backing off (429/503/errors)"
        } else {
            "every host with queued URLs is waiting on its politeness delay"
        };
        return Some(why.into());
    }
    None
}

/// Wait until the crawl is finished: idle on two observations in a row,
/// `POLL` apart, with no counter moving in between (a worker's counters
/// reach Redis within a second; this closes the gap between a message being
/// taken and its worker's heartbeat).
pub async fn wait_until_finished(
    obs: &Observer,
    mut on_tick: impl FnMut(&CrawlState),
) -> anyhow::Result<CrawlState> {
    let mut previous: Option<CrawlState> = None;
    let mut failing_since: Option<std::time::Instant> = None;
    loop {
        let state = match obs.observe().await {
            Ok(s) => {
                failing_since = None;
                s
            }
            // A broker or Redis restart: keep watching, within reason.
            Err(e) if failing_since.is_none_or(|t| t.elapsed() < OUTAGE_PATIENCE) => {
                tracing::warn!(error = %e, "cannot observe the crawl; retrying");
                failing_since.get_or_insert_with(std::time::Instant::now);
                previous = None;
                tokio::time::sleep(POLL).await;
                continue;
            }
            Err(e) => return Err(e.context("the crawl could not be observed for too long")),
        };
        on_tick(&state);
        if let Some(prev) = &previous
            && prev.idle
            && state.idle
            && prev.snapshot == state.snapshot
        {
            return Ok(state);
        }
        previous = Some(state);
        tokio::time::sleep(POLL).await;
    }
}

const POLL: Duration = Duration::from_millis(1500);
/// How long `wait_until_finished` rides out an unreachable broker or Redis.
const OUTAGE_PATIENCE: Duration = Duration::from_secs(300);

pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let obs = Observer::connect(&args.cluster).await?;
    loop {
        let state = obs.observe().await?;
        if args.json {
            println!("{}", serde_json::to_string(&state)?);
        } else {
            if args.watch {
                print!("\x1b[2J\x1b[H");
            }
            println!("{}", render(&state));
        }
        if !args.watch {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub fn render(s: &CrawlState) -> String {
    let c = &s.snapshot;
    let f = &s.frontier;
    let mut out = format!("crawl {:?}\n", s.namespace);
    out += "queues:   ";
    out += &s
        .queues
        .iter()
        .map(|(k, q)| format!("{k} {} ready/{} consumers", q.ready, q.consumers))
        .collect::<Vec<_>>()
        .join(", ");
    out += &format!(", retrying {}\n", s.retry_ready);
    if s.dead_letters > 0 {
        out += &format!("ALARM:    {} dead letters (crawler dead-letters list)\n", s.dead_letters);
    }
    out += &format!(
        "frontier: {} hosts ({} due, {} in flight, {} waiting, {} backing off), {} URLs queued, {} seen, oldest due {} ms\n",
        f.hosts,
        f.hosts_due,
        f.hosts_leased,
        f.hosts_waiting,
        f.hosts_backoff,
        f.urls_queued,
        f.urls_seen,
        f.oldest_due_ms
    );
    out += &format!(
        "pages:    {} responses ({} 2xx), {} failed/denied, {} documents, {} pending\n",
        c.sum(RESPONSES),
        c.get(Counter::Fetched2xx),
        c.sum(URL_FATES) - c.sum(RESPONSES),
        c.get(Counter::DocumentsWritten),
        s.pending_urls
    );
    let mut roles: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for w in &s.workers {
        let e = roles.entry(w.role.as_str()).or_default();
        e.0 += 1;
        e.1 += w.in_flight;
    }
    out += "workers:  ";
    out += &if roles.is_empty() {
        "none alive".to_string()
    } else {
        roles.iter().map(|(r, (n, inf))| format!("{n} {r} ({inf} in flight)")).collect::<Vec<_>>().join(", ")
    };
    if let Some(why) = &s.idle_reason {
        out += &format!("\nidle:     {why}");
    }
    out
}
