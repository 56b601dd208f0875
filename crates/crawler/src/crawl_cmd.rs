//! `crawler crawl`: the whole pipeline in this process, no servers needed.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use crawl_core::fate::{LINK_FATES, RESPONSES, URL_FATES};
use crawl_core::{Counter, Snapshot};
use crawl_frontier::FrontierConfig;
use crawl_stages::embedded::{self, EmbeddedConfig, Progress, Report, StopReason};
use crawl_stages::scheduler::SchedulerConfig;
use tokio_util::sync::CancellationToken;

use crate::options::{FetchArgs, ParseArgs, ScopeArgs, parse_duration, read_seeds};

/// Crawl from seed URLs until nothing is left (or a limit is reached) and
/// write one JSON document per fetched HTML page to OUT/documents.jsonl.
#[derive(Args, Debug)]
pub struct CrawlArgs {
    /// Seed URLs.
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,
    /// File of seed URLs, one per line (`#` starts a comment).
    #[arg(long, env = "CRAWL_SEEDS", value_name = "FILE")]
    pub seeds: Option<PathBuf>,
    /// Output directory (documents.jsonl, summary.json, dead-letters.jsonl).
    #[arg(long, env = "CRAWL_OUT", value_name = "DIR")]
    pub out: PathBuf,
    /// Fetch at most this many URLs (redirects count).
    #[arg(long, env = "CRAWL_MAX_PAGES", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pages: Option<u64>,
    /// Stop after this long, finishing the requests in flight.
    #[arg(long, env = "CRAWL_MAX_TIME", value_parser = parse_duration, value_name = "DURATION")]
    pub max_time: Option<Duration>,
    /// Crawl a small built-in news site served on loopback by this process
    /// (no network needed; implies --allow-private for it and a 100 ms delay).
    #[arg(long, conflicts_with_all = ["urls", "seeds"])]
    pub demo: bool,
    /// Live progress on stderr: auto = when it is a terminal.
    #[arg(long, env = "CRAWL_PROGRESS", default_value = "auto", value_name = "auto|always|never")]
    pub progress: String,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub fetch: FetchArgs,
    #[command(flatten)]
    pub parse: ParseArgs,
}

pub async fn run(mut args: CrawlArgs) -> anyhow::Result<()> {
    // The demo site lives as long as the crawl.
    let _demo = if args.demo {
        let site = crawl_testsite::DemoSite::start().await.context("cannot start the demo site")?;
        eprintln!("demo: serving a small news site at {}", site.seed_url());
        args.urls = vec![site.seed_url().to_string()];
        args.fetch.allow_private = true;
        args.fetch.delay = Duration::from_millis(100);
        Some(site)
    } else {
        None
    };
    let seeds = read_seeds(&args.urls, args.seeds.as_ref())?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let canon = args.scope.canon();
    let fetcher = args.fetch.fetcher();
    let config = EmbeddedConfig {
        seeds: seeds.iter().map(|u| u.to_string()).collect(),
        out_dir: args.out.clone(),
        scheduler: SchedulerConfig {
            scope: args.scope.scope(&seeds),
            canon: canon.clone(),
            max_depth: args.scope.max_depth,
            max_redirects: args.scope.max_redirects,
            fetch_queue_target: fetcher.concurrency * 2,
            ..SchedulerConfig::default()
        },
        frontier: FrontierConfig {
            fetch_lease: args.fetch.fetch_lease(),
            max_urls: args.max_pages,
            max_urls_per_host: args.scope.max_pages_per_host,
            ..FrontierConfig::default()
        },
        fetcher,
        client: args.fetch.client(),
        robots: args.fetch.robots(),
        parser: args.parse.parser(canon),
        max_time: args.max_time,
    };
    tracing::info!(seeds = seeds.len(), out = %args.out.display(), "crawl starting");

    let interrupt = CancellationToken::new();
    crate::signals::cancel_on_signal(interrupt.clone());
    let show = match args.progress.as_str() {
        "always" => true,
        "never" => false,
        _ => std::io::stderr().is_terminal(),
    };
    let report = embedded::run(config, interrupt, |p| {
        if show {
            print_progress(p);
        }
    })
    .await?;
    if show {
        eprint!("\r\x1b[K");
    }
    let summary = summary_text(&report);
    println!("{summary}");
    let json = serde_json::json!({
        "stop": format!("{:?}", report.stop).to_lowercase(),
        "elapsed_s": report.elapsed.as_secs_f64(),
        "counters": report.counters.to_map(),
        "pending_urls": report.counters.pending_urls(),
        "frontier": report.frontier,
        "dead_letters": report.dead_letters,
    });
    let path = args.out.join("summary.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&json)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let c = &report.counters;
    if c.sum(RESPONSES) == 0 && c.sum(URL_FATES) > 0 {
        anyhow::bail!("no URL could be fetched (see the summary above)");
    }
    Ok(())
}

fn print_progress(p: &Progress) {
    let c = &p.counters;
    let pages = c.sum(RESPONSES);
    let rate = pages as f64 / p.elapsed.as_secs_f64().max(0.001);
    let errors = c.sum(URL_FATES) - pages;
    let _ = write!(
        std::io::stderr(),
        "\r\x1b[K{:>6.0}s  {} fetched ({:.1}/s)  {} documents  {} queued in {} hosts ({} due, {} waiting)  {} failed/denied  queues: fetch {} parse {}",
        p.elapsed.as_secs_f64(),
        pages,
        rate,
        c.get(Counter::DocumentsWritten),
        p.frontier.urls_queued,
        p.frontier.hosts,
        p.frontier.hosts_due,
        p.frontier.hosts_waiting + p.frontier.hosts_backoff,
        errors,
        p.fetch_queue,
        p.parse_queue,
    );
}

/// " a 1, b 2" for the non-zero counters of `cs` (or " none").
fn nonzero(s: &Snapshot, cs: &[Counter]) -> String {
    let parts: Vec<String> =
        cs.iter().filter(|&&c| s.get(c) > 0).map(|&c| format!("{} {}", c.name(), s.get(c))).collect();
    if parts.is_empty() { "none".into() } else { parts.join(", ") }
}

/// The end-of-crawl account: every link and every URL in one counted state.
pub fn summary_text(r: &Report) -> String {
    let s = &r.counters;
    let why = match r.stop {
        StopReason::Finished => "nothing left to fetch",
        StopReason::TimeLimit => "time limit reached",
        StopReason::Interrupted => "interrupted",
    };
    let fetched = s.sum(RESPONSES);
    let secs = r.elapsed.as_secs_f64().max(0.001);
    let headline = format!(
        "crawl ended after {secs:.1} s ({why}): {fetched} responses ({:.1}/s), {} documents written to {}",
        fetched as f64 / secs,
        s.get(Counter::DocumentsWritten),
        r.documents.display(),
    );
    ledger_text(&headline, s, r.dead_letters)
}

/// The ledger under a headline: shared by `crawl` and `seed --wait`.
pub fn ledger_text(headline: &str, s: &Snapshot, dead_letters: u64) -> String {
    let mut out = format!("{headline}\n");
    out += &format!("links:  {} discovered -> {}\n", s.get(Counter::LinksDiscovered), nonzero(s, LINK_FATES));
    out += &format!(
        "URLs:   {} admitted -> {}, pending {}\n",
        s.get(Counter::UrlAdmitted),
        nonzero(s, URL_FATES),
        s.pending_urls()
    );
    out += &format!(
        "pages:  {}\n",
        nonzero(
            s,
            &[
                Counter::PagesParsed,
                Counter::PagesDuplicateContent,
                Counter::PagesNoindex,
                Counter::PagesFeed,
                Counter::PagesNotHtml,
                Counter::PagesParseError,
            ]
        )
    );
    out += &format!(
        "other:  {} retries, {} robots.txt requests, {:.1} MB received, {} dead letters",
        s.get(Counter::Retries),
        s.get(Counter::RobotsFetches),
        s.get(Counter::BytesFetched) as f64 / 1e6,
        dead_letters,
    );
    if s.get(Counter::FailedBlocked) > 0 {
        out += &format!(
            "\nnote:   {} URLs were refused because their hosts resolve to loopback or private addresses; \
             pass --allow-private to crawl such hosts",
            s.get(Counter::FailedBlocked)
        );
    }
    if s.pending_urls() > 0 {
        out += &format!(
            "\nnote:   {} admitted URLs were not fetched before the crawl stopped",
            s.pending_urls()
        );
    }
    out
}
