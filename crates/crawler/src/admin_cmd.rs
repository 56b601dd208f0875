//! `crawler purge`: delete a crawl's state (its Redis keys, queues and
//! exchanges), to start over or to clean up after a test.

use clap::Args;
use crawl_queue::Queue;
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};

use crate::cluster::ClusterArgs;

/// Delete every Redis key, queue and exchange of the namespace.
#[derive(Args, Debug)]
pub struct PurgeArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Really do it (the frontier, the dedup sets and queued messages are lost).
    #[arg(long)]
    pub yes: bool,
}

pub async fn purge(args: PurgeArgs) -> anyhow::Result<()> {
    if !args.yes {
        anyhow::bail!("this deletes crawl {:?} for good: add --yes", args.cluster.namespace);
    }
    let store = args.cluster.redis().await?;
    let keys = store.purge().await?;
    let broker = args.cluster.broker("purge", tokio_util::sync::CancellationToken::new()).await?;
    let session = broker.session().await?;
    let t = broker.topology();
    let mut messages = 0;
    for q in t.all_queues() {
        messages += session.publish.queue_delete(q.into(), QueueDeleteOptions::default()).await?;
    }
    let mut exchanges: Vec<String> = Queue::ALL.iter().map(|&q| t.exchange(q)).collect();
    exchanges.extend([t.retry_exchange(), t.dead_exchange()]);
    for x in exchanges {
        session.publish.exchange_delete(x.into(), ExchangeDeleteOptions::default()).await?;
    }
    broker.close().await;
    println!("purged crawl {:?}: {keys} Redis keys, {messages} queued messages", args.cluster.namespace);
    Ok(())
}
