//! The ledger of URL fates: every link the crawl meets and every URL it
//! admits ends in exactly one counted state, so nothing is lost silently.
//!
//! Three ledgers, each closed:
//! - links: every discovered link is invalid, out of scope, too deep, past the
//!   redirect limit, over the crawl's or its host's budget, a duplicate, or
//!   admitted;
//! - URLs: every admitted URL is fetched (by status class), robots-denied,
//!   failed (by error kind), dead-lettered, or still pending;
//! - pages: every 2xx body is parsed into a document, read as a sitemap or
//!   feed, not HTML, or a parse error.
//!
//! Counters are plain atomics so the stages can bump them on any thread; the
//! embedded mode reads them directly, the distributed mode exports them as
//! Prometheus metrics and flushes them into Redis for `crawler status`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, )*) => {
        /// One counted state or event.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Counter { $( $(#[$doc])* $variant, )* }

        impl Counter {
            pub const ALL: &'static [Counter] = &[ $( Counter::$variant, )* ];

            /// Stable snake_case name, used in summaries, metrics and Redis.
            pub fn name(self) -> &'static str {
                match self { $( Counter::$variant => $name, )* }
            }

            pub fn from_name(name: &str) -> Option<Counter> {
                match name { $( $name => Some(Counter::$variant), )* _ => None }
            }
        }
    };
}

counters! {
    /// Links handed to the scheduler (seeds, page links, redirect targets).
    LinksDiscovered => "links_discovered",
    /// Not an http(s) URL, unparsable, or too long.
    LinkInvalid => "link_invalid",
    /// Outside the crawl scope (`--scope`, `--allow-host`).
    LinkOutOfScope => "link_out_of_scope",
    /// Deeper than `--max-depth`.
    LinkTooDeep => "link_too_deep",
    /// A redirect chain longer than `--max-redirects`.
    LinkRedirectLimit => "link_redirect_limit",
    /// Already seen (after canonicalisation).
    LinkDuplicate => "link_duplicate",
    /// New URL refused: the crawl reached its URL budget (`--max-pages`).
    LinkOverLimit => "link_over_limit",
    /// New URL refused: its host reached its budget (`--max-pages-per-host`).
    LinkOverHostLimit => "link_over_host_limit",
    /// New URL, pushed to the frontier.
    UrlAdmitted => "url_admitted",

    /// Fetched with a 2xx status.
    Fetched2xx => "fetched_2xx",
    /// Fetched with a 3xx status: the target went back to the scheduler.
    Fetched3xx => "fetched_3xx",
    /// Fetched with a 4xx status (after retries for 429).
    Fetched4xx => "fetched_4xx",
    /// Fetched with a 5xx status (after retries).
    Fetched5xx => "fetched_5xx",
    /// Fetched with a status outside 200..=599.
    FetchedOther => "fetched_other",
    /// Disallowed by robots.txt (or robots.txt unreachable).
    RobotsDenied => "robots_denied",
    /// Timed out (connect, read or total).
    FailedTimeout => "failed_timeout",
    /// Connection refused or reset.
    FailedConnect => "failed_connect",
    /// Name did not resolve.
    FailedDns => "failed_dns",
    /// TLS handshake or certificate error.
    FailedTls => "failed_tls",
    /// Refused by the SSRF guard (private or loopback address).
    FailedBlocked => "failed_blocked",
    /// Body larger than `--max-body` after decompression.
    FailedTooLarge => "failed_too_large",
    /// Body could not be read or decompressed.
    FailedBody => "failed_body",
    /// Any other request error.
    FailedOther => "failed_other",
    /// A fetch task that could not be processed (poison), dead-lettered.
    UrlDeadLettered => "url_dead_lettered",

    /// Retries scheduled (timeouts, 5xx, 429), not a final state.
    Retries => "retries",
    /// robots.txt requests made.
    RobotsFetches => "robots_fetches",
    /// Response bytes received (after decompression).
    BytesFetched => "bytes_fetched",

    /// HTML page turned into a document.
    PagesParsed => "pages_parsed",
    /// HTML page marked `noindex`: links followed, no document.
    PagesNoindex => "pages_noindex",
    /// 2xx body that is not HTML (counted, not parsed).
    PagesNotHtml => "pages_not_html",
    /// Sitemap or RSS/Atom feed: its URLs went to the scheduler, no document.
    PagesFeed => "pages_feed",
    /// HTML the parser gave up on.
    PagesParseError => "pages_parse_error",
    /// Parsed page whose text equals an earlier page's (recorded, flagged).
    PagesDuplicateContent => "pages_duplicate_content",
    /// Documents written by a sink.
    DocumentsWritten => "documents_written",
    /// Messages dead-lettered by any stage (poison or over the delivery limit).
    MessagesDeadLettered => "messages_dead_lettered",
}

/// The terminal states of an admitted URL.
pub const URL_FATES: &[Counter] = &[
    Counter::Fetched2xx,
    Counter::Fetched3xx,
    Counter::Fetched4xx,
    Counter::Fetched5xx,
    Counter::FetchedOther,
    Counter::RobotsDenied,
    Counter::FailedTimeout,
    Counter::FailedConnect,
    Counter::FailedDns,
    Counter::FailedTls,
    Counter::FailedBlocked,
    Counter::FailedTooLarge,
    Counter::FailedBody,
    Counter::FailedOther,
    Counter::UrlDeadLettered,
];

impl Counter {
    /// The Prometheus series of this counter: a metric name and at most one
    /// label. Related states share a name (`crawler_responses_total{class}`),
    /// so a dashboard sums or splits them with one query.
    pub fn prometheus(self) -> (&'static str, Option<(&'static str, &'static str)>) {
        use Counter::*;
        let (name, label) = match self {
            LinksDiscovered => ("crawler_links_discovered_total", None),
            LinkInvalid => ("crawler_links_total", Some(("fate", "invalid"))),
            LinkOutOfScope => ("crawler_links_total", Some(("fate", "out_of_scope"))),
            LinkTooDeep => ("crawler_links_total", Some(("fate", "too_deep"))),
            LinkRedirectLimit => ("crawler_links_total", Some(("fate", "redirect_limit"))),
            LinkDuplicate => ("crawler_links_total", Some(("fate", "duplicate"))),
            LinkOverLimit => ("crawler_links_total", Some(("fate", "over_limit"))),
            LinkOverHostLimit => ("crawler_links_total", Some(("fate", "over_host_limit"))),
            UrlAdmitted => ("crawler_links_total", Some(("fate", "admitted"))),
            Fetched2xx => ("crawler_responses_total", Some(("class", "2xx"))),
            Fetched3xx => ("crawler_responses_total", Some(("class", "3xx"))),
            Fetched4xx => ("crawler_responses_total", Some(("class", "4xx"))),
            Fetched5xx => ("crawler_responses_total", Some(("class", "5xx"))),
            FetchedOther => ("crawler_responses_total", Some(("class", "other"))),
            RobotsDenied => ("crawler_url_failures_total", Some(("reason", "robots_denied"))),
            FailedTimeout => ("crawler_url_failures_total", Some(("reason", "timeout"))),
            FailedConnect => ("crawler_url_failures_total", Some(("reason", "connect"))),
            FailedDns => ("crawler_url_failures_total", Some(("reason", "dns"))),
            FailedTls => ("crawler_url_failures_total", Some(("reason", "tls"))),
            FailedBlocked => ("crawler_url_failures_total", Some(("reason", "blocked"))),
            FailedTooLarge => ("crawler_url_failures_total", Some(("reason", "too_large"))),
            FailedBody => ("crawler_url_failures_total", Some(("reason", "body"))),
            FailedOther => ("crawler_url_failures_total", Some(("reason", "other"))),
            UrlDeadLettered => ("crawler_url_failures_total", Some(("reason", "dead_lettered"))),
            Retries => ("crawler_retries_total", None),
            RobotsFetches => ("crawler_robots_requests_total", None),
            BytesFetched => ("crawler_received_bytes_total", None),
            PagesParsed => ("crawler_pages_total", Some(("outcome", "parsed"))),
            PagesNoindex => ("crawler_pages_total", Some(("outcome", "noindex"))),
            PagesNotHtml => ("crawler_pages_total", Some(("outcome", "not_html"))),
            PagesFeed => ("crawler_pages_total", Some(("outcome", "feed"))),
            PagesParseError => ("crawler_pages_total", Some(("outcome", "parse_error"))),
            PagesDuplicateContent => ("crawler_duplicate_content_total", None),
            DocumentsWritten => ("crawler_documents_written_total", None),
            MessagesDeadLettered => ("crawler_dead_letters_total", None),
        };
        (name, label)
    }
}

/// URL fates that are an HTTP response.
pub const RESPONSES: &[Counter] = &[
    Counter::Fetched2xx,
    Counter::Fetched3xx,
    Counter::Fetched4xx,
    Counter::Fetched5xx,
    Counter::FetchedOther,
];

/// The states a discovered link ends in.
pub const LINK_FATES: &[Counter] = &[
    Counter::LinkInvalid,
    Counter::LinkOutOfScope,
    Counter::LinkTooDeep,
    Counter::LinkRedirectLimit,
    Counter::LinkDuplicate,
    Counter::LinkOverLimit,
    Counter::LinkOverHostLimit,
    Counter::UrlAdmitted,
];

/// Lock-free counters, one per [`Counter`].
#[derive(Debug)]
pub struct Counters {
    values: Vec<AtomicU64>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters { values: Counter::ALL.iter().map(|_| AtomicU64::new(0)).collect() }
    }
}

impl Counters {
    pub fn add(&self, c: Counter, n: u64) {
        self.values[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub fn incr(&self, c: Counter) {
        self.add(c, 1);
    }

    pub fn get(&self, c: Counter) -> u64 {
        self.values[c as usize].load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot(Counter::ALL.iter().map(|&c| (c, self.get(c))).collect())
    }
}

/// A point-in-time copy of the counters (or a sum over workers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<Counter, u64>);

impl Snapshot {
    pub fn get(&self, c: Counter) -> u64 {
        self.0.get(&c).copied().unwrap_or(0)
    }

    pub fn sum(&self, cs: &[Counter]) -> u64 {
        cs.iter().map(|&c| self.get(c)).sum()
    }

    /// Admitted URLs that reached no terminal state yet (still queued,
    /// leased, or left behind by `--max-pages` / `--max-time`).
    pub fn pending_urls(&self) -> u64 {
        self.get(Counter::UrlAdmitted).saturating_sub(self.sum(URL_FATES))
    }

    /// Per-name map, zeros included, for JSON output.
    pub fn to_map(&self) -> BTreeMap<&'static str, u64> {
        Counter::ALL.iter().map(|&c| (c.name(), self.get(c))).collect()
    }

    /// Difference `self - earlier`, for rates and for flushing deltas.
    pub fn delta(&self, earlier: &Snapshot) -> Snapshot {
        Snapshot(self.0.iter().map(|(&c, &v)| (c, v.saturating_sub(earlier.get(c)))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &c in Counter::ALL {
            assert!(seen.insert(c.name()), "duplicate name {}", c.name());
            assert_eq!(Counter::from_name(c.name()), Some(c));
        }
    }

    #[test]
    fn pending_is_admitted_minus_terminal() {
        let c = Counters::default();
        c.add(Counter::UrlAdmitted, 10);
        c.add(Counter::Fetched2xx, 6);
        c.incr(Counter::RobotsDenied);
        c.incr(Counter::Retries); // not a fate
        assert_eq!(c.snapshot().pending_urls(), 3);
    }
}
