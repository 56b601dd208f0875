//! Prometheus metrics: every worker serves `/metrics` (and `/health`) when
//! given `--metrics-addr`.
//!
//! The fate ledger is the source of truth for counts, so it is exported as
//! is, once a second, under the names [`Counter::prometheus`] gives them
//! (the crawl's accounting and its metrics can never disagree). Stages add
//! latency histograms directly; the scheduler adds frontier gauges.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use crawl_core::{Counter, Counters};
use crawl_frontier::Frontier;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tokio_util::sync::CancellationToken;

/// Where to serve metrics.
#[derive(Args, Debug, Clone)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics on /metrics (and liveness on /health) at this
    /// address, e.g. 0.0.0.0:9090. Off when not set.
    #[arg(long, env = "CRAWL_METRICS_ADDR", value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

/// Seconds buckets for request, parse and politeness histograms.
const SECONDS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Start the exporter (if asked) and the ledger export.
pub fn install(
    args: &MetricsArgs,
    role: &str,
    counters: Arc<Counters>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let Some(addr) = args.metrics_addr else { return Ok(()) };
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .add_global_label("role", role)
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
        .context("metric buckets")?
        .install()
        .with_context(|| format!("cannot serve metrics on {addr}"))?;
    metrics::gauge!("crawler_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    tracing::info!(%addr, "serving Prometheus metrics on /metrics");
    tokio::spawn(async move {
        loop {
            export_ledger(&counters);
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        export_ledger(&counters);
    });
    Ok(())
}

fn export_ledger(counters: &Counters) {
    for &c in Counter::ALL {
        let value = counters.get(c);
        match c.prometheus() {
            (name, Some((key, label))) => metrics::counter!(name, key => label).absolute(value),
            (name, None) => metrics::counter!(name).absolute(value),
        }
    }
}

/// Frontier gauges (and Redis memory), refreshed every few seconds by the
/// scheduler: the scaling signal for fetchers is hosts due but not yet
/// released, not the fetch queue (which the scheduler keeps short).
pub fn spawn_frontier_gauges(
    frontier: Arc<dyn Frontier>,
    store: Option<crawl_redis::Store>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            if let Ok(s) = frontier.stats().await {
                for (state, n) in [
                    ("due", s.hosts_due),
                    ("leased", s.hosts_leased),
                    ("waiting", s.hosts_waiting),
                    ("backoff", s.hosts_backoff),
                ] {
                    metrics::gauge!("crawler_frontier_hosts", "state" => state).set(n as f64);
                }
                metrics::gauge!("crawler_frontier_urls_queued").set(s.urls_queued as f64);
                metrics::gauge!("crawler_frontier_urls_seen").set(s.urls_seen as f64);
                metrics::gauge!("crawler_frontier_oldest_due_seconds").set(s.oldest_due_ms as f64 / 1000.0);
            }
            if let Some(store) = &store
                && let Ok(bytes) = store.used_memory().await
            {
                metrics::gauge!("crawler_redis_used_memory_bytes").set(bytes as f64);
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    });
}
