//! The HTTP client and the robots.txt cache against servers that misbehave
//! on purpose: bombs, endless and trickling bodies, silence, resets,
//! redirect loops, and robots.txt files that are missing, failing, broken,
//! redirected or huge.
//!
//! Timeouts are short so the whole file runs in a few seconds; every
//! assertion on time has a wide margin, since CI shares two cores.

use std::time::{Duration, Instant};

use crawl_fetch::robots_cache::Fetched;
use crawl_fetch::{
    AddressPolicy, ClientConfig, ErrorKind, FetchError, HttpClient, Request, Response, RobotsCache,
    RobotsConfig, RobotsState, Rules,
};
use crawl_testsite::{Reply, Route, TestServer};
use url::Url;

/// Body cap of the test client: small, so caps are reached quickly.
const CAP: usize = 1 << 20;
const READ_TIMEOUT: Duration = Duration::from_millis(300);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest a request may take in these tests: the total timeout plus slack
/// for a loaded machine. A request that hangs fails this, not the suite.
const BOUND: Duration = Duration::from_secs(3);

fn client() -> HttpClient {
    HttpClient::new(ClientConfig {
        connect_timeout: Duration::from_millis(500),
        read_timeout: READ_TIMEOUT,
        total_timeout: TOTAL_TIMEOUT,
        max_body: CAP,
        policy: AddressPolicy { allow_private: true },
        ..ClientConfig::default()
    })
    .unwrap()
}

/// GET `target` on `server`, wanting the body; returns the result and how long it took.
async fn get(server: &TestServer, target: &str) -> (Result<Response, FetchError>, Duration) {
    let url = server.url(target);
    let started = Instant::now();
    let result =
        client().get(Request { url: &url, accept: "*/*", want_body: |_| true, truncate_at: None }).await;
    let elapsed = started.elapsed();
    assert!(elapsed < BOUND, "GET {target} took {elapsed:?}");
    (result, elapsed)
}

async fn error_of(server: &TestServer, target: &str) -> FetchError {
    match get(server, target).await.0 {
        Ok(resp) => {
            panic!("GET {target}: expected an error, got {} with {} bytes", resp.status, resp.body.len())
        }
        Err(e) => e,
    }
}

#[tokio::test]
async fn gzip_bomb_is_cut_at_the_cap_after_decompression() {
    let server = TestServer::start().await.unwrap();
    server.route("/bomb", Reply::gzip_bomb(128 << 20));
    let (result, elapsed) = get(&server, "/bomb").await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooLarge, "{err}");
    // Inflating all 128 MiB would take longer than this; the cap stops it early.
    assert!(elapsed < TOTAL_TIMEOUT, "{elapsed:?}");
}

#[tokio::test]
async fn endless_body_is_cut_at_the_cap() {
    let server = TestServer::start().await.unwrap();
    server.route("/endless", Reply::html("").endless());
    let err = error_of(&server, "/endless").await;
    assert_eq!(err.kind, ErrorKind::TooLarge, "{err}");
}

#[tokio::test]
async fn declared_length_over_the_cap_is_refused_before_reading() {
    let server = TestServer::start().await.unwrap();
    server.route("/big", Reply::html(vec![b' '; 2 * CAP]));
    let err = error_of(&server, "/big").await;
    assert_eq!(err.kind, ErrorKind::TooLarge, "{err}");
    assert!(err.detail.contains("Content-Length"), "{err}");
}

#[tokio::test]
async fn trickle_slower_than_the_read_timeout_times_out() {
    let server = TestServer::start().await.unwrap();
    server.route("/drip", Reply::html(vec![b'x'; 100]).drip(10, READ_TIMEOUT * 2));
    let err = error_of(&server, "/drip").await;
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
}

#[tokio::test]
async fn trickle_within_the_read_timeout_hits_the_total_timeout() {
    let server = TestServer::start().await.unwrap();
    // A piece every 100 ms keeps each read short; the whole would take 10 s.
    server.route("/drip", Reply::html(vec![b'x'; 1000]).drip(10, Duration::from_millis(100)));
    let (result, elapsed) = get(&server, "/drip").await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert!(elapsed >= TOTAL_TIMEOUT, "stopped by the total timeout, after {elapsed:?}");
}

#[tokio::test]
async fn headers_never_sent_time_out() {
    let server = TestServer::start().await.unwrap();
    server.route("/silent", Route::Silent);
    let err = error_of(&server, "/silent").await;
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
}

#[tokio::test]
async fn reset_connection_is_an_error_not_a_hang() {
    let server = TestServer::start().await.unwrap();
    server.route("/reset", Route::Reset);
    let err = error_of(&server, "/reset").await;
    assert!(matches!(err.kind, ErrorKind::Connect | ErrorKind::Body | ErrorKind::Other), "{err}");
    assert_eq!(server.hits("/reset"), 1);
}

#[tokio::test]

async fn reset_connection_is_a_transient_connect_error() {
    let server = TestServer::start().await.unwrap();
    server.route("/reset", Route::Reset);
    let err = error_of(&server, "/reset").await;
    assert_eq!(err.kind, ErrorKind::Connect, "{err}");
    assert!(err.kind.is_transient());
}

#[tokio::test]
async fn redirects_are_answered_not_followed() {
    let server = TestServer::start().await.unwrap();
    server.route("/a", Reply::redirect(301, "/b")).route("/b", Reply::redirect(302, "/a"));
    let resp = get(&server, "/a").await.0.unwrap();
    assert_eq!(resp.status, 301);
    assert_eq!(resp.location(&server.url("/a")), Some(server.url("/b")));
    assert!(resp.body.is_empty());
    assert_eq!(server.hits("/b"), 0, "the client never follows a redirect itself");
}

#[tokio::test]
async fn bodies_are_read_only_for_2xx_answers_that_want_them() {
    let server = TestServer::start().await.unwrap();
    // Endless bodies: reading any of them would fail the test with TooLarge.
    server.route("/gone", Reply::new(404).header("Content-Type", "text/html").endless());
    server.route("/broken", Reply::new(500).endless());
    server.route("/video", Reply::new(200).header("Content-Type", "video/mp4").endless());
    for (target, status) in [("/gone", 404), ("/broken", 500)] {
        let resp = get(&server, target).await.0.unwrap();
        assert_eq!((resp.status, resp.body.len()), (status, 0), "{target}");
    }
    let url = server.url("/video");
    let html_only = Request {
        url: &url,
        accept: "text/html",
        want_body: |h| h.get("content-type").is_none(),
        truncate_at: None,
    };
    let resp = client().get(html_only).await.unwrap();
    assert_eq!((resp.status, resp.body.len()), (200, 0));
}

/// Fetch the robots.txt of `server` with a fresh cache.
async fn robots(server: &TestServer) -> Fetched {
    let cache = RobotsCache::new(RobotsConfig::default(), None);
    let started = Instant::now();
    let fetched = cache.fetch(&client(), &server.url("/page")).await.unwrap();
    assert!(started.elapsed() < BOUND);
    fetched
}

#[tokio::test]
async fn missing_robots_txt_allows_everything() {
    let server = TestServer::start().await.unwrap();
    let fetched = robots(&server).await;
    assert_eq!(*fetched.state, RobotsState::Rules(Rules::allow_all()));
    assert_eq!(fetched.requests, 1);
    assert_eq!(server.requests()[0].path(), "/robots.txt");
}

#[tokio::test]
async fn failing_robots_txt_makes_the_site_unreachable() {
    for failure in [Reply::new(500), Reply::new(503), Reply::retry_after(429, 60)] {
        let server = TestServer::start().await.unwrap();
        server.route("/robots.txt", failure);
        let fetched = robots(&server).await;
        assert_eq!(*fetched.state, RobotsState::Unreachable);
        assert!(!fetched.state.allows("/"));
    }
}

#[tokio::test]
async fn robots_txt_of_a_host_that_refuses_connections_is_unreachable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let cache = RobotsCache::new(RobotsConfig::default(), None);
    let url = Url::parse(&format!("http://{closed}/page")).unwrap();
    let fetched = cache.fetch(&client(), &url).await.unwrap();
    assert_eq!(*fetched.state, RobotsState::Unreachable);
}

#[tokio::test]
async fn malformed_robots_txt_is_read_leniently() {
    let server = TestServer::start().await.unwrap();
    let body = "\u{feff}<!-- a CMS put HTML here -->\r\n\
                USER-AGENT : *\r\n\
                this line means nothing\n\
                Disallow /no-colon-so-ignored\n\
                disallow: /private/   # trailing comment\n\
                Disalow: /typo-so-ignored\n\
                Allow:/private/open\n\
                Crawl-delay: soon\n\
                \n\
                Sitemap:\n\
                garbage: : :\n";
    server.route("/robots.txt", Reply::text(body));
    let fetched = robots(&server).await;
    let state = &fetched.state;
    assert!(!state.allows("/private/x"), "the rule after the noise still applies");
    assert!(state.allows("/private/open"), "Allow without a space after the colon");
    assert!(state.allows("/no-colon-so-ignored") && state.allows("/typo-so-ignored"));
    assert_eq!(state.crawl_delay(), None);
}

/// A server whose robots.txt is reached through `hops` redirects.
async fn robots_behind_redirects(hops: usize) -> (TestServer, Fetched) {
    let server = TestServer::start().await.unwrap();
    let mut from = "/robots.txt".to_string();
    for hop in 1..hops {
        let to = format!("/hop{hop}");
        server.route(&from, Reply::redirect(301, &to));
        from = to;
    }
    server.route(&from, Reply::redirect(308, "/real-robots.txt"));
    server.route("/real-robots.txt", Reply::text("User-agent: *\nDisallow: /private/\n"));
    let fetched = robots(&server).await;
    (server, fetched)
}

#[tokio::test]
async fn robots_txt_redirects_are_followed_up_to_five_hops() {
    let (_server, fetched) = robots_behind_redirects(5).await;
    assert_eq!(fetched.requests, 6, "five redirects, then the file");
    assert!(!fetched.state.allows("/private/x"));

    // RFC 9309 §2.3.1.2: after five redirects robots.txt may be taken as
    // unavailable, which allows everything.
    let (server, fetched) = robots_behind_redirects(6).await;
    assert_eq!(fetched.requests, 6);
    assert_eq!(server.hits("/real-robots.txt"), 0);
    assert!(fetched.state.allows("/private/x"));
}

/// A robots.txt of about `size` bytes: a rule on top, padding comments, and
/// a rule at the very end.
fn huge_robots(size: usize) -> String {
    let mut body = String::from("User-agent: *\nDisallow: /early/\n");
    while body.len() < size {
        body.push_str("# padding, as in files generated from a long list of paths\n");
    }
    body.push_str("Disallow: /late/\n");
    body
}

#[tokio::test]
async fn huge_robots_txt_is_parsed_up_to_500_kib() {
    let server = TestServer::start().await.unwrap();
    server.route("/robots.txt", Reply::text(huge_robots(600 << 10)));
    let fetched = robots(&server).await;
    assert!(!fetched.state.allows("/early/x"));
    assert!(fetched.state.allows("/late/x"), "a rule past 500 KiB is not read");
}

#[tokio::test]

async fn robots_txt_larger_than_the_body_cap_is_parsed_up_to_500_kib() {
    let server = TestServer::start().await.unwrap();
    server.route("/robots.txt", Reply::text(huge_robots(CAP + (CAP / 2))));
    let fetched = robots(&server).await;
    assert_ne!(*fetched.state, RobotsState::Unreachable, "RFC 9309 §2.5: parse the first 500 KiB");
    assert!(!fetched.state.allows("/early/x"));
    assert!(fetched.state.allows("/"));
}
