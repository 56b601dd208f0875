//! The embedded crawl (`crawler crawl`, one process, no servers) against a
//! websim site served by nginx, checked from the server's access log.

mod support;

use std::path::Path;

use support::{Websim, assert_complete_and_polite, assert_documents, crawler, out_dir, run};

/// Crawl `site` with `extra` flags; returns stdout (the summary).
fn crawl(site: &Websim, out: &Path, extra: &[&str]) -> (bool, String) {
    let mut cmd = crawler();
    cmd.arg("crawl").arg("--seeds").arg(site.seeds()).arg("--out").arg(out).args(extra);
    let o = run(&mut cmd);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    (o.status.success(), stdout)
}

#[test]
fn embedded_crawl_is_complete_polite_and_safe_by_default() {
    let Some(mut site) =
        Websim::generate("embedded", 31, &["--hosts", "5", "--pages", "200", "--crawl-delay-hosts", "0"])
    else {
        return;
    };
    site.serve();
    let out = out_dir("embedded");
    let (ok, summary) = crawl(&site, &out, &["--allow-private", "--delay", "50", "--progress", "never"]);
    assert!(ok, "crawl failed");
    assert!(summary.contains("nothing left to fetch"), "{summary}");
    let audit = site.audit();
    assert_complete_and_polite(&site, &audit, 0.050);
    for (host, h) in audit["per_host"].as_object().unwrap() {
        assert!(h["max_req_in_1s"].as_u64().unwrap() <= 20, "{host}: more than 20 requests in a second");
    }
    assert_documents(&site, &out.join("documents.jsonl"));
    let summary_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary_json["pending_urls"], 0);

    // Without --allow-private the SSRF guard refuses every loopback host:
    // nothing reaches the server, and the summary says why.
    site.rotate("with-allow-private");
    let blocked = out_dir("embedded-blocked");
    let (ok, summary) = crawl(&site, &blocked, &["--delay", "50", "--progress", "never"]);
    assert!(!ok, "a crawl that could fetch nothing exits non-zero");
    assert!(summary.contains("--allow-private"), "the summary explains: {summary}");
    assert_eq!(site.audit()["requests"], 0, "no request reached the server");
    let _ = std::fs::remove_dir_all(out);
    let _ = std::fs::remove_dir_all(blocked);
}

#[test]
fn embedded_crawl_honours_crawl_delay() {
    // websim's default: two hosts ask for Crawl-delay: 1. At one request a
    // second those hosts take about four minutes; the others finish early.
    let Some(mut site) = Websim::generate("crawldelay", 32, &["--hosts", "5", "--pages", "200"]) else {
        return;
    };
    site.serve();
    let out = out_dir("crawldelay");
    let (ok, _) = crawl(&site, &out, &["--allow-private", "--delay", "50", "--progress", "never"]);
    assert!(ok, "crawl failed");
    let audit = site.audit();
    assert_complete_and_polite(&site, &audit, 0.050);
    let delayed = audit["crawl_delay_hosts"].as_object().expect("the site has Crawl-delay hosts");
    assert_eq!(delayed.len(), 2);
    for (host, h) in delayed {
        assert_eq!(h["gaps_below_crawl_delay"], 0, "{host}");
        assert!(h["max_req_in_1s"].as_u64().unwrap() <= 1, "{host}: more than one request in a second");
    }
    assert_documents(&site, &out.join("documents.jsonl"));
    let _ = std::fs::remove_dir_all(out);
}

/// A spider trap (websim's 300-page calendar chain on every host) ends at the
/// host's budget; nothing else is lost, and the summary says what happened.
#[test]
fn host_budget_ends_a_spider_trap() {
    let Some(mut site) = Websim::generate(
        "trap",
        33,
        &["--hosts", "2", "--pages", "40", "--crawl-delay-hosts", "0", "--trap"],
    ) else {
        return;
    };
    site.serve();
    let out = out_dir("trap");
    let budget = 150;
    let (ok, summary) = crawl(
        &site,
        &out,
        &[
            "--allow-private",
            "--delay",
            "10",
            "--progress",
            "never",
            "--max-pages-per-host",
            &budget.to_string(),
        ],
    );
    assert!(ok, "crawl failed");
    assert!(summary.contains("nothing left to fetch"), "{summary}");
    assert!(summary.contains("link_over_host_limit"), "the summary counts the refused links: {summary}");
    let audit = site.audit();
    let trap = audit["trap_pages_fetched"].as_u64().unwrap();
    assert!(trap > 0 && trap < 600, "the trap was entered and left: {trap} of 600 pages");
    for (host, h) in audit["per_host"].as_object().unwrap() {
        // robots.txt is the one request outside the budget.
        assert!(h["requests"].as_u64().unwrap() <= budget + 1, "{host}: {h}");
    }
    assert_eq!(audit["disallowed_fetched"], 0);
    assert_eq!(audit["duplicate_gets_same_canonical_url"], 0);
    let _ = std::fs::remove_dir_all(out);
}

/// The README's first command: a crawl of the built-in demo site, no
/// network, no servers, no prerequisites.
#[test]
fn demo_crawl_needs_nothing() {
    let out = out_dir("demo");
    let o = run(crawler().args(["crawl", "--demo", "--progress", "never", "--out"]).arg(&out));
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{summary}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(summary.contains("nothing left to fetch"), "{summary}");
    let docs = support::read_jsonl(&out.join("documents.jsonl"));
    assert_eq!(docs.len(), 30, "the demo site has 30 pages to index");
    assert!(docs.iter().any(|d| d["encoding"] == "windows-1252"), "its windows-1252 page is there");
    let _ = std::fs::remove_dir_all(out);
}
