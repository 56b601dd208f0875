//! The stages of the pipeline, as plain code over small traits.
//!
//! - [`scheduler`]: link batches → frontier → fetch tasks;
//! - [`fetcher`]: fetch tasks → requests → pages (and redirects);
//! - [`parser`]: pages → documents and link batches;
//! - [`sink`]: documents → storage.
//!
//! Each stage takes an `Inbox` and `Outbox`es from `crawl-queue` and its
//! stores as trait objects, so the embedded mode ([`embedded`], in-process
//! channels and in-memory stores) and the distributed mode (RabbitMQ and
//! Redis, one stage per process) run exactly this code. The shared loop and
//! its settle-by-disposition contract are in [`pool`].

pub mod embedded;
pub mod fetcher;
pub mod parser;
pub mod pool;
mod retry;
pub mod scheduler;
pub mod sink;

use crawl_frontier::FrontierError;
use crawl_store::StoreError;

/// Why a stage could not finish a delivery.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Frontier(#[from] FrontierError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A message that can never be processed.
    #[error("poison message: {0}")]
    Poison(String),
    #[error("{0}")]
    Unavailable(String),
}
