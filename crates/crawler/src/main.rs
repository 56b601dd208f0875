//! `crawler`: one binary, one subcommand per role.

mod extract_cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "crawler", version, about = "A polite, distributed crawl-and-ingest system for news sites")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Extract the article from one HTML page (stdin) and print it as JSON.
    Extract(extract_cmd::ExtractArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Extract(args) => extract_cmd::run(args),
    }
}
