//! Riding out a short outage of a store.
//!
//! A Redis restart takes seconds; giving up on the first error would turn
//! every in-flight task into a redelivery and a duplicate fetch. So calls
//! whose failure is expensive are retried with backoff for a bounded time
//! before the stage gives up on the delivery.

use std::future::Future;
use std::time::Duration;

/// Total time spent retrying before the error is returned.
const PATIENCE: Duration = Duration::from_secs(30);

pub async fn with_retries<T, E, F, Fut>(what: &str, mut op: F) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut waited = Duration::ZERO;
    let mut wait = Duration::from_millis(100);
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if waited < PATIENCE => {
                tracing::warn!(error = %e, retry_in = ?wait, "{what} failed; retrying");
                tokio::time::sleep(wait).await;
                waited += wait;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}
