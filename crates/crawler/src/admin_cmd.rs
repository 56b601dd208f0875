//! Operator commands: `crawler purge` deletes a crawl's state (its Redis
//! keys, queues and exchanges), to start over or to clean up after a test;
//! `crawler dead-letters` lists, replays or drops the messages the stages
//! gave up on.

use clap::Args;
use crawl_queue::Queue;
use lapin::BasicProperties;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, ExchangeDeleteOptions,
    QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};

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

/// Inspect, replay or drop dead letters: messages a stage gave up on.
#[derive(Args, Debug)]
pub struct DeadLetterArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(subcommand)]
    pub action: DeadLetterAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum DeadLetterAction {
    /// Show dead letters (they stay where they are).
    List {
        #[command(flatten)]
        pick: Pick,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send dead letters back to their stage, as new messages.
    Replay {
        #[command(flatten)]
        pick: Pick,
    },
    /// Delete dead letters.
    Purge {
        /// Only this stage's dead letters.
        #[arg(long, value_parser = ["links", "fetch", "parse", "documents"])]
        stage: Option<String>,
        /// Really delete them.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args, Debug)]
pub struct Pick {
    /// Only this stage's dead letters.
    #[arg(long, value_parser = ["links", "fetch", "parse", "documents"])]
    stage: Option<String>,
    /// At most this many messages per stage.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

fn stages(stage: Option<&str>) -> Vec<Queue> {
    Queue::ALL.into_iter().filter(|q| stage.is_none_or(|s| s == q.name())).collect()
}

/// Why a message was dead-lettered: our reason header, or the broker's
/// x-death reason (delivery limit reached, rejected…).
fn reason_of(headers: &FieldTable) -> String {
    let text = |v: &AMQPValue| match v {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    };
    let inner = headers.inner();
    if let Some(r) = inner.get(&ShortString::from("x-crawl-reason")).and_then(text) {
        return r;
    }
    if let Some(AMQPValue::FieldArray(deaths)) = inner.get(&ShortString::from("x-death"))
        && let Some(AMQPValue::FieldTable(first)) = deaths.as_slice().first()
    {
        let get = |k: &str| first.inner().get(&ShortString::from(k)).and_then(text).unwrap_or_default();
        return format!("{} (from {})", get("reason"), get("queue"));
    }
    "unknown".into()
}

pub async fn dead_letters(args: DeadLetterArgs) -> anyhow::Result<()> {
    let broker = args.cluster.broker("dead-letters", tokio_util::sync::CancellationToken::new()).await?;
    let session = broker.session().await?;
    let t = broker.topology();
    let channel = session.connection.create_channel().await?;
    match args.action {
        DeadLetterAction::List { pick, json } => {
            let mut held = Vec::new();
            for q in stages(pick.stage.as_deref()) {
                for _ in 0..pick.limit {
                    let Some(m) =
                        channel.basic_get(t.dead_queue(q).into(), BasicGetOptions::default()).await?
                    else {
                        break;
                    };
                    let headers = m.delivery.properties.headers().clone().unwrap_or_default();
                    let reason = reason_of(&headers);
                    let body = String::from_utf8_lossy(&m.delivery.data);
                    if json {
                        let line =
                            serde_json::json!({ "stage": q.name(), "reason": reason, "message": body });
                        println!("{line}");
                    } else {
                        let preview: String = body.chars().take(160).collect();
                        println!("{:<9} {reason}\n          {preview}", q.name());
                    }
                    held.push(m.delivery.acker);
                }
            }
            // Put them back: listing must not consume.
            for acker in held {
                acker.nack(BasicNackOptions { requeue: true, ..BasicNackOptions::default() }).await?;
            }
        }
        DeadLetterAction::Replay { pick } => {
            let mut replayed = 0;
            for q in stages(pick.stage.as_deref()) {
                for _ in 0..pick.limit {
                    let Some(m) =
                        channel.basic_get(t.dead_queue(q).into(), BasicGetOptions::default()).await?
                    else {
                        break;
                    };
                    let props = BasicProperties::default()
                        .with_delivery_mode(2)
                        .with_content_type("application/json".into());
                    let confirm = session
                        .publish
                        .basic_publish(
                            t.exchange(q).into(),
                            q.name().into(),
                            BasicPublishOptions::default(),
                            &m.delivery.data,
                            props,
                        )
                        .await?
                        .await?;
                    anyhow::ensure!(confirm.is_ack(), "the broker refused the replayed message");
                    m.delivery.acker.ack(BasicAckOptions::default()).await?;
                    replayed += 1;
                }
            }
            println!("replayed {replayed} dead letters");
        }
        DeadLetterAction::Purge { stage, yes } => {
            anyhow::ensure!(yes, "this deletes dead letters for good: add --yes");
            let mut purged = 0;
            for q in stages(stage.as_deref()) {
                purged += channel.queue_purge(t.dead_queue(q).into(), QueuePurgeOptions::default()).await?;
            }
            println!("purged {purged} dead letters");
        }
    }
    broker.close().await;
    Ok(())
}
