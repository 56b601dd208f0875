//! HTML page → clean document: the parser stage's extractor.
//!
//! [`extract`] takes the bytes a fetcher got and returns an [`Extracted`] document: the page
//! decoded in the right character set, the article text without the menus, tickers, related
//! links, comments and footers around it, the metadata a reader sees (title, author, source,
//! dates, description, language), and every followable link, marked as inside or outside the
//! article. It is written to run on every fetched page of a crawl: one parse into a compact
//! arena DOM, a few linear passes over it, no regex, and bounds on input size and nesting so
//! that hostile markup costs bounded time and memory and never panics.
//!
//! The stages, each in its own module:
//! - [`charset`]: BOM, HTTP charset, `<meta>` prescan, then detection (WHATWG order);
//! - [`dom`]: html5ever into an arena, with a depth cap;
//! - `meta`: `<title>`, `<meta>`, JSON-LD, microdata, `<time>`, bylines;
//! - `content`: block segmentation and the choice of the article container;
//! - `dates`, `lang`, `links`, `fingerprint`: dates in four languages, language, links, hashes.
//!
//! Sitemaps and RSS/Atom feeds are read by [`feed`]: they yield no document, only the URLs
//! they list.

pub mod charset;
mod content;
mod dates;
pub mod dom;
pub mod feed;
mod fingerprint;
mod lang;
mod links;
mod meta;

use chrono::{DateTime, Utc};
use html5ever::local_name;
use serde::Serialize;
use url::Url;

use crate::content::{Article, Blocks};
use crate::dates::Found;
use crate::dom::{Dom, NodeId};
use crate::meta::{Head, collapse};

/// One fetched page, as the fetcher got it.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The URL that answered (base for relative links unless `<base href>`).
    pub url: &'a Url,
    /// Raw body bytes, in their original encoding.
    pub body: &'a [u8],
    /// HTTP `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// HTTP `Content-Language` header, if any.
    pub content_language: Option<&'a str>,
    /// When the page was fetched (for relative dates such as "il y a 3 heures").
    pub fetched_at: DateTime<Utc>,
}

/// Bounds on the work one page may cost.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Bodies longer than this are truncated before parsing.
    pub max_html_bytes: usize,
    /// Elements nested deeper than this are flattened into their ancestor.
    pub max_depth: usize,
    /// At most this many links are reported.
    pub max_links: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_html_bytes: 10 << 20, max_depth: 256, max_links: 5000 }
    }
}

/// Node indices are 32-bit: no page may be large enough to overflow them.
const HARD_MAX_HTML_BYTES: usize = 1 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    Anchor,
    Area,
    Canonical,
    /// `<link rel=alternate>` to the site's RSS or Atom feed.
    Feed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// Absolute URL (resolved against `<base href>` or the page URL), not canonicalised.
    pub url: Url,
    pub kind: LinkKind,
    /// Anchor text, whitespace-collapsed and capped (else the `title` attribute).
    pub text: Option<String>,
    /// Whether the link is inside the extracted article text.
    pub in_content: bool,
    /// `rel` has `nofollow`, `ugc` or `sponsored`.
    pub nofollow: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Extracted {
    /// The encoding the page was decoded with (its WHATWG name).
    pub encoding: &'static str,
    pub title: Option<String>,
    /// The article text, one paragraph per line.
    pub text: String,
    /// ISO 639-1 code, detected from the text.
    pub lang: Option<String>,
    /// The publication the article is from: the source a dateline names ("Publié dans
    /// H24 Info le …"), else the site's own name.
    pub site_name: Option<String>,
    /// The source named by a dateline, when there is one.
    pub source: Option<String>,
    pub author: Option<String>,
    /// ISO 8601 (`2021-10-20`, or with time and offset when the page gives them).
    pub published_at: Option<String>,
    pub modified_at: Option<String>,
    pub description: Option<String>,
    pub canonical_url: Option<Url>,
    pub links: Vec<Link>,
    /// `<meta name=robots>` says `noindex` (or `none`).
    pub noindex: bool,
    /// `<meta name=robots>` says `nofollow` (or `none`).
    pub nofollow: bool,
    /// Lower-case hex SHA-256 of `text`.
    pub content_sha256: String,
    /// 64-bit SimHash of `text` (near-duplicates differ in few bits).
    pub simhash: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("not HTML (Content-Type {content_type:?})")]
    NotHtml { content_type: Option<String> },
    #[error("empty body")]
    Empty,
}

/// Whether a response is HTML: by its Content-Type when that names a type, else unless the
/// body starts like a binary format (many servers send pages with no or a generic type).
pub fn is_html(content_type: Option<&str>, body: &[u8]) -> bool {
    let mime = content_type.and_then(|c| c.split(';').next()).map(str::trim).unwrap_or("");
    if mime.eq_ignore_ascii_case("text/html") || mime.eq_ignore_ascii_case("application/xhtml+xml") {
        return true;
    }
    let generic = mime.is_empty()
        || mime.eq_ignore_ascii_case("application/octet-stream")
        || mime.eq_ignore_ascii_case("text/plain");
    generic && !looks_binary(body)
}

/// Signatures of the binary formats a crawler meets (MIME Sniffing standard), or NUL bytes.
fn looks_binary(body: &[u8]) -> bool {
    const MAGIC: &[&[u8]] = &[
        b"%PDF-",
        b"\x89PNG",
        b"GIF87a",
        b"GIF89a",
        b"\xFF\xD8\xFF",
        b"PK\x03\x04",
        b"\x1F\x8B",
        b"RIFF",
        b"OggS",
        b"ID3",
        b"\x00\x00\x01\x00",
        b"wOFF",
        b"wOF2",
    ];
    MAGIC.iter().any(|m| body.starts_with(m)) || body.iter().take(1024).any(|&b| b == 0)
}

/// Extracts the document from one page.
pub fn extract(input: &Input, limits: &Limits) -> Result<Extracted, ExtractError> {
    let body = &input.body[..input.body.len().min(limits.max_html_bytes).min(HARD_MAX_HTML_BYTES)];
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ExtractError::Empty);
    }
    if !is_html(input.content_type, body) {
        return Err(ExtractError::NotHtml { content_type: input.content_type.map(str::to_owned) });
    }
    let (html, encoding) = charset::decode(body, input.content_type, top_level_domain(input.url));
    let dom = Dom::parse(&html, limits.max_depth);
    drop(html);
    let head = meta::collect(&dom);
    let root = dom.find(NodeId::DOCUMENT, &local_name!("body")).unwrap_or(NodeId::DOCUMENT);
    let site_name = head
        .og_site_name
        .clone()
        .or_else(|| head.json_ld.publisher.clone())
        .or_else(|| head.application_name.clone());
    let (declared_title, headline_node) = headline(&head, site_name.as_deref());
    let blocks = content::blocks(&dom, root);
    let article = content::select(&dom, &blocks, root, headline_node);
    let text = article.text(&blocks);
    let title = declared_title.or_else(|| displayed_headline(&blocks, &article));

    let base = links::base_url(input.url, head.base_href.as_deref());
    let canonical_url = head.canonical.as_deref().and_then(|href| links::resolve(&base, href));
    let feeds: Vec<Url> = head.feeds.iter().filter_map(|href| links::resolve(&base, href)).collect();
    let links = links::collect(
        &dom,
        &base,
        &blocks.anchors,
        &article.kept,
        canonical_url.as_ref(),
        &feeds,
        limits.max_links,
    );

    let dateline = Dateline::new(&dom, &blocks, &article, headline_node);
    let source = dateline.lines().find_map(source_line);
    let published = published_at(&dom, &head, &article, headline_node, &dateline, input);
    let modified = head
        .json_ld
        .modified
        .iter()
        .chain(&head.modified)
        .find_map(|v| dates::parse_value(v, input.fetched_at));
    let declared_lang = input
        .content_language
        .or(head.lang.as_deref())
        .or(head.json_ld.language.as_deref())
        .or(head.og_locale.as_deref());

    Ok(Extracted {
        encoding: encoding.name(),
        lang: lang::detect(&text, declared_lang),
        author: choose_author(&dom, &head),
        site_name: source.clone().or(site_name),
        source,
        published_at: published.map(|f| f.iso()),
        modified_at: modified.map(|f| f.iso()),
        description: head
            .og_description
            .clone()
            .or_else(|| head.description.clone())
            .or_else(|| head.json_ld.description.clone()),
        canonical_url,
        links,
        noindex: head.noindex,
        nofollow: head.nofollow,
        content_sha256: fingerprint::sha256_hex(&text),
        simhash: fingerprint::simhash(&text),
        title,
        text,
    })
}

/// The URL's last host label when it is a lower-case DNS label (chardetng's hint).
fn top_level_domain(url: &Url) -> Option<&str> {
    match url.host()? {
        url::Host::Domain(domain) => domain.trim_end_matches('.').rsplit('.').next(),
        _ => None,
    }
}

/// The short lines around the headline and the start of the article, where bylines and
/// datelines live.
struct Dateline<'a> {
    blocks: &'a Blocks,
    around_headline: std::ops::Range<usize>,
    article: std::ops::Range<usize>,
}

impl<'a> Dateline<'a> {
    const BEFORE_HEADLINE: usize = 3;
    const AFTER_HEADLINE: usize = 8;
    const BEFORE_ARTICLE: usize = 6;
    const MAX_UNITS: u32 = 200;

    fn new(dom: &Dom, blocks: &'a Blocks, article: &Article, headline: Option<NodeId>) -> Self {
        let first = article.kept.iter().position(|&k| k).unwrap_or(0);
        let last = article.kept.iter().rposition(|&k| k).map_or(blocks.blocks.len(), |l| l + 1);
        let headline_block = headline.and_then(|h| {
            blocks.blocks.iter().position(|b| b.node == h || dom.ancestors(b.node).any(|a| a == h))
        });
        let around_headline = headline_block.map_or(0..0, |h| {
            h.saturating_sub(Self::BEFORE_HEADLINE)..(h + Self::AFTER_HEADLINE).min(blocks.blocks.len())
        });
        Dateline { blocks, around_headline, article: first.saturating_sub(Self::BEFORE_ARTICLE)..last }
    }

    fn lines(&self) -> impl Iterator<Item = &'a str> + '_ {
        let blocks = &self.blocks.blocks;
        blocks[self.around_headline.clone()]
            .iter()
            .chain(&blocks[self.article.clone()])
            .filter(|b| b.units <= Self::MAX_UNITS)
            .map(|b| self.blocks.text(b))
    }
}

/// "Publié dans H24 Info le 20 - 10 - 2021" → "H24 Info" (also English, Spanish, Arabic).
fn source_line(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().take(40).collect();
    let start = words.windows(2).position(|w| {
        let verb = w[0].to_lowercase();
        matches!(
            verb.as_str(),
            "publié" | "publie" | "publiée" | "paru" | "published" | "publicado" | "publicada" | "نشر"
        ) && matches!(w[1].to_lowercase().as_str(), "dans" | "in" | "en" | "في")
    })? + 2;
    let end = words[start..]
        .iter()
        .position(|w| {
            matches!(*w, "le" | "on" | "el" | "du" | "يوم" | "بتاريخ" | "-" | "|" | ",")
                || w.starts_with(|c: char| c.is_numeric())
        })
        .map_or(words.len(), |e| start + e);
    let source = words[start..end].join(" ");
    let source = source.trim_end_matches([',', '.', ':']);
    (1..=6).contains(&(end - start)).then(|| source.to_owned())
}

/// The publication date, from the most to the least deliberate statement of it: metadata,
/// a `<time>` marked as the publication time or standing with the article, a dateline, the
/// URL.
fn published_at(
    dom: &Dom,
    head: &Head,
    article: &Article,
    headline: Option<NodeId>,
    dateline: &Dateline,
    input: &Input,
) -> Option<Found> {
    let now = input.fetched_at;
    let mut metas: Vec<&(u8, String)> = head.published.iter().collect();
    metas.sort_by_key(|(rank, _)| *rank);
    let declared = head
        .json_ld
        .published
        .iter()
        .chain(metas.into_iter().map(|(_, v)| v))
        .chain(&head.json_ld.created)
        .find_map(|v| dates::parse_value(v, now));
    // The article's header (headline, byline, time) often sits next to the text container,
    // or anywhere after the headline.
    let around = dom.node(article.container).parent.unwrap_or(article.container);
    declared
        .or_else(|| {
            let marked = head.times.iter().filter(|(_, _, published)| *published);
            let in_article = head.times.iter().filter(|(id, _, _)| dom.ancestors(*id).any(|a| a == around));
            let after_headline = head.times.iter().filter(|(id, _, _)| headline.is_some_and(|h| *id > h));
            marked.chain(in_article).chain(after_headline).find_map(|(_, v, _)| dates::parse_value(v, now))
        })
        .or_else(|| dateline.lines().find_map(|line| dates::find_in_text(line, now)))
        .or_else(|| dates::from_url(input.url, now))
}

/// The heading shown just above the article (or at its top), when no heading matched a
/// declared title: pages whose `og:title` is a marketing variant still show the headline.
fn displayed_headline(blocks: &Blocks, article: &Article) -> Option<String> {
    const BEFORE: usize = 15;
    const AFTER: usize = 3;
    let first = article.kept.iter().position(|&k| k)?;
    let window = &blocks.blocks[first.saturating_sub(BEFORE)..(first + AFTER).min(blocks.blocks.len())];
    let words = |b: &&content::Block| (2..=30).contains(&blocks.text(b).split_whitespace().count());
    let level = |wanted: u8| {
        window
            .iter()
            .rev()
            .filter(words)
            .find(|b| b.kind == content::BlockKind::Heading(wanted) && b.link_units * 2 < b.units)
    };
    level(1).or_else(|| level(2)).map(|b| blocks.text(b).to_owned())
}

/// Separators between a headline and the site name in `<title>`.
const TITLE_SEPARATORS: &[&str] = &[" | ", " - ", " – ", " — ", " · ", " :: ", " » ", " // ", " • "];

/// The title and the heading element that shows the headline.
///
/// The heading is the longest `<h1>`–`<h3>` that agrees with a declared title (equal to one,
/// or part of the full `<title>` or `og:title`); it anchors the article. The title is the
/// declared one (`og:title`, JSON-LD `headline`) without the site's name around it, or the
/// heading when it is that title minus decoration; without a declared title, the heading
/// beats `<title>`, which often carries section and site names no separator rule catches.
fn headline(head: &Head, site_name: Option<&str>) -> (Option<String>, Option<NodeId>) {
    let og = head.og_title.as_deref().map(|t| strip_site_name(t, site_name, false));
    let tag = head.title.as_deref().map(|t| strip_site_name(t, site_name, true));
    let declared = [og.as_deref(), head.json_ld.headline.as_deref(), tag.as_deref()];
    let full_titles: Vec<String> =
        [head.title.as_deref(), head.og_title.as_deref()].into_iter().flatten().map(norm).collect();
    // Equal to a declared title, part of the full <title>, or a declared title followed by
    // widgets inside the heading ("… Comments: 12").
    let agrees = |text: &str| {
        let n = norm(text);
        declared
            .iter()
            .flatten()
            .map(|d| norm(d))
            .any(|d| d == n || (d.chars().count() >= 10 && n.starts_with(&d)))
            || (n.chars().count() >= 10 && full_titles.iter().any(|t| t.contains(&n)))
    };
    let heading = head
        .headings
        .iter()
        .filter(|(_, _, text)| agrees(text))
        .max_by_key(|(level, _, text)| (text.chars().count(), std::cmp::Reverse(*level)));
    let heading_text = heading.map(|(_, _, text)| text.clone());
    // JSON-LD `headline` is sometimes a summary ("matrix equal to its conjugate-transpose"):
    // it stands only if the displayed heading does not side with `<title>` against it.
    let in_title = |h: &str| head.title.as_deref().is_some_and(|t| norm(t).contains(&norm(h)));
    let ld_headline = head
        .json_ld
        .headline
        .clone()
        .filter(|ld| heading_text.as_deref().is_none_or(|h| norm(ld).contains(&norm(h)) || !in_title(h)));
    // An `og:title` that the displayed heading contradicts, with the JSON-LD headline or
    // `<title>` on the heading's side, is a social-media variant ("If You Can Picture A
    // Tarot Card…" over "The Deck of Cards That Made Tarot…"): two witnesses beat one.
    let corroborated =
        |h: &str| [ld_headline.as_deref(), tag.as_deref()].into_iter().flatten().any(|d| same_text(d, h));
    let declared_title = og.clone().or(ld_headline.clone()).filter(|t| !t.is_empty());
    // A declared title that wraps the displayed headline in a little decoration
    // ("r/Subreddit - …", "… ｜ Site GetNews") gives way to the headline.
    let decorates = |declared: &str, h: &str| {
        let (declared, h) = (norm(declared), norm(h));
        declared.contains(&h) && h.len() * 2 > declared.len()
    };
    // Neither contains the other: two different titles, not one with decoration.
    let unrelated = |a: &str, b: &str| {
        let (a, b) = (norm(a), norm(b));
        !a.contains(&b) && !b.contains(&a)
    };
    let title = match (declared_title, heading_text) {
        (Some(declared), Some(h)) if decorates(&declared, &h) => Some(h),
        (Some(declared), Some(h)) if unrelated(&declared, &h) && corroborated(&h) => Some(h),
        (Some(declared), _) => Some(declared),
        (None, Some(h)) if head.title.as_deref().is_none_or(|t| decorates(t, &h)) => Some(h),
        (None, _) => tag.filter(|t| !t.is_empty()),
    };
    (title, heading.map(|(_, id, _)| *id))
}

/// "Headline - Site" → "Headline" when the end (or start) names the site; with `guess`,
/// also when the end looks like a short site or section name after a longer headline.
fn strip_site_name(title: &str, site_name: Option<&str>, guess: bool) -> String {
    let title = collapse(title);
    let names_site = |part: &str| {
        let part = part.trim();
        site_name
            .is_some_and(|s| same_text(part, s) || norm(part).contains(&norm(s)) && part.len() < s.len() + 12)
    };
    for sep in TITLE_SEPARATORS {
        if let Some(at) = title.rfind(sep) {
            let (headline, suffix) = (&title[..at], &title[at + sep.len()..]);
            let short_suffix =
                suffix.split_whitespace().count() <= 4 && headline.split_whitespace().count() >= 4;
            if names_site(suffix) || (guess && site_name.is_none() && short_suffix) {
                return headline.trim().to_owned();
            }
        }
        if let Some(at) = title.find(sep) {
            let (prefix, headline) = (&title[..at], &title[at + sep.len()..]);
            if names_site(prefix) {
                return headline.trim().to_owned();
            }
        }
    }
    title
}

fn norm(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

fn same_text(a: &str, b: &str) -> bool {
    norm(a) == norm(b)
}

fn choose_author(dom: &Dom, head: &Head) -> Option<String> {
    if !head.json_ld.authors.is_empty() {
        return Some(head.json_ld.authors.join(", "));
    }
    head.author
        .as_deref()
        .and_then(clean_author)
        .or_else(|| head.bylines.iter().find_map(|&id| clean_author(&meta::element_text(dom, id))))
}

/// "Par Agnès Dubois", "By JANE DOE | Reuters" → the name; None if it does not look like one.
fn clean_author(raw: &str) -> Option<String> {
    let mut text = raw.trim();
    for prefix in
        ["by ", "par ", "por ", "von ", "de ", "بقلم ", "written by ", "texte : ", "auteur : ", "author: "]
    {
        if text.len() >= prefix.len()
            && text.is_char_boundary(prefix.len())
            && text[..prefix.len()].eq_ignore_ascii_case(prefix)
        {
            text = text[prefix.len()..].trim_start();
        }
    }
    let text =
        text.split(['|', '•', '\n']).next().unwrap_or("").trim().trim_end_matches([',', '-', '–']).trim();
    let words = text.split_whitespace().count();
    let looks_like_name = (1..=6).contains(&words)
        && !text.contains('@')
        && !text.contains("://")
        && !text.chars().any(|c| c.is_ascii_digit());
    looks_like_name.then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_by_type_or_sniff() {
        assert!(is_html(Some("text/html; charset=utf-8"), b""));
        assert!(is_html(Some("Application/XHTML+XML"), b""));
        assert!(!is_html(Some("application/pdf"), b"<html>"));
        assert!(is_html(None, b"\xEF\xBB\xBF  <!DOCTYPE html><html>"));
        assert!(is_html(Some("application/octet-stream"), b"<p>x"));
        assert!(is_html(None, b"\n\n<?xml version='1.0'?><html>"));
        assert!(!is_html(None, b"%PDF-1.4"));
        assert!(!is_html(None, b"\x89PNG\r\n"));
        assert!(!is_html(Some("text/plain"), b"ab\0cd"));
    }

    #[test]
    fn site_name_suffixes_are_stripped() {
        assert_eq!(
            strip_site_name("Budget agreed after long debate - Le Monde", Some("Le Monde"), false),
            "Budget agreed after long debate"
        );
        assert_eq!(strip_site_name("LE MONDE | Budget agreed", Some("Le Monde"), false), "Budget agreed");
        assert_eq!(
            strip_site_name("Budget agreed after long debate | The Paper", None, true),
            "Budget agreed after long debate"
        );
        assert_eq!(strip_site_name("Brexit - what next", None, true), "Brexit - what next");
    }

    #[test]
    fn source_lines() {
        assert_eq!(source_line("Publié dans H24 Info le 20 - 10 - 2021").as_deref(), Some("H24 Info"));
        assert_eq!(
            source_line("Published in The Daily Star on 20 - 10 - 2021").as_deref(),
            Some("The Daily Star")
        );
        assert_eq!(source_line("Publicado en El País el 20 de octubre").as_deref(), Some("El País"));
        assert_eq!(source_line("Le texte a été publié dans la nuit de lundi à mardi par le ministère"), None);
    }

    #[test]
    fn author_cleanup() {
        assert_eq!(clean_author("Par Agnès Dubois").as_deref(), Some("Agnès Dubois"));
        assert_eq!(clean_author("By JANE DOE | Reuters").as_deref(), Some("JANE DOE"));
        assert_eq!(clean_author("Updated 12:30 PM ET, Mon October 3, 2016"), None);
        assert_eq!(clean_author("https://www.facebook.com/someone"), None);
    }
}
