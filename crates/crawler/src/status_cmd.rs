//! `crawler status`: the state of a distributed crawl at a glance, and the
//! test of "is it finished?" that `crawler seed --wait` uses.
//!
//! Sources: RabbitMQ's management API when reachable (ready, unacknowledged,
//! rates, alarms), else AMQP passive declares (ready messages only); the
//! frontier and the crawl's counters in Redis; worker heartbeats. The last
//! line answers "why is nothing being fetched?", the question operators of
//! other crawlers cannot answer.

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
use crate::management::Management;

/// Show queue depths, the frontier, rates, dead letters and the live workers.
#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// RabbitMQ management API (default: the AMQP host, port 15672, same credentials).
    #[arg(long, env = "CRAWL_MANAGEMENT_URL", value_name = "URL")]
    pub management_url: Option<String>,
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
    pub ready: u64,
    /// Delivered, not yet acknowledged (management API only).
    pub unacked: Option<u64>,
    pub consumers: u64,
    /// Messages per second (management API only).
    pub publish_rate: Option<f64>,
    pub ack_rate: Option<f64>,
}

/// Rates over a window, from the counter history in Redis.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rates {
    /// The window actually covered (shorter early in a crawl).
    pub window_s: f64,
    pub pages_per_s: f64,
    pub bytes_per_s: f64,
    pub documents_per_s: f64,
    /// Failures per second by reason (non-zero only).
    pub failures_per_s: BTreeMap<&'static str, f64>,
}

/// One observation of the whole crawl.
#[derive(Debug, Clone, Serialize)]
pub struct CrawlState {
    pub namespace: String,
    /// Where the queue numbers come from.
    pub queue_source: &'static str,
    pub queues: BTreeMap<String, QueueState>,
    pub retry_ready: u64,
    pub dead_letters: u64,
    pub broker_alarms: Vec<String>,
    pub frontier: FrontierStats,
    pub top_hosts: Vec<(String, u64)>,
    pub counters: BTreeMap<&'static str, u64>,
    pub pending_urls: u64,
    pub rates: BTreeMap<&'static str, Rates>,
    pub workers: Vec<WorkerInfo>,
    pub in_flight: u64,
    /// Nothing queued, nothing delivered, nothing in flight anywhere.
    pub idle: bool,
    /// Why nothing is being fetched right now, when that is the case.
    pub idle_reason: Option<String>,
    #[serde(skip)]
    pub snapshot: Snapshot,
}

pub struct Observer {
    broker: std::sync::Arc<Broker>,
    management: Option<Management>,
    frontier: RedisFrontier,
    registry: Registry,
    namespace: String,
}

impl Observer {
    pub async fn connect(cluster: &ClusterArgs, management_url: Option<&str>) -> anyhow::Result<Observer> {
        let store: Store = cluster.redis().await?;
        let broker = cluster.broker("status", tokio_util::sync::CancellationToken::new()).await?;
        let management = Management::new(&cluster.amqp_url, management_url).ok();
        Ok(Observer {
            broker,
            management,
            frontier: RedisFrontier::new(store.clone(), FrontierConfig::default(), 1),
            registry: Registry::new(store),
            namespace: cluster.namespace.clone(),
        })
    }

    pub fn broker(&self) -> &std::sync::Arc<Broker> {
        &self.broker
    }

    /// Queue states by AMQP name, from the management API if it answers.
    async fn queues(&self) -> anyhow::Result<(&'static str, BTreeMap<String, QueueState>, Vec<String>)> {
        if let Some(m) = &self.management
            && let Ok(api) = m.queues(&format!("{}.", self.namespace)).await
        {
            let alarms = m.alarms().await.unwrap_or_default();
            let states = api
                .into_iter()
                .map(|q| {
                    let stats = q.message_stats.as_ref();
                    let state = QueueState {
                        name: q.name.clone(),
                        ready: q.messages_ready,
                        unacked: Some(q.messages_unacknowledged),
                        consumers: q.consumers,
                        publish_rate: stats.and_then(|s| s.publish_details.as_ref()).map(|r| r.rate),
                        ack_rate: stats.and_then(|s| s.ack_details.as_ref()).map(|r| r.rate),
                    };
                    (q.name, state)
                })
                .collect();
            return Ok(("management API", states, alarms));
        }
        let mut states = BTreeMap::new();
        for name in self.broker.topology().all_queues() {
            let (ready, consumers) = self.broker.queue_counts(&name).await?;
            let state = QueueState {
                name: name.clone(),
                ready: ready as u64,
                unacked: None,
                consumers: consumers as u64,
                publish_rate: None,
                ack_rate: None,
            };
            states.insert(name, state);
        }
        Ok((
            "AMQP passive declare (no unacked counts, rates or alarms: management API unreachable)",
            states,
            vec![],
        ))
    }

    pub async fn observe(&self) -> anyhow::Result<CrawlState> {
        let t = self.broker.topology();
        let (queue_source, all, broker_alarms) = self.queues().await?;
        let get = |name: &str| all.get(name).cloned();
        let mut queues = BTreeMap::new();
        let mut retry_ready = 0;
        let mut dead_letters = 0;
        let mut unacked = 0;
        for q in Queue::ALL {
            if let Some(state) = get(&t.queue(q)) {
                unacked += state.unacked.unwrap_or(0);
                queues.insert(q.name().to_string(), state);
            }
            retry_ready += get(&t.retry_queue(q)).map_or(0, |s| s.ready + s.unacked.unwrap_or(0));
            dead_letters += get(&t.dead_queue(q)).map_or(0, |s| s.ready + s.unacked.unwrap_or(0));
        }
        let frontier = self.frontier.stats().await?;
        let top_hosts = self.frontier.top_hosts(10, 5000).await?;
        let snapshot = self.registry.counters().await?;
        let history = self.registry.history().await?;
        let workers = self.registry.workers().await?;
        let in_flight = workers.iter().map(|w| w.in_flight).sum();
        let queued: u64 = queues.values().map(|q| q.ready).sum::<u64>() + retry_ready;
        let idle = frontier.is_empty() && queued == 0 && unacked == 0 && in_flight == 0;
        let idle_reason = idle_reason(&frontier, &queues, &workers, &broker_alarms, idle);
        let now_ms = history_now();
        let rates = [("1m", 60_000), ("5m", 300_000)]
            .into_iter()
            .map(|(name, window)| (name, rates(&snapshot, now_ms, &history, window)))
            .collect();
        Ok(CrawlState {
            namespace: self.namespace.clone(),
            queue_source,
            queues,
            retry_ready,
            dead_letters,
            broker_alarms,
            frontier,
            top_hosts,
            counters: snapshot.to_map(),
            pending_urls: snapshot.pending_urls(),
            rates,
            workers,
            in_flight,
            idle,
            idle_reason,
            snapshot,
        })
    }
}

fn history_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Rates between the history entry closest to `window` ago and now.
fn rates(now: &Snapshot, now_ms: u64, history: &[(u64, Snapshot)], window: u64) -> Rates {
    let target = now_ms.saturating_sub(window);
    let Some((at, then)) = history.iter().min_by_key(|(at, _)| at.abs_diff(target)) else {
        return Rates::default();
    };
    let secs = (now_ms.saturating_sub(*at)) as f64 / 1000.0;
    if secs < 1.0 {
        return Rates::default();
    }
    let d = now.delta(then);
    let per_s = |n: u64| n as f64 / secs;
    Rates {
        window_s: secs,
        pages_per_s: per_s(d.sum(RESPONSES)),
        bytes_per_s: per_s(d.get(Counter::BytesFetched)),
        documents_per_s: per_s(d.get(Counter::DocumentsWritten)),
        failures_per_s: URL_FATES
            .iter()
            .filter(|c| !RESPONSES.contains(c) && d.get(**c) > 0)
            .map(|&c| (c.name(), per_s(d.get(c))))
            .collect(),
    }
}

/// The one line that answers "why is nothing being fetched?".
fn idle_reason(
    f: &FrontierStats,
    queues: &BTreeMap<String, QueueState>,
    workers: &[WorkerInfo],
    alarms: &[String],
    idle: bool,
) -> Option<String> {
    if !alarms.is_empty() {
        return Some(format!("the broker is blocking publishers: {}", alarms.join(", ")));
    }
    if idle {
        return Some("nothing queued and nothing in flight: the crawl is finished (or not seeded)".into());
    }
    let count = |role: &str| workers.iter().filter(|w| w.role == role).count();
    let fetch_ready = queues.get("fetch").map_or(0, |q| q.ready);
    let fetching = f.hosts_leased > 0 || fetch_ready > 0;
    if count("fetcher") == 0 && (fetching || f.urls_queued > 0) {
        return Some(format!("no fetcher is alive ({} URLs waiting)", f.urls_queued + fetch_ready));
    }
    if count("scheduler") == 0 && f.urls_queued > 0 {
        return Some(format!("no scheduler is alive ({} URLs queued in the frontier)", f.urls_queued));
    }
    if !fetching && f.urls_queued > 0 && f.hosts_due == 0 {
        let why = if f.hosts_backoff > 0 && f.hosts_waiting == 0 {
            "every host with queued URLs is backing off after errors (429/503/timeouts)".to_string()
        } else if f.hosts_backoff > 0 {
            format!(
                "every host with queued URLs is resting: {} on their politeness delay, {} backing off",
                f.hosts_waiting, f.hosts_backoff
            )
        } else {
            "every host with queued URLs is waiting on its politeness delay".to_string()
        };
        return Some(why);
    }
    None
}

/// Wait until the crawl is finished: idle, with no counter moving, for
/// `SETTLE` (longer than a worker's counter flush and heartbeat, and than
/// the management API's refresh, so a message being passed along cannot
/// hide between two looks).
pub async fn wait_until_finished(
    obs: &Observer,
    mut on_tick: impl FnMut(&CrawlState),
) -> anyhow::Result<CrawlState> {
    // The first idle observation of the current quiet spell.
    let mut quiet_since: Option<(std::time::Instant, Snapshot)> = None;
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
                quiet_since = None;
                tokio::time::sleep(POLL).await;
                continue;
            }
            Err(e) => return Err(e.context("the crawl could not be observed for too long")),
        };
        on_tick(&state);
        match &quiet_since {
            Some((since, snap)) if state.idle && *snap == state.snapshot => {
                if since.elapsed() >= SETTLE {
                    return Ok(state);
                }
            }
            _ if state.idle => quiet_since = Some((std::time::Instant::now(), state.snapshot.clone())),
            _ => quiet_since = None,
        }
        tokio::time::sleep(POLL).await;
    }
}

const POLL: Duration = Duration::from_millis(1000);
const SETTLE: Duration = Duration::from_secs(6);
/// How long `wait_until_finished` rides out an unreachable broker or Redis.
const OUTAGE_PATIENCE: Duration = Duration::from_secs(300);

pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let obs = Observer::connect(&args.cluster, args.management_url.as_deref()).await?;
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

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "?".into(), |v| v.to_string())
}

pub fn render(s: &CrawlState) -> String {
    let c = &s.snapshot;
    let f = &s.frontier;
    let mut out = format!("crawl {:?} (queues from the {})\n", s.namespace, s.queue_source);
    for (stage, q) in &s.queues {
        out += &format!(
            "  {stage:<10} {:>7} ready {:>5} unacked {:>3} consumers   in {:>7}/s  acked {:>7}/s\n",
            q.ready,
            opt(q.unacked),
            q.consumers,
            opt(q.publish_rate.map(|r| format!("{r:.1}"))),
            opt(q.ack_rate.map(|r| format!("{r:.1}"))),
        );
    }
    out += &format!("  waiting to be retried: {}\n", s.retry_ready);
    if s.dead_letters > 0 {
        out += &format!("ALARM: {} dead letters (crawler dead-letters list)\n", s.dead_letters);
    }
    for a in &s.broker_alarms {
        out += &format!("ALARM: {a}\n");
    }
    out += &format!(
        "frontier: {} hosts ({} due, {} in flight, {} waiting, {} backing off), {} URLs queued, {} seen, most overdue host waited {:.1} s\n",
        f.hosts,
        f.hosts_due,
        f.hosts_leased,
        f.hosts_waiting,
        f.hosts_backoff,
        f.urls_queued,
        f.urls_seen,
        f.oldest_due_ms as f64 / 1000.0
    );
    if !s.top_hosts.is_empty() {
        let top: Vec<String> = s.top_hosts.iter().take(5).map(|(h, n)| format!("{h} {n}")).collect();
        out += &format!("  largest backlogs: {}\n", top.join(", "));
    }
    out += &format!(
        "totals: {} responses ({} 2xx), {} failed or denied, {} documents, {} URLs pending\n",
        c.sum(RESPONSES),
        c.get(Counter::Fetched2xx),
        c.sum(URL_FATES) - c.sum(RESPONSES),
        c.get(Counter::DocumentsWritten),
        s.pending_urls
    );
    for (name, r) in &s.rates {
        if r.window_s > 0.0 {
            let failures: Vec<String> =
                r.failures_per_s.iter().map(|(k, v)| format!("{k} {v:.2}/s")).collect();
            out += &format!(
                "last {name} ({:.0} s): {:.1} pages/s, {:.2} MB/s, {:.1} documents/s{}\n",
                r.window_s,
                r.pages_per_s,
                r.bytes_per_s / 1e6,
                r.documents_per_s,
                if failures.is_empty() {
                    String::new()
                } else {
                    format!(", failures: {}", failures.join(", "))
                }
            );
        }
    }
    let mut roles: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for w in &s.workers {
        let e = roles.entry(w.role.as_str()).or_default();
        e.0 += 1;
        e.1 += w.in_flight;
    }
    out += "workers: ";
    out += &if roles.is_empty() {
        "none alive".to_string()
    } else {
        roles.iter().map(|(r, (n, inf))| format!("{n} {r} ({inf} in flight)")).collect::<Vec<_>>().join(", ")
    };
    if let Some(why) = &s.idle_reason {
        out += &format!("\nidle: {why}");
    }
    out
}
