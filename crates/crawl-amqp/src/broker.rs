//! The connection to RabbitMQ, rebuilt from scratch whenever it fails.
//!
//! We do not rely on the client's automatic recovery: it is young in lapin 4
//! and has been reported to loop forever after a broker restart. Instead a
//! session (connection, confirm channel, query channel, declared topology)
//! is one value; whoever meets an error marks that generation broken, and
//! the next user builds a new session with backoff. Consumers and
//! publishers hold nothing that outlives a session, so a broker restart
//! costs a reconnect and the redelivery of what was not acknowledged.

use std::sync::Arc;
use std::time::Duration;

use lapin::options::{ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::topology::Topology;

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `amqp://user:pass@host:5672/vhost?heartbeat=15`
    pub url: String,
    /// Prefix of every exchange and queue of the crawl.
    pub namespace: String,
    /// Shown in the management UI (`crawler-fetcher-<host>-<pid>`).
    pub connection_name: String,
}

/// A live connection with its channels.
#[derive(Clone)]
pub struct Session {
    pub generation: u64,
    pub connection: Arc<Connection>,
    /// Publisher-confirm channel shared by every publisher of the process.
    pub publish: Channel,
}

pub struct Broker {
    config: BrokerConfig,
    topology: Topology,
    session: Mutex<Option<Session>>,
    /// Channel for passive declares (queue depths), apart from the others:
    /// a failed declare closes only this channel.
    query: Mutex<Option<(u64, Channel)>>,
    generation: std::sync::atomic::AtomicU64,
    shutdown: CancellationToken,
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("RabbitMQ at {url}: {source}")]
    Connect { url: String, source: lapin::Error },
    #[error("queue {queue}: {source}")]
    Query { queue: String, source: lapin::Error },
    #[error("shutting down")]
    Shutdown,
}

impl Broker {
    pub fn new(config: BrokerConfig, shutdown: CancellationToken) -> Arc<Broker> {
        let topology = Topology::new(&config.namespace);
        Arc::new(Broker {
            config,
            topology,
            session: Mutex::new(None),
            query: Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(0),
            shutdown,
        })
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Connect once, without retrying: for start-up checks that should fail
    /// fast with a clear message.
    pub async fn connect_once(&self) -> Result<Session, BrokerError> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref().filter(|s| s.connection.status().connected()) {
            return Ok(s.clone());
        }
        let s = self.open().await.map_err(|source| BrokerError::Connect {
            url: crawl_core::redact_url(&self.config.url),
            source,
        })?;
        *guard = Some(s.clone());
        Ok(s)
    }

    /// The current session, reconnecting (with backoff, until shutdown) if
    /// there is none or it broke.
    pub async fn session(&self) -> Result<Session, BrokerError> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref().filter(|s| s.connection.status().connected()) {
            return Ok(s.clone());
        }
        *guard = None;
        let mut wait = Duration::from_millis(200);
        loop {
            if self.shutdown.is_cancelled() {
                return Err(BrokerError::Shutdown);
            }
            match self.open().await {
                Ok(s) => {
                    tracing::info!(generation = s.generation, "connected to RabbitMQ");
                    *guard = Some(s.clone());
                    return Ok(s);
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?wait, "cannot connect to RabbitMQ");
                    tokio::select! {
                        _ = self.shutdown.cancelled() => return Err(BrokerError::Shutdown),
                        _ = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Forget a session that failed (if it is still the current one).
    pub async fn invalidate(&self, generation: u64) {
        let mut guard = self.session.lock().await;
        if guard.as_ref().is_some_and(|s| s.generation == generation) {
            tracing::warn!(generation, "RabbitMQ session lost; will reconnect");
            if let Some(s) = guard.take() {
                close_quietly(&s.connection, "reconnecting").await;
            }
        }
    }

    /// Connect, declare the topology, open the confirm channel; bounded in
    /// time, so a broker that accepts TCP but never answers cannot wedge us.
    async fn open(&self) -> lapin::Result<Session> {
        match tokio::time::timeout(Duration::from_secs(15), self.open_unbounded()).await {
            Ok(result) => result,
            Err(_) => Err(lapin::Error::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "RabbitMQ did not complete the connection within 15 s",
            ))),
        }
    }

    async fn open_unbounded(&self) -> lapin::Result<Session> {
        let props =
            ConnectionProperties::default().with_connection_name(self.config.connection_name.clone().into());
        let connection = Connection::connect(&self.config.url, props).await?;
        let publish = connection.create_channel().await?;
        self.topology.declare(&publish).await?;
        publish.confirm_select(ConfirmSelectOptions::default()).await?;
        let generation = self.generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        Ok(Session { generation, connection: Arc::new(connection), publish })
    }

    /// Ready messages and consumers of a queue (AMQP passive declare: it does
    /// not see unacknowledged messages).
    pub async fn queue_counts(&self, queue: &str) -> Result<(u32, u32), BrokerError> {
        let session = self.session().await?;
        let mut guard = self.query.lock().await;
        let channel = match guard.as_ref() {
            Some((generation, ch)) if *generation == session.generation && ch.status().connected() => {
                ch.clone()
            }
            _ => {
                let ch = session.connection.create_channel().await.map_err(|e| self.lost(&session, e))?;
                *guard = Some((session.generation, ch.clone()));
                ch
            }
        };
        let opts = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        match channel.queue_declare(queue.into(), opts, FieldTable::default()).await {
            Ok(q) => Ok((q.message_count(), q.consumer_count())),
            Err(e) => {
                *guard = None;
                Err(BrokerError::Query { queue: queue.to_string(), source: e })
            }
        }
    }

    fn lost(&self, session: &Session, source: lapin::Error) -> BrokerError {
        tracing::warn!(generation = session.generation, error = %source, "RabbitMQ channel failed");
        BrokerError::Connect { url: crawl_core::redact_url(&self.config.url), source }
    }

    /// Close the connection (unacknowledged deliveries go back to their queues).
    pub async fn close(&self) {
        if let Some(s) = self.session.lock().await.take() {
            close_quietly(&s.connection, "shutting down").await;
        }
    }
}

/// Close a connection without waiting forever: a connection that is
/// already half-dead may never answer the close handshake, and a worker must
/// not hang on its way out (the broker requeues what it held either way).
async fn close_quietly(connection: &Connection, why: &str) {
    let close = connection.close(200, why.into());
    if tokio::time::timeout(Duration::from_secs(3), close).await.is_err() {
        tracing::warn!("RabbitMQ did not answer the close handshake; leaving anyway");
    }
}
