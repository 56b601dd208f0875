//! Operating a distributed crawl: `crawler status` agrees with RabbitMQ's
//! management API and with Redis, says why the crawl is idle, and every
//! worker's /metrics is valid Prometheus text whose counters add up to the
//! documents written. Workers run as processes (the compose topology), with
//! 2 fetchers, then 4.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::{Cluster, Websim, require, run_with_timeout, services_available, wait_for};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Start a worker serving metrics on a fresh port; returns the port.
fn start(cluster: &mut Cluster, role: &str, args: &[&str]) -> u16 {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut all = vec!["--metrics-addr", &addr];
    all.extend_from_slice(args);
    cluster.start(role, &all);
    port
}

fn http_get(url: &str) -> Option<String> {
    let out = std::process::Command::new("curl").args(["-sf", "-u", "guest:guest", url]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One sample: metric name, labels, value.
type Sample = (String, HashMap<String, String>, f64);

/// Parse Prometheus text exposition strictly enough to reject garbage:
/// every sample line is `name{labels} value` or `name value`, every metric
/// has a `# TYPE` line before its samples.
fn parse_prometheus(text: &str) -> Result<Vec<Sample>, String> {
    let mut typed = std::collections::HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                return Err(format!("bad TYPE: {line}"));
            };
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(format!("bad type {kind}"));
            }
            typed.insert(name.to_string());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').ok_or_else(|| format!("no value: {line}"))?;
        let value: f64 = value.parse().map_err(|_| format!("bad value: {line}"))?;
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.strip_suffix('}').ok_or_else(|| format!("unclosed labels: {line}"))?),
            None => (series, ""),
        };
        let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
        if !typed.contains(name) && !typed.contains(base) {
            return Err(format!("sample before its TYPE: {line}"));
        }
        let mut map = HashMap::new();
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| format!("bad label: {line}"))?;
            map.insert(k.to_string(), v.trim_matches('"').to_string());
        }
        samples.push((name.to_string(), map, value));
    }
    Ok(samples)
}

fn sum(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| n == name && label.is_none_or(|(k, v)| l.get(k).is_some_and(|x| x == v)))
        .map(|(_, _, v)| v)
        .sum()
}

#[test]
fn status_and_metrics_agree_with_the_broker_redis_and_the_output() {
    if !services_available() {
        return;
    }
    let management = http_get("http://127.0.0.1:15672/api/overview").is_some();
    if !require(
        management,
        "RabbitMQ's management API is not enabled (rabbitmq-plugins enable rabbitmq_management)",
    ) {
        return;
    }
    let Some(mut site) =
        Websim::generate("ops", 46, &["--hosts", "4", "--pages", "80", "--crawl-delay-hosts", "0"])
    else {
        return;
    };
    site.serve();
    let mut cluster = Cluster::new("ops");
    let mut ports: Vec<(String, u16)> = Vec::new();
    for (role, args) in [
        ("scheduler", &[][..]),
        ("fetcher", &["--allow-private", "--delay", "100"][..]),
        ("fetcher", &["--allow-private", "--delay", "100"][..]),
        ("parser", &[][..]),
        ("parser", &[][..]),
        ("sink", &[][..]),
    ] {
        ports.push((role.to_string(), start(&mut cluster, role, args)));
    }
    let seeder = {
        let mut cmd = cluster.command("seed");
        cmd.arg("--seeds").arg(site.seeds()).arg("--wait");
        std::thread::spawn(move || run_with_timeout(&mut cmd, Duration::from_secs(600)))
    };
    // Scale out mid-crawl: 2 fetchers, then 4.
    wait_for("50 documents", Duration::from_secs(300), || {
        cluster.status()["counters"]["documents_written"].as_u64().unwrap_or(0) >= 50
    });
    for _ in 0..2 {
        ports
            .push(("fetcher".into(), start(&mut cluster, "fetcher", &["--allow-private", "--delay", "100"])));
    }
    wait_for("4 live fetchers", Duration::from_secs(30), || {
        cluster.status()["workers"].as_array().unwrap().iter().filter(|w| w["role"] == "fetcher").count() == 4
    });
    let (ok, out) = seeder.join().unwrap();
    assert!(ok, "seed --wait failed: {out}");

    // Idle reason once finished.
    let st = cluster.status();
    assert!(st["idle_reason"].as_str().unwrap().contains("finished"), "{st}");

    // Status against the broker's management API, queue by queue (read in
    // the same instant; the crawl is over, so nothing moves).
    assert_eq!(st["queue_source"], "management API");
    let api: Vec<serde_json::Value> =
        serde_json::from_str(&http_get("http://127.0.0.1:15672/api/queues/%2F").unwrap()).unwrap();
    for (stage, q) in st["queues"].as_object().unwrap() {
        let name = q["name"].as_str().unwrap();
        let a =
            api.iter().find(|a| a["name"] == name).unwrap_or_else(|| panic!("{name} unknown to the broker"));
        assert_eq!(q["ready"], a["messages_ready"], "{stage}");
        assert_eq!(q["unacked"], a["messages_unacknowledged"], "{stage}");
        assert_eq!(q["consumers"], a["consumers"], "{stage}");
    }
    // …and against Redis.
    let redis = |args: &[&str]| -> String {
        let out = std::process::Command::new("redis-cli").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let ns = &cluster.namespace;
    let f = &st["frontier"];
    assert_eq!(f["urls_seen"].to_string(), redis(&["GET", &format!("{ns}:admitted")]));
    assert_eq!(f["hosts"].to_string(), redis(&["ZCARD", &format!("{ns}:sched")]));
    assert_eq!(f["hosts_leased"].to_string(), redis(&["HLEN", &format!("{ns}:lease")]));
    assert_eq!(f["urls_queued"].to_string(), redis(&["GET", &format!("{ns}:queued")]));

    // Every worker's /metrics is valid Prometheus text; the counters add up.
    let documents = cluster.documents().len() as f64;
    let mut by_role: HashMap<String, Vec<Sample>> = HashMap::new();
    for (role, port) in &ports {
        let text = http_get(&format!("http://127.0.0.1:{port}/metrics")).expect("metrics answer");
        let samples = parse_prometheus(&text).unwrap_or_else(|e| panic!("{role} on {port}: {e}"));
        by_role.entry(role.clone()).or_default().extend(samples);
    }
    let fetchers = &by_role["fetcher"];
    // robots.txt lists each host's sitemap, and pages link the RSS feed: the
    // parsers read those as link lists, not documents.
    let feeds = sum(&by_role["parser"], "crawler_pages_total", Some(("outcome", "feed")));
    assert!(feeds > 0.0, "sitemaps and feeds were read");
    let html_pages = sum(fetchers, "crawler_responses_total", Some(("class", "2xx")))
        - sum(fetchers, "crawler_pages_total", Some(("outcome", "not_html")))
        - feeds;
    assert_eq!(html_pages, documents, "fetchers' 2xx HTML pages = documents written");
    assert_eq!(sum(&by_role["parser"], "crawler_pages_total", Some(("outcome", "parsed"))), documents);
    assert_eq!(sum(&by_role["sink"], "crawler_documents_written_total", None), documents);
    assert!(sum(fetchers, "crawler_fetch_duration_seconds_count", None) > 0.0, "latency histogram");
    assert!(by_role["scheduler"].iter().any(|(n, _, _)| n == "crawler_frontier_hosts"), "frontier gauges");
    cluster.stop_all();
}

#[test]
fn status_says_why_the_crawl_is_idle() {
    if !services_available() {
        return;
    }
    let Some(mut site) =
        Websim::generate("idle", 47, &["--hosts", "2", "--pages", "30", "--crawl-delay-hosts", "0"])
    else {
        return;
    };
    site.serve();
    let mut cluster = Cluster::new("idle");
    let reason = |c: &Cluster| c.status()["idle_reason"].as_str().unwrap_or("").to_string();

    // Nothing seeded: empty.
    cluster.start("scheduler", &[]);
    wait_for("the scheduler's heartbeat", Duration::from_secs(30), || {
        cluster.status()["workers"].as_array().is_some_and(|w| !w.is_empty())
    });
    assert!(reason(&cluster).contains("nothing queued"), "{}", reason(&cluster));

    // Hosts resting between requests: politeness.
    let fetcher = cluster.start("fetcher", &["--allow-private", "--delay", "30s"]);
    assert!(
        run_with_timeout(cluster.command("seed").arg("--seeds").arg(site.seeds()), Duration::from_secs(60)).0
    );
    wait_for("a politeness wait", Duration::from_secs(60), || reason(&cluster).contains("politeness"));

    // No fetcher left: it says so.
    cluster.kill(fetcher);
    wait_for("the dead fetcher to be noticed", Duration::from_secs(60), || {
        reason(&cluster).contains("no fetcher")
    });
    cluster.stop_all();
}
