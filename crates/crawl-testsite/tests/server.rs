//! The test server and the demo site seen from a raw TCP client, so what is
//! checked is the bytes on the wire, not one HTTP client's reading of them.

use std::net::SocketAddr;
use std::time::Duration;

use crawl_testsite::{DemoSite, Reply, Route, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Long enough for any well-behaved answer on loopback.
const PATIENCE: Duration = Duration::from_secs(5);

/// An answer split into its head (status line and headers) and body.
struct Answer {
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn status(&self) -> u16 {
        self.head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Send a GET for `target` and read until the server closes the connection.
async fn raw_get(addr: SocketAddr, target: &str) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: raw-test/1.0\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    timeout(PATIENCE, stream.read_to_end(&mut answer)).await??;
    Ok(answer)
}

async fn get(addr: SocketAddr, target: &str) -> Answer {
    let raw = raw_get(addr, target).await.unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    Answer { head: String::from_utf8_lossy(&raw[..end]).into_owned(), body: raw[end + 4..].to_vec() }
}

#[tokio::test]
async fn answers_routes_and_records_requests() {
    let server = TestServer::start().await.unwrap();
    server.route("/", Reply::html("<p>home</p>")).route("/old", Reply::redirect(301, "/new"));

    let home = get(server.addr(), "/?utm_source=x").await;
    assert_eq!(home.status(), 200, "a query falls back to the path's route");
    assert_eq!(home.header("content-length"), Some("11"));
    assert_eq!(home.header("connection"), Some("close"));
    assert_eq!(home.body, b"<p>home</p>");
    let old = get(server.addr(), "/old").await;
    assert_eq!((old.status(), old.header("location")), (301, Some("/new")));
    assert_eq!(get(server.addr(), "/new").await.status(), 404);

    let log = server.requests();
    let targets: Vec<&str> = log.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(targets, ["/?utm_source=x", "/old", "/new"]);
    assert_eq!(log[0].path(), "/");
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].header("user-agent"), Some("raw-test/1.0"));
    assert!(log[0].at <= log[1].at);
    assert_eq!((server.hits("/old"), server.hits("/")), (1, 0));
}

#[tokio::test]
async fn drips_and_endless_bodies() {
    let server = TestServer::start().await.unwrap();
    server.route("/drip", Reply::text("abcdef").drip(2, Duration::from_millis(20)));
    server.route("/endless", Reply::html("").endless());

    let started = tokio::time::Instant::now();
    let drip = get(server.addr(), "/drip").await;
    assert_eq!(drip.body, b"abcdef");
    assert!(started.elapsed() >= Duration::from_millis(60), "three pieces, 20 ms apart");

    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream.write_all(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut received = vec![0u8; 1 << 20];
    timeout(PATIENCE, stream.read_exact(&mut received)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&received[..200]);
    assert!(text.contains("Transfer-Encoding: chunked"), "{text}");
}

#[tokio::test]
async fn silent_and_reset_connections() {
    let server = TestServer::start().await.unwrap();
    server.route("/silent", Route::Silent).route("/reset", Route::Reset);

    let silent = raw_get(server.addr(), "/silent");
    assert!(timeout(Duration::from_millis(200), silent).await.is_err(), "no answer, no close");

    // A reset reads as an error or as an empty answer, depending on timing.
    match raw_get(server.addr(), "/reset").await {
        Ok(bytes) => assert!(bytes.is_empty(), "{bytes:?}"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    assert_eq!(server.hits("/silent") + server.hits("/reset"), 2, "both requests were read");
}

#[tokio::test]
async fn gzip_bomb_is_small_on_the_wire() {
    let server = TestServer::start().await.unwrap();
    server.route("/bomb", Reply::gzip_bomb(100 << 20));
    let bomb = get(server.addr(), "/bomb").await;
    assert_eq!(bomb.header("content-encoding"), Some("gzip"));
    assert!(bomb.body.len() < 1 << 20, "{} bytes", bomb.body.len());
}

#[tokio::test]
async fn dropping_the_server_closes_its_port_and_connections() {
    let server = TestServer::start().await.unwrap();
    server.route("/silent", Route::Silent);
    let addr = server.addr();
    let held = tokio::spawn(raw_get(addr, "/silent"));
    while server.hits("/silent") == 0 {
        tokio::task::yield_now().await;
    }
    drop(server);
    let answer = timeout(PATIENCE, held).await.expect("the held connection is closed").unwrap();
    assert!(answer.map_or(true, |bytes| bytes.is_empty()));
    assert!(TcpStream::connect(addr).await.is_err(), "nobody listens any more");
}

#[tokio::test]
async fn demo_site_serves_its_pages_and_traps() {
    let site = DemoSite::start().await.unwrap();
    let addr = site.seed_url().socket_addrs(|| None).unwrap()[0];

    let robots = get(addr, "/robots.txt").await;
    let robots_text = String::from_utf8(robots.body).unwrap();
    assert!(robots_text.contains("Disallow: /private/"), "{robots_text}");
    assert!(robots_text.contains(&format!("Sitemap: http://{addr}/sitemap.xml")), "{robots_text}");

    let mut html = String::new();
    for url in site.expected_pages() {
        let page = get(addr, &url[url::Position::BeforePath..]).await;
        assert_eq!(page.status(), 200, "{url}");
        assert!(page.header("content-type").unwrap().starts_with("text/html"), "{url}");
        html.push_str(&String::from_utf8_lossy(&page.body));
    }
    for url in site.disallowed_pages() {
        assert!(html.contains(&format!("href=\"{}\"", url.path())), "{url} is linked");
        assert_eq!(get(addr, url.path()).await.status(), 200, "{url} is served, to catch a rude crawl");
    }
    assert!(html.contains("href=\"http://127.0.200.1:9/"), "links to an unserved host");

    let moved = get(addr, "/2025/musee-maritime.html").await;
    assert_eq!(moved.status(), 301);
    assert_eq!(moved.header("location"), Some(&*format!("http://{addr}/culture/musee-maritime-rouvre")));

    let cp1252 = get(addr, "/economie/prix-du-pain").await;
    assert_eq!(cp1252.header("content-type"), Some("text/html"), "no charset in the header");
    assert!(cp1252.body.windows(3).any(|w| w == b"c\x9cu"), "cœur in windows-1252");
    assert!(std::str::from_utf8(&cp1252.body).is_err(), "not UTF-8");

    let print = String::from_utf8(get(addr, "/print/monde/tempete-armelle-littoral").await.body).unwrap();
    let canonical = format!("<link rel=\"canonical\" href=\"http://{addr}/monde/tempete-armelle-littoral\">");
    assert!(print.contains(&canonical), "{print}");

    assert_eq!(get(addr, "/sport/").await.status(), 404);
    let feed = get(addr, "/rss.xml").await;
    assert_eq!(feed.header("content-type"), Some("application/rss+xml; charset=utf-8"));
    assert_eq!(site.requests()[0].path(), "/robots.txt");
}
