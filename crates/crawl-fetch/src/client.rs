//! The HTTP client: one request, bounded in time and size, never following
//! redirects itself.
//!
//! Redirects are answered as they are, because each hop must go back through
//! canonicalisation, dedup, scope, robots.txt and the target host's
//! politeness, which only the scheduler and the frontier can do.
//!
//! The body cap counts bytes *after* decompression, so a gzip bomb is cut
//! off at the cap like any other oversized page.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::header::{self, HeaderMap};
use url::Url;

use crate::guard::{AddressPolicy, Blocked, GuardedResolver};

/// Settings of the HTTP client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// Longest silence while reading the response.
    pub read_timeout: Duration,
    /// Longest whole request, headers and body.
    pub total_timeout: Duration,
    /// Largest body accepted, after decompression.
    pub max_body: usize,
    pub policy: AddressPolicy,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            user_agent: concat!("NewsCrawler/", env!("CARGO_PKG_VERSION")).to_string(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(60),
            max_body: 10 << 20,
            policy: AddressPolicy { allow_private: false },
        }
    }
}

/// Why a request produced no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Timeout,
    Connect,
    Dns,
    Tls,
    /// Refused by the SSRF guard.
    Blocked,
    /// Body over the size cap.
    TooLarge,
    /// Body unreadable or undecodable.
    Body,
    Other,
}

impl ErrorKind {
    /// Worth trying again later (the server or the network may recover).
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorKind::Timeout | ErrorKind::Connect | ErrorKind::Dns | ErrorKind::Body)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{kind:?}: {detail}")]
pub struct FetchError {
    pub kind: ErrorKind,
    pub detail: String,
}

impl FetchError {
    fn new(kind: ErrorKind, detail: impl Into<String>) -> FetchError {
        FetchError { kind, detail: detail.into() }
    }
}

/// An HTTP answer. `body` is only read for 2xx answers that are worth
/// parsing (see [`Request::want_body`]); it is empty otherwise.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub elapsed: Duration,
}

impl Response {
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Location` resolved against the request URL.
    pub fn location(&self, base: &Url) -> Option<Url> {
        self.header(header::LOCATION).and_then(|l| base.join(l.trim()).ok())
    }
}

/// One request.
pub struct Request<'a> {
    pub url: &'a Url,
    pub accept: &'static str,
    /// Read the body of a 2xx answer? (Non-HTML bodies are not worth the bytes.)
    pub want_body: fn(&HeaderMap) -> bool,
    /// Keep only this many bytes of the body and stop reading, instead of
    /// failing past the size cap (robots.txt: only its first 500 KiB count).
    pub truncate_at: Option<usize>,
}

#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    config: Arc<ClientConfig>,
}

impl HttpClient {
    pub fn new(config: ClientConfig) -> Result<HttpClient, FetchError> {
        let inner = reqwest::Client::builder()
            .user_agent(&config.user_agent)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .timeout(config.total_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(2)
            .tcp_nodelay(true)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver::new(config.policy)))
            .build()
            .map_err(|e| FetchError::new(ErrorKind::Other, format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpClient { inner, config: Arc::new(config) })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    pub async fn get(&self, req: Request<'_>) -> Result<Response, FetchError> {
        let literal: Option<std::net::IpAddr> = match req.url.host() {
            Some(url::Host::Ipv4(v4)) => Some(v4.into()),
            Some(url::Host::Ipv6(v6)) => Some(v6.into()),
            _ => None,
        };
        // IP literals never reach the resolver: check them here.
        if let Some(ip) = literal.filter(|ip| !self.config.policy.permits(*ip)) {
            let b = Blocked { host: req.url.host_str().unwrap_or_default().to_string(), addr: ip };
            return Err(FetchError::new(ErrorKind::Blocked, b.to_string()));
        }
        let start = Instant::now();
        let resp = self
            .inner
            .get(req.url.clone())
            .header(header::ACCEPT, req.accept)
            .send()
            .await
            .map_err(classify)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = if resp.status().is_success() && (req.want_body)(&headers) {
            read_capped(resp, self.config.max_body, req.truncate_at).await?
        } else {
            Bytes::new()
        };
        Ok(Response { status, headers, body, elapsed: start.elapsed() })
    }
}

async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
    truncate_at: Option<usize>,
) -> Result<Bytes, FetchError> {
    let limit = truncate_at.unwrap_or(cap);
    if truncate_at.is_none()
        && let Some(len) = resp.content_length()
        && len > cap as u64
    {
        return Err(FetchError::new(
            ErrorKind::TooLarge,
            format!("Content-Length {len} over the {cap}-byte cap"),
        ));
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(classify)? {
        if buf.len() + chunk.len() > limit {
            if truncate_at.is_some() {
                buf.extend_from_slice(&chunk[..limit - buf.len()]);
                break;
            }
            return Err(FetchError::new(ErrorKind::TooLarge, format!("body over the {cap}-byte cap")));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Sort a reqwest error into the ledger's kinds, keeping the whole chain of
/// causes in the detail (the top-level message alone is rarely useful).
fn classify(e: reqwest::Error) -> FetchError {
    let mut detail = e.to_string();
    let mut blocked = false;
    let mut tls = false;
    let mut dropped = false;
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        if s.downcast_ref::<Blocked>().is_some() {
            blocked = true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as Io;
            dropped |= matches!(
                io.kind(),
                Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe | Io::UnexpectedEof
            );
        }
        let text = s.to_string();
        // hyper's wording for a peer that hung up before answering
        dropped |= text.contains("connection closed before message completed");
        if text.contains("certificate") || text.contains("tls") || text.contains("TLS") {
            tls = true;
        }
        detail.push_str(": ");
        detail.push_str(&text);
        source = s.source();
    }
    let kind = if blocked {
        ErrorKind::Blocked
    } else if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_dns() {
        ErrorKind::Dns
    } else if tls {
        ErrorKind::Tls
    } else if e.is_connect() || dropped {
        // Refused, reset or closed before an answer: the server may be back soon.
        ErrorKind::Connect
    } else if e.is_body() || e.is_decode() {
        ErrorKind::Body
    } else {
        ErrorKind::Other
    };
    FetchError { kind, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_is_refused_by_literal_and_by_name() {
        let c = HttpClient::new(ClientConfig::default()).unwrap();
        // IP literals are checked before connecting, names after resolving.
        for target in ["http://127.0.0.1:9/", "http://localhost:9/"] {
            let url = Url::parse(target).unwrap();
            let req = Request { url: &url, accept: "*/*", want_body: |_| true, truncate_at: None };
            let err = c.get(req).await.unwrap_err();
            assert_eq!(err.kind, ErrorKind::Blocked, "{target}: {err}");
            assert!(err.detail.contains("--allow-private"), "{err}");
        }
    }
}
