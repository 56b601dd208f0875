//! Redis memory per seen URL and per queued URL, and admission speed.
//!
//!     cargo bench -p crawl-redis --bench memory -- [URLS] [HOSTS] [BUCKETS]
//!
//! Admits URLS synthetic URLs (default 1,000,000) spread over HOSTS hosts
//! (default 10,000) into a fresh namespace of the Redis at
//! `CRAWL_BENCH_REDIS_URL` (default 127.0.0.1:6379), reads `used_memory`
//! before, after, and after deleting the host queues (what remains is the
//! dedup sets), then deletes the namespace.

use std::time::Instant;

use crawl_core::{FrontierEntry, HostKey, UrlHash};
use crawl_frontier::{Candidate, Frontier, FrontierConfig};
use crawl_redis::{RedisFrontier, Store};

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let urls = args.first().copied().unwrap_or(1_000_000);
    let hosts = args.get(1).copied().unwrap_or(10_000);
    let buckets = args.get(2).copied().unwrap_or(65_536);
    let url = std::env::var("CRAWL_BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let store = Store::connect(&url, &format!("bench-mem-{}", std::process::id())).await.expect("Redis");
    let frontier = RedisFrontier::new(store.clone(), FrontierConfig::default(), buckets);

    let before = store.used_memory().await.unwrap();
    let start = Instant::now();
    let mut batch = Vec::with_capacity(1000);
    for i in 0..urls {
        let host = format!("www.site{:05}.example", i % hosts);
        let url = url::Url::parse(&format!("https://{host}/politique/2026/11/un-titre-assez-long-{i}.html"))
            .unwrap();
        batch.push(Candidate {
            hash: UrlHash::of(&url),
            host: HostKey::of(&url),
            entry: FrontierEntry { url: url.into(), depth: 2, attempt: 0, redirects: 0, origin: None },
        });
        if batch.len() == 1000 || i + 1 == urls {
            frontier.admit(&batch).await.unwrap();
            batch.clear();
        }
    }
    let elapsed = start.elapsed();
    let full = store.used_memory().await.unwrap();

    // Drop the queues and the schedule: what is left is the dedup sets.
    let mut conn =
        redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{}:q:*", store.namespace()))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: u64 = redis::cmd("UNLINK").arg(&keys).query_async(&mut conn).await.unwrap();
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let _: u64 = redis::cmd("UNLINK")
        .arg(format!("{}:sched", store.namespace()))
        .query_async(&mut conn)
        .await
        .unwrap();
    // Freed memory is returned lazily (UNLINK): give it a moment.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let seen_only = store.used_memory().await.unwrap();
    store.purge().await.unwrap();

    let per = |bytes: u64| bytes as f64 / urls as f64;
    println!("URLs {urls}, hosts {hosts}, dedup buckets {buckets}");
    println!(
        "admitted in {:.1} s: {:.0} URLs/s (batches of 1000)",
        elapsed.as_secs_f64(),
        urls as f64 / elapsed.as_secs_f64()
    );
    println!("Redis memory per seen URL (dedup sets):      {:.1} B", per(seen_only.saturating_sub(before)));
    println!("Redis memory per queued URL (queue entries): {:.1} B", per(full.saturating_sub(seen_only)));
    println!("Redis memory per URL, both:                  {:.1} B", per(full.saturating_sub(before)));
}
