//! Links a crawler can follow, resolved to absolute URLs.
//!
//! Resolution uses `<base href>` when the page has one (itself resolved against the page URL),
//! as browsers do. Only `http`/`https` targets are reported: `javascript:`, `mailto:`, `data:`,
//! `tel:` and the like are not pages. URLs are *not* canonicalised here; that is the
//! scheduler's job, and it needs the original form for its counters.

use url::Url;

use crate::content::Anchor;
use crate::dom::Dom;
use crate::{Link, LinkKind};

/// The base URL for relative links: the first `<base href>` if it resolves, else the page URL.
pub fn base_url(page: &Url, base_href: Option<&str>) -> Url {
    base_href.and_then(|href| page.join(href.trim()).ok()).unwrap_or_else(|| page.clone())
}

/// Resolves `href` against `base`, keeping only web pages.
pub fn resolve(base: &Url, href: &str) -> Option<Url> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    let url = base.join(href).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// Whether a `rel` value asks crawlers not to pass on endorsement.
pub fn rel_nofollow(rel: &str) -> bool {
    rel.split_ascii_whitespace()
        .any(|token| ["nofollow", "ugc", "sponsored"].iter().any(|n| token.eq_ignore_ascii_case(n)))
}

/// The page's links: anchors and image-map areas in document order, then the canonical link
/// and the feeds the page announces.
pub fn collect(
    dom: &Dom,
    base: &Url,
    anchors: &[Anchor],
    kept: &[bool],
    canonical: Option<&Url>,
    feeds: &[Url],
    max: usize,
) -> Vec<Link> {
    let mut links = Vec::new();
    for anchor in anchors {
        if links.len() >= max {
            return links;
        }
        let Some(element) = dom.element(anchor.node) else {
            continue;
        };
        let Some(url) = element.attr("href").and_then(|href| resolve(base, href)) else {
            continue;
        };
        let kind =
            if element.name == html5ever::local_name!("area") { LinkKind::Area } else { LinkKind::Anchor };
        let text = if anchor.text.is_empty() {
            element
                .attr("title")
                .or_else(|| element.attr("alt"))
                .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        } else {
            Some(anchor.text.clone())
        };
        links.push(Link {
            url,
            kind,
            text: text.filter(|t| !t.is_empty()),
            in_content: kept.get(anchor.block).copied().unwrap_or(false),
            nofollow: element.attr("rel").is_some_and(rel_nofollow),
        });
    }
    if let Some(canonical) = canonical
        && links.len() < max
    {
        links.push(Link {
            url: canonical.clone(),
            kind: LinkKind::Canonical,
            text: None,
            in_content: false,
            nofollow: false,
        });
    }
    for feed in feeds.iter().take(max.saturating_sub(links.len())) {
        links.push(Link {
            url: feed.clone(),
            kind: LinkKind::Feed,
            text: None,
            in_content: false,
            nofollow: false,
        });
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_against_base_and_drops_non_web_schemes() {
        let page = Url::parse("http://example.fr/a/b.html").unwrap();
        let base = base_url(&page, Some(" /root/ "));
        assert_eq!(base.as_str(), "http://example.fr/root/");
        assert_eq!(resolve(&base, "../x?q=1&r=2#f").unwrap().as_str(), "http://example.fr/x?q=1&r=2#f");
        assert_eq!(resolve(&base, "HTTPS://Other.example/").unwrap().as_str(), "https://other.example/");
        for href in ["javascript:void(0)", "mailto:a@b.c", "data:text/html,x", "tel:123", "", "  "] {
            assert_eq!(resolve(&base, href), None, "{href}");
        }
        assert_eq!(base_url(&page, Some("http://[bad")).as_str(), page.as_str());
    }

    #[test]
    fn nofollow_family() {
        assert!(rel_nofollow("noopener NoFollow"));
        assert!(rel_nofollow("ugc"));
        assert!(rel_nofollow("sponsored noopener"));
        assert!(!rel_nofollow("author noopener"));
    }
}
