//! A hand-rolled HTTP/1.1 server with scripted answers and a request log.
//!
//! A crawler's robustness is tested against servers that misbehave on
//! purpose: that trickle, never stop, never answer, or hang up, and that
//! remember what they were asked, so a test can say "robots.txt came first"
//! or "this URL was never requested". Server frameworks make misbehaviour
//! hard to script and cost minutes of compile time on a 2-core CI, so this is
//! a small loop over [`TcpListener`].
//!
//! Every connection carries one request and every answer says
//! `Connection: close`: a misbehaving route can then never leave a pooled
//! connection in a state that disturbs the next request.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use url::Url;

/// Longest request head (request line and headers) read before giving up.
const MAX_HEAD: usize = 16 << 10;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// When the request head was complete.
    pub at: Instant,
}

impl RecordedRequest {
    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the server does with a request for one target.
#[derive(Debug, Clone)]
pub enum Route {
    Reply(Reply),
    /// Read the request, then never send a byte until the client leaves.
    Silent,
    /// Read the request, then reset the connection (TCP RST) without answering.
    Reset,
}

impl From<Reply> for Route {
    fn from(reply: Reply) -> Route {
        Route::Reply(reply)
    }
}

/// An HTTP answer: status, headers, and a body sent all at once, slowly, or forever.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    Full(Bytes),
    /// The body with its true `Content-Length`, `chunk` bytes every `every`.
    Drip {
        data: Bytes,
        chunk: usize,
        every: Duration,
    },
    /// Chunked transfer encoding that never sends the last chunk.
    Endless,
}

impl Reply {
    /// `status` with no headers and an empty body.
    pub fn new(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Body::Full(Bytes::new()) }
    }

    /// 200 with a UTF-8 HTML body.
    pub fn html(body: impl Into<Bytes>) -> Reply {
        Reply::new(200).header("Content-Type", "text/html; charset=utf-8").body(body)
    }

    /// 200 with a UTF-8 plain-text body (robots.txt).
    pub fn text(body: impl Into<Bytes>) -> Reply {
        Reply::new(200).header("Content-Type", "text/plain; charset=utf-8").body(body)
    }

    /// A redirect (`status` 301, 302, 307 or 308) to `location`, as given.
    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply::new(status).header("Location", location)
    }

    /// 429 or 503 asking the client to come back in `seconds`.
    pub fn retry_after(status: u16, seconds: u64) -> Reply {
        Reply::new(status).header("Retry-After", &seconds.to_string())
    }

    /// 200 HTML whose gzip-encoded body is a few hundred KiB on the wire
    /// and inflates to at least `inflated` bytes of zeros.
    pub fn gzip_bomb(inflated: usize) -> Reply {
        Reply::new(200)
            .header("Content-Type", "text/html")
            .header("Content-Encoding", "gzip")
            .body(crate::bomb::gzip_zeros(inflated))
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Reply {
        self.body = Body::Full(body.into());
        self
    }

    /// Send the body `chunk` bytes at a time, waiting `every` before each piece.
    pub fn drip(mut self, chunk: usize, every: Duration) -> Reply {
        let data = match self.body {
            Body::Full(data) | Body::Drip { data, .. } => data,
            Body::Endless => Bytes::new(),
        };
        self.body = Body::Drip { data, chunk: chunk.max(1), every };
        self
    }

    /// Replace the body by one that never ends.
    pub fn endless(mut self) -> Reply {
        self.body = Body::Endless;
        self
    }

    async fn write_to(self, stream: &mut TcpStream) -> io::Result<()> {
        // No reason phrase: it is optional, and clients ignore it.
        let mut head = format!("HTTP/1.1 {} \r\n", self.status);
        for (name, value) in &self.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        match &self.body {
            Body::Full(data) | Body::Drip { data, .. } => {
                let _ = write!(head, "Content-Length: {}\r\n", data.len());
            }
            Body::Endless => head.push_str("Transfer-Encoding: chunked\r\n"),
        }
        head.push_str("Connection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await?;
        match self.body {
            Body::Full(data) => stream.write_all(&data).await?,
            Body::Drip { data, chunk, every } => {
                for piece in data.chunks(chunk) {
                    tokio::time::sleep(every).await;
                    stream.write_all(piece).await?;
                }
            }
            Body::Endless => {
                // Spaces are valid filler for any text type; the loop ends
                // when the client hangs up and the write fails.
                let mut chunk = format!("{:x}\r\n", 16 << 10).into_bytes();
                chunk.resize(chunk.len() + (16 << 10), b' ');
                chunk.extend_from_slice(b"\r\n");
                loop {
                    stream.write_all(&chunk).await?;
                }
            }
        }
        stream.shutdown().await
    }
}

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<String, Route>>,
    log: Mutex<Vec<RecordedRequest>>,
}

/// Nothing panics while holding these locks, but a test that panics
/// elsewhere must not turn every later lookup into a second panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A server on a loopback port, answering registered routes; it stops, and
/// drops every connection it holds, when dropped.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_loop: JoinHandle<()>,
}

impl TestServer {
    /// Serve on `127.0.0.1` at a free port.
    pub async fn start() -> io::Result<TestServer> {
        TestServer::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Serve on `addr`, on the current tokio runtime.
    pub async fn bind(addr: SocketAddr) -> io::Result<TestServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accept_loop = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(TestServer { addr, shared, accept_loop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `target` (a path, with a query if wanted) on this server.
    pub fn url(&self, target: &str) -> Url {
        Url::parse(&format!("http://{}{target}", self.addr)).expect("an absolute path makes a valid URL")
    }

    /// Answer requests for `target` with `route`, replacing any earlier
    /// route for it. A request is matched on its exact target first, then
    /// on its path alone (as most sites ignore unknown query parameters);
    /// anything else gets a 404.
    pub fn route(&self, target: &str, route: impl Into<Route>) -> &TestServer {
        lock(&self.shared.routes).insert(target.to_string(), route.into());
        self
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// How many requests asked for exactly `target`.
    pub fn hits(&self, target: &str) -> usize {
        lock(&self.shared.log).iter().filter(|r| r.target == target).count()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Connections live in this set, so aborting the loop also ends those a
    // silent or endless route would otherwise keep open forever.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = shared.clone();
                    connections.spawn(async move {
                        // An error only means the client went away.
                        let _ = serve(stream, &shared).await;
                    });
                }
                // Out of file descriptors, say: let connections finish.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next() => {}
        }
    }
}

async fn serve(mut stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let Some(request) = read_request(&mut stream).await? else {
        return Ok(());
    };
    let route = {
        let routes = lock(&shared.routes);
        routes.get(&request.target).or_else(|| routes.get(request.path())).cloned()
    };
    lock(&shared.log).push(request);
    match route
        .unwrap_or_else(|| Reply::new(404).header("Content-Type", "text/plain").body("not found\n").into())
    {
        Route::Reply(reply) => reply.write_to(&mut stream).await,
        Route::Silent => {
            let mut discard = [0u8; 1024];
            while stream.read(&mut discard).await? > 0 {}
            Ok(())
        }
        // Closing a socket whose linger time is zero sends RST, not FIN.
        Route::Reset => stream.set_zero_linger(),
    }
}

/// The request head, or None if the client left before sending one.
async fn read_request(stream: &mut TcpStream) -> io::Result<Option<RecordedRequest>> {
    let mut head = Vec::with_capacity(1024);
    let end = loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "request head too long"));
        }
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
    };
    let at = Instant::now();
    let text = String::from_utf8_lossy(&head[..end]);
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split_ascii_whitespace();
    let method = request_line.next().unwrap_or_default().to_string();
    let target = request_line.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    Ok(Some(RecordedRequest { method, target, headers, at }))
}
