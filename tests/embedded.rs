//! The embedded crawl (`crawler crawl`, one process, no servers) against a
//! websim site served by nginx, checked from the server's access log.

mod support;

use std::collections::HashSet;
use std::path::Path;

use support::{Websim, crawler, out_dir, read_jsonl, run};

/// Crawl `site` with `extra` flags; returns stdout (the summary).
fn crawl(site: &Websim, out: &Path, extra: &[&str]) -> (bool, String) {
    let mut cmd = crawler();
    cmd.arg("crawl").arg("--seeds").arg(site.seeds()).arg("--out").arg(out).args(extra);
    let o = run(&mut cmd);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    (o.status.success(), stdout)
}

/// The audit points every polite, complete crawl of a websim site must meet.
fn assert_complete_and_polite(site: &Websim, audit: &serde_json::Value, min_gap_s: f64) {
    let hosts = std::fs::read_to_string(site.seeds()).unwrap().lines().count() as u64;
    assert_eq!(audit["coverage"], 1.0, "coverage of expected pages");
    assert_eq!(audit["disallowed_fetched"], 0, "robots.txt-disallowed URLs fetched");
    assert_eq!(audit["duplicate_gets_same_canonical_url"], 0, "duplicate GETs of one canonical URL");
    assert_eq!(audit["hosts_seen"], hosts, "only the site's hosts (never the unserved 127.0.200.x)");
    assert_eq!(audit["robots_txt_before_first_page_hosts"], hosts, "robots.txt first on every host");
    for (host, h) in audit["per_host"].as_object().unwrap() {
        assert!(h.get("unknown_host").is_none(), "request to a host outside the site: {host}");
        assert_eq!(h["robots_txt_fetched"], 1, "{host}: robots.txt once");
        let gap = h["min_gap_s"].as_f64().unwrap_or(f64::MAX);
        // nginx logs times in ms: allow a millisecond of rounding.
        assert!(gap >= min_gap_s - 0.002, "{host}: two requests {gap} s apart");
        if let Some(n) = h.get("gaps_below_crawl_delay") {
            assert_eq!(n, 0, "{host}: gaps shorter than its Crawl-delay");
        }
    }
}

/// Each expected page once in documents.jsonl, with the right title
/// (windows-1252 hosts included).
fn assert_documents(site: &Websim, out: &Path) {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(site.dir.join("manifest.json")).unwrap()).unwrap();
    let expected: HashSet<&str> =
        manifest["expected_pages"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
    let docs = read_jsonl(&out.join("documents.jsonl"));
    let mut seen = HashSet::new();
    for d in &docs {
        let url = d["final_url"].as_str().unwrap();
        assert!(seen.insert(url.to_string()), "{url} written twice");
    }
    let missing: Vec<_> = expected.iter().filter(|u| !seen.contains(**u)).collect();
    assert!(missing.is_empty(), "expected pages without a document: {missing:?}");

    let pages = site.pages();
    let mut wrong = Vec::new();
    let mut cp1252 = 0;
    for d in &docs {
        let Some(p) = pages.get(d["final_url"].as_str().unwrap()) else { continue };
        // websim's truth writes the em dash of listing-page headings as a hyphen
        let norm = |s: &str| s.replace('\u{2014}', "-");
        let got = norm(d["title"].as_str().unwrap_or(""));
        let want = norm(p["title"].as_str().unwrap());
        if got != want {
            wrong.push(format!("{}: {got:?} != {want:?}", d["final_url"]));
        }
        if p["charset"] == "windows-1252" {
            cp1252 += 1;
        }
    }
    assert!(cp1252 > 0, "the site has windows-1252 pages");
    assert!(wrong.is_empty(), "{} wrong titles, e.g. {:?}", wrong.len(), &wrong[..wrong.len().min(5)]);
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
    assert_documents(&site, &out);
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
    assert_documents(&site, &out);
    let _ = std::fs::remove_dir_all(out);
}
