//! `crawler seed`: start (or extend) a distributed crawl, and optionally wait
//! for it to finish.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use crawl_amqp::AmqpOutbox;
use crawl_core::LinkBatch;
use crawl_queue::{Outbox, Queue};
use crawl_redis::registry::Registry;
use crawl_stages::scheduler::ScopeStore;

use crate::cluster::ClusterArgs;
use crate::options::read_seeds;
use crate::status_cmd::{Observer, wait_until_finished};

/// Publish seed URLs to the schedulers; their hosts join the crawl's scope.
#[derive(Args, Debug)]
pub struct SeedArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Seed URLs.
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,
    /// File of seed URLs, one per line (`#` starts a comment).
    #[arg(long, env = "CRAWL_SEEDS", value_name = "FILE")]
    pub seeds: Option<PathBuf>,
    /// Also crawl this host (repeatable).
    #[arg(long = "allow-host", value_delimiter = ',', value_name = "HOST")]
    pub allow_hosts: Vec<String>,
    /// RabbitMQ management API (default: the AMQP host, port 15672).
    #[arg(long, env = "CRAWL_MANAGEMENT_URL", value_name = "URL")]
    pub management_url: Option<String>,
    /// Wait until the crawl is finished (frontier empty, queues empty,
    /// nothing in flight), then print the summary.
    #[arg(long)]
    pub wait: bool,
}

pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    let seeds = read_seeds(&args.urls, args.seeds.as_ref())?;
    let obs = Observer::connect(&args.cluster, args.management_url.as_deref()).await?;
    let store = args.cluster.redis().await?;
    Registry::new(store).add_hosts(&args.allow_hosts).await?;
    let batch = LinkBatch::seeds(seeds.iter().map(|u| u.to_string()).collect());
    AmqpOutbox::<LinkBatch>::new(obs.broker().clone(), Queue::Links).send(vec![batch]).await?;
    println!("seeded {} URLs into crawl {:?}", seeds.len(), args.cluster.namespace);
    if !args.wait {
        return Ok(());
    }
    let started = Instant::now();
    let mut last_report = Instant::now();
    let state = wait_until_finished(&obs, |s| {
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            tracing::info!(
                queued = s.frontier.urls_queued,
                in_flight = s.in_flight,
                documents = s.snapshot.get(crawl_core::Counter::DocumentsWritten),
                "waiting for the crawl to finish"
            );
        }
    })
    .await?;
    let headline = format!(
        "crawl {:?} finished ({:.1} s since seeding)",
        args.cluster.namespace,
        started.elapsed().as_secs_f64()
    );
    println!("{}", crate::crawl_cmd::ledger_text(&headline, &state.snapshot, state.dead_letters));
    Ok(())
}
