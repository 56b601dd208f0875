//! Sitemaps and feeds → the URLs they list.
//!
//! News sites announce a new article in their sitemaps (Google News sitemaps included) and
//! RSS/Atom feeds minutes after publication, long before a crawl would reach it through
//! section pages, and they list the pages that no link leads to. So the parser reads these
//! documents as link lists: no document comes out of them, only URLs for the scheduler.
//!
//! Only the URLs that name pages are taken: `<loc>` directly under `<url>` or `<sitemap>`
//! (not `image:loc` or `video:loc`), an RSS item's or channel's `<link>`, an Atom `<link>`
//! that is an alternate (not `self`, `edit`, `enclosure`…). A `.gz` sitemap is inflated up
//! to the same size bound as a page.
//!
//! Real feeds are sloppy XML: a bare `&` in a title or a URL, an unclosed `<br>` in a
//! description, a Latin-1 body that says so only in its declaration. The reader takes them
//! as a browser would (dangling `&` kept as text, end tags matched to the nearest open
//! element, the declared or BOM encoding honoured), and a document broken or cut short
//! halfway (a truncated gzip stream, XML that stops) still yields the URLs read before the
//! break.

use std::borrow::Cow;
use std::io::Read;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use url::Url;

/// The sitemap protocol's own bound on URLs per file.
pub const MAX_FEED_URLS: usize = 50_000;

/// Elements nested deeper than this are not a sitemap or a feed.
const MAX_NESTING: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedKind {
    /// `<urlset>`: pages.
    Sitemap,
    /// `<sitemapindex>`: more sitemaps.
    SitemapIndex,
    /// RSS 0.9x/2.0 `<rss>`, RSS 1.0 `<rdf:RDF>`.
    Rss,
    /// `<feed>`.
    Atom,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    pub kind: FeedKind,
    /// Absolute http(s) URLs in document order, not canonicalised.
    pub urls: Vec<Url>,
    /// The listing was cut short: too many URLs, or XML broken after some of them.
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("not a sitemap or feed (root element <{0}>)")]
    NotAFeed(String),
    #[error("broken XML before any URL: {0}")]
    Xml(String),
    #[error("gzip: {0}")]
    Gzip(String),
}

/// Whether a response looks like a sitemap or a feed: an XML or gzip type, or an
/// unlabelled body that starts like XML. The root element decides in [`parse`].
pub fn is_feed(content_type: Option<&str>, body: &[u8]) -> bool {
    let mime = content_type.and_then(|c| c.split(';').next()).map(str::trim).unwrap_or("");
    let mime = mime.to_ascii_lowercase();
    if mime.ends_with("/xml") || (mime.ends_with("+xml") && mime != "application/xhtml+xml") {
        return true;
    }
    let gzip = body.starts_with(b"\x1F\x8B");
    match mime.as_str() {
        "application/gzip" | "application/x-gzip" => gzip,
        "" | "application/octet-stream" | "text/plain" => gzip || starts_like_xml(body),
        _ => false,
    }
}

fn starts_like_xml(body: &[u8]) -> bool {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let start = body.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(body.len());
    body[start..].starts_with(b"<?xml")
}

/// Reads the URLs a sitemap or feed lists, resolving relative ones against `base`.
/// `max_bytes` bounds the (inflated) document.
pub fn parse(body: &[u8], base: &Url, max_bytes: usize) -> Result<Feed, FeedError> {
    let mut inflated = Vec::new();
    let mut cut = false;
    let body = if body.starts_with(b"\x1F\x8B") {
        match flate2::read::MultiGzDecoder::new(body).take(max_bytes as u64).read_to_end(&mut inflated) {
            Ok(_) => {}
            Err(e) if inflated.is_empty() => return Err(FeedError::Gzip(e.to_string())),
            // A stream cut short (or with a bad checksum) is worth what it inflated to.
            Err(_) => cut = true,
        }
        &inflated[..]
    } else {
        &body[..body.len().min(max_bytes)]
    };
    let text = decode(body);
    let mut reader = Reader::from_str(&text);
    let config = reader.config_mut();
    config.trim_text(true);
    config.allow_dangling_amp = true;
    config.check_end_names = false;
    config.allow_unmatched_ends = true;

    let mut kind = None;
    let mut path: Vec<String> = Vec::new();
    let mut capture: Option<String> = None;
    let mut feed = Feed { kind: FeedKind::Sitemap, urls: Vec::new(), truncated: cut };
    loop {
        let event = match reader.read_event() {
            Ok(e) => e,
            // A break after some URLs keeps them; the listing is marked as cut short.
            Err(_) if kind.is_some() && !feed.urls.is_empty() => {
                feed.truncated = true;
                break;
            }
            Err(e) => return Err(FeedError::Xml(e.to_string())),
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) if kind.is_none() => {
                let root = local(e);
                let root_kind = match root.as_str() {
                    "urlset" => FeedKind::Sitemap,
                    "sitemapindex" => FeedKind::SitemapIndex,
                    "rss" | "rdf" => FeedKind::Rss,
                    "feed" => FeedKind::Atom,
                    _ => return Err(FeedError::NotAFeed(root)),
                };
                kind = Some(root_kind);
                feed.kind = root_kind;
                if matches!(event, Event::Start(_)) {
                    path.push(root);
                }
            }
            Event::Start(e) => {
                if path.len() >= MAX_NESTING {
                    feed.truncated = true;
                    break;
                }
                let name = local(&e);
                if takes_text(feed.kind, path.last().map(String::as_str), &name) {
                    capture = Some(String::new());
                }
                if feed.kind == FeedKind::Atom {
                    atom_link(&e, &name, base, &mut feed);
                }
                path.push(name);
            }
            Event::Empty(e) if feed.kind == FeedKind::Atom => {
                let name = local(&e);
                atom_link(&e, &name, base, &mut feed);
            }
            Event::Text(t) => {
                if let Some(c) = capture.as_mut() {
                    c.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(c) = capture.as_mut() {
                    c.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(c) = capture.as_mut() {
                    match r.resolve_char_ref() {
                        Ok(Some(ch)) => c.push(ch),
                        _ => c.push_str(predefined_entity(&r).unwrap_or("")),
                    }
                }
            }
            Event::End(e) => {
                // Close up to the nearest open element of that name (an unclosed `<br>`
                // in a description must not shift every later element); a stray end
                // tag closes nothing.
                let name = e.local_name().as_ref().to_ascii_lowercase();
                if let Some(at) = path.iter().rposition(|open| *open == name) {
                    path.truncate(at);
                }
                if let Some(href) = capture.take() {
                    push(&mut feed, base, &href);
                }
            }
            Event::Eof => {
                // Elements still open: the document was cut short.
                feed.truncated |= !path.is_empty();
                break;
            }
            _ => {}
        }
        if feed.urls.len() >= MAX_FEED_URLS {
            feed.truncated = true;
            break;
        }
    }
    match kind {
        Some(_) => Ok(feed),
        None => Err(FeedError::NotAFeed(String::new())),
    }
}

/// The document as text: by its BOM, else its declaration's `encoding`, else UTF-8 (a
/// stray byte in some description must not cost the listing).
fn decode(body: &[u8]) -> Cow<'_, str> {
    if let Some((encoding, bom)) = Encoding::for_bom(body) {
        return encoding.decode_without_bom_handling(&body[bom..]).0;
    }
    let declared = declared_encoding(&body[..body.len().min(256)])
        // A UTF-16 label on bytes without a BOM is a leftover of a re-encoding.
        .filter(|e| *e != UTF_16LE && *e != UTF_16BE)
        .unwrap_or(UTF_8);
    declared.decode_without_bom_handling(body).0
}

/// `<?xml version="1.0" encoding="ISO-8859-1"?>` → windows-1252 (WHATWG labels).
fn declared_encoding(head: &[u8]) -> Option<&'static Encoding> {
    let head = String::from_utf8_lossy(head);
    let decl = head.trim_start().strip_prefix("<?xml")?;
    let decl = &decl[..decl.find("?>")?];
    let rest = decl[decl.find("encoding")? + "encoding".len()..].trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    let label = rest[1..].split(quote).next()?;
    Encoding::for_label(label.trim().as_bytes())
}

fn local(e: &BytesStart) -> String {
    e.local_name().as_ref().to_ascii_lowercase()
}

/// Whether the element `name`, child of `parent`, holds a URL as its text.
fn takes_text(kind: FeedKind, parent: Option<&str>, name: &str) -> bool {
    match kind {
        FeedKind::Sitemap => name == "loc" && parent == Some("url"),
        FeedKind::SitemapIndex => name == "loc" && parent == Some("sitemap"),
        FeedKind::Rss => name == "link" && matches!(parent, Some("item" | "channel")),
        FeedKind::Atom => false,
    }
}

/// An Atom `<link href>` that points at the entry's (or feed's) page.
fn atom_link(e: &BytesStart, name: &str, base: &Url, feed: &mut Feed) {
    if name != "link" {
        return;
    }
    // A value with a bare `&` does not normalise; its raw form is still the URL.
    let attr = |key: &str| {
        e.try_get_attribute(key).ok().flatten().map(|a| match a.normalized_value(XmlVersion::Implicit1_0) {
            Ok(v) => v.into_owned(),
            Err(_) => a.value.clone().into_owned(),
        })
    };
    let rel = attr("rel");
    if rel.as_deref().is_none_or(|r| r.eq_ignore_ascii_case("alternate"))
        && let Some(href) = attr("href")
    {
        push(feed, base, &href);
    }
}

fn push(feed: &mut Feed, base: &Url, href: &str) {
    if let Some(url) = crate::links::resolve(base, href) {
        feed.urls.push(url);
    }
}

fn predefined_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://news.example/sitemap.xml").unwrap()
    }

    fn urls(feed: &Feed) -> Vec<&str> {
        feed.urls.iter().map(Url::as_str).collect()
    }

    #[test]
    fn sitemap_locs_of_pages_only() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc>http://news.example/a.html?x=1&amp;y=2</loc>
    <image:image><image:loc>http://cdn.example/a.jpg</image:loc></image:image>
    <news:news><news:title>A</news:title></news:news></url>
  <url><loc> /relative.html </loc><lastmod>2021-10-20</lastmod></url>
  <url><loc><![CDATA[http://news.example/c.html]]></loc></url>
  <url><loc>mailto:x@y.z</loc></url>
</urlset>"#;
        let feed = parse(xml, &base(), 1 << 20).unwrap();
        assert_eq!(feed.kind, FeedKind::Sitemap);
        assert_eq!(
            urls(&feed),
            [
                "http://news.example/a.html?x=1&y=2",
                "http://news.example/relative.html",
                "http://news.example/c.html"
            ]
        );
        assert!(!feed.truncated);
    }

    #[test]
    fn sitemap_index_gzipped() {
        let xml = b"<sitemapindex><sitemap><loc>http://news.example/s1.xml.gz</loc></sitemap></sitemapindex>";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, xml).unwrap();
        let gz = gz.finish().unwrap();
        assert!(is_feed(Some("application/x-gzip"), &gz));
        let feed = parse(&gz, &base(), 1 << 20).unwrap();
        assert_eq!(feed.kind, FeedKind::SitemapIndex);
        assert_eq!(urls(&feed), ["http://news.example/s1.xml.gz"]);
    }

    #[test]
    fn rss_and_atom_item_links() {
        let rss = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<link>http://news.example/</link><atom:link href="http://news.example/feed.xml" rel="self"/>
<item><title>A &amp; B</title><link>http://news.example/a.html?utm_source=rss</link>
<description>&lt;p&gt;x&lt;/p&gt;</description><enclosure url="http://cdn.example/a.mp3"/></item>
</channel></rss>"#;
        let feed = parse(rss, &base(), 1 << 20).unwrap();
        assert_eq!(feed.kind, FeedKind::Rss);
        assert_eq!(urls(&feed), ["http://news.example/", "http://news.example/a.html?utm_source=rss"]);

        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><link rel="self" href="/atom.xml"/>
<entry><link href="/e1.html"/><link rel="enclosure" href="/e1.mp3"/></entry>
<entry><link rel="alternate" type="text/html" href="http://news.example/e2.html"></link></entry></feed>"#;
        let feed = parse(atom, &base(), 1 << 20).unwrap();
        assert_eq!(feed.kind, FeedKind::Atom);
        assert_eq!(urls(&feed), ["http://news.example/e1.html", "http://news.example/e2.html"]);
    }

    #[test]
    fn broken_or_foreign_xml() {
        let cut = b"<urlset><url><loc>http://news.example/a</loc></url><url><loc>http://news.ex";
        let feed = parse(cut, &base(), 1 << 20).unwrap();
        assert_eq!(urls(&feed), ["http://news.example/a"]);
        assert!(feed.truncated, "a document cut short is marked");
        assert!(matches!(
            parse(b"<html><body>x</body></html>", &base(), 1 << 20),
            Err(FeedError::NotAFeed(_))
        ));
        assert!(parse(b"\x1F\x8Bnot gzip at all", &base(), 1 << 20).is_err());
        assert!(parse(b"plain text", &base(), 1 << 20).is_err());
    }

    #[test]
    fn sloppy_feeds_as_published() {
        // A bare `&` in a title and in URLs, an unclosed `<br>` in a description, a stray
        // end tag: every item still counts.
        let rss = b"<rss><channel><item><title>Tom & Jerry</title><link>/a.html?x=1&y=2</link>\
<description><p>one<br>two</p></description></b></item>\
<item><link>/b.html</link></item></channel></rss>";
        let feed = parse(rss, &base(), 1 << 20).unwrap();
        assert_eq!(urls(&feed), ["http://news.example/a.html?x=1&y=2", "http://news.example/b.html"]);
        assert!(!feed.truncated, "{feed:?}");
        let atom = b"<feed><entry><link href='/e.html?a=1&b=2'/></entry></feed>";
        assert_eq!(urls(&parse(atom, &base(), 1 << 20).unwrap()), ["http://news.example/e.html?a=1&b=2"]);
        // An empty listing is complete, not cut short.
        let empty = parse(b"<?xml version='1.0'?><urlset/>", &base(), 1 << 20).unwrap();
        assert!(empty.urls.is_empty() && !empty.truncated);
    }

    #[test]
    fn declared_or_bom_encoding() {
        let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><urlset><url><loc>http://news.example/\xE9t\xE9</loc></url></urlset>";
        assert_eq!(urls(&parse(latin1, &base(), 1 << 20).unwrap()), ["http://news.example/%C3%A9t%C3%A9"]);
        let mut utf16 = vec![0xFF, 0xFE];
        for unit in "<urlset><url><loc>/\u{e9}</loc></url></urlset>".encode_utf16() {
            utf16.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(urls(&parse(&utf16, &base(), 1 << 20).unwrap()), ["http://news.example/%C3%A9"]);
    }

    #[test]
    fn truncated_gzip_keeps_what_it_inflated() {
        let mut xml = String::from("<urlset>");
        for i in 0..2000 {
            xml.push_str(&format!("<url><loc>http://news.example/{i}</loc></url>"));
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, xml.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let feed = parse(&gz[..gz.len() / 2], &base(), 1 << 20).unwrap();
        assert!(feed.truncated && !feed.urls.is_empty() && feed.urls.len() < 2000, "{}", feed.urls.len());
    }

    #[test]
    fn bounded_by_size_and_count() {
        let mut xml = String::from("<urlset>");
        for i in 0..MAX_FEED_URLS + 10 {
            xml.push_str(&format!("<url><loc>http://news.example/{i}</loc></url>"));
        }
        xml.push_str("</urlset>");
        let feed = parse(xml.as_bytes(), &base(), 64 << 20).unwrap();
        assert_eq!(feed.urls.len(), MAX_FEED_URLS);
        assert!(feed.truncated);
        // A gzip bomb inflates no further than the bound.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, xml.as_bytes()).unwrap();
        let feed = parse(&gz.finish().unwrap(), &base(), 4096).unwrap();
        assert!(feed.truncated && feed.urls.len() < 100);
    }

    #[test]
    fn recognised_by_type_or_prologue() {
        assert!(is_feed(Some("application/xml"), b""));
        assert!(is_feed(Some("text/xml; charset=utf-8"), b""));
        assert!(is_feed(Some("application/rss+xml"), b""));
        assert!(is_feed(Some("application/atom+xml"), b""));
        assert!(is_feed(None, b"\xEF\xBB\xBF  <?xml version='1.0'?><urlset/>"));
        assert!(!is_feed(Some("application/xhtml+xml"), b"<?xml version='1.0'?><html/>"));
        assert!(!is_feed(Some("text/html"), b"<?xml version='1.0'?><rss/>"));
        assert!(!is_feed(None, b"<!doctype html><html></html>"));
        assert!(!is_feed(Some("application/gzip"), b"not gzip"));
    }
}
