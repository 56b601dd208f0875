//! Command-line options shared by the subcommands, grouped by the stage they
//! configure. Every flag also reads an environment variable (`CRAWL_…`), so a
//! container is configured the same way as a shell.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use crawl_core::{CanonOptions, Scope, ScopeMode};
use crawl_fetch::{AddressPolicy, ClientConfig, Politeness, RobotsConfig};
use crawl_stages::fetcher::FetcherConfig;
use crawl_stages::parser::ParserConfig;

/// A duration: `250` (milliseconds), `250ms`, `2s`, `5m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a duration (try 500ms, 2s, 5m)"))?;
    let secs = match unit.trim() {
        "" | "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        u => return Err(format!("unknown unit {u:?} in {s:?} (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

/// A size: `10485760`, `512KiB`, `10MiB`, `1GiB` (also KB/MB/GB = powers of 1000).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num.parse().map_err(|_| format!("{s:?} is not a size (try 10MiB)"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        u => return Err(format!("unknown unit {u:?} in {s:?}")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("{s:?} is too large"))
}

/// Which links the crawl follows.
#[derive(Args, Debug, Clone)]
pub struct ScopeArgs {
    /// Hosts to crawl: `host` = only the seeds' hosts, `domain` = their
    /// registrable domains (`*.example.co.uk`), `any` = everything reachable.
    #[arg(long, env = "CRAWL_SCOPE", default_value = "host", value_name = "host|domain|any")]
    pub scope: ScopeMode,
    /// Also crawl this host (repeatable; comma-separated in the variable).
    #[arg(long = "allow-host", env = "CRAWL_ALLOW_HOST", value_delimiter = ',', value_name = "HOST")]
    pub allow_hosts: Vec<String>,
    /// Do not follow links deeper than this (seeds are depth 0).
    #[arg(long, env = "CRAWL_MAX_DEPTH", value_name = "N")]
    pub max_depth: Option<u32>,
    /// Longest redirect chain followed.
    #[arg(long, env = "CRAWL_MAX_REDIRECTS", default_value_t = 10, value_name = "N")]
    pub max_redirects: u32,
    /// Admit at most this many URLs per host (redirect targets count): the
    /// budget that ends a spider trap (endless calendars, faceted search) on
    /// its host without stopping the rest of the crawl. Default: no budget.
    #[arg(long, env = "CRAWL_MAX_PAGES_PER_HOST", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pages_per_host: Option<u64>,
    #[command(flatten)]
    pub canon: CanonArgs,
}

/// Which URLs count as the same.
#[derive(Args, Debug, Clone)]
pub struct CanonArgs {
    /// Sort query parameters when canonicalising URLs (`?b=1&a=2` = `?a=2&b=1`).
    #[arg(long, env = "CRAWL_SORT_QUERY")]
    pub sort_query: bool,
}

impl CanonArgs {
    pub fn options(&self) -> CanonOptions {
        CanonOptions { sort_query: self.sort_query }
    }
}

impl ScopeArgs {
    pub fn canon(&self) -> CanonOptions {
        self.canon.options()
    }

    /// The scope for these seeds plus `--allow-host`.
    pub fn scope(&self, seeds: &[url::Url]) -> Scope {
        let mut scope = Scope::new(self.scope);
        for s in seeds {
            scope.add_seed(s);
        }
        for h in &self.allow_hosts {
            scope.allow_host(h.trim());
        }
        scope
    }
}

/// How the fetcher behaves towards sites.
#[derive(Args, Debug, Clone)]
pub struct FetchArgs {
    /// User-Agent header. Say who you are and how to reach you.
    #[arg(long, env = "CRAWL_USER_AGENT", default_value = concat!("NewsCrawler/", env!("CARGO_PKG_VERSION"), " (+https://example.org/newscrawler)"))]
    pub user_agent: String,
    /// Product token matched against robots.txt `User-agent` lines
    /// (default: the User-Agent up to its first `/` or space).
    #[arg(long, env = "CRAWL_ROBOTS_AGENT", value_name = "TOKEN")]
    pub robots_agent: Option<String>,
    /// Minimum rest between two requests to one host (`250` = 250 ms; `2s`).
    #[arg(long, env = "CRAWL_DELAY", default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub delay: Duration,
    /// The rest is also at least this many times the last response time.
    #[arg(long, env = "CRAWL_DELAY_FACTOR", default_value_t = 5.0, value_name = "K")]
    pub delay_factor: f64,
    /// Ceiling on a robots.txt Crawl-delay.
    #[arg(long, env = "CRAWL_MAX_CRAWL_DELAY", default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub max_crawl_delay: Duration,
    /// Requests in flight at once (each to a different host).
    #[arg(long, env = "CRAWL_CONCURRENCY", default_value_t = 64, value_name = "N")]
    pub concurrency: usize,
    /// Requests per second of this process, all hosts together (default: no cap).
    #[arg(long, env = "CRAWL_MAX_RPS", value_name = "N")]
    pub max_rps: Option<NonZeroU32>,
    /// Tries per URL for timeouts, connection errors, 5xx and 429.
    #[arg(long, env = "CRAWL_MAX_ATTEMPTS", default_value_t = 3, value_name = "N")]
    pub max_attempts: u32,
    /// Largest body accepted, counted after decompression.
    #[arg(long, env = "CRAWL_MAX_BODY", default_value = "10MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_body: usize,
    /// Connection timeout.
    #[arg(long, env = "CRAWL_CONNECT_TIMEOUT", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub connect_timeout: Duration,
    /// Longest silence while reading a response.
    #[arg(long, env = "CRAWL_READ_TIMEOUT", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub read_timeout: Duration,
    /// Longest whole request.
    #[arg(long, env = "CRAWL_TIMEOUT", default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
    /// Allow loopback, private and link-local addresses (tests, intranets).
    /// By default they are refused, after DNS resolution and on every redirect.
    #[arg(long, env = "CRAWL_ALLOW_PRIVATE")]
    pub allow_private: bool,
    /// Do not fetch the sitemaps robots.txt lists (by default they are crawled
    /// like pages and their URLs go through scope and dedup like links).
    #[arg(long, env = "CRAWL_NO_SITEMAPS")]
    pub no_sitemaps: bool,
}

impl FetchArgs {
    pub fn client(&self) -> ClientConfig {
        ClientConfig {
            user_agent: self.user_agent.clone(),
            connect_timeout: self.connect_timeout,
            read_timeout: self.read_timeout,
            total_timeout: self.timeout,
            max_body: self.max_body,
            policy: AddressPolicy { allow_private: self.allow_private },
        }
    }

    pub fn robots(&self) -> RobotsConfig {
        let agent = self
            .robots_agent
            .clone()
            .unwrap_or_else(|| self.user_agent.split(['/', ' ']).next().unwrap_or("").to_ascii_lowercase());
        RobotsConfig { agent, ..RobotsConfig::default() }
    }

    pub fn fetcher(&self) -> FetcherConfig {
        FetcherConfig {
            politeness: Politeness {
                min_delay: self.delay,
                delay_factor: self.delay_factor,
                max_crawl_delay: self.max_crawl_delay,
                ..Politeness::default()
            },
            max_attempts: self.max_attempts.max(1),
            concurrency: self.concurrency.max(1),
            max_rps: self.max_rps,
            follow_sitemaps: !self.no_sitemaps,
        }
    }

    /// A host lease must outlast the longest request (plus a robots.txt
    /// fetch before it).
    pub fn fetch_lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(30)
    }
}

/// How pages are parsed.
#[derive(Args, Debug, Clone)]
pub struct ParseArgs {
    /// Pages parsed at once (default: the number of cores).
    #[arg(long, env = "CRAWL_PARSERS", value_name = "N")]
    pub parsers: Option<usize>,
    /// Do not follow links marked rel=nofollow (they are always recorded).
    #[arg(long, env = "CRAWL_SKIP_NOFOLLOW")]
    pub skip_nofollow: bool,
}

impl ParseArgs {
    pub fn parser(&self, canon: CanonOptions) -> ParserConfig {
        let mut cfg = ParserConfig { skip_nofollow: self.skip_nofollow, canon, ..ParserConfig::default() };
        if let Some(n) = self.parsers {
            cfg.concurrency = n.max(1);
        }
        cfg
    }
}

/// Seed URLs from arguments and a file (one per line, `#` comments).
pub fn read_seeds(args: &[String], file: Option<&PathBuf>) -> anyhow::Result<Vec<url::Url>> {
    let mut raw: Vec<(String, String)> = args.iter().map(|a| (a.clone(), "command line".into())).collect();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read seeds file {}", path.display()))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if !line.is_empty() {
                raw.push((line.to_string(), format!("{}:{}", path.display(), i + 1)));
            }
        }
    }
    let mut seeds = Vec::new();
    for (s, from) in raw {
        let url = crawl_core::canon::canonicalize_str(&s, &CanonOptions::default())
            .with_context(|| format!("bad seed {s:?} ({from})"))?;
        seeds.push(url);
    }
    if seeds.is_empty() {
        bail!("no seed URLs: give them as arguments or with --seeds FILE");
    }
    Ok(seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("50").unwrap(), Duration::from_millis(50));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(parse_size("10MiB").unwrap(), 10 << 20);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert!(parse_size("lots").is_err());
    }
}
