//! `crawler`: one binary, one subcommand per role.
//!
//! `crawl` runs the whole pipeline in one process (the embedded default, no
//! servers needed). The distributed roles run one stage each over RabbitMQ
//! and Redis and scale horizontally. `extract` runs the extractor alone.

mod admin_cmd;
mod cluster;
mod crawl_cmd;
mod extract_cmd;
mod health_cmd;
mod management;
mod options;
mod roles;
mod seed_cmd;
mod signals;
mod status_cmd;
mod telemetry;

use clap::{Parser, Subcommand};

/// Parsing a page allocates thousands of small strings and nodes, on many
/// threads at once: mimalloc measured 16% more pages/s than glibc's
/// allocator on the websim benchmark, for a higher but flat resident size
/// (182 MB against 38 MB at peak; README.md, "Measured").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "crawler", version, about = "A polite, distributed crawl-and-ingest system for news sites")]
struct Cli {
    /// Log filter (e.g. `info`, `warn,crawl_stages=debug`); also RUST_LOG.
    #[arg(long, global = true, env = "CRAWL_LOG", value_name = "FILTER")]
    log: Option<String>,
    /// Log as JSON lines (for log collectors) instead of text.
    #[arg(long, global = true, env = "CRAWL_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Crawl in this process (no RabbitMQ, no Redis) and write documents.jsonl.
    Crawl(Box<crawl_cmd::CrawlArgs>),
    /// Distributed: admit links into the Redis frontier, release due URLs to the fetchers.
    Scheduler(Box<roles::SchedulerArgs>),
    /// Distributed: fetch released URLs politely; bodies to the body store.
    Fetcher(Box<roles::FetcherArgs>),
    /// Distributed: turn fetched pages into documents and links.
    Parser(Box<roles::ParserArgs>),
    /// Distributed: write documents to DIR/documents.jsonl.
    Sink(roles::SinkArgs),
    /// Distributed: publish seed URLs (and wait for the crawl to finish with --wait).
    Seed(seed_cmd::SeedArgs),
    /// Distributed: queues, frontier, counters and live workers of a crawl.
    Status(status_cmd::StatusArgs),
    /// Distributed: delete a crawl's Redis keys, queues and exchanges.
    Purge(admin_cmd::PurgeArgs),
    /// Distributed: list, replay or purge dead letters.
    #[command(name = "dead-letters")]
    DeadLetters(admin_cmd::DeadLetterArgs),
    /// Exit 0 if the worker on this host answers on its metrics port (container health checks).
    Health(health_cmd::HealthArgs),
    /// Extract the article from one HTML page (stdin) and print it as JSON.
    Extract(extract_cmd::ExtractArgs),
}

struct Log {
    filter: Option<String>,
    json: bool,
}

fn init_logging(filter: Option<&str>, default: &str, json: bool) {
    let filter = filter
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() {
    if let Err(e) = run() {
        // One line with the chain of causes: what failed and why.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let log = Log { filter: cli.log, json: cli.log_json };
    match cli.command {
        Command::Crawl(args) => {
            // The summary says what happened; per-URL logs would drown it.
            init_logging(log.filter.as_deref(), "warn", log.json);
            runtime()?.block_on(crawl_cmd::run(*args))
        }
        Command::Scheduler(args) => worker(&log, |rt| rt.block_on(roles::scheduler(*args))),
        Command::Fetcher(args) => worker(&log, |rt| rt.block_on(roles::fetcher(*args))),
        Command::Parser(args) => worker(&log, |rt| rt.block_on(roles::parser(*args))),
        Command::Sink(args) => worker(&log, |rt| rt.block_on(roles::sink(args))),
        Command::Seed(args) => worker(&log, |rt| rt.block_on(seed_cmd::run(args))),
        Command::Status(args) => {
            init_logging(log.filter.as_deref(), "warn", log.json);
            runtime()?.block_on(status_cmd::run(args))
        }
        Command::Purge(args) => worker(&log, |rt| rt.block_on(admin_cmd::purge(args))),
        Command::DeadLetters(args) => {
            init_logging(log.filter.as_deref(), "warn", log.json);
            runtime()?.block_on(admin_cmd::dead_letters(args))
        }
        Command::Health(args) => {
            init_logging(log.filter.as_deref(), "warn", log.json);
            runtime()?.block_on(health_cmd::run(args))
        }
        Command::Extract(args) => extract_cmd::run(args),
    }
}

/// A distributed role: logs at info by default (they are what an operator reads).
fn worker(log: &Log, run: impl FnOnce(tokio::runtime::Runtime) -> anyhow::Result<()>) -> anyhow::Result<()> {
    init_logging(log.filter.as_deref(), "info", log.json);
    run(runtime()?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
