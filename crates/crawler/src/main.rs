//! `crawler`: one binary, one subcommand per role.
//!
//! `crawl` runs the whole pipeline in one process (the embedded default, no
//! servers needed). The distributed roles run one stage each over RabbitMQ
//! and Redis and scale horizontally. `extract` runs the extractor alone.

mod crawl_cmd;
mod extract_cmd;
mod options;
mod signals;

use clap::{Parser, Subcommand};
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
    /// Extract the article from one HTML page (stdin) and print it as JSON.
    Extract(extract_cmd::ExtractArgs),
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crawl(args) => {
            // The summary says what happened; per-URL logs would drown it.
            init_logging(cli.log.as_deref(), "warn", cli.log_json);
            runtime()?.block_on(crawl_cmd::run(*args))
        }
        Command::Extract(args) => extract_cmd::run(args),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
