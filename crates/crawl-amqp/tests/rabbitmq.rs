//! The AMQP transport against a real RabbitMQ (127.0.0.1:5672, or
//! `CRAWL_TEST_AMQP_URL`), in a namespace of its own, deleted afterwards.

use std::sync::Arc;
use std::time::Duration;

use crawl_amqp::{AmqpInbox, AmqpOutbox, Broker, BrokerConfig};
use crawl_queue::{Inbox, Outbox, Queue};
use lapin::options::{BasicGetOptions, BasicPublishOptions, ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, ShortString};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Msg {
    n: u32,
}

fn amqp_url() -> String {
    std::env::var("CRAWL_TEST_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

async fn broker(test: &str) -> Option<Arc<Broker>> {
    let ns = format!("test-{test}-{}", std::process::id());
    let b = Broker::new(
        BrokerConfig { url: amqp_url(), namespace: ns, connection_name: format!("test-{test}") },
        CancellationToken::new(),
    );
    match b.connect_once().await {
        Ok(_) => Some(b),
        Err(e) => {
            if std::env::var("CRAWL_TEST_REQUIRE").is_ok_and(|v| v == "1") {
                panic!("RabbitMQ is required (CRAWL_TEST_REQUIRE=1): {e}");
            }
            eprintln!("SKIPPED: RabbitMQ is not reachable: {e}");
            None
        }
    }
}

async fn delete_everything(b: &Broker) {
    let s = b.session().await.unwrap();
    for q in b.topology().all_queues() {
        s.publish.queue_delete(q.into(), QueueDeleteOptions::default()).await.unwrap();
    }
    let t = b.topology();
    let mut exchanges: Vec<String> = Queue::ALL.iter().map(|&q| t.exchange(q)).collect();
    exchanges.extend([t.retry_exchange(), t.dead_exchange()]);
    for x in exchanges {
        s.publish.exchange_delete(x.into(), ExchangeDeleteOptions::default()).await.unwrap();
    }
    b.close().await;
}

#[tokio::test]
async fn round_trip_and_poison_messages() {
    let Some(b) = broker("roundtrip").await else { return };
    let out: AmqpOutbox<Msg> = AmqpOutbox::new(b.clone(), Queue::Parse);
    let mut inbox: AmqpInbox<Msg> = AmqpInbox::new(b.clone(), Queue::Parse, 8, "test");
    out.send((0..3).map(|n| Msg { n }).collect()).await.unwrap();
    // A malformed message, as any client could publish it.
    let s = b.session().await.unwrap();
    let exchange = b.topology().exchange(Queue::Parse);
    s.publish
        .basic_publish(
            exchange.into(),
            "parse".into(),
            BasicPublishOptions::default(),
            b"{not json",
            Default::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    out.send(vec![Msg { n: 3 }]).await.unwrap();

    let mut got = Vec::new();
    for _ in 0..4 {
        let d = tokio::time::timeout(Duration::from_secs(10), inbox.recv()).await.unwrap().unwrap();
        got.push(d.msg.n);
        d.settle.ack().await.unwrap();
    }
    assert_eq!(got, vec![0, 1, 2, 3], "the poison message is skipped, the rest flows");

    // The poison message waits in the dead-letter queue, with its reason.
    let dead = b.topology().dead_queue(Queue::Parse);
    let mut found = None;
    for _ in 0..50 {
        if let Some(m) = s.publish.basic_get(dead.clone().into(), BasicGetOptions::default()).await.unwrap() {
            found = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let m = found.expect("the malformed message is dead-lettered");
    assert_eq!(m.delivery.data, b"{not json");
    let headers = m.delivery.properties.headers().clone().unwrap();
    let reason = match headers.inner().get(&ShortString::from("x-crawl-reason")) {
        Some(AMQPValue::LongString(s)) => s.to_string(),
        other => panic!("no reason header: {other:?}"),
    };
    assert!(reason.starts_with("malformed message"), "{reason}");
    delete_everything(&b).await;
}

#[tokio::test]
async fn depth_counts_ready_messages() {
    let Some(b) = broker("depth").await else { return };
    let out: AmqpOutbox<Msg> = AmqpOutbox::new(b.clone(), Queue::Fetch);
    assert_eq!(out.depth().await.unwrap(), 0);
    out.send((0..5).map(|n| Msg { n }).collect()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(out.depth().await.unwrap(), 5);
    delete_everything(&b).await;
}
