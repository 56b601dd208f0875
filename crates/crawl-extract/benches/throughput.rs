//! Extraction throughput on one core: `extract` over every page of an extract-dev set.
//!
//!     cargo bench -p crawl-extract --bench throughput [-- SET_DIR [ROUNDS]]
//!
//! SET_DIR defaults to `../shared/extract-dev/daniel` (from the workspace root), ROUNDS to 3.
//! Pages are read into memory first; each is timed alone, on this one thread, after a
//! warm-up round. Prints pages/s and the p50/p99/max milliseconds per page.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use crawl_extract::{Input, Limits, extract};
use url::Url;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let set = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/extract-dev/daniel")
    });
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(3);
    let truth = std::fs::read_to_string(set.join("truth.jsonl"))
        .unwrap_or_else(|e| panic!("{}: {e}", set.join("truth.jsonl").display()));
    let pages: Vec<(Url, Vec<u8>)> = truth
        .split('\n')
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).expect("truth line");
            let url = record["url"].as_str().and_then(|u| Url::parse(u).ok());
            let file = set.join(record["file"].as_str().expect("file"));
            let body = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            (url.unwrap_or_else(|| Url::parse("http://localhost/").unwrap()), body)
        })
        .collect();
    let bytes: usize = pages.iter().map(|(_, b)| b.len()).sum();
    let limits = Limits::default();
    let fetched_at = Utc::now();
    let run = |(url, body): &(Url, Vec<u8>)| {
        let input = Input { url, body, content_type: None, content_language: None, fetched_at };
        std::hint::black_box(extract(&input, &limits).ok());
    };
    pages.iter().for_each(run);
    let mut times: Vec<Duration> = Vec::with_capacity(pages.len() * rounds);
    let started = Instant::now();
    for _ in 0..rounds {
        for page in &pages {
            let t = Instant::now();
            run(page);
            times.push(t.elapsed());
        }
    }
    let total = started.elapsed();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |q: f64| ms(times[((times.len() - 1) as f64 * q).round() as usize]);
    println!(
        "{}: {} pages ({:.1} MB) x {rounds} rounds on one thread: {:.0} pages/s, {:.1} MB/s; ms/page p50 {:.3} p99 {:.3} max {:.3}",
        set.display(),
        pages.len(),
        bytes as f64 / 1e6,
        times.len() as f64 / total.as_secs_f64(),
        (bytes * rounds) as f64 / 1e6 / total.as_secs_f64(),
        at(0.5),
        at(0.99),
        ms(*times.last().unwrap_or(&Duration::ZERO)),
    );
}
