//! In-process queues for the embedded mode: bounded tokio channels with the
//! same settle contract as the broker.
//!
//! Bounded capacity gives backpressure (a slow parser slows the fetchers
//! instead of buffering pages without limit). The [`Hub`] counts messages
//! sent but not yet settled across all queues: since every stage sends its
//! outputs before it settles its input, that count is zero only when no work
//! is anywhere in the pipeline, which is how the embedded crawl knows it is
//! finished.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::{Delivery, Inbox, Outbox, Queue, QueueError, Settle};

/// Tries before a retried message is dead-lettered.
const MAX_ATTEMPTS: u32 = 3;

/// Shared bookkeeping of the in-process queues.
pub struct Hub {
    sent: AtomicU64,
    unsettled: AtomicU64,
    dead_lettered: AtomicU64,
    dead_letter_path: Option<PathBuf>,
    dead_letter_log: Mutex<Option<BufWriter<File>>>,
}

impl Hub {
    /// `dead_letter_path`: where dead letters are appended as JSON lines
    /// (created on the first one); `None` logs them only.
    pub fn new(dead_letter_path: Option<&Path>) -> Arc<Hub> {
        Arc::new(Hub {
            sent: AtomicU64::new(0),
            unsettled: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            dead_letter_path: dead_letter_path.map(Path::to_path_buf),
            dead_letter_log: Mutex::new(None),
        })
    }

    /// Messages sent and not yet settled, over all queues.
    pub fn unsettled(&self) -> u64 {
        self.unsettled.load(Ordering::SeqCst)
    }

    /// Messages ever sent, over all queues (a change means activity).
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// No message anywhere and none sent meanwhile, given a frontier that
    /// was found empty by `frontier_empty` (called between the two reads).
    ///
    /// Why this order is exact: work moves between the frontier and the
    /// queues only by sending a message (a release) or while settling one
    /// (an ingest). If nothing was sent across the probe and nothing was
    /// unsettled before the frontier was read, nothing could have entered
    /// the frontier after it was read, and it was empty.
    pub async fn is_quiescent<F, Fut>(&self, frontier_empty: F) -> bool
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let before = self.sent();
        if self.unsettled() != 0 {
            return false;
        }
        frontier_empty().await && self.sent() == before
    }

    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered.load(Ordering::Relaxed)
    }

    fn settled(&self) {
        self.unsettled.fetch_sub(1, Ordering::SeqCst);
    }

    fn record_dead_letter(&self, queue: Queue, reason: &str, message: serde_json::Value) {
        tracing::warn!(queue = queue.name(), %reason, "message dead-lettered");
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
        let line = serde_json::json!({
            "queue": queue.name(),
            "reason": reason,
            "at": unix_now(),
            "message": message,
        });
        let mut log = self.dead_letter_log.lock().unwrap_or_else(|p| p.into_inner());
        if log.is_none()
            && let Some(path) = &self.dead_letter_path
        {
            match File::create(path) {
                Ok(f) => *log = Some(BufWriter::new(f)),
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "cannot create the dead-letter log")
                }
            }
        }
        if let Some(w) = log.as_mut() {
            let ok = serde_json::to_writer(&mut *w, &line).is_ok()
                && w.write_all(b"\n").is_ok()
                && w.flush().is_ok();
            if !ok {
                tracing::error!("could not write the dead-letter log; keeping it in the log only: {line}");
            }
        }
    }
}

/// Seconds since the epoch; dead letters are rare, precision is not needed.
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

struct Envelope<M> {
    msg: M,
    attempt: u32,
}

struct Shared {
    hub: Arc<Hub>,
    queue: Queue,
    ready: AtomicU64,
}

/// Sending side of an in-process queue. Cheap to clone.
pub struct InProcOutbox<M> {
    tx: mpsc::Sender<Envelope<M>>,
    shared: Arc<Shared>,
}

impl<M> Clone for InProcOutbox<M> {
    fn clone(&self) -> Self {
        InProcOutbox { tx: self.tx.clone(), shared: self.shared.clone() }
    }
}

impl<M> InProcOutbox<M> {
    /// A depth reader that does not keep the queue open.
    pub fn gauge(&self) -> Gauge {
        Gauge(self.shared.clone())
    }
}

/// Reads a queue's depth (messages waiting, not yet received).
#[derive(Clone)]
pub struct Gauge(Arc<Shared>);

impl Gauge {
    pub fn ready(&self) -> u64 {
        self.0.ready.load(Ordering::SeqCst)
    }
}

/// Receiving side of an in-process queue: closed when every outbox is gone.
pub struct InProcInbox<M> {
    rx: mpsc::Receiver<Envelope<M>>,
    retry_tx: mpsc::WeakSender<Envelope<M>>,
    shared: Arc<Shared>,
}

/// A bounded in-process queue.
pub fn channel<M>(hub: &Arc<Hub>, queue: Queue, capacity: usize) -> (InProcOutbox<M>, InProcInbox<M>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let shared = Arc::new(Shared { hub: hub.clone(), queue, ready: AtomicU64::new(0) });
    let retry_tx = tx.downgrade();
    (InProcOutbox { tx, shared: shared.clone() }, InProcInbox { rx, retry_tx, shared })
}

async fn enqueue<M>(
    tx: &mpsc::Sender<Envelope<M>>,
    shared: &Shared,
    env: Envelope<M>,
) -> Result<(), QueueError> {
    shared.hub.unsettled.fetch_add(1, Ordering::SeqCst);
    shared.hub.sent.fetch_add(1, Ordering::SeqCst);
    shared.ready.fetch_add(1, Ordering::SeqCst);
    if tx.send(env).await.is_err() {
        shared.ready.fetch_sub(1, Ordering::SeqCst);
        shared.hub.settled();
        return Err(QueueError::Closed(shared.queue.name()));
    }
    Ok(())
}

#[async_trait]
impl<M: Send + 'static> Outbox<M> for InProcOutbox<M> {
    async fn send(&self, msgs: Vec<M>) -> Result<(), QueueError> {
        for msg in msgs {
            enqueue(&self.tx, &self.shared, Envelope { msg, attempt: 0 }).await?;
        }
        Ok(())
    }

    async fn depth(&self) -> Result<u64, QueueError> {
        Ok(self.shared.ready.load(Ordering::SeqCst))
    }
}

#[async_trait]
impl<M: Clone + Serialize + Send + Sync + 'static> Inbox<M> for InProcInbox<M> {
    async fn recv(&mut self) -> Option<Delivery<M>> {
        let env = self.rx.recv().await?;
        self.shared.ready.fetch_sub(1, Ordering::SeqCst);
        let settle = InProcSettle {
            copy: env.msg.clone(),
            attempt: env.attempt,
            retry_tx: self.retry_tx.clone(),
            shared: self.shared.clone(),
        };
        Some(Delivery { msg: env.msg, redelivered: env.attempt > 0, settle: Box::new(settle) })
    }
}

struct InProcSettle<M> {
    copy: M,
    attempt: u32,
    retry_tx: mpsc::WeakSender<Envelope<M>>,
    shared: Arc<Shared>,
}

impl<M: Serialize> InProcSettle<M> {
    fn dead(self, reason: &str) {
        let json = serde_json::to_value(&self.copy).unwrap_or(serde_json::Value::Null);
        self.shared.hub.record_dead_letter(self.shared.queue, reason, json);
        self.shared.hub.settled();
    }
}

#[async_trait]
impl<M: Clone + Serialize + Send + Sync + 'static> Settle for InProcSettle<M> {
    async fn ack(self: Box<Self>) -> Result<(), QueueError> {
        self.shared.hub.settled();
        Ok(())
    }

    async fn dead_letter(self: Box<Self>, reason: String) -> Result<(), QueueError> {
        self.dead(&reason);
        Ok(())
    }

    async fn retry(self: Box<Self>, reason: String) -> Result<(), QueueError> {
        let attempt = self.attempt + 1;
        let tx = match self.retry_tx.upgrade() {
            Some(tx) if attempt < MAX_ATTEMPTS => tx,
            _ => {
                self.dead(&format!("gave up after {attempt} attempts: {reason}"));
                return Ok(());
            }
        };
        tracing::info!(queue = self.shared.queue.name(), attempt, %reason, "retrying message later");
        // The retried copy counts as unsettled while it waits, so the
        // pipeline is not considered idle meanwhile.
        let me = *self;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            let env = Envelope { msg: me.copy.clone(), attempt };
            match enqueue(&tx, &me.shared, env).await {
                Ok(()) => me.shared.hub.settled(),
                Err(_) => me.dead(&format!("queue closed before retry {attempt}: {reason}")),
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unsettled_counts_until_settled_and_closes_with_senders() {
        let hub = Hub::new(None);
        let (tx, mut rx) = channel::<u32>(&hub, Queue::Links, 4);
        tx.send(vec![1, 2]).await.unwrap();
        assert_eq!(tx.depth().await.unwrap(), 2);
        assert_eq!(hub.unsettled(), 2);
        let d = rx.recv().await.unwrap();
        assert_eq!(tx.depth().await.unwrap(), 1);
        d.ack().await.unwrap();
        let d = rx.recv().await.unwrap();
        d.settle.dead_letter("bad".into()).await.unwrap();
        assert_eq!(hub.unsettled(), 0);
        assert_eq!(hub.dead_lettered(), 1);
        drop(tx);
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn retries_then_dead_letters() {
        let dir = std::env::temp_dir().join(format!("inproc-dl-{}", std::process::id()));
        let hub = Hub::new(Some(&dir));
        let (tx, mut rx) = channel::<String>(&hub, Queue::Parse, 4);
        tx.send(vec!["m".into()]).await.unwrap();
        for attempt in 0..MAX_ATTEMPTS {
            let d = rx.recv().await.unwrap();
            assert_eq!(d.redelivered, attempt > 0);
            d.settle.retry("store down".into()).await.unwrap();
        }
        assert_eq!(hub.unsettled(), 0);
        assert_eq!(hub.dead_lettered(), 1);
        let log = std::fs::read_to_string(&dir).unwrap();
        assert!(log.contains("gave up after 3 attempts: store down"), "{log}");
        std::fs::remove_file(dir).unwrap();
    }
}
