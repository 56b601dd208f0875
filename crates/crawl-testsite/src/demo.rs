//! A synthetic news site: about thirty pages on one loopback host, built to
//! hold what a crawler meets on real news sites, so a demo crawl shows every
//! feature and an end-to-end test can check every rule.
//!
//! - Boilerplate around each story: a menu, a ticker of headlines (with
//!   tracking parameters the crawler must strip), related links, comments
//!   and a footer.
//! - Stories in French, English, Spanish and Arabic (right to left).
//! - One story in windows-1252, declared only in `<meta charset>`, with
//!   ’ « » œ € in it: wrong decoding shows at once.
//! - robots.txt disallows `/private/`, and pages link there anyway.
//! - A story linked only by its old URL, which answers 301; a dead link
//!   (404) in the menu and in a story; a `/print/` copy whose canonical link
//!   points to the story; sections in two pages (`?page=2`).
//! - A sitemap and an RSS feed (linked from robots.txt and `<head>`).
//! - Links to another host, `127.0.200.1:9`, which nothing serves and a
//!   crawl scoped to the site must never contact.
//!
//! [`DemoSite::expected_pages`] is the ground truth a crawl is checked against.

mod content;
mod render;

use std::io;

use url::Url;

use crate::server::{RecordedRequest, Reply, TestServer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    World,
    Economy,
    Culture,
}

impl Section {
    const ALL: [Section; 3] = [Section::World, Section::Economy, Section::Culture];

    fn slug(self) -> &'static str {
        match self {
            Section::World => "monde",
            Section::Economy => "economie",
            Section::Culture => "culture",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Section::World => "Monde",
            Section::Economy => "Économie",
            Section::Culture => "Culture",
        }
    }

    fn path(self) -> String {
        format!("/{}/", self.slug())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Lang {
    Fr,
    En,
    Es,
    Ar,
}

/// Labels of a story's own furniture, in the story's language.
struct Labels {
    by: &'static str,
    read_also: &'static str,
    comments: &'static str,
}

impl Lang {
    fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
            Lang::Es => "es",
            Lang::Ar => "ar",
        }
    }

    fn dir(self) -> &'static str {
        if self == Lang::Ar { "rtl" } else { "ltr" }
    }

    fn labels(self) -> Labels {
        match self {
            Lang::Fr => Labels { by: "Par", read_also: "Lire aussi", comments: "Commentaires" },
            Lang::En => Labels { by: "By", read_also: "Read also", comments: "Comments" },
            Lang::Es => Labels { by: "Por", read_also: "Lea también", comments: "Comentarios" },
            Lang::Ar => {
                Labels { by: "بقلم", read_also: "اقرأ أيضاً", comments: "التعليقات" }
            }
        }
    }
}

/// What makes a story special for a crawler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quirk {
    None,
    /// Served in windows-1252, declared only in `<meta charset>`.
    Windows1252,
    /// Has a `/print/` copy whose canonical link points back to it.
    PrintCopy,
    /// Linked everywhere by this old path, which redirects (301) to it.
    MovedFrom(&'static str),
}

struct Author {
    id: &'static str,
    name: &'static str,
    bio: &'static str,
}

struct Article {
    section: Section,
    slug: &'static str,
    lang: Lang,
    title: &'static str,
    /// [`Author::id`].
    author: &'static str,
    /// RFC 3339, all in the site's zone (+01:00), so strings sort as times.
    published: &'static str,
    /// The date as printed on the page.
    dateline: &'static str,
    /// HTML fragments; the first one, the standfirst, is plain text.
    paragraphs: &'static [&'static str],
    /// (name, text)
    comments: &'static [(&'static str, &'static str)],
    /// Paths of other stories.
    related: &'static [&'static str],
    quirk: Quirk,
}

impl Article {
    /// Where the story is served.
    fn path(&self) -> String {
        format!("/{}/{}", self.section.slug(), self.slug)
    }

    /// Where the site links to it: its old URL, if it moved.
    fn href(&self) -> String {
        match self.quirk {
            Quirk::MovedFrom(old) => old.to_string(),
            _ => self.path(),
        }
    }

    fn print_path(&self) -> Option<String> {
        (self.quirk == Quirk::PrintCopy).then(|| format!("/print{}", self.path()))
    }

    fn author(&self) -> &'static Author {
        content::AUTHORS.iter().find(|a| a.id == self.author).expect("every author is listed")
    }
}

/// Stories per page of a section listing.
const PER_PAGE: usize = 5;

fn articles_by_date() -> Vec<&'static Article> {
    let mut all: Vec<&Article> = content::ARTICLES.iter().collect();
    all.sort_by(|a, b| b.published.cmp(a.published));
    all
}

fn article_at(path: &str) -> Option<&'static Article> {
    content::ARTICLES.iter().find(|a| a.path() == path)
}

/// Target of page `page` (from 1) of a section's listing.
fn page_target(section: Section, page: usize) -> String {
    match page {
        1 => section.path(),
        _ => format!("{}?page={page}", section.path()),
    }
}

/// The pages of a section listing: (target, stories), newest first.
fn section_pages(section: Section) -> Vec<(String, Vec<&'static Article>)> {
    let stories: Vec<_> = articles_by_date().into_iter().filter(|a| a.section == section).collect();
    stories
        .chunks(PER_PAGE)
        .enumerate()
        .map(|(i, page)| (page_target(section, i + 1), page.to_vec()))
        .collect()
}

/// Every target the site answers, with its answer. `origin` is the site's
/// root URL, for the links that must be absolute.
fn routes(origin: &Url) -> Vec<(String, Reply)> {
    let mut routes = vec![
        ("/".to_string(), Reply::html(render::home())),
        ("/a-propos".to_string(), Reply::html(render::about())),
        ("/auteurs/".to_string(), Reply::html(render::authors())),
        ("/robots.txt".to_string(), Reply::text(render::robots_txt(origin))),
        (
            "/sitemap.xml".to_string(),
            Reply::new(200).header("Content-Type", "application/xml").body(render::sitemap(origin)),
        ),
        (
            "/rss.xml".to_string(),
            Reply::new(200)
                .header("Content-Type", "application/rss+xml; charset=utf-8")
                .body(render::feed(origin)),
        ),
    ];
    for section in Section::ALL {
        let pages = section_pages(section);
        for (i, (target, stories)) in pages.iter().enumerate() {
            let html = render::section_page(section, i + 1, pages.len(), stories);
            routes.push((target.clone(), Reply::html(html)));
        }
    }
    for article in content::ARTICLES {
        let reply = match article.quirk {
            Quirk::Windows1252 => {
                let html = render::article(article, "windows-1252");
                let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&html);
                // No charset in the header: only the <meta> tells.
                Reply::new(200).header("Content-Type", "text/html").body(bytes.into_owned())
            }
            _ => Reply::html(render::article(article, "utf-8")),
        };
        routes.push((article.path(), reply));
        if let Quirk::MovedFrom(old) = article.quirk {
            let target = origin.join(&article.path()).expect("a path joins an origin");
            routes.push((old.to_string(), Reply::redirect(301, target.as_str())));
        }
        if let Some(print) = article.print_path() {
            routes.push((print, Reply::html(render::print_copy(article, origin))));
        }
    }
    for &(path, title, text) in content::PRIVATE_PAGES {
        routes.push((path.to_string(), Reply::html(render::private_page(path, title, text))));
    }
    routes
}

/// The HTML pages a correct crawl fetches, each once, with a 200.
fn expected_paths() -> Vec<String> {
    let mut paths = vec!["/".to_string(), "/a-propos".to_string(), "/auteurs/".to_string()];
    for section in Section::ALL {
        paths.extend(section_pages(section).into_iter().map(|(target, _)| target));
    }
    for article in content::ARTICLES {
        paths.push(article.path());
        paths.extend(article.print_path());
    }
    paths
}

/// The demo site, served on a loopback port until dropped.
pub struct DemoSite {
    server: TestServer,
}

impl DemoSite {
    /// Serve the site on `127.0.0.1` at a free port, on the current tokio runtime.
    pub async fn start() -> io::Result<DemoSite> {
        let server = TestServer::start().await?;
        let origin = server.url("/");
        for (target, reply) in routes(&origin) {
            server.route(&target, reply);
        }
        Ok(DemoSite { server })
    }

    /// The home page: the one seed a crawl needs.
    pub fn seed_url(&self) -> Url {
        self.server.url("/")
    }

    /// The HTML pages a correct, polite crawl of the site (scoped to its
    /// host) fetches with a 200, each of which should become one document:
    /// every story (the moved one at its new URL), section pages, the print
    /// copy, the about and authors pages. robots.txt, the sitemap and the
    /// feed are not in it; a crawl may or may not read them.
    pub fn expected_pages(&self) -> Vec<Url> {
        expected_paths().iter().map(|p| self.server.url(p)).collect()
    }

    /// Pages the site links to that robots.txt forbids: a polite crawl never
    /// requests them.
    pub fn disallowed_pages(&self) -> Vec<Url> {
        content::PRIVATE_PAGES.iter().map(|(path, _, _)| self.server.url(path)).collect()
    }

    /// Every request the site received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.server.requests()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_link_between_stories_resolves() {
        for a in content::ARTICLES {
            for path in a.related {
                assert!(article_at(path).is_some(), "{}: related {path} is not a story", a.path());
            }
            assert!(!a.paragraphs[0].contains('<'), "{}: the standfirst must be plain text", a.path());
            let _ = a.author();
        }
    }

    #[test]
    fn the_site_has_what_it_promises() {
        let origin = Url::parse("http://127.0.0.1:8/").unwrap();
        let routes = routes(&origin);
        let served: HashSet<&str> = routes.iter().map(|(t, _)| t.as_str()).collect();
        let expected = expected_paths();
        assert!((28..=34).contains(&expected.len()), "{} pages", expected.len());
        assert_eq!(expected.iter().collect::<HashSet<_>>().len(), expected.len(), "a page listed twice");
        for path in &expected {
            assert!(served.contains(path.as_str()), "{path} expected but not served");
        }
        let langs: HashSet<Lang> = content::ARTICLES.iter().map(|a| a.lang).collect();
        assert_eq!(langs.len(), 4);
        for quirk in [Quirk::Windows1252, Quirk::PrintCopy] {
            assert_eq!(content::ARTICLES.iter().filter(|a| a.quirk == quirk).count(), 1, "{quirk:?}");
        }
        assert!(Section::ALL.iter().all(|&s| section_pages(s).len() == 2), "sections span two pages");
    }

    #[test]
    fn the_windows_1252_story_is_fully_encodable() {
        for a in content::ARTICLES.iter().filter(|a| a.quirk == Quirk::Windows1252) {
            let html = render::article(a, "windows-1252");
            let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&html);
            assert!(!unmappable, "characters outside windows-1252 in {}", a.path());
            for (ch, byte) in [('’', 0x92), ('«', 0xab), ('»', 0xbb), ('œ', 0x9c), ('€', 0x80)] {
                assert!(bytes.contains(&byte), "{ch} missing from {}", a.path());
            }
            assert!(html.contains("<meta charset=\"windows-1252\">"));
        }
    }
}
