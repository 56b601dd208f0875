//! Metadata the page states about itself: `<title>`, `<meta>` (OpenGraph, article:*, Dublin
//! Core, robots), `<link rel=canonical>`, `<base href>`, JSON-LD, microdata, `<time>` and
//! bylines. One walk over the document collects the raw values; [`crate::extract`] decides
//! between them, because which source to trust depends on what else the page has.

use std::borrow::Cow;

use html5ever::local_name;
use serde_json::Value;

use crate::dom::{Dom, NodeData, NodeId};

/// At most this many bytes of one JSON-LD script are parsed (a page's state blob is not
/// metadata).
const MAX_JSON_LD: usize = 256 << 10;

/// Headings beyond this many are section titles of long pages, not the headline.
const MAX_HEADINGS: usize = 64;

/// A page announces its own feed and its section's; more are a feed directory.
const MAX_FEEDS: usize = 4;

/// Raw metadata, in document order where several exist.
#[derive(Debug, Default)]
pub struct Head {
    pub title: Option<String>,
    pub base_href: Option<String>,
    pub canonical: Option<String>,
    /// `<link rel=alternate>` to RSS or Atom feeds, the first [`MAX_FEEDS`].
    pub feeds: Vec<String>,
    pub noindex: bool,
    pub nofollow: bool,
    pub lang: Option<String>,
    pub og_title: Option<String>,
    pub og_site_name: Option<String>,
    pub description: Option<String>,
    pub og_description: Option<String>,
    pub og_locale: Option<String>,
    pub application_name: Option<String>,
    pub author: Option<String>,
    /// Publication dates from `<meta>` and microdata, with their rank (0 = the most
    /// deliberate: `article:published_time`; 2 = analytics and generic `date` tags).
    pub published: Vec<(u8, String)>,
    pub modified: Vec<String>,
    /// `<h1>`–`<h3>` elements (level, element, text), the first [`MAX_HEADINGS`] of them.
    pub headings: Vec<(u8, NodeId, String)>,
    /// `<time>` elements: (element, datetime attribute or text, whether marked as publication).
    pub times: Vec<(NodeId, String, bool)>,
    /// Elements that name the author (itemprop/rel/class "author", "byline").
    pub bylines: Vec<NodeId>,
    pub json_ld: JsonLd,
}

/// What JSON-LD says about the page's main article.
#[derive(Debug, Default)]
pub struct JsonLd {
    pub headline: Option<String>,
    pub published: Option<String>,
    /// `dateCreated`: weaker than any `datePublished`, meta tags included.
    pub created: Option<String>,
    pub modified: Option<String>,
    pub authors: Vec<String>,
    pub publisher: Option<String>,
    pub description: Option<String>,
    pub language: Option<String>,
    /// Whether these came from an article type (rather than a WebPage).
    article: bool,
}

pub fn collect(dom: &Dom) -> Head {
    let mut head = Head::default();
    for id in dom.descendants(NodeId::DOCUMENT) {
        let Some(element) = dom.element(id) else {
            continue;
        };
        if !element.html {
            continue;
        }
        match element.name {
            local_name!("html") => head.lang = element.attr("lang").map(str::to_owned),
            local_name!("title") if head.title.is_none() => head.title = Some(collapse(&dom.text_of(id))),
            local_name!("base") if head.base_href.is_none() => {
                head.base_href = element.attr("href").map(str::to_owned)
            }
            local_name!("link") => {
                let rel = element.attr("rel").unwrap_or("");
                if head.canonical.is_none()
                    && rel.split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case("canonical"))
                {
                    head.canonical = element.attr("href").map(str::to_owned);
                }
                let feed_type = element.attr("type").is_some_and(|t| {
                    let t = t.trim();
                    t.eq_ignore_ascii_case("application/rss+xml")
                        || t.eq_ignore_ascii_case("application/atom+xml")
                });
                if feed_type
                    && head.feeds.len() < MAX_FEEDS
                    && rel.split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case("alternate"))
                    && let Some(href) = element.attr("href")
                {
                    head.feeds.push(href.to_owned());
                }
            }
            local_name!("meta") => meta_tag(
                &mut head,
                element.attr("name").or(element.attr("property")),
                // Some publishers (and archived copies) put the value in `value=`.
                element.attr("content").or(element.attr("value")),
                element.attr("itemprop"),
            ),
            local_name!("script") => {
                if element.attr("type").is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ld+json"))
                {
                    let text = dom.text_of(id);
                    if text.len() <= MAX_JSON_LD
                        && let Ok(value) = serde_json::from_str::<Value>(unwrap_script(&text))
                    {
                        head.json_ld.visit(&value, 0);
                    }
                }
            }
            local_name!("h1") | local_name!("h2") | local_name!("h3")
                if head.headings.len() < MAX_HEADINGS =>
            {
                let level = match element.name {
                    local_name!("h1") => 1,
                    local_name!("h2") => 2,
                    _ => 3,
                };
                let mut text = collapse(&dom.text_of(id));
                // Permalink markers some generators append to headings.
                text.truncate(text.trim_end_matches(['¶', '#', '§']).trim_end().len());
                if !text.is_empty() {
                    head.headings.push((level, id, text));
                }
            }
            local_name!("time") => {
                let value = element.attr("datetime").map(Cow::Borrowed).unwrap_or_else(|| dom.text_of(id));
                let published = element.attr("pubdate").is_some()
                    || element.attr("itemprop").is_some_and(|p| p.contains("datePublished"))
                    || element.attr("class").is_some_and(|c| c.contains("publish"));
                head.times.push((id, value.trim().to_owned(), published));
            }
            _ => {}
        }
        if element.name != local_name!("meta") {
            if let Some(prop) = element.attr("itemprop") {
                let value = element.attr("content").or(element.attr("datetime"));
                match prop {
                    "datePublished" => head.published.extend(value.map(|v| (1, v.to_owned()))),
                    "dateModified" => head.modified.extend(value.map(str::to_owned)),
                    "author" | "creator" => head.bylines.push(id),
                    _ => {}
                }
            } else if is_byline(element.attr("rel"), element.attr("class")) {
                head.bylines.push(id);
            }
        }
    }
    head
}

fn is_byline(rel: Option<&str>, class: Option<&str>) -> bool {
    rel.is_some_and(|r| r.eq_ignore_ascii_case("author"))
        || class.is_some_and(|c| {
            c.split(|ch: char| !ch.is_ascii_alphanumeric()).any(|w| {
                w.eq_ignore_ascii_case("author")
                    || w.eq_ignore_ascii_case("byline")
                    || w.eq_ignore_ascii_case("byl")
                    || w.eq_ignore_ascii_case("auteur")
            })
        })
}

fn meta_tag(head: &mut Head, name: Option<&str>, content: Option<&str>, itemprop: Option<&str>) {
    let Some(content) = content.map(str::trim).filter(|c| !c.is_empty()) else {
        return;
    };
    let set = |slot: &mut Option<String>| {
        if slot.is_none() {
            *slot = Some(collapse(content));
        }
    };
    if let Some(prop) = itemprop {
        match prop {
            "datePublished" => head.published.push((1, content.to_owned())),
            "dateModified" => head.modified.push(content.to_owned()),
            _ => {}
        }
    }
    let Some(name) = name else { return };
    let mut buf = [0u8; 48];
    if name.len() > buf.len() {
        return;
    }
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name.as_bytes());
    lower.make_ascii_lowercase();
    match &*lower {
        b"robots" => {
            for directive in content.split(',').map(str::trim) {
                if directive.eq_ignore_ascii_case("noindex")
                    || directive.eq_ignore_ascii_case("none")
                {
                    head.noindex = true;
                }
                if directive.eq_ignore_ascii_case("nofollow")
                    || directive.eq_ignore_ascii_case("none")
                {
                    head.nofollow = true;
                }
            }
        }
        b"og:title" => set(&mut head.og_title),
        b"og:site_name" => set(&mut head.og_site_name),
        b"og:description" => set(&mut head.og_description),
        b"og:locale" => set(&mut head.og_locale),
        b"description" => set(&mut head.description),
        b"application-name" => set(&mut head.application_name),
        b"author" | b"article:author" | b"dc.creator" | b"dcterms.creator" | b"byl"
        | b"parsely-author" | b"sailthru.author"
            // article:author is often a profile URL, which is no name.
            if !content.starts_with("http") =>
        {
            set(&mut head.author)
        }
        b"article:published_time" | b"og:article:published_time" | b"og:published_time" | b"article:published" => {
            head.published.push((0, content.to_owned()))
        }
        b"datepublished" | b"dc.date.issued" | b"dcterms.created" | b"dcterms.issued" | b"citation_publication_date" => {
            head.published.push((1, content.to_owned()))
        }
        b"published_time"
        | b"pubdate"
        | b"publishdate"
        | b"publish-date"
        | b"publish_date"
        | b"date"
        | b"dc.date"
        | b"dcterms.date"
        | b"sailthru.date"
        | b"parsely-pub-date"
        | b"originalpublicationdate"
        | b"article.published"
        | b"release_date" => head.published.push((2, content.to_owned())),
        b"article:modified_time"
        | b"og:article:modified_time"
        | b"og:updated_time"
        | b"article:modified"
        | b"modified_time"
        | b"dcterms.modified"
        | b"last-modified"
        | b"datemodified"
        | b"article.updated" => head.modified.push(content.to_owned()),
        _ => {}
    }
}

impl JsonLd {
    fn visit(&mut self, value: &Value, depth: usize) {
        if depth > 8 {
            return;
        }
        match value {
            Value::Array(items) => items.iter().for_each(|item| self.visit(item, depth + 1)),
            Value::Object(object) => {
                let types = object.get("@type").map(type_names).unwrap_or_default();
                let article = types.iter().any(|t| {
                    t.ends_with("Article") || *t == "BlogPosting" || *t == "Report" || *t == "LiveBlogPosting"
                });
                let page = types.iter().any(|t| t.ends_with("WebPage"));
                if (article && !self.article) || (page && self.headline.is_none() && self.published.is_none())
                {
                    self.take(object, article);
                }
                for key in ["@graph", "mainEntity", "mainEntityOfPage"] {
                    if let Some(inner) = object.get(key) {
                        self.visit(inner, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }

    fn take(&mut self, object: &serde_json::Map<String, Value>, article: bool) {
        let text =
            |key: &str| object.get(key).and_then(Value::as_str).map(collapse).filter(|s| !s.is_empty());
        self.article = article;
        self.headline = text("headline").or_else(|| text("name")).or(self.headline.take());
        self.published = text("datePublished").or(self.published.take());
        self.created = text("dateCreated").or(self.created.take());
        self.modified = text("dateModified").or(self.modified.take());
        self.description = text("description").or(self.description.take());
        self.language = text("inLanguage").or(self.language.take());
        if let Some(authors) = object.get("author").or_else(|| object.get("creator")) {
            let mut names = Vec::new();
            person_names(authors, &mut names);
            if !names.is_empty() {
                self.authors = names;
            }
        }
        if let Some(publisher) = object.get("publisher") {
            let mut names = Vec::new();
            person_names(publisher, &mut names);
            if let Some(name) = names.into_iter().next() {
                self.publisher = Some(name);
            }
        }
    }
}

fn type_names(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn person_names(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if !s.starts_with("http") => out.push(collapse(s)),
        Value::Object(o) => {
            if let Some(name) = o.get("name").and_then(Value::as_str) {
                out.push(collapse(name));
            }
        }
        Value::Array(items) => items.iter().take(10).for_each(|item| person_names(item, out)),
        _ => {}
    }
    out.retain(|name| !name.is_empty());
}

/// A script's JSON without the wrappers old pages put around it (`<![CDATA[ … ]]>`,
/// `<!-- … -->`, a trailing `;`).
fn unwrap_script(text: &str) -> &str {
    let mut text = text.trim();
    for (open, close) in [("//<![CDATA[", "//]]>"), ("<![CDATA[", "]]>"), ("<!--", "-->")] {
        text = text.strip_prefix(open).unwrap_or(text).trim_start();
        text = text.strip_suffix(close).unwrap_or(text).trim_end();
    }
    text.trim_end_matches(';').trim_end()
}

/// Collapses runs of whitespace to one space and trims.
pub fn collapse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The text of a byline element, whitespace-collapsed and cut near 400 bytes: the `name`
/// of a microdata person when there is one, else all its text.
pub fn element_text(dom: &Dom, id: NodeId) -> String {
    // A byline with an itemprop=name child names the person there.
    let named = dom
        .descendants(id)
        .find(|&d| d != id && dom.element(d).is_some_and(|e| e.attr("itemprop") == Some("name")));
    let source = named.unwrap_or(id);
    match dom.element(source) {
        Some(e) if e.name == local_name!("meta") => collapse(e.attr("content").unwrap_or("")),
        _ => {
            let text = dom.descendants(source).filter_map(|d| match &dom.node(d).data {
                NodeData::Text(t) => Some(&**t),
                _ => None,
            });
            let mut out = String::new();
            for t in text {
                out.push_str(t);
                out.push(' ');
                if out.len() > 400 {
                    break;
                }
            }
            collapse(&out)
        }
    }
}
