//! The fetch stage, one task at a time, against a real server and a real
//! in-memory frontier: what each kind of answer (or non-answer) does to the
//! URL's fate, to the host's politeness clock, and to the server.
//!
//! Tasks come from [`MemoryFrontier::release`], so they hold real leases.
//! `Fetcher::handle` returns its outcome instead of acting on it; the tests
//! check the outcome, hand its completion to the frontier, and then jump
//! tokio's clock (which the frontier and the robots.txt cache read) over the
//! host's rest, so a 10-second backoff takes no time. The clock only jumps
//! between requests: paused time during network I/O would fire timeouts.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use crawl_core::{Counter, Counters, Discovery, FetchTask, FrontierEntry, HostKey, UrlHash};
use crawl_fetch::{
    AddressPolicy, ClientConfig, HttpClient, Politeness, RobotsCache, RobotsConfig, RobotsStore, StoredRobots,
};
use crawl_frontier::memory::MemoryFrontier;
use crawl_frontier::{Admission, Candidate, Frontier, FrontierConfig};
use crawl_stages::fetcher::{Fetcher, FetcherConfig, Outcome};
use crawl_store::{BodyStore, MemoryBodyStore};
use crawl_testsite::{Reply, Route, TestServer};
use url::Url;

const MAX_ATTEMPTS: u32 = 3;

/// A robots.txt store that already knows every origin's answer, as the
/// shared store does when another fetcher read the file first.
struct KnownRobots(StoredRobots);

#[async_trait]
impl RobotsStore for KnownRobots {
    async fn get(&self, _origin: &str) -> Option<StoredRobots> {
        Some(self.0.clone())
    }

    async fn put(&self, _origin: &str, _robots: &StoredRobots, _ttl: Duration) {}
}

struct Harness {
    frontier: Arc<MemoryFrontier>,
    bodies: Arc<MemoryBodyStore>,
    fetcher: Fetcher,
}

impl Harness {
    /// A fetcher allowed on loopback (where the test server is).
    fn new() -> Harness {
        Harness::with(AddressPolicy { allow_private: true }, None)
    }

    fn with(policy: AddressPolicy, known_robots: Option<StoredRobots>) -> Harness {
        let frontier = Arc::new(MemoryFrontier::new(FrontierConfig::default()));
        let bodies = Arc::new(MemoryBodyStore::default());
        let client = HttpClient::new(ClientConfig {
            connect_timeout: Duration::from_millis(500),
            read_timeout: Duration::from_millis(300),
            total_timeout: Duration::from_secs(1),
            max_body: 1 << 20,
            policy,
            ..ClientConfig::default()
        })
        .unwrap();
        let store = known_robots.map(|r| Arc::new(KnownRobots(r)) as Arc<dyn RobotsStore>);
        let fetcher = Fetcher::new(
            FetcherConfig {
                politeness: Politeness::default(),
                max_attempts: MAX_ATTEMPTS,
                ..FetcherConfig::default()
            },
            client,
            RobotsCache::new(RobotsConfig::default(), store),
            frontier.clone(),
            bodies.clone(),
            Arc::new(Counters::default()),
        );
        Harness { frontier, bodies, fetcher }
    }

    async fn admit(&self, url: &Url) {
        let entry = FrontierEntry { url: url.to_string(), depth: 0, attempt: 0, redirects: 0, origin: None };
        let candidate = Candidate { hash: UrlHash::of(url), host: HostKey::of(url), entry };
        assert_eq!(self.frontier.admit(&[candidate]).await.unwrap(), [Admission::Queued]);
    }

    /// The next task the frontier releases, under a fresh lease.
    async fn next_task(&self) -> FetchTask {
        let leased = self.frontier.release(1).await.unwrap().leased.pop().expect("a host is due");
        FetchTask::new(leased.host, leased.token, leased.hash, leased.entry)
    }

    async fn handle_next(&self) -> (FetchTask, Outcome) {
        let task = self.next_task().await;
        let outcome = self.fetcher.handle(&task, false).await.unwrap();
        (task, outcome)
    }

    /// Complete the lease as the stage would, and let the host's rest pass.
    async fn settle(&self, outcome: &Outcome) {
        let completion = outcome.completion.clone().expect("every handled lease is completed");
        let rest = completion.delay;
        self.frontier.complete(completion).await.unwrap();
        tokio::time::pause();
        tokio::time::advance(rest).await;
        tokio::time::resume();
    }

    /// A harness with `target` on `server` admitted and robots.txt read, so
    /// the next task requests the page.
    async fn after_robots_txt(server: &TestServer, target: &str) -> Harness {
        let h = Harness::new();
        h.admit(&server.url(target)).await;
        h.read_robots_txt().await;
        h
    }

    /// Handle the first task of a host: it only fetches robots.txt.
    async fn read_robots_txt(&self) {
        let (task, outcome) = self.handle_next().await;
        assert_eq!(outcome.fate, None, "{outcome:?}");
        assert_eq!(count(&outcome, Counter::RobotsFetches), 1);
        let completion = outcome.completion.as_ref().unwrap();
        assert!(!completion.backoff);
        assert!(completion.delay >= Politeness::default().min_delay, "the robots.txt request counts");
        let (hash, entry) = completion.requeue.as_ref().expect("the URL waits for its turn");
        assert_eq!((*hash, entry), (task.url_hash, &task.entry), "requeued as it was, attempt included");
        self.settle(&outcome).await;
    }
}

/// How much of `counter` the outcome adds besides its fate.
fn count(outcome: &Outcome, counter: Counter) -> u64 {
    outcome.extra.iter().filter(|(c, _)| *c == counter).map(|(_, n)| n).sum()
}

/// A server with one page, `/page`, admitted to a fresh harness.
async fn one_page_admitted() -> (TestServer, Harness) {
    let server = TestServer::start().await.unwrap();
    server.route("/page", Reply::html("<p>page</p>"));
    let h = Harness::new();
    h.admit(&server.url("/page")).await;
    (server, h)
}

fn targets(server: &TestServer) -> Vec<String> {
    server.requests().into_iter().map(|r| r.target).collect()
}

#[tokio::test]
async fn robots_txt_comes_first_then_the_page() {
    let server = TestServer::start().await.unwrap();
    server.route("/robots.txt", Reply::text("User-agent: *\nDisallow: /private/\n"));
    server.route("/news/a", Reply::html("<h1>A</h1>").header("ETag", "\"v1\""));
    let h = Harness::new();
    h.admit(&server.url("/news/a")).await;

    h.read_robots_txt().await;
    assert_eq!(targets(&server), ["/robots.txt"]);

    let (task, outcome) = h.handle_next().await;
    assert_eq!(outcome.fate, Some(Counter::Fetched2xx));
    assert_eq!(count(&outcome, Counter::BytesFetched), 10);
    assert!(outcome.completion.as_ref().unwrap().requeue.is_none());
    let result = outcome.result.expect("a page for the parsers");
    assert_eq!((result.url.as_str(), result.status), (server.url("/news/a").as_str(), 200));
    assert_eq!(result.task_id, task.task_id);
    assert_eq!(result.meta.content_type.as_deref(), Some("text/html; charset=utf-8"));
    assert_eq!(result.meta.etag.as_deref(), Some("\"v1\""));
    assert_eq!(&h.bodies.get(&result.body_ref).await.unwrap()[..], b"<h1>A</h1>");
    assert_eq!(targets(&server), ["/robots.txt", "/news/a"]);
    let agent = server.requests()[1].header("user-agent").unwrap_or_default().to_string();
    assert!(agent.starts_with("NewsCrawler/"), "{agent}");
}

#[tokio::test]
async fn sitemaps_listed_by_robots_txt_go_to_the_scheduler() {
    let server = TestServer::start().await.unwrap();
    let sitemap = server.url("/sitemap.xml");
    let robots = format!("User-agent: *\nAllow: /\n\nSitemap: {sitemap}\nSitemap: /news-sitemap.xml\n");
    server.route("/robots.txt", Reply::text(robots));
    server.route("/sitemap.xml", Reply::new(200).header("Content-Type", "application/xml").body("<urlset/>"));
    let h = Harness::new();
    h.admit(&server.url("/news/a")).await;

    let (task, outcome) = h.handle_next().await;
    let batch = outcome.links.clone().expect("the sitemap goes to the scheduler");
    assert_eq!(batch.kind, Discovery::Sitemap);
    let relative = server.url("/news-sitemap.xml").to_string();
    assert_eq!(batch.links, [sitemap.to_string(), relative], "a relative line is taken as meant");
    assert_eq!(batch.depth, task.entry.depth + 1);
    assert_eq!(targets(&server), ["/robots.txt"], "no request beyond robots.txt in this lease");
    h.settle(&outcome).await;

    // The sitemap itself is a page to the fetcher: its body is kept for the parser.
    h.admit(&sitemap).await;
    let (_, page) = h.handle_next().await;
    h.settle(&page).await;
    let (_, outcome) = h.handle_next().await;
    let result = outcome.result.expect("the sitemap's body goes to the parser");
    assert_eq!(result.meta.content_type.as_deref(), Some("application/xml"));
}

#[tokio::test]
async fn disallowed_url_is_denied_without_a_request() {
    let server = TestServer::start().await.unwrap();
    server.route("/robots.txt", Reply::text("User-agent: *\nDisallow: /private/\n"));
    server.route("/private/x", Reply::html("secret"));
    let h = Harness::after_robots_txt(&server, "/private/x").await;
    let (_, outcome) = h.handle_next().await;
    assert_eq!(outcome.fate, Some(Counter::RobotsDenied));
    let completion = outcome.completion.unwrap();
    assert_eq!(completion.delay, Duration::ZERO, "no request, so no rest for the host");
    assert!(completion.requeue.is_none());
    assert_eq!(targets(&server), ["/robots.txt"]);
}

#[tokio::test]

async fn robots_txt_that_fails_once_is_tried_again_before_the_url_is_given_up() {
    let server = TestServer::start().await.unwrap();
    server.route("/robots.txt", Reply::new(503));
    server.route("/page", Reply::html("<p>page</p>"));
    let h = Harness::new();
    h.admit(&server.url("/page")).await;
    let (_, outcome) = h.handle_next().await;
    assert_eq!(outcome.fate, None, "robots.txt unreachable: the URL waits");
    h.settle(&outcome).await;
    // The server recovers at once.
    server.route("/robots.txt", Reply::text("User-agent: *\nDisallow:\n"));

    let mut fate = None;
    for _ in 0..=MAX_ATTEMPTS {
        let (_, outcome) = h.handle_next().await;
        if outcome.fate.is_some() {
            fate = outcome.fate;
            break;
        }
        h.settle(&outcome).await;
    }
    assert!(server.hits("/robots.txt") >= 2, "robots.txt retried: {:?}", targets(&server));
    assert_eq!(fate, Some(Counter::Fetched2xx));
}

#[tokio::test]
async fn redirect_becomes_a_link_batch_for_the_scheduler() {
    let server = TestServer::start().await.unwrap();
    server.route("/old", Reply::redirect(301, "/new"));
    let h = Harness::after_robots_txt(&server, "/old").await;
    let old = server.url("/old");
    let (_, outcome) = h.handle_next().await;
    assert_eq!(outcome.fate, Some(Counter::Fetched3xx));
    assert!(outcome.result.is_none());
    let batch = outcome.links.expect("the target goes back to the scheduler");
    assert_eq!(batch.kind, Discovery::Redirect);
    assert_eq!(batch.links, [server.url("/new").to_string()]);
    assert_eq!((batch.source.as_deref(), batch.origin.as_deref()), (Some(old.as_str()), Some(old.as_str())));
    assert_eq!(batch.redirects, 1);
    assert_eq!(server.hits("/new"), 0, "the fetcher does not follow it");
}

/// The next task keeps failing: every attempt but the last is retried with
/// a backoff of at least `min_backoff`, the last ends in `fate`.
async fn assert_retried_then(h: &Harness, fate: Counter, min_backoff: Duration) {
    for attempt in 0..MAX_ATTEMPTS {
        let (task, outcome) = h.handle_next().await;
        assert_eq!(task.entry.attempt, attempt);
        let completion = outcome.completion.as_ref().unwrap();
        assert!(completion.backoff, "attempt {attempt}: the host backs off");
        assert!(completion.delay >= min_backoff, "attempt {attempt}: {:?}", completion.delay);
        if attempt + 1 < MAX_ATTEMPTS {
            assert_eq!(outcome.fate, None, "attempt {attempt}: {outcome:?}");
            assert_eq!(count(&outcome, Counter::Retries), 1);
            let (_, entry) = completion.requeue.as_ref().expect("the URL is retried");
            assert_eq!(entry.attempt, attempt + 1);
            h.settle(&outcome).await;
        } else {
            assert_eq!(outcome.fate, Some(fate), "last attempt: {outcome:?}");
            assert!(completion.requeue.is_none());
        }
    }
}

/// `/page` keeps answering as `route` says.
async fn assert_page_retried_then(route: impl Into<Route>, fate: Counter, min_backoff: Duration) {
    let server = TestServer::start().await.unwrap();
    server.route("/page", route);
    let h = Harness::after_robots_txt(&server, "/page").await;
    assert_retried_then(&h, fate, min_backoff).await;
    assert_eq!(server.hits("/page"), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn too_many_requests_backs_off_as_asked_then_gives_up() {
    assert_page_retried_then(Reply::retry_after(429, 7), Counter::Fetched4xx, Duration::from_secs(7)).await;
}

#[tokio::test]
async fn unavailable_backs_off_as_asked_then_gives_up() {
    assert_page_retried_then(Reply::retry_after(503, 7), Counter::Fetched5xx, Duration::from_secs(7)).await;
}

#[tokio::test]
async fn silent_server_times_out_and_is_retried() {
    assert_page_retried_then(Route::Silent, Counter::FailedTimeout, Politeness::default().backoff_base).await;
}

#[tokio::test]

async fn reset_connection_is_retried_then_failed_connect() {
    assert_page_retried_then(Route::Reset, Counter::FailedConnect, Politeness::default().backoff_base).await;
}

#[tokio::test]
async fn connection_refused_is_retried_then_failed_connect() {
    // robots.txt is known already (from the shared store), so every attempt
    // goes for the page.
    let h = Harness::with(AddressPolicy { allow_private: true }, Some(StoredRobots::AllowAll));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    h.admit(&Url::parse(&format!("http://{closed}/page")).unwrap()).await;
    assert_retried_then(&h, Counter::FailedConnect, Politeness::default().backoff_base).await;
}

#[tokio::test]
async fn oversized_body_fails_at_once() {
    let server = TestServer::start().await.unwrap();
    server.route("/huge", Reply::html("").endless());
    let h = Harness::after_robots_txt(&server, "/huge").await;
    let (_, outcome) = h.handle_next().await;
    assert_eq!(outcome.fate, Some(Counter::FailedTooLarge));
    let completion = outcome.completion.unwrap();
    assert!(!completion.backoff && completion.requeue.is_none(), "the same body would come again");
}

#[tokio::test]
async fn content_type_decides_whether_the_body_is_kept() {
    let server = TestServer::start().await.unwrap();
    server.route("/photo", Reply::new(200).header("Content-Type", "image/jpeg").body(vec![0xff; 4096]));
    server.route("/unlabelled", Reply::new(200).body("<p>sniff me</p>"));
    let h = Harness::after_robots_txt(&server, "/photo").await;
    h.admit(&server.url("/unlabelled")).await;

    let (_, photo) = h.handle_next().await;
    assert_eq!(photo.fate, Some(Counter::Fetched2xx));
    assert_eq!(count(&photo, Counter::PagesNotHtml), 1);
    assert_eq!(count(&photo, Counter::BytesFetched), 0, "not downloaded");
    assert!(photo.result.is_none());
    h.settle(&photo).await;

    let (_, unlabelled) = h.handle_next().await;
    let result = unlabelled.result.expect("an unlabelled body goes to the parser, which sniffs it");
    assert_eq!(result.meta.content_type, None);
    assert_eq!(&h.bodies.get(&result.body_ref).await.unwrap()[..], b"<p>sniff me</p>");
}

#[tokio::test]
async fn private_address_is_refused_before_any_request() {
    let server = TestServer::start().await.unwrap();
    server.route("/page", Reply::html("<p>internal</p>"));
    let port = server.addr().port();
    // By name (refused after resolution) and by IP literal (refused up front).
    for url in [format!("http://localhost:{port}/page"), format!("http://127.0.0.1:{port}/page")] {
        let h = Harness::with(AddressPolicy { allow_private: false }, None);
        h.admit(&Url::parse(&url).unwrap()).await;
        let (_, outcome) = h.handle_next().await;
        assert_eq!(outcome.fate, Some(Counter::FailedBlocked), "{url}");
        assert!(outcome.completion.unwrap().requeue.is_none(), "{url}");
    }
    assert_eq!(targets(&server), Vec::<String>::new(), "nothing reached the server");
}

#[tokio::test]
async fn stale_lease_puts_the_url_back_without_a_request() {
    let (server, h) = one_page_admitted().await;
    let mut task = h.next_task().await;
    task.lease = task.lease.wrapping_add(1); // a lease the frontier never granted

    let outcome = h.fetcher.handle(&task, false).await.unwrap();
    assert!(outcome.completion.is_none() && outcome.fate.is_none(), "{outcome:?}");
    assert_eq!(h.frontier.stats().await.unwrap().urls_queued, 1, "the URL is queued again");
    assert_eq!(targets(&server), Vec::<String>::new());
}

#[tokio::test]
async fn redelivered_task_of_a_completed_lease_is_dropped() {
    let (server, h) = one_page_admitted().await;
    let (task, outcome) = h.handle_next().await;
    h.settle(&outcome).await;
    let requests = server.requests().len();

    let again = h.fetcher.handle(&task, true).await.unwrap();
    assert!(again.completion.is_none() && again.fate.is_none(), "{again:?}");
    assert_eq!(server.requests().len(), requests, "no second request");
}

#[tokio::test]
async fn redelivered_task_rests_the_host_before_any_request() {
    let (server, h) = one_page_admitted().await;
    let task = h.next_task().await;

    // The fetcher that held this task may have died mid-request.
    let outcome = h.fetcher.handle(&task, true).await.unwrap();
    assert_eq!(outcome.fate, None);
    let completion = outcome.completion.as_ref().unwrap();
    assert!(completion.delay >= Politeness::default().min_delay, "{:?}", completion.delay);
    assert_eq!(completion.requeue.as_ref().map(|(_, e)| e), Some(&task.entry));
    assert_eq!(targets(&server), Vec::<String>::new());

    h.settle(&outcome).await;
    h.read_robots_txt().await;
    assert_eq!(h.handle_next().await.1.fate, Some(Counter::Fetched2xx));
}
