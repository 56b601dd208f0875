//! The loop every stage runs: take a delivery, work on it concurrently with
//! others, settle it by what the work decided.
//!
//! Settling lives here, not in the stages, so a stage cannot forget it: the
//! handler returns a [`Disposition`] and the pool acks, retries or
//! dead-letters. A handler that panics has its delivery dead-lettered with
//! the panic message, and the worker carries on.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crawl_core::{Counter, Counters};
use crawl_queue::{Delivery, Inbox};
use futures_util::FutureExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Deliveries taken and not yet settled, in this process (one stage per
/// process in the distributed mode: what its heartbeat reports).
static IN_FLIGHT: AtomicU64 = AtomicU64::new(0);

pub fn in_flight() -> u64 {
    IN_FLIGHT.load(Ordering::Relaxed)
}

/// What to do with a delivery once its work is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Done; outputs (if any) are confirmed.
    Ack,
    /// Temporary failure: deliver again later.
    Retry(String),
    /// Can never succeed: to the dead-letter queue with this reason.
    DeadLetter(String),
}

/// Run `handler` on every delivery of `inbox`, at most `concurrency` at once,
/// until the inbox closes or `shutdown` fires; then wait for the work in
/// flight (graceful drain) and return.
pub async fn run<M, H, Fut>(
    inbox: &mut dyn Inbox<M>,
    concurrency: usize,
    shutdown: &CancellationToken,
    counters: &Arc<Counters>,
    handler: H,
) where
    M: Send + 'static,
    H: Fn(M, bool) -> Fut,
    Fut: Future<Output = Disposition> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = permits.clone().acquire_owned() => p.expect("semaphore never closed"),
        };
        let delivery: Delivery<M> = tokio::select! {
            _ = shutdown.cancelled() => break,
            d = inbox.recv() => match d { Some(d) => d, None => break },
        };
        let Delivery { msg, redelivered, settle } = delivery;
        metrics::gauge!("crawler_in_flight").set((IN_FLIGHT.fetch_add(1, Ordering::Relaxed) + 1) as f64);
        let work = handler(msg, redelivered);
        let counters = counters.clone();
        tasks.spawn(async move {
            let disposition = AssertUnwindSafe(work).catch_unwind().await.unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Disposition::DeadLetter(format!("worker panicked: {what}"))
            });
            let settled = match disposition {
                Disposition::Ack => settle.ack().await,
                Disposition::Retry(reason) => settle.retry(reason).await,
                Disposition::DeadLetter(reason) => {
                    counters.incr(Counter::MessagesDeadLettered);
                    settle.dead_letter(reason).await
                }
            };
            if let Err(e) = settled {
                // The broker redelivers what we could not settle.
                tracing::warn!(error = %e, "could not settle a delivery");
            }
            metrics::gauge!("crawler_in_flight").set((IN_FLIGHT.fetch_sub(1, Ordering::Relaxed) - 1) as f64);
            drop(permit);
        });
        while let Some(done) = tasks.try_join_next() {
            log_join(done);
        }
    }
    while let Some(done) = tasks.join_next().await {
        log_join(done);
    }
}

fn log_join(r: Result<(), tokio::task::JoinError>) {
    if let Err(e) = r {
        tracing::error!(error = %e, "stage task failed");
    }
}
