//! Transport between the stages.
//!
//! A stage sees two things: an [`Inbox`] it takes [`Delivery`]s from, and
//! [`Outbox`]es it sends results to. Every delivery is settled exactly once:
//! acknowledged after its outputs were confirmed, dead-lettered with a reason
//! when it can never succeed, or retried later. That contract is what makes
//! the pipeline at-least-once end to end, and it is the same whether the
//! queues are in-process channels ([`inproc`], the embedded mode) or RabbitMQ
//! queues (the distributed mode): only this crate knows the difference.

pub mod inproc;

use async_trait::async_trait;

/// The queues of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Queue {
    /// Link batches for the scheduler.
    Links,
    /// Released URLs for the fetchers (kept short by the scheduler).
    Fetch,
    /// Fetched pages for the parsers.
    Parse,
    /// Clean documents for the sinks.
    Documents,
}

impl Queue {
    pub const ALL: [Queue; 4] = [Queue::Links, Queue::Fetch, Queue::Parse, Queue::Documents];

    /// Short stable name (queue and dead-letter names derive from it).
    pub fn name(self) -> &'static str {
        match self {
            Queue::Links => "links",
            Queue::Fetch => "fetch",
            Queue::Parse => "parse",
            Queue::Documents => "documents",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue {0} is closed")]
    Closed(&'static str),
    #[error("broker: {0}")]
    Broker(String),
    #[error("message could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

/// How a delivery is settled; implemented by each transport.
#[async_trait]
pub trait Settle: Send + Sync {
    async fn ack(self: Box<Self>) -> Result<(), QueueError>;
    /// Give up on the message: it goes to the dead-letter queue with `reason`.
    async fn dead_letter(self: Box<Self>, reason: String) -> Result<(), QueueError>;
    /// Try again later (a temporary failure); dead-lettered after a few tries.
    async fn retry(self: Box<Self>, reason: String) -> Result<(), QueueError>;
}

/// A message taken from a queue, to be settled exactly once.
pub struct Delivery<M> {
    pub msg: M,
    /// The broker delivered it before (a worker died holding it).
    pub redelivered: bool,
    pub settle: Box<dyn Settle>,
}

impl<M> Delivery<M> {
    pub async fn ack(self) -> Result<(), QueueError> {
        self.settle.ack().await
    }
}

/// Where a stage takes its work from.
#[async_trait]
pub trait Inbox<M>: Send {
    /// The next delivery; `None` once the queue is closed or the consumer was
    /// cancelled (shutdown). Malformed messages never surface here: the
    /// transport dead-letters them with the decoding error.
    async fn recv(&mut self) -> Option<Delivery<M>>;
}

/// Where a stage sends its results.
#[async_trait]
pub trait Outbox<M>: Send + Sync {
    /// Send and wait until every message is safely queued (publisher
    /// confirms on a broker): only then may the input be acknowledged.
    async fn send(&self, msgs: Vec<M>) -> Result<(), QueueError>;

    /// Messages waiting in the queue, not yet delivered to a consumer.
    async fn depth(&self) -> Result<u64, QueueError>;
}
