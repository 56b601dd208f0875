//! The distributed mode as separate OS processes (1 scheduler, 3 fetchers,
//! 2 parsers, 1 sink) against the real RabbitMQ and Redis on loopback and a
//! websim site served by nginx.

mod support;

use std::time::Duration;

use support::{
    Cluster, Websim, assert_complete_and_polite, assert_documents, run, run_with_timeout, services_available,
    wait_for,
};

const DELAY_MS: &str = "100";

fn start_workers(cluster: &mut Cluster) {
    cluster.start("scheduler", &[]);
    for _ in 0..3 {
        cluster.start("fetcher", &["--allow-private", "--delay", DELAY_MS]);
    }
    for _ in 0..2 {
        cluster.start("parser", &[]);
    }
    cluster.start("sink", &[]);
}

fn seed_and_wait(cluster: &Cluster, site: &Websim) -> String {
    let mut cmd = cluster.command("seed");
    cmd.arg("--seeds").arg(site.seeds()).arg("--wait");
    let (ok, out) = run_with_timeout(&mut cmd, Duration::from_secs(600));
    eprintln!("{out}");
    assert!(ok, "seed --wait failed");
    out
}

/// After the crawl: nothing dead-lettered, and once the workers are gone,
/// nothing left in any queue (no delivery was left unacknowledged).
fn assert_queues_clean(cluster: &mut Cluster) {
    let st = cluster.status();
    assert_eq!(st["dead_letters"], 0, "dead letters: {st}");
    cluster.stop_all();
    let st = cluster.status_live();
    for (name, q) in st["queues"].as_object().unwrap() {
        assert_eq!(q["ready"], 0, "{name} still holds messages after the crawl: {st}");
    }
    assert_eq!(st["retry_ready"], 0);
    assert_eq!(st["dead_letters"], 0);
}

#[test]
fn distributed_crawl_is_complete_and_polite_across_fetchers() {
    if !services_available() {
        return;
    }
    let Some(mut site) =
        Websim::generate("dist", 41, &["--hosts", "5", "--pages", "200", "--crawl-delay-hosts", "0"])
    else {
        return;
    };
    site.serve();
    let mut cluster = Cluster::new("polite");
    start_workers(&mut cluster);
    let summary = seed_and_wait(&cluster, &site);
    assert!(summary.contains("pending 0"), "{summary}");

    let audit = site.audit();
    // Politeness across processes: never two requests to one host closer
    // than the delay, whichever fetcher made them.
    assert_complete_and_polite(&site, &audit, DELAY_MS.parse::<f64>().unwrap() / 1000.0);
    assert_documents(&site, &cluster.dir.join("out/documents.jsonl"));
    assert_queues_clean(&mut cluster);
}

#[test]
fn distributed_crawl_survives_killed_workers() {
    if !services_available() {
        return;
    }
    let Some(mut site) =
        Websim::generate("distkill", 42, &["--hosts", "5", "--pages", "200", "--crawl-delay-hosts", "0"])
    else {
        return;
    };
    site.serve();
    let mut cluster = Cluster::new("kill");
    start_workers(&mut cluster);
    let seeder = {
        let mut cmd = cluster.command("seed");
        cmd.arg("--seeds").arg(site.seeds()).arg("--wait");
        std::thread::spawn(move || run_with_timeout(&mut cmd, Duration::from_secs(600)))
    };
    // Mid-crawl, a fetcher and a parser die without warning; replacements start.
    wait_for("300 documents", Duration::from_secs(300), || {
        cluster.status()["counters"]["documents_written"].as_u64().unwrap_or(0) >= 300
    });
    cluster.kill(1); // the first fetcher (workers: scheduler, 3 fetchers, 2 parsers, sink)
    cluster.kill(3); // the first parser (indices moved down by one)
    cluster.start("fetcher", &["--allow-private", "--delay", DELAY_MS]);
    cluster.start("parser", &[]);
    let (ok, out) = seeder.join().unwrap();
    eprintln!("{out}");
    assert!(ok, "seed --wait failed");

    let audit = site.audit();
    let dup = audit["duplicate_gets_same_canonical_url"].as_u64().unwrap();
    eprintln!("duplicate fetches after killing a fetcher and a parser: {dup}");
    assert!(dup <= 5, "{dup} duplicate fetches");
    assert_eq!(audit["coverage"], 1.0);
    assert_eq!(audit["disallowed_fetched"], 0);
    assert_documents(&site, &cluster.dir.join("out/documents.jsonl"));
    assert_queues_clean(&mut cluster);
}

/// Malformed messages, as any client could publish them, land in each
/// stage's dead-letter queue with the reason; the workers carry on.
#[test]
fn poison_messages_are_dead_lettered_with_a_reason() {
    if !services_available() {
        return;
    }
    let Some(mut site) =
        Websim::generate("distpoison", 45, &["--hosts", "2", "--pages", "40", "--crawl-delay-hosts", "0"])
    else {
        return;
    };
    site.serve();
    let mut cluster = Cluster::new("poison");
    start_workers(&mut cluster);
    let ns = cluster.namespace.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stages = ["links", "fetch", "parse", "documents"];
    rt.block_on(async {
        let conn = lapin::Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f", Default::default())
            .await
            .unwrap();
        let ch = conn.create_channel().await.unwrap();
        ch.confirm_select(Default::default()).await.unwrap();
        // Wait until every stage consumes (the topology is complete then).
        for stage in stages {
            for attempt in 0.. {
                assert!(attempt < 200, "no consumer on {stage}");
                let probe = conn.create_channel().await.unwrap();
                let passive = lapin::options::QueueDeclareOptions { passive: true, ..Default::default() };
                let q =
                    probe.queue_declare(format!("{ns}.{stage}.q").into(), passive, Default::default()).await;
                if q.is_ok_and(|q| q.consumer_count() > 0) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        for stage in stages {
            for body in [&b"\xff not json"[..], br#"{"v":1,"unexpected":"shape"}"#] {
                ch.basic_publish(
                    format!("{ns}.{stage}").into(),
                    stage.into(),
                    Default::default(),
                    body,
                    Default::default(),
                )
                .await
                .unwrap()
                .await
                .unwrap();
            }
        }
        conn.close(200, "done".into()).await.unwrap();
    });
    wait_for("8 dead letters", Duration::from_secs(60), || cluster.status()["dead_letters"] == 8);
    // The operator's view: every dead letter with its reason (read over
    // AMQP, live; the management API's numbers lag by a few seconds).
    let listed = || -> Vec<serde_json::Value> {
        let out = run(cluster.command("dead-letters").args(["list", "--json"]));
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let lines = listed();
    assert_eq!(lines.len(), 8, "{lines:?}");
    for stage in stages {
        let of_stage: Vec<_> = lines.iter().filter(|l| l["stage"] == stage).collect();
        assert_eq!(of_stage.len(), 2, "{stage}: {lines:?}");
        for l in of_stage {
            assert!(l["reason"].as_str().unwrap().starts_with("malformed message"), "{l}");
        }
    }
    assert_eq!(listed().len(), 8, "listing leaves them in place");
    // Replayed, they fail again and come back; purged, they are gone.
    assert!(run(cluster.command("dead-letters").args(["replay", "--stage", "links"])).status.success());
    wait_for("the replayed links to die again", Duration::from_secs(30), || listed().len() == 8);
    assert!(run(cluster.command("dead-letters").args(["purge", "--yes"])).status.success());
    assert!(listed().is_empty());
    wait_for("the management API to see it", Duration::from_secs(30), || {
        cluster.status()["dead_letters"] == 0
    });
    // The workers kept going: a crawl still completes.
    seed_and_wait(&cluster, &site);
    assert_eq!(site.audit()["coverage"], 1.0);
    assert_queues_clean(&mut cluster);
}
