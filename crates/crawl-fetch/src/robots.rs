//! robots.txt by RFC 9309, plus the de-facto `Crawl-delay`.
//!
//! - Groups: `User-agent` lines followed by rules; consecutive `User-agent`
//!   lines share one group, and all groups naming our product token are
//!   merged (§2.2.1). With no group for us, the `*` group applies.
//! - Rules: the longest matching path pattern wins; on a tie `Allow` wins
//!   (§2.2.2). `*` matches any run of characters, a final `$` anchors the
//!   end. Patterns and paths are compared in one percent-encoding form.
//! - `/robots.txt` itself is always allowed; an empty `Disallow` allows all.
//! - Only the first 500 KiB are parsed (§2.5); lines that make no sense are
//!   skipped, never fatal: a broken robots.txt must not stop a crawl.

use std::time::Duration;

/// Bytes of a robots.txt that are parsed (RFC 9309 §2.5 asks for at least 500 KiB).
pub const MAX_ROBOTS_BYTES: usize = 500 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    allow: bool,
    /// Normalised pattern (percent-encoding form of [`normalize`]).
    pattern: String,
}

/// The rules of robots.txt that apply to one user agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    rules: Vec<Rule>,
    crawl_delay: Option<Duration>,
    sitemaps: Vec<String>,
}

impl Rules {
    /// Everything allowed (no robots.txt, or a 4xx for it).
    pub fn allow_all() -> Rules {
        Rules::default()
    }

    /// Parse `body` and keep what applies to `agent` (a product token such
    /// as `newscrawler`, matched case-insensitively).
    pub fn parse(body: &[u8], agent: &str) -> Rules {
        let body = &body[..body.len().min(MAX_ROBOTS_BYTES)];
        let text = String::from_utf8_lossy(body);
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let agent = agent.to_ascii_lowercase();

        let mut ours = Rules::default();
        let mut star = Rules::default();
        let mut found_ours = false;
        // State of the group being read: which of ours/star it feeds.
        let mut group_ours = false;
        let mut group_star = false;
        let mut in_agents = false;

        for raw in text.split(['\n', '\r']) {
            let line = raw.split('#').next().unwrap_or("").trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim();
            match key.as_str() {
                "user-agent" | "useragent" | "user agent" => {
                    if !in_agents {
                        group_ours = false;
                        group_star = false;
                        in_agents = true;
                    }
                    let token = value.split('/').next().unwrap_or("").trim().to_ascii_lowercase();
                    if token == "*" {
                        group_star = true;
                    } else if !token.is_empty() && token == agent {
                        group_ours = true;
                        found_ours = true;
                    }
                }
                "allow" | "disallow" => {
                    in_agents = false;
                    if value.is_empty() {
                        continue; // "Disallow:" means nothing is disallowed
                    }
                    let rule = Rule { allow: key == "allow", pattern: normalize(value) };
                    if group_ours {
                        ours.rules.push(rule.clone());
                    }
                    if group_star {
                        star.rules.push(rule);
                    }
                }
                "crawl-delay" => {
                    in_agents = false;
                    let delay = value
                        .parse::<f64>()
                        .ok()
                        .filter(|d| d.is_finite() && *d >= 0.0)
                        .map(|d| Duration::from_secs_f64(d.min(86_400.0)));
                    if group_ours && ours.crawl_delay.is_none() {
                        ours.crawl_delay = delay;
                    }
                    if group_star && star.crawl_delay.is_none() {
                        star.crawl_delay = delay;
                    }
                }
                // Not part of any group, and does not end one.
                "sitemap" | "site-map" if !value.is_empty() => ours.sitemaps.push(value.to_string()),
                _ => {}
            }
        }
        let mut rules = if found_ours { ours.clone() } else { star };
        rules.sitemaps = ours.sitemaps;
        rules
    }

    /// Whether `path_and_query` (as in a canonical URL: `/a/b?c=d`) may be fetched.
    pub fn allows(&self, path_and_query: &str) -> bool {
        if path_and_query == "/robots.txt" {
            return true;
        }
        let path = normalize(path_and_query);
        let mut best: Option<(usize, bool)> = None;
        for r in &self.rules {
            if pattern_matches(&r.pattern, &path) {
                let len = r.pattern.len();
                best = match best {
                    Some((l, allow)) if l > len || (l == len && allow) => Some((l, allow)),
                    _ => Some((len, r.allow)),
                };
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }

    pub fn crawl_delay(&self) -> Option<Duration> {
        self.crawl_delay
    }

    pub fn sitemaps(&self) -> &[String] {
        &self.sitemaps
    }
}

/// One percent-encoding form for patterns and paths: non-ASCII and
/// controls escaped as UTF-8, hex upper-cased, escapes of unreserved
/// characters decoded.
fn normalize(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' && i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() {
            let v = u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(0);
            if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
                out.push(v as char);
            } else {
                out.push('%');
                out.push_str(&s[i + 1..i + 3].to_ascii_uppercase());
            }
            i += 3;
        } else if c >= 0x80 || c <= 0x20 {
            out.push_str(&format!("%{c:02X}"));
            i += 1;
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    out
}

/// Robots pattern match against the start of `path`: `*` is any run of
/// characters, a trailing `$` anchors the end. Leftmost matching of each
/// literal piece is exact for this grammar and linear in practice.
fn pattern_matches(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or("");
    if !path.starts_with(first) {
        return false;
    }
    let mut pos = first.len();
    let rest: Vec<&str> = pieces.collect();
    if rest.is_empty() {
        return !anchored || pos == path.len();
    }
    let (last, middle) = rest.split_last().expect("non-empty");
    for piece in middle {
        match path[pos..].find(piece) {
            Some(i) => pos += i + piece.len(),
            None => return false,
        }
    }
    if anchored { path.len() >= pos + last.len() && path.ends_with(last) } else { path[pos..].contains(last) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEBSIM: &str = "User-agent: *\nDisallow: /private/\nDisallow: /recherche\nCrawl-delay: 1\n\n\
                          User-agent: BadBot\nDisallow: /\n\nSitemap: http://127.0.1.2:8080/sitemap.xml\n";

    #[test]
    fn star_group_applies_when_no_group_names_us() {
        let r = Rules::parse(WEBSIM.as_bytes(), "newscrawler");
        assert!(!r.allows("/private/"));
        assert!(!r.allows("/private/drafts/draft-1.html"));
        assert!(!r.allows("/recherche?q=x"));
        assert!(!r.allows("/recherche-avancee"));
        assert!(r.allows("/politique/2021/03/a-1.html"));
        assert!(r.allows("/privat"));
        assert_eq!(r.crawl_delay(), Some(Duration::from_secs(1)));
        assert_eq!(r.sitemaps(), ["http://127.0.1.2:8080/sitemap.xml"]);
        let bad = Rules::parse(WEBSIM.as_bytes(), "BADBOT");
        assert!(!bad.allows("/"));
        assert!(bad.allows("/robots.txt"));
        assert_eq!(bad.crawl_delay(), None);
    }

    #[test]
    fn longest_match_wins_and_allow_wins_ties() {
        let r = Rules::parse(
            b"User-agent: *\nDisallow: /a\nAllow: /a/b\nDisallow: /a/b/c\nAllow: /x\nDisallow: /x\n",
            "bot",
        );
        assert!(!r.allows("/a"));
        assert!(r.allows("/a/b"));
        assert!(!r.allows("/a/b/c/d"));
        assert!(r.allows("/x"), "equal length: allow wins");
    }

    #[test]
    fn wildcards_and_end_anchor() {
        let r = Rules::parse(
            b"User-agent: *\nDisallow: /*.pdf$\nDisallow: /*/print/*\nDisallow: /s*?q=\nAllow: /$\nDisallow: /",
            "bot",
        );
        assert!(!r.allows("/docs/x.pdf"));
        assert!(!r.allows("/docs/x.pdf$"), "literal path ends differently");
        assert!(!r.allows("/news/print/1"));
        assert!(!r.allows("/search?q=1"));
        assert!(r.allows("/"), "/$ allows only the root");
        assert!(!r.allows("/page"));
        assert!(pattern_matches("/a*b*c$", "/aXbYc"));
        assert!(!pattern_matches("/a*b*c$", "/aXbYcZ"));
        assert!(pattern_matches("/a*c", "/abcabc"));
    }

    #[test]
    fn groups_for_us_are_merged_and_beat_star() {
        let txt = b"User-agent: *\nDisallow: /\n\nUser-agent: NewsCrawler\nDisallow: /a\n\n\
                    User-agent: other\nUser-agent: newscrawler/2.0\nDisallow: /b\nCrawl-delay: 2.5\n";
        let r = Rules::parse(txt, "NewsCrawler");
        assert!(!r.allows("/a/1"));
        assert!(!r.allows("/b/1"));
        assert!(r.allows("/c"));
        assert_eq!(r.crawl_delay(), Some(Duration::from_millis(2500)));
    }

    #[test]
    fn percent_encoding_is_compared_in_one_form() {
        let r = Rules::parse(
            "User-agent: *\nDisallow: /café\nDisallow: /%7Euser\nDisallow: /a%2fb".as_bytes(),
            "bot",
        );
        assert!(!r.allows("/caf%C3%A9/x"));
        assert!(!r.allows("/~user/x"));
        assert!(!r.allows("/a%2Fb"));
        assert!(r.allows("/a/b"), "an encoded slash is not a slash");
    }

    #[test]
    fn malformed_files_degrade_gracefully() {
        let txt = b"\xef\xbb\xbfDisallow: /orphan\ngarbage line\nUser-agent: *\r\nDisallow /nocolon\r\n\
                    Disallow: /x # comment\r\nCrawl-delay: soon\r\nAllow:\n\xff\xfe";
        let r = Rules::parse(txt, "bot");
        assert!(r.allows("/orphan"), "rules before any user-agent are ignored");
        assert!(r.allows("/nocolon"));
        assert!(!r.allows("/x"));
        assert_eq!(r.crawl_delay(), None);
        assert!(Rules::parse(b"", "bot").allows("/anything"));
        let huge = "User-agent: *\n".to_string() + &"Disallow: /zz\n".repeat(100_000) + "Disallow: /late\n";
        assert!(Rules::parse(huge.as_bytes(), "bot").allows("/late"), "only 500 KiB are read");
    }

    #[test]
    fn empty_disallow_allows_everything() {
        let r = Rules::parse(b"User-agent: *\nDisallow:\n", "bot");
        assert!(r.allows("/anything"));
    }
}
