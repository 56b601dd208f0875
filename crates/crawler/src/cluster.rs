//! What every distributed role shares: where RabbitMQ and Redis are, the
//! crawl namespace, and the worker scaffold (connect, heartbeat, flush
//! counters, drain on SIGTERM).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use crawl_amqp::{Broker, BrokerConfig};
use crawl_core::Counters;
use crawl_redis::Store;
use crawl_redis::registry::{Registry, hostname};
use tokio_util::sync::CancellationToken;

use crate::telemetry::MetricsArgs;

/// How to reach the crawl's broker and store.
#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    /// RabbitMQ URL (add `?heartbeat=15` to notice a dead broker sooner).
    #[arg(long, env = "CRAWL_AMQP_URL", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    pub amqp_url: String,
    /// Redis URL.
    #[arg(long, env = "CRAWL_REDIS_URL", default_value = "redis://127.0.0.1:6379/")]
    pub redis_url: String,
    /// Prefix of every exchange, queue and key of this crawl: two crawls with
    /// different namespaces share a broker and a Redis without interfering.
    #[arg(long, env = "CRAWL_NAMESPACE", default_value = "crawl")]
    pub namespace: String,
}

/// Where fetchers put page bodies and parsers read them.
#[derive(Args, Debug, Clone)]
pub struct BodyArgs {
    /// Body store directory, shared by fetchers and parsers (a volume).
    #[arg(long, env = "CRAWL_BODIES", default_value = "bodies", value_name = "DIR")]
    pub bodies: PathBuf,
}

/// How long a worker waits for RabbitMQ and Redis at start-up before it
/// gives up (compose starts everything at once).
const STARTUP_PATIENCE: Duration = Duration::from_secs(60);

impl ClusterArgs {
    pub async fn redis(&self) -> anyhow::Result<Store> {
        let deadline = tokio::time::Instant::now() + STARTUP_PATIENCE;
        loop {
            match Store::connect(&self.redis_url, &self.namespace).await {
                Ok(s) => return Ok(s),
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::warn!(error = %e, "Redis not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e).context("cannot connect to Redis"),
            }
        }
    }

    /// A broker handle, connected once (so a wrong URL fails at start-up,
    /// not at the first message).
    pub async fn broker(&self, role: &str, shutdown: CancellationToken) -> anyhow::Result<Arc<Broker>> {
        let name = format!("crawler-{role}-{}-{}", hostname(), std::process::id());
        let broker = Broker::new(
            BrokerConfig {
                url: self.amqp_url.clone(),
                namespace: self.namespace.clone(),
                connection_name: name,
            },
            shutdown,
        );
        let deadline = tokio::time::Instant::now() + STARTUP_PATIENCE;
        loop {
            match broker.connect_once().await {
                Ok(_) => return Ok(broker),
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::warn!(error = %e, "RabbitMQ not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e).context("cannot connect to RabbitMQ"),
            }
        }
    }
}

/// What a role's stage gets to work with.
pub struct Worker {
    pub broker: Arc<Broker>,
    pub store: Store,
    pub counters: Arc<Counters>,
    /// Fires on SIGTERM/SIGINT: stop taking work, finish what is in flight.
    pub stop: CancellationToken,
}

/// Run one role: connect, heartbeat and flush counters while `stage` runs,
/// then (after SIGTERM and the drain) flush once more and close.
pub async fn run_worker<F, Fut>(
    role: &str,
    cluster: &ClusterArgs,
    metrics: &MetricsArgs,
    stage: F,
) -> anyhow::Result<()>
where
    F: FnOnce(Worker) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let stop = CancellationToken::new();
    crate::signals::cancel_on_signal(stop.clone());
    // The broker outlives the stage's drain: in-flight work still publishes
    // and acknowledges after the stop signal.
    let broker_stop = CancellationToken::new();
    let store = cluster.redis().await?;
    let broker = cluster.broker(role, broker_stop.clone()).await?;
    tracing::info!(role, namespace = %cluster.namespace, "worker started");

    let counters = Arc::new(Counters::default());
    let registry = Registry::new(store.clone());
    let background = CancellationToken::new();
    crate::telemetry::install(metrics, role, counters.clone(), background.clone())?;
    let flusher = registry.spawn_flusher(counters.clone(), background.clone());
    let heartbeat = registry.spawn_heartbeat(role, crawl_stages::pool::in_flight, background.clone());

    let worker = Worker { broker: broker.clone(), store, counters, stop: stop.clone() };
    let result = stage(worker).await;

    tracing::info!(role, "drained; shutting down");
    background.cancel();
    // The last counter flush and the heartbeat's removal get a few seconds;
    // a worker must not hang on its way out if Redis is gone.
    let patience = Duration::from_secs(5);
    let _ = tokio::time::timeout(patience, flusher).await;
    let _ = tokio::time::timeout(patience, heartbeat).await;
    broker_stop.cancel();
    broker.close().await;
    result
}
