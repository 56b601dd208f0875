//! Typed inboxes and outboxes over RabbitMQ.
//!
//! - Sending publishes every message of the batch, then waits for all the
//!   broker's confirms (pipelined: one round of fsyncs per batch, not per
//!   message). A failure or a nack republishes the whole batch on a fresh
//!   session: duplicates are possible, losses are not, and every consumer
//!   downstream is idempotent.
//! - Receiving decodes JSON; a message that does not decode is dead-lettered
//!   at once with the decoding error as its reason (it can never succeed),
//!   and the consumer carries on.
//! - Settling: ack; retry = republish to the stage's retry queue (it comes
//!   back after a delay) then ack; dead-letter = republish to `ns.dlx` with
//!   the reason in headers, then ack. A retried message is dead-lettered
//!   after [`MAX_RETRIES`].

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use crawl_queue::{Delivery, Inbox, Outbox, Queue, QueueError, Settle};
use futures_util::StreamExt;
use lapin::Acker;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Consumer};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

use crate::broker::{Broker, BrokerError};
use crate::topology::text;

/// Retries (republications) before a message is dead-lettered.
pub const MAX_RETRIES: i64 = 5;
/// How long a batch is republished after failures before `send` gives up.
const SEND_PATIENCE: Duration = Duration::from_secs(300);
/// A queue depth read is reused this long (the scheduler asks often).
const DEPTH_CACHE: Duration = Duration::from_millis(100);

const REASON: &str = "x-crawl-reason";
const FROM_QUEUE: &str = "x-crawl-queue";
const ATTEMPT: &str = "x-crawl-attempt";

fn broker_err(e: impl std::fmt::Display) -> QueueError {
    QueueError::Broker(e.to_string())
}

/// Publish raw payloads on the session's confirm channel and wait for every
/// confirm. Err on any failure or nack.
async fn publish_confirmed(
    broker: &Broker,
    exchange: &str,
    routing_key: &str,
    payloads: &[(Vec<u8>, FieldTable)],
) -> Result<(), (u64, QueueError)> {
    let session = broker.session().await.map_err(|e| (0, broker_err(e)))?;
    let mut confirms = Vec::with_capacity(payloads.len());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    for (body, headers) in payloads {
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(format!("{:016x}", xxhash_rust::xxh3::xxh3_64(body)).into())
            .with_timestamp(now)
            .with_headers(headers.clone());
        let confirm = session
            .publish
            .basic_publish(exchange.into(), routing_key.into(), BasicPublishOptions::default(), body, props)
            .await
            .map_err(|e| (session.generation, broker_err(e)))?;
        confirms.push(confirm);
    }
    for c in confirms {
        let confirmation = c.await.map_err(|e| (session.generation, broker_err(e)))?;
        if confirmation.is_nack() {
            // The broker refused (a full queue with reject-publish): the
            // session is fine, try again later.
            return Err((0, QueueError::Broker(format!("{exchange}: publish refused (nack)"))));
        }
    }
    Ok(())
}

/// Publish with retries until confirmed, the patience runs out, or shutdown.
async fn publish_reliably(
    broker: &Broker,
    exchange: &str,
    routing_key: &str,
    payloads: &[(Vec<u8>, FieldTable)],
) -> Result<(), QueueError> {
    let start = Instant::now();
    let mut wait = Duration::from_millis(100);
    loop {
        match publish_confirmed(broker, exchange, routing_key, payloads).await {
            Ok(()) => return Ok(()),
            Err((generation, e)) => {
                if generation != 0 {
                    broker.invalidate(generation).await;
                }
                if start.elapsed() > SEND_PATIENCE || broker.shutdown().is_cancelled() {
                    return Err(e);
                }
                tracing::warn!(%exchange, error = %e, retry_in = ?wait, "publish failed; republishing");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Sending side of a stage queue.
pub struct AmqpOutbox<M> {
    broker: Arc<Broker>,
    queue: Queue,
    exchange: String,
    depth: Mutex<Option<(Instant, u64)>>,
    sent_since_depth: AtomicU64,
    _m: PhantomData<fn(M)>,
}

impl<M> AmqpOutbox<M> {
    pub fn new(broker: Arc<Broker>, queue: Queue) -> AmqpOutbox<M> {
        let exchange = broker.topology().exchange(queue);
        AmqpOutbox {
            broker,
            queue,
            exchange,
            depth: Mutex::new(None),
            sent_since_depth: AtomicU64::new(0),
            _m: PhantomData,
        }
    }
}

#[async_trait]
impl<M: Serialize + Send + Sync + 'static> Outbox<M> for AmqpOutbox<M> {
    async fn send(&self, msgs: Vec<M>) -> Result<(), QueueError> {
        if msgs.is_empty() {
            return Ok(());
        }
        let payloads: Vec<(Vec<u8>, FieldTable)> = msgs
            .iter()
            .map(|m| Ok((serde_json::to_vec(m)?, FieldTable::default())))
            .collect::<Result<_, QueueError>>()?;
        publish_reliably(&self.broker, &self.exchange, self.queue.name(), &payloads).await?;
        self.sent_since_depth.fetch_add(payloads.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Ready messages; a reading is reused briefly, plus what this outbox
    /// sent since (an over-estimate, which only makes the scheduler wait).
    async fn depth(&self) -> Result<u64, QueueError> {
        let mut cached = self.depth.lock().await;
        if let Some((at, n)) = *cached
            && at.elapsed() < DEPTH_CACHE
        {
            return Ok(n + self.sent_since_depth.load(Ordering::Relaxed));
        }
        let queue = self.broker.topology().queue(self.queue);
        let (ready, _) = self.broker.queue_counts(&queue).await.map_err(broker_err)?;
        self.sent_since_depth.store(0, Ordering::Relaxed);
        *cached = Some((Instant::now(), ready as u64));
        Ok(ready as u64)
    }
}

/// Receiving side of a stage queue.
pub struct AmqpInbox<M> {
    broker: Arc<Broker>,
    queue: Queue,
    prefetch: u16,
    consumer_tag: String,
    consumer: Option<(u64, Consumer)>,
    _m: PhantomData<fn() -> M>,
}

impl<M> AmqpInbox<M> {
    /// `prefetch`: deliveries held at once; set it to the stage's concurrency.
    pub fn new(broker: Arc<Broker>, queue: Queue, prefetch: u16, consumer_tag: &str) -> AmqpInbox<M> {
        AmqpInbox {
            broker,
            queue,
            prefetch,
            consumer_tag: consumer_tag.to_string(),
            consumer: None,
            _m: PhantomData,
        }
    }

    async fn consume(&self) -> Result<(u64, Consumer), BrokerError> {
        let session = self.broker.session().await?;
        let lost = |e| {
            tracing::warn!(error = %e, "cannot start consuming");
            BrokerError::Query { queue: self.broker.topology().queue(self.queue), source: e }
        };
        let channel = session.connection.create_channel().await.map_err(lost)?;
        channel.basic_qos(self.prefetch, BasicQosOptions::default()).await.map_err(lost)?;
        let consumer = channel
            .basic_consume(
                self.broker.topology().queue(self.queue).into(),
                self.consumer_tag.clone().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(lost)?;
        Ok((session.generation, consumer))
    }
}

#[async_trait]
impl<M: DeserializeOwned + Send + 'static> Inbox<M> for AmqpInbox<M> {
    async fn recv(&mut self) -> Option<Delivery<M>> {
        let mut wait = Duration::from_millis(200);
        loop {
            if self.broker.shutdown().is_cancelled() {
                return None;
            }
            if self.consumer.is_none() {
                match self.consume().await {
                    Ok(c) => self.consumer = Some(c),
                    Err(BrokerError::Shutdown) => return None,
                    Err(_) => {
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(5));
                        continue;
                    }
                }
            }
            let (generation, consumer) = self.consumer.as_mut().expect("set above");
            let generation = *generation;
            let next = tokio::select! {
                _ = self.broker.shutdown().cancelled() => return None,
                next = consumer.next() => next,
            };
            let delivery = match next {
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    tracing::warn!(queue = self.queue.name(), error = %e, "consumer failed; resubscribing");
                    self.consumer = None;
                    self.broker.invalidate(generation).await;
                    continue;
                }
                None => {
                    tracing::warn!(
                        queue = self.queue.name(),
                        "consumer cancelled by the broker; resubscribing"
                    );
                    self.consumer = None;
                    continue;
                }
            };
            wait = Duration::from_millis(200);
            let settle = AmqpSettle {
                broker: self.broker.clone(),
                queue: self.queue,
                acker: delivery.acker,
                body: delivery.data,
                headers: delivery.properties.headers().clone().unwrap_or_default(),
            };
            match serde_json::from_slice::<M>(&settle.body) {
                Ok(msg) => {
                    return Some(Delivery {
                        msg,
                        redelivered: delivery.redelivered,
                        settle: Box::new(settle),
                    });
                }
                Err(e) => {
                    tracing::warn!(queue = self.queue.name(), error = %e, "malformed message");
                    if let Err(e) = Box::new(settle).dead_letter(format!("malformed message: {e}")).await {
                        tracing::warn!(error = %e, "could not dead-letter a malformed message");
                    }
                }
            }
        }
    }
}

struct AmqpSettle {
    broker: Arc<Broker>,
    queue: Queue,
    acker: Acker,
    body: Vec<u8>,
    headers: FieldTable,
}

impl AmqpSettle {
    fn attempt(&self) -> i64 {
        match self.headers.inner().get(&ShortString::from(ATTEMPT)) {
            Some(AMQPValue::LongLongInt(n)) => *n,
            _ => 0,
        }
    }

    /// Republish to `exchange` with extra headers, then ack the original.
    /// If the republish fails, the original is put back instead.
    async fn forward(self, exchange: &str, extra: &[(&str, AMQPValue)]) -> Result<(), QueueError> {
        let mut headers = self.headers.clone();
        for (k, v) in extra {
            headers.insert(ShortString::from(*k), v.clone());
        }
        let payload = [(self.body.clone(), headers)];
        match publish_reliably(&self.broker, exchange, self.queue.name(), &payload).await {
            Ok(()) => self.acker.ack(BasicAckOptions::default()).await.map(|_| ()).map_err(broker_err),
            Err(e) => {
                let requeue = BasicNackOptions { requeue: true, ..BasicNackOptions::default() };
                let _ = self.acker.nack(requeue).await;
                Err(e)
            }
        }
    }
}

#[async_trait]
impl Settle for AmqpSettle {
    async fn ack(self: Box<Self>) -> Result<(), QueueError> {
        self.acker.ack(BasicAckOptions::default()).await.map(|_| ()).map_err(broker_err)
    }

    async fn dead_letter(self: Box<Self>, reason: String) -> Result<(), QueueError> {
        tracing::warn!(queue = self.queue.name(), %reason, "dead-lettering a message");
        let exchange = self.broker.topology().dead_exchange();
        let queue = self.broker.topology().queue(self.queue);
        self.forward(&exchange, &[(REASON, text(&reason)), (FROM_QUEUE, text(&queue))]).await
    }

    async fn retry(self: Box<Self>, reason: String) -> Result<(), QueueError> {
        let attempt = self.attempt() + 1;
        if attempt > MAX_RETRIES {
            return self.dead_letter(format!("gave up after {MAX_RETRIES} retries: {reason}")).await;
        }
        tracing::info!(queue = self.queue.name(), attempt, %reason, "retrying a message later");
        let exchange = self.broker.topology().retry_exchange();
        self.forward(&exchange, &[(ATTEMPT, AMQPValue::LongLongInt(attempt)), (REASON, text(&reason))]).await
    }
}
