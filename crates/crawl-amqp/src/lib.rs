//! RabbitMQ as the transport of the distributed mode.
//!
//! Implements the `crawl-queue` traits over AMQP 0-9-1 with lapin:
//! [`topology`] declares the crawl's exchanges and quorum queues,
//! [`broker`] keeps a connection alive (rebuilt from scratch after any
//! failure), and [`queue`] provides typed inboxes and outboxes with
//! publisher confirms, manual acknowledgements, retries and dead-lettering.
//! The stages never see any of it.

pub mod broker;
pub mod queue;
pub mod topology;

pub use broker::{Broker, BrokerConfig, BrokerError};
pub use queue::{AmqpInbox, AmqpOutbox};
pub use topology::Topology;
