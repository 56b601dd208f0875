//! Extraction throughput on one core: `extract` over every page of an extract-dev set.
//!
//!     cargo bench -p crawl-extract --bench throughput [-- SET_DIR [ROUNDS]]
//!
//! SET_DIR defaults to `../shared/extract-dev/daniel` (from the workspace root), ROUNDS to 3.
//! Pages are read into memory first; each is timed alone, on this one thread, after a
//! warm-up round. Each page is timed in thread CPU time (what one core spends on it, even
//! when other processes share the machine) and in wall time; prints pages/s and the
//! p50/p99/max milliseconds per page for both.

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
    let mut cpu: Vec<Duration> = Vec::with_capacity(pages.len() * rounds);
    let mut wall: Vec<Duration> = Vec::with_capacity(pages.len() * rounds);
    for _ in 0..rounds {
        for page in &pages {
            let (c, w) = (thread_cpu_time(), Instant::now());
            run(page);
            wall.push(w.elapsed());
            cpu.push(thread_cpu_time().saturating_sub(c));
        }
    }
    println!(
        "{}: {} pages ({:.1} MB), {rounds} rounds, one thread",
        set.display(),
        pages.len(),
        bytes as f64 / 1e6
    );
    report("CPU time ", &mut cpu, bytes * rounds);
    report("wall time", &mut wall, bytes * rounds);
}

fn report(label: &str, times: &mut [Duration], bytes: usize) {
    let total: Duration = times.iter().sum();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |q: f64| ms(times[((times.len() - 1) as f64 * q).round() as usize]);
    println!(
        "  {label}: {:.0} pages/s, {:.1} MB/s; ms/page p50 {:.3} p99 {:.3} max {:.3}",
        times.len() as f64 / total.as_secs_f64(),
        bytes as f64 / 1e6 / total.as_secs_f64(),
        at(0.5),
        at(0.99),
        ms(*times.last().unwrap_or(&Duration::ZERO)),
    );
}

/// CPU time consumed by the calling thread so far.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through the valid pointer we pass.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
