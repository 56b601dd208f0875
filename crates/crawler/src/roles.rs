//! The distributed roles: one stage per process, over RabbitMQ and Redis.
//! The stage code is the embedded mode's; only the transport and stores
//! differ.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use crawl_amqp::{AmqpInbox, AmqpOutbox};
use crawl_core::{Document, FetchResult, FetchTask, LinkBatch};
use crawl_fetch::{HttpClient, RobotsCache};
use crawl_frontier::FrontierConfig;
use crawl_queue::Queue;
use crawl_redis::RedisFrontier;
use crawl_redis::content::RedisContentIndex;
use crawl_redis::registry::{Registry, hostname};
use crawl_redis::robots::RedisRobotsStore;
use crawl_stages::fetcher::Fetcher;
use crawl_stages::parser::Parser;
use crawl_stages::scheduler::{Scheduler, SchedulerConfig};
use crawl_store::{FsBodyStore, JsonlSink};

use crate::cluster::{BodyArgs, ClusterArgs, run_worker};
use crate::options::{CanonArgs, FetchArgs, ParseArgs, ScopeArgs};
use crate::telemetry::MetricsArgs;

/// Dedup sets in Redis: about the expected number of URLs / 256.
#[derive(Args, Debug, Clone)]
pub struct FrontierArgs {
    /// Number of URL dedup buckets in Redis (a power of two; ~ expected URLs / 256
    /// keeps each bucket a compact integer set).
    #[arg(long, env = "CRAWL_DEDUP_BUCKETS", default_value_t = 32768, value_name = "N")]
    pub dedup_buckets: u64,
}

/// Admit links into the frontier and release due URLs to the fetchers.
#[derive(Args, Debug)]
pub struct SchedulerArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub frontier: FrontierArgs,
    /// Fetch at most this many URLs in the whole crawl.
    #[arg(long, env = "CRAWL_MAX_PAGES", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pages: Option<u64>,
    /// Fetch tasks kept waiting in the fetch queue (about 2 × the total
    /// concurrency of all fetchers).
    #[arg(long, env = "CRAWL_FETCH_QUEUE_TARGET", default_value_t = 256, value_name = "N")]
    pub fetch_queue_target: usize,
}

/// Fetch released URLs; bodies go to the body store, pages to the parsers.
#[derive(Args, Debug)]
pub struct FetcherArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    #[command(flatten)]
    pub body: BodyArgs,
    #[command(flatten)]
    pub fetch: FetchArgs,
    #[command(flatten)]
    pub frontier: FrontierArgs,
}

/// Turn fetched pages into documents and links.
#[derive(Args, Debug)]
pub struct ParserArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    #[command(flatten)]
    pub body: BodyArgs,
    #[command(flatten)]
    pub parse: ParseArgs,
    #[command(flatten)]
    pub canon: CanonArgs,
}

/// Write documents to DIR/documents.jsonl (each page once, across restarts).
#[derive(Args, Debug)]
pub struct SinkArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// Output directory.
    #[arg(long, env = "CRAWL_OUT", value_name = "DIR")]
    pub out: PathBuf,
}

fn consumer_tag(role: &str) -> String {
    format!("{role}-{}-{}", hostname(), std::process::id())
}

pub async fn scheduler(args: SchedulerArgs) -> anyhow::Result<()> {
    run_worker("scheduler", &args.cluster.clone(), &args.metrics.clone(), |w| async move {
        let frontier = RedisFrontier::new(
            w.store.clone(),
            FrontierConfig {
                max_urls: args.max_pages,
                max_urls_per_host: args.scope.max_pages_per_host,
                ..FrontierConfig::default()
            },
            args.frontier.dedup_buckets,
        );
        let config = SchedulerConfig {
            scope: args.scope.scope(&[]),
            canon: args.scope.canon(),
            max_depth: args.scope.max_depth,
            max_redirects: args.scope.max_redirects,
            fetch_queue_target: args.fetch_queue_target,
            ..SchedulerConfig::default()
        };
        let frontier: Arc<dyn crawl_frontier::Frontier> = Arc::new(frontier);
        crate::telemetry::spawn_frontier_gauges(frontier.clone(), Some(w.store.clone()), w.stop.clone());
        let scheduler = Scheduler::new(config, frontier, w.counters.clone())
            .with_scope_store(Arc::new(Registry::new(w.store.clone())));
        let mut links: AmqpInbox<LinkBatch> =
            AmqpInbox::new(w.broker.clone(), Queue::Links, 32, &consumer_tag("scheduler"));
        let fetch: AmqpOutbox<FetchTask> = AmqpOutbox::new(w.broker.clone(), Queue::Fetch);
        crawl_stages::scheduler::run(
            Arc::new(scheduler),
            &mut links,
            Arc::new(fetch),
            w.stop.clone(),
            w.stop.clone(),
        )
        .await;
        Ok(())
    })
    .await
}

pub async fn fetcher(args: FetcherArgs) -> anyhow::Result<()> {
    run_worker("fetcher", &args.cluster.clone(), &args.metrics.clone(), |w| async move {
        let config = args.fetch.fetcher();
        let frontier = RedisFrontier::new(
            w.store.clone(),
            FrontierConfig { fetch_lease: args.fetch.fetch_lease(), ..FrontierConfig::default() },
            args.frontier.dedup_buckets,
        );
        let robots =
            RobotsCache::new(args.fetch.robots(), Some(Arc::new(RedisRobotsStore::new(w.store.clone()))));
        let bodies = FsBodyStore::new(&args.body.bodies, args.fetch.max_body)?;
        let client = HttpClient::new(args.fetch.client())?;
        let prefetch = u16::try_from(config.concurrency).unwrap_or(u16::MAX);
        let fetcher =
            Fetcher::new(config, client, robots, Arc::new(frontier), Arc::new(bodies), w.counters.clone());
        let mut tasks: AmqpInbox<FetchTask> =
            AmqpInbox::new(w.broker.clone(), Queue::Fetch, prefetch, &consumer_tag("fetcher"));
        let parse: AmqpOutbox<FetchResult> = AmqpOutbox::new(w.broker.clone(), Queue::Parse);
        let links: AmqpOutbox<LinkBatch> = AmqpOutbox::new(w.broker.clone(), Queue::Links);
        crawl_stages::fetcher::run(
            Arc::new(fetcher),
            &mut tasks,
            Arc::new(parse),
            Arc::new(links),
            w.stop.clone(),
        )
        .await;
        Ok(())
    })
    .await
}

pub async fn parser(args: ParserArgs) -> anyhow::Result<()> {
    run_worker("parser", &args.cluster.clone(), &args.metrics.clone(), |w| async move {
        let config = args.parse.parser(args.canon.options());
        // Bodies were capped by the fetchers; any size is accepted back.
        let bodies = FsBodyStore::new(&args.body.bodies, 1 << 30)?;
        let prefetch = u16::try_from(config.concurrency * 2).unwrap_or(u16::MAX);
        let parser = Parser::new(
            config,
            Arc::new(bodies),
            Arc::new(RedisContentIndex::new(w.store.clone())),
            w.counters.clone(),
        );
        let mut results: AmqpInbox<FetchResult> =
            AmqpInbox::new(w.broker.clone(), Queue::Parse, prefetch, &consumer_tag("parser"));
        let documents: AmqpOutbox<Document> = AmqpOutbox::new(w.broker.clone(), Queue::Documents);
        let links: AmqpOutbox<LinkBatch> = AmqpOutbox::new(w.broker.clone(), Queue::Links);
        crawl_stages::parser::run(
            Arc::new(parser),
            &mut results,
            Arc::new(documents),
            Arc::new(links),
            w.stop.clone(),
        )
        .await;
        Ok(())
    })
    .await
}

pub async fn sink(args: SinkArgs) -> anyhow::Result<()> {
    run_worker("sink", &args.cluster.clone(), &args.metrics.clone(), |w| async move {
        let sink = JsonlSink::open(&args.out.join("documents.jsonl"))?;
        let mut docs: AmqpInbox<Document> =
            AmqpInbox::new(w.broker.clone(), Queue::Documents, 64, &consumer_tag("sink"));
        crawl_stages::sink::run(Box::new(sink), &mut docs, w.counters.clone(), w.stop.clone()).await;
        Ok(())
    })
    .await
}
