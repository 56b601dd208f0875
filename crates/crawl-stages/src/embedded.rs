//! The embedded mode: every stage in one process, over in-process queues
//! and in-memory stores. Same stage code as the distributed mode.
//!
//! Shutdown is a drain, in pipeline order: the scheduler stops releasing and
//! drops the fetch queue; fetchers finish what they hold and drop their
//! outputs; parsers follow; the scheduler keeps ingesting the last links (so
//! nobody blocks on a full queue) until every producer is gone. URLs left in
//! the frontier are reported as pending, never silently dropped.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crawl_core::{Counters, Document, FetchResult, FetchTask, LinkBatch, Snapshot};
use crawl_fetch::{ClientConfig, FetchError, HttpClient, RobotsCache, RobotsConfig};
use crawl_frontier::memory::MemoryFrontier;
use crawl_frontier::{Frontier, FrontierConfig, FrontierStats};
use crawl_queue::inproc::{self, Hub};
use crawl_queue::{Outbox, Queue};
use crawl_store::{JsonlSink, MemoryBodyStore, SinkError};
use tokio_util::sync::CancellationToken;

use crate::fetcher::{Fetcher, FetcherConfig};
use crate::parser::{MemoryContentIndex, Parser, ParserConfig};
use crate::scheduler::{Scheduler, SchedulerConfig};

#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// Seed URLs (absolute).
    pub seeds: Vec<String>,
    /// Output directory: `documents.jsonl`, `dead-letters.jsonl`.
    pub out_dir: PathBuf,
    pub scheduler: SchedulerConfig,
    pub frontier: FrontierConfig,
    pub fetcher: FetcherConfig,
    pub client: ClientConfig,
    pub robots: RobotsConfig,
    pub parser: ParserConfig,
    /// Stop (and drain) after this long.
    pub max_time: Option<Duration>,
}

/// Why the crawl ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Nothing left to fetch.
    Finished,
    /// `--max-time` elapsed.
    TimeLimit,
    /// Interrupted (Ctrl-C / SIGTERM).
    Interrupted,
}

/// A live view for progress displays.
#[derive(Debug, Clone)]
pub struct Progress {
    pub elapsed: Duration,
    pub counters: Snapshot,
    pub frontier: FrontierStats,
    pub fetch_queue: u64,
    pub parse_queue: u64,
}

/// The end-of-crawl account.
#[derive(Debug, Clone)]
pub struct Report {
    pub stop: StopReason,
    pub elapsed: Duration,
    pub counters: Snapshot,
    pub frontier: FrontierStats,
    pub dead_letters: u64,
    pub documents: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("cannot open the output: {0}")]
    Sink(#[from] SinkError),
    #[error("cannot start the HTTP client: {0}")]
    Client(#[from] FetchError),
}

/// Run a whole crawl in this process. `interrupt` drains and stops early;
/// `on_progress` is called about once a second.
pub async fn run(
    config: EmbeddedConfig,
    interrupt: CancellationToken,
    mut on_progress: impl FnMut(&Progress),
) -> Result<Report, EmbeddedError> {
    let started = Instant::now();
    let counters = Arc::new(Counters::default());
    let documents_path = config.out_dir.join("documents.jsonl");
    let sink = JsonlSink::open(&documents_path)?;
    let hub = Hub::new(Some(&config.out_dir.join("dead-letters.jsonl")));

    let frontier = Arc::new(MemoryFrontier::new(config.frontier.clone()));
    let bodies = Arc::new(MemoryBodyStore::default());
    let client = HttpClient::new(config.client.clone())?;
    let robots = RobotsCache::new(config.robots.clone(), None);

    let fetch_capacity = config.scheduler.fetch_queue_target + 16;
    let parse_capacity = config.parser.concurrency * 4;
    let (links_tx, mut links_rx) = inproc::channel::<LinkBatch>(&hub, Queue::Links, 1024);
    let (fetch_tx, mut fetch_rx) = inproc::channel::<FetchTask>(&hub, Queue::Fetch, fetch_capacity);
    let (parse_tx, mut parse_rx) = inproc::channel::<FetchResult>(&hub, Queue::Parse, parse_capacity);
    let (docs_tx, mut docs_rx) = inproc::channel::<Document>(&hub, Queue::Documents, 256);
    let fetch_depth = fetch_tx.gauge();
    let parse_depth = parse_tx.gauge();

    let seeds = LinkBatch::seeds(config.seeds.clone());
    links_tx.send(vec![seeds]).await.expect("the links queue is open");

    let stop = CancellationToken::new();
    let never = CancellationToken::new();
    let scheduler = Arc::new(Scheduler::new(config.scheduler.clone(), frontier.clone(), counters.clone()));
    let fetcher = Arc::new(Fetcher::new(
        config.fetcher.clone(),
        client,
        robots,
        frontier.clone(),
        bodies.clone(),
        counters.clone(),
    ));
    let parser = Arc::new(Parser::new(
        config.parser.clone(),
        bodies,
        Arc::new(MemoryContentIndex::default()),
        counters.clone(),
    ));

    let mut stages = tokio::task::JoinSet::new();
    {
        let (stop, never) = (stop.clone(), never.clone());
        stages.spawn(async move {
            crate::scheduler::run(scheduler, &mut links_rx, Arc::new(fetch_tx), stop, never).await;
        });
    }
    {
        let (parse, links, never) = (Arc::new(parse_tx), Arc::new(links_tx.clone()), never.clone());
        stages.spawn(async move { crate::fetcher::run(fetcher, &mut fetch_rx, parse, links, never).await });
    }
    {
        let (docs, links, never) = (Arc::new(docs_tx), Arc::new(links_tx), never.clone());
        stages.spawn(async move { crate::parser::run(parser, &mut parse_rx, docs, links, never).await });
    }
    {
        let (counters, never) = (counters.clone(), never.clone());
        stages.spawn(async move { crate::sink::run(Box::new(sink), &mut docs_rx, counters, never).await });
    }

    let progress = |frontier_stats: FrontierStats| Progress {
        elapsed: started.elapsed(),
        counters: counters.snapshot(),
        frontier: frontier_stats,
        fetch_queue: fetch_depth.ready(),
        parse_queue: parse_depth.ready(),
    };
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut last_progress = Instant::now();
    let reason = loop {
        tokio::select! {
            _ = interrupt.cancelled() => break StopReason::Interrupted,
            _ = tick.tick() => {}
        }
        if config.max_time.is_some_and(|max| started.elapsed() >= max) {
            break StopReason::TimeLimit;
        }
        let idle = hub.is_quiescent(|| async { frontier.stats().await.is_ok_and(|s| s.is_empty()) }).await;
        if idle {
            break StopReason::Finished;
        }
        if last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            on_progress(&progress(frontier.stats().await.unwrap_or_default()));
        }
    };
    tracing::info!(?reason, "stopping: draining the pipeline");
    stop.cancel();
    while let Some(done) = stages.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "a stage failed");
        }
    }
    Ok(Report {
        stop: reason,
        elapsed: started.elapsed(),
        counters: counters.snapshot(),
        frontier: frontier.stats().await.unwrap_or_default(),
        dead_letters: hub.dead_lettered(),
        documents: documents_path,
    })
}
