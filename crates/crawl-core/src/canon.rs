//! URL canonicalisation: one spelling per resource, so deduplication, robots
//! and politeness all agree on what "the same URL" and "the same host" mean.
//!
//! The WHATWG parser in `url` already lower-cases scheme and host, applies
//! IDNA (punycode), drops default ports and resolves dot segments. On top of
//! it we:
//! - keep only `http` and `https` (everything else is not crawlable);
//! - drop the fragment, which never reaches the server;
//! - strip a trailing dot from the host (`example.com.` is `example.com`);
//! - normalise percent-encoding: escapes of unreserved characters are decoded
//!   (`%7E` → `~`), the rest get upper-case hex (`%c3%a9` → `%C3%A9`);
//! - drop tracking parameters (`utm_*`, `fbclid`, `gclid`, `xtor`, …) and
//!   session identifiers, and an empty query (`/a?` → `/a`);
//! - optionally sort the query parameters.
//!
//! We deliberately keep `www.`, trailing slashes and path case: stripping them
//! is a guess that breaks real sites, and a wrong canonical form makes the
//! crawler fetch a URL that does not exist.

use std::fmt;

use url::Url;

/// Why a link cannot become a crawlable URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonError {
    #[error("invalid URL: {0}")]
    Invalid(#[from] url::ParseError),
    #[error("unsupported scheme {0:?} (only http and https are crawled)")]
    UnsupportedScheme(String),
    #[error("URL has no host")]
    NoHost,
    #[error("URL longer than {max} bytes")]
    TooLong { max: usize },
}

/// Longest canonical URL we accept. Real pages stay far below; longer ones are
/// almost always generated (session blobs, spider traps).
pub const MAX_URL_LEN: usize = 2048;

/// Canonicalisation settings that change which URLs count as "the same".
#[derive(Debug, Clone, Default)]
pub struct CanonOptions {
    /// Sort query parameters by name (stable for equal names). Off by default:
    /// a few servers give parameter order a meaning.
    pub sort_query: bool,
}

/// Query parameters that only track the visitor and never change the page.
fn is_tracking_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("utm_")
        || matches!(
            lower.as_str(),
            "fbclid"
                | "gclid"
                | "dclid"
                | "gbraid"
                | "wbraid"
                | "msclkid"
                | "yclid"
                | "igshid"
                | "mc_cid"
                | "mc_eid"
                | "xtor"
                | "_hsenc"
                | "_hsmi"
                | "phpsessid"
                | "jsessionid"
                | "aspsessionid"
                | "sessionid"
        )
}

/// Resolve `href` against `base` and canonicalise it. HTML entities must
/// already be decoded (the HTML parser does that).
pub fn canonicalize_link(base: &Url, href: &str, opts: &CanonOptions) -> Result<Url, CanonError> {
    let url = base.join(href.trim())?;
    canonicalize(url, opts)
}

/// Parse an absolute URL and canonicalise it.
pub fn canonicalize_str(s: &str, opts: &CanonOptions) -> Result<Url, CanonError> {
    canonicalize(Url::parse(s.trim())?, opts)
}

/// Canonicalise an already parsed URL.
pub fn canonicalize(mut url: Url, opts: &CanonOptions) -> Result<Url, CanonError> {
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(CanonError::UnsupportedScheme(other.to_string())),
    }
    let host = url.host_str().ok_or(CanonError::NoHost)?;
    if host.is_empty() {
        return Err(CanonError::NoHost);
    }
    if let Some(stripped) = host.strip_suffix('.') {
        let stripped = stripped.to_string();
        if stripped.is_empty() {
            return Err(CanonError::NoHost);
        }
        url.set_host(Some(&stripped))?;
    }
    url.set_fragment(None);
    // Credentials in a crawl URL are a leak waiting to happen, and never part
    // of the resource's identity.
    let _ = url.set_username("");
    let _ = url.set_password(None);

    let path = normalize_escapes(url.path());
    let path = strip_path_session(&path);
    if path != url.path() {
        url.set_path(&path);
    }

    if let Some(query) = url.query() {
        let mut pairs: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| {
                let name = p.split('=').next().unwrap_or("");
                !is_tracking_param(&decode_for_compare(name))
            })
            .collect();
        if opts.sort_query {
            pairs.sort_by_key(|p| p.split('=').next().unwrap_or(""));
        }
        if pairs.is_empty() {
            url.set_query(None);
        } else {
            let joined = normalize_escapes(&pairs.join("&"));
            if joined != query {
                url.set_query(Some(&joined));
            }
        }
    }
    if url.as_str().len() > MAX_URL_LEN {
        return Err(CanonError::TooLong { max: MAX_URL_LEN });
    }
    Ok(url)
}

/// `;jsessionid=…` path parameters (Java servlet containers) identify a
/// session, not a page.
fn strip_path_session(path: &str) -> String {
    match path.to_ascii_lowercase().find(";jsessionid=") {
        Some(start) => {
            let rest = &path[start + 1..];
            let end = rest.find(['/', ';']).map_or(path.len(), |i| start + 1 + i);
            format!("{}{}", &path[..start], &path[end..])
        }
        None => path.to_string(),
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode escapes of unreserved characters and upper-case the hex digits of
/// the others (RFC 3986 §6.2.2). Input and output are ASCII: the URL parser
/// has already percent-encoded everything else.
fn normalize_escapes(s: &str) -> String {
    let b = s.as_bytes();
    if !b.contains(&b'%') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2]))
        {
            let v = h * 16 + l;
            if is_unreserved(v) {
                out.push(v as char);
            } else {
                out.push('%');
                out.push(b[i + 1].to_ascii_uppercase() as char);
                out.push(b[i + 2].to_ascii_uppercase() as char);
            }
            i += 3;
            continue;
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Percent-decode a query parameter name for comparison only (`utm%5Fsource`).
fn decode_for_compare(name: &str) -> String {
    let b = name.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The politeness and partitioning key of a URL: the lower-cased host without
/// a trailing dot, IDN in punycode (what `url` gives after canonicalisation).
/// The port is not part of it: two ports of one host are one server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct HostKey(String);

impl HostKey {
    /// Host key of a canonical URL.
    pub fn of(url: &Url) -> HostKey {
        let host = url.host_str().unwrap_or_default();
        HostKey(host.trim_end_matches('.').to_ascii_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Registrable domain (eTLD+1) by the public suffix list, for
    /// `--scope domain`. IP addresses and unknown suffixes are their own domain.
    pub fn registrable_domain(&self) -> &str {
        let h = self.0.as_str();
        if h.starts_with('[') || h.parse::<std::net::Ipv4Addr>().is_ok() {
            return h;
        }
        psl::domain_str(h).unwrap_or(h)
    }
}

impl From<&str> for HostKey {
    fn from(s: &str) -> Self {
        HostKey(s.trim_end_matches('.').to_ascii_lowercase())
    }
}

impl fmt::Display for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 64-bit fingerprint of a canonical URL (xxh3). At 100M URLs the expected
/// number of colliding pairs is ~3·10⁻⁴: effectively exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UrlHash(pub u64);

impl UrlHash {
    pub fn of(canonical: &Url) -> UrlHash {
        UrlHash(xxhash_rust::xxh3::xxh3_64(canonical.as_str().as_bytes()))
    }
}

impl fmt::Display for UrlHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl serde::Serialize for UrlHash {
    // Hex, not a JSON number: JSON consumers lose precision above 2^53.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for UrlHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        u64::from_str_radix(&s, 16).map(UrlHash).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        canonicalize_str(s, &CanonOptions::default())
            .map(|u| u.to_string())
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn table_of_tricky_cases() {
        let cases = [
            // case: scheme and host lower-cased, path case kept
            ("HTTP://Example.COM/Path", "http://example.com/Path"),
            // default ports
            ("http://example.com:80/", "http://example.com/"),
            ("https://example.com:443/a", "https://example.com/a"),
            ("http://example.com:8080/a", "http://example.com:8080/a"),
            ("https://example.com:80/a", "https://example.com:80/a"),
            // empty path
            ("http://example.com", "http://example.com/"),
            // dot segments
            ("http://example.com/a/./b/../c", "http://example.com/a/c"),
            ("http://example.com/../../a", "http://example.com/a"),
            ("http://example.com/a/%2E%2E/b", "http://example.com/b"),
            ("http://example.com/./", "http://example.com/"),
            // fragments
            ("http://example.com/a#section", "http://example.com/a"),
            ("http://example.com/a#xtor=RSS-1", "http://example.com/a"),
            // percent-encoding: unreserved decoded, hex upper-cased, reserved kept
            ("http://example.com/%7Euser/%41", "http://example.com/~user/A"),
            ("http://example.com/caf%c3%a9", "http://example.com/caf%C3%A9"),
            ("http://example.com/a%2Fb", "http://example.com/a%2Fb"),
            ("http://example.com/café", "http://example.com/caf%C3%A9"),
            ("http://example.com/a b", "http://example.com/a%20b"),
            ("http://example.com/?q=%7e%2f", "http://example.com/?q=~%2F"),
            // IDN to punycode, trailing dot
            ("http://Bücher.example/", "http://xn--bcher-kva.example/"),
            ("http://example.com./a", "http://example.com/a"),
            // tracking parameters and empty queries
            ("http://example.com/a?utm_source=x&amp=1", "http://example.com/a?amp=1"),
            ("http://example.com/a?utm_source=x&utm_medium=y", "http://example.com/a"),
            ("http://example.com/a?", "http://example.com/a"),
            ("http://example.com/a?&&", "http://example.com/a"),
            ("http://example.com/a?id=3&fbclid=abc&gclid=d", "http://example.com/a?id=3"),
            ("http://example.com/a?XTOR=RSS-1&b=2", "http://example.com/a?b=2"),
            ("http://example.com/a?utm%5Fsource=x", "http://example.com/a"),
            ("http://example.com/a?b=2&a=1", "http://example.com/a?b=2&a=1"),
            ("http://example.com/a;jsessionid=ABC123?x=1", "http://example.com/a?x=1"),
            ("http://example.com/a?PHPSESSID=123", "http://example.com/a"),
            // empty value kept: it can mean something
            ("http://example.com/a?flag", "http://example.com/a?flag"),
            // credentials dropped
            ("http://user:pw@example.com/", "http://example.com/"),
            // IPv4 literal forms normalised by the WHATWG parser
            ("http://0x7f.1/", "http://127.0.0.1/"),
            // schemes we do not crawl
            ("mailto:a@example.com", "ERR unsupported scheme \"mailto\" (only http and https are crawled)"),
            ("javascript:void(0)", "ERR unsupported scheme \"javascript\" (only http and https are crawled)"),
            ("ftp://example.com/", "ERR unsupported scheme \"ftp\" (only http and https are crawled)"),
            ("http://", "ERR invalid URL: empty host"),
        ];
        let mut failed = Vec::new();
        for (input, want) in cases {
            let got = canon(input);
            if got != want {
                failed.push(format!("{input:?}: got {got:?}, want {want:?}"));
            }
        }
        assert!(failed.is_empty(), "{}", failed.join("\n"));
    }

    #[test]
    fn relative_links_resolve_against_the_page() {
        let base = Url::parse("http://127.0.1.2:8080/politique/2021/03/un-titre-12.html").unwrap();
        let o = CanonOptions::default();
        let j = |h: &str| canonicalize_link(&base, h, &o).unwrap().to_string();
        assert_eq!(j("../../../"), "http://127.0.1.2:8080/");
        assert_eq!(j("autre-13.html#comments"), "http://127.0.1.2:8080/politique/2021/03/autre-13.html");
        assert_eq!(j("//127.0.1.3:8080/x"), "http://127.0.1.3:8080/x");
        assert_eq!(j("  /a  "), "http://127.0.1.2:8080/a");
        assert_eq!(j("?utm_source=rss"), "http://127.0.1.2:8080/politique/2021/03/un-titre-12.html");
    }

    #[test]
    fn sorting_is_optional_and_stable() {
        let o = CanonOptions { sort_query: true };
        let u = canonicalize_str("http://e.com/?b=2&a=1&b=1", &o).unwrap();
        assert_eq!(u.as_str(), "http://e.com/?a=1&b=2&b=1");
    }

    #[test]
    fn canonicalisation_is_idempotent() {
        let inputs = [
            "HTTP://Example.COM:80/a/./b/../%7ec?utm_source=1&z=%c3%a9#f",
            "http://example.com/a;jsessionid=1/b?",
            "https://xn--bcher-kva.example./%41%2f",
        ];
        let o = CanonOptions::default();
        for i in inputs {
            let once = canonicalize_str(i, &o).unwrap();
            let twice = canonicalize(once.clone(), &o).unwrap();
            assert_eq!(once, twice, "{i}");
        }
    }

    #[test]
    fn host_keys() {
        let u = canonicalize_str("http://WWW.Example.co.uk.:8080/", &CanonOptions::default()).unwrap();
        let h = HostKey::of(&u);
        assert_eq!(h.as_str(), "www.example.co.uk");
        assert_eq!(h.registrable_domain(), "example.co.uk");
        assert_eq!(HostKey::from("127.0.1.2").registrable_domain(), "127.0.1.2");
    }

    #[test]
    fn url_hash_round_trips_as_hex() {
        let h = UrlHash(0x00ab_cdef_0123_4567);
        let j = serde_json::to_string(&h).unwrap();
        assert_eq!(j, "\"00abcdef01234567\"");
        assert_eq!(serde_json::from_str::<UrlHash>(&j).unwrap(), h);
    }
}
