//! The RabbitMQ topology, declared in one place, idempotently, on every
//! (re)connect.
//!
//! Per stage queue (`links`, `fetch`, `parse`, `documents`), under the crawl
//! namespace `ns`:
//!
//! | exchange | queue | |
//! | --- | --- | --- |
//! | `ns.<stage>` (direct; `ns.documents` is fanout) | `ns.<stage>.q` | the work queue |
//! | `ns.retry` (direct) | `ns.<stage>.retry` | waits [`RETRY_DELAY`], then back to `ns.<stage>` |
//! | `ns.dlx` (direct) | `ns.dead.<stage>` | dead letters, with their reason |
//!
//! Work queues are quorum queues: they survive a broker restart, count
//! deliveries (`x-delivery-limit`: a message that kills its consumer every
//! time is dead-lettered instead of looping forever) and dead-letter
//! at-least-once (which requires `x-overflow: reject-publish`). The
//! documents exchange is a fanout so other systems can bind their own
//! queues and ingest every document.

use std::time::Duration;

use crawl_queue::Queue;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

/// Deliveries of one message before the broker dead-letters it.
pub const DELIVERY_LIMIT: i64 = 5;
/// How long a retried message waits before it is delivered again.
pub const RETRY_DELAY: Duration = Duration::from_secs(10);

/// Names of the crawl's exchanges and queues.
#[derive(Debug, Clone)]
pub struct Topology {
    ns: String,
}

impl Topology {
    pub fn new(namespace: &str) -> Topology {
        Topology { ns: namespace.to_string() }
    }

    pub fn exchange(&self, q: Queue) -> String {
        format!("{}.{}", self.ns, q.name())
    }

    pub fn queue(&self, q: Queue) -> String {
        format!("{}.{}.q", self.ns, q.name())
    }

    pub fn retry_queue(&self, q: Queue) -> String {
        format!("{}.{}.retry", self.ns, q.name())
    }

    pub fn dead_queue(&self, q: Queue) -> String {
        format!("{}.dead.{}", self.ns, q.name())
    }

    pub fn retry_exchange(&self) -> String {
        format!("{}.retry", self.ns)
    }

    pub fn dead_exchange(&self) -> String {
        format!("{}.dlx", self.ns)
    }

    /// Every queue of the crawl: work, retry and dead-letter queues.
    pub fn all_queues(&self) -> Vec<String> {
        Queue::ALL.iter().flat_map(|&q| [self.queue(q), self.retry_queue(q), self.dead_queue(q)]).collect()
    }

    /// Declare everything. Declarations are idempotent; a queue that exists
    /// with other arguments makes the broker refuse, which is reported.
    pub async fn declare(&self, ch: &Channel) -> lapin::Result<()> {
        let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
        let qopts = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
        let none = FieldTable::default();
        ch.exchange_declare(self.dead_exchange().into(), ExchangeKind::Direct, durable, none.clone()).await?;
        ch.exchange_declare(self.retry_exchange().into(), ExchangeKind::Direct, durable, none.clone())
            .await?;
        for q in Queue::ALL {
            let kind = if q == Queue::Documents { ExchangeKind::Fanout } else { ExchangeKind::Direct };
            let (exchange, queue, rk) = (self.exchange(q), self.queue(q), q.name());
            ch.exchange_declare(exchange.clone().into(), kind, durable, none.clone()).await?;

            let mut work = quorum();
            put(&mut work, "x-delivery-limit", AMQPValue::LongLongInt(DELIVERY_LIMIT));
            put(&mut work, "x-dead-letter-exchange", text(&self.dead_exchange()));
            put(&mut work, "x-dead-letter-routing-key", text(rk));
            put(&mut work, "x-dead-letter-strategy", text("at-least-once"));
            put(&mut work, "x-overflow", text("reject-publish"));
            ch.queue_declare(queue.clone().into(), qopts, work).await?;
            ch.queue_bind(
                queue.into(),
                exchange.clone().into(),
                rk.into(),
                QueueBindOptions::default(),
                none.clone(),
            )
            .await?;

            let mut retry = quorum();
            put(&mut retry, "x-message-ttl", AMQPValue::LongLongInt(RETRY_DELAY.as_millis() as i64));
            put(&mut retry, "x-dead-letter-exchange", text(&exchange));
            put(&mut retry, "x-dead-letter-routing-key", text(rk));
            let retry_q = self.retry_queue(q);
            ch.queue_declare(retry_q.clone().into(), qopts, retry).await?;
            ch.queue_bind(
                retry_q.into(),
                self.retry_exchange().into(),
                rk.into(),
                QueueBindOptions::default(),
                none.clone(),
            )
            .await?;

            let dead = self.dead_queue(q);
            ch.queue_declare(dead.clone().into(), qopts, quorum()).await?;
            ch.queue_bind(
                dead.into(),
                self.dead_exchange().into(),
                rk.into(),
                QueueBindOptions::default(),
                none.clone(),
            )
            .await?;
        }
        Ok(())
    }
}

fn quorum() -> FieldTable {
    let mut t = FieldTable::default();
    put(&mut t, "x-queue-type", text("quorum"));
    t
}

fn put(t: &mut FieldTable, k: &str, v: AMQPValue) {
    t.insert(ShortString::from(k), v);
}

pub(crate) fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}
