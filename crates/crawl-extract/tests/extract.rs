//! End-to-end behaviour of `extract` on small pages built for each rule.

use chrono::{DateTime, Utc};
use crawl_extract::{ExtractError, Extracted, Input, Limits, LinkKind, extract};
use url::Url;

fn fetched_at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2021-10-21T08:00:00Z").unwrap().with_timezone(&Utc)
}

fn run(url: &str, body: &[u8], content_type: Option<&str>) -> Extracted {
    let url = Url::parse(url).unwrap();
    let input = Input { url: &url, body, content_type, content_language: None, fetched_at: fetched_at() };
    extract(&input, &Limits::default()).unwrap()
}

const PARAGRAPH: &str = "Le conseil municipal a voté mardi soir la prolongation de la ligne de tramway vers \
    les quartiers nord, un projet débattu depuis plus de dix ans.";

#[test]
fn windows_1252_page_labelled_only_by_meta_charset() {
    let page = format!(
        "<!DOCTYPE html><html lang=fr><head><meta charset=\"windows-1252\"><title>L’été « chaud » – Le Journal</title></head>\
         <body><article><h1>L’été « chaud »</h1><p>{PARAGRAPH} Un œuf coûte 1 € aujourd’hui.</p></article></body></html>"
    );
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&page);
    assert!(!unmappable);
    let doc = run("http://journal.example.fr/a.html", &bytes, Some("text/html"));
    assert_eq!(doc.encoding, "windows-1252");
    assert_eq!(doc.title.as_deref(), Some("L’été « chaud »"));
    assert!(doc.text.contains("Un œuf coûte 1 € aujourd’hui."), "{}", doc.text);
    assert!(!doc.text.contains('\u{FFFD}'));
    assert_eq!(doc.lang.as_deref(), Some("fr"));
}

#[test]
fn iso_8859_1_header_means_windows_1252() {
    let body =
        b"<html><body><p>Prix : 5 \x80, c\x9cur, \xAB guillemets \xBB, l\x92apostrophe.</p></body></html>";
    let doc = run("http://example.com/", body, Some("text/html; charset=ISO-8859-1"));
    assert_eq!(doc.encoding, "windows-1252");
    assert_eq!(doc.text, "Prix : 5 €, cœur, « guillemets », l’apostrophe.");
}

#[test]
fn unlabelled_latin_page_is_detected() {
    let page = format!("<html><body><p>{PARAGRAPH} Déjà l’été, très cher élève à l’école.</p></body></html>");
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&page);
    let doc = run("http://example.fr/", &bytes, None);
    assert_eq!(doc.encoding, "windows-1252");
    assert!(doc.text.contains("Déjà l’été"));
}

#[test]
fn links_are_resolved_filtered_and_annotated() {
    let page = format!(
        "<html><head><base href=\"/news/\"><link rel=\"canonical\" href=\"https://example.com/news/story.html?x=1&amp;y=2\">\
         <link rel=\"alternate\" type=\"application/rss+xml\" href=\"feed.xml\">\
         <link rel=\"alternate\" hreflang=\"en\" href=\"/en/story.html\">\
         <meta name=\"robots\" content=\"NOINDEX, nofollow\"></head><body>\
         <nav><a href=\"/\">Home</a> <a href=\"sport/\">Sport</a></nav>\
         <article><p>{PARAGRAPH} <a href=\"../other.html?a=1&amp;b=2#top\">un autre   article</a>.</p>\
         <p>{PARAGRAPH} <a href=\"https://ads.example/\" rel=\"sponsored noopener\">pub</a></p></article>\
         <a href=\"javascript:void(0)\">js</a><a href=\"mailto:x@example.com\">mail</a><a href=\"data:text/html,x\">data</a>\
         <map><area href=\"/map.html\" alt=\"Carte\"></map><a href=\"#\"><img alt=x></a></body></html>"
    );
    let doc = run("https://example.com/news/story.html", page.as_bytes(), Some("text/html"));
    assert!(doc.noindex && doc.nofollow);
    assert_eq!(
        doc.canonical_url.as_ref().map(Url::as_str),
        Some("https://example.com/news/story.html?x=1&y=2")
    );
    let summary: Vec<(&str, &LinkKind, Option<&str>, bool, bool)> = doc
        .links
        .iter()
        .map(|l| (l.url.as_str(), &l.kind, l.text.as_deref(), l.in_content, l.nofollow))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("https://example.com/", &LinkKind::Anchor, Some("Home"), false, false),
            ("https://example.com/news/sport/", &LinkKind::Anchor, Some("Sport"), false, false),
            (
                "https://example.com/other.html?a=1&b=2#top",
                &LinkKind::Anchor,
                Some("un autre article"),
                true,
                false
            ),
            ("https://ads.example/", &LinkKind::Anchor, Some("pub"), true, true),
            ("https://example.com/map.html", &LinkKind::Area, Some("Carte"), false, false),
            ("https://example.com/news/#", &LinkKind::Anchor, None, false, false),
            ("https://example.com/news/story.html?x=1&y=2", &LinkKind::Canonical, None, false, false),
            ("https://example.com/news/feed.xml", &LinkKind::Feed, None, false, false),
        ]
    );
}

#[test]
fn link_count_is_capped() {
    let page = "<a href=/x>x</a>".repeat(100);
    let url = Url::parse("http://example.com/").unwrap();
    let input = Input {
        url: &url,
        body: page.as_bytes(),
        content_type: None,
        content_language: None,
        fetched_at: fetched_at(),
    };
    let doc = extract(&input, &Limits { max_links: 10, ..Limits::default() }).unwrap();
    assert_eq!(doc.links.len(), 10);
}

#[test]
fn hashes_follow_the_text() {
    let page = format!("<p>{PARAGRAPH}</p>");
    let a = run("http://a.example/", page.as_bytes(), Some("text/html"));
    let b = run(
        "http://b.example/x",
        format!("<nav><a href=/>menu</a></nav>{page}").as_bytes(),
        Some("text/html"),
    );
    assert_eq!(a.text, PARAGRAPH);
    assert_eq!(a.content_sha256, b.content_sha256);
    assert_eq!(a.simhash, b.simhash);
    assert_eq!(a.content_sha256.len(), 64);
}

#[test]
fn not_html_and_empty_are_errors() {
    let url = Url::parse("http://example.com/").unwrap();
    let input = |body: &'static [u8], content_type| Input {
        url: &url,
        body,
        content_type,
        content_language: None,
        fetched_at: fetched_at(),
    };
    assert!(matches!(
        extract(&input(b"%PDF-1.7", Some("application/pdf")), &Limits::default()),
        Err(ExtractError::NotHtml { .. })
    ));
    assert!(matches!(
        extract(&input(b"  \n", Some("text/html")), &Limits::default()),
        Err(ExtractError::Empty)
    ));
}

#[test]
fn hostile_input_costs_bounded_time() {
    let limits = Limits { max_html_bytes: 2 << 20, ..Limits::default() };
    let url = Url::parse("http://example.com/").unwrap();
    let pages: Vec<Vec<u8>> = vec![
        "<div>".repeat(300_000).into_bytes(),
        "<table><tr><td>".repeat(50_000).into_bytes(),
        "<b><i><u><a href=x>".repeat(50_000).into_bytes(),
        (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect(),
        format!("<p>{}</p>", "word ".repeat(1_000_000)).into_bytes(),
        b"<html><body>".iter().copied().chain(std::iter::repeat_n(b'<', 1_000_000)).collect(),
    ];
    for page in &pages {
        let started = std::time::Instant::now();
        let input = Input {
            url: &url,
            body: page,
            content_type: Some("text/html"),
            content_language: None,
            fetched_at: fetched_at(),
        };
        let _ = extract(&input, &limits);
        assert!(
            started.elapsed().as_secs() < 10,
            "{:?} on a page starting {:?}",
            started.elapsed(),
            &page[..20]
        );
    }
}
