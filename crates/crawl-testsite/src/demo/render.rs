//! The demo site's pages as text: HTML with the furniture of a news site,
//! robots.txt, a sitemap and an RSS feed.

use std::fmt::Write as _;

use url::Url;

use super::content::{ABOUT, AUTHORS, SITE_NAME};
use super::{Article, Lang, Section, article_at, articles_by_date, page_target};

/// Headlines in the ticker on top of every page.
const TICKER_LEN: usize = 5;
/// Stories per section on the home page.
const HOME_PER_SECTION: usize = 3;

/// Text for HTML or XML content and attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// What differs between two pages of the site.
struct Page<'a> {
    lang: Lang,
    charset: &'a str,
    title: &'a str,
    description: &'a str,
    /// Path of the page's canonical URL.
    canonical: &'a str,
    /// Extra `<meta>` lines (article dates and author).
    meta: String,
    main: String,
}

fn layout(page: Page) -> String {
    let mut ticker = String::new();
    for a in articles_by_date().into_iter().take(TICKER_LEN) {
        // Tracking parameters, as on real tickers: canonicalisation must drop them.
        let _ = write!(
            ticker,
            "<li><a href=\"{}?utm_source=ticker&amp;utm_medium=bandeau\">{}</a></li>",
            a.href(),
            escape(a.title)
        );
    }
    let menu: String =
        Section::ALL.iter().map(|s| format!("<li><a href=\"{}\">{}</a></li>", s.path(), s.name())).collect();
    format!(
        r#"<!DOCTYPE html>
<html lang="{lang}" dir="{dir}">
<head>
<meta charset="{charset}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — {SITE_NAME}</title>
<meta name="description" content="{description}">
<meta property="og:site_name" content="{SITE_NAME}">
<meta property="og:title" content="{title}">
{meta}<link rel="canonical" href="{canonical}">
<link rel="alternate" type="application/rss+xml" title="{SITE_NAME}" href="/rss.xml">
</head>
<body>
<header class="masthead">
<a class="logo" href="/">{SITE_NAME}</a>
<nav class="menu"><ul><li><a href="/">Accueil</a></li>{menu}<li><a href="/sport/">Sport</a></li></ul></nav>
<div class="ticker" lang="fr"><strong>En continu</strong><ul>{ticker}</ul></div>
</header>
<main>
{main}
</main>
<footer lang="fr">
<nav><a href="/a-propos">À propos</a> · <a href="/auteurs/">La rédaction</a> · <a href="/private/redaction/">Espace rédaction</a> · <a href="http://127.0.200.1:9/partenaires/">Nos partenaires</a></nav>
<p>© 2026 {SITE_NAME}. Site de démonstration : tous les textes sont fictifs.</p>
</footer>
</body>
</html>
"#,
        lang = page.lang.code(),
        dir = page.lang.dir(),
        charset = page.charset,
        title = escape(page.title),
        description = escape(page.description),
        meta = page.meta,
        main = page.main,
        canonical = page.canonical,
    )
}

fn teaser(a: &Article) -> String {
    format!(
        "<article class=\"teaser\" lang=\"{lang}\" dir=\"{dir}\"><h3><a href=\"{href}\">{title}</a></h3>\
         <p class=\"meta\">{author} · {dateline}</p><p>{standfirst}</p></article>\n",
        lang = a.lang.code(),
        dir = a.lang.dir(),
        href = a.href(),
        title = escape(a.title),
        author = escape(a.author().name),
        dateline = a.dateline,
        standfirst = a.paragraphs[0],
    )
}

pub(super) fn home() -> String {
    let stories = articles_by_date();
    let lead = stories[0];
    let mut main = format!(
        "<section class=\"a-la-une\"><h2>À la une</h2>\n<article class=\"lead\"><h3><a href=\"{}\">{}</a></h3><p>{}</p></article>\n</section>\n",
        lead.href(),
        escape(lead.title),
        lead.paragraphs[0]
    );
    for section in Section::ALL {
        let _ = writeln!(
            main,
            "<section class=\"rubrique\"><h2><a href=\"{}\">{}</a></h2>",
            section.path(),
            section.name()
        );
        for a in stories.iter().filter(|a| a.section == section).take(HOME_PER_SECTION) {
            main.push_str(&teaser(a));
        }
        main.push_str("</section>\n");
    }
    layout(Page {
        lang: Lang::Fr,
        charset: "utf-8",
        title: "Actualités de la côte et d'ailleurs",
        description: "L'actualité du littoral, de l'arrière-pays et du monde, en quatre langues.",
        canonical: "/",
        meta: String::new(),
        main,
    })
}

/// Page `page` (from 1) of the `pages` of a section's listing.
pub(super) fn section_page(section: Section, page: usize, pages: usize, stories: &[&Article]) -> String {
    let title = match page {
        1 => section.name().to_string(),
        _ => format!("{} (page {page})", section.name()),
    };
    let mut main = format!("<h1>{title}</h1>\n");
    for a in stories {
        main.push_str(&teaser(a));
    }
    main.push_str("<nav class=\"pagination\">");
    if page > 1 {
        let _ =
            write!(main, "<a rel=\"prev\" href=\"{}\">Articles récents</a>", page_target(section, page - 1));
    }
    if page < pages {
        let _ = write!(
            main,
            "<a rel=\"next\" href=\"{}\">Articles plus anciens</a>",
            page_target(section, page + 1)
        );
    }
    main.push_str("</nav>\n");
    layout(Page {
        lang: Lang::Fr,
        charset: "utf-8",
        title: &title,
        description: &format!("Toute l'actualité de la rubrique {}.", section.name()),
        canonical: &page_target(section, page),
        meta: String::new(),
        main,
    })
}

fn byline(a: &Article) -> String {
    let author = a.author();
    format!(
        "<p class=\"byline\">{} <a rel=\"author\" href=\"/auteurs/#{}\">{}</a> · <time datetime=\"{}\">{}</time></p>\n",
        a.lang.labels().by,
        author.id,
        escape(author.name),
        a.published,
        a.dateline
    )
}

/// A story in its page, declaring `charset` (the caller encodes the text).
pub(super) fn article(a: &Article, charset: &str) -> String {
    let labels = a.lang.labels();
    let mut main = format!("<article class=\"story\">\n<h1>{}</h1>\n{}", escape(a.title), byline(a));
    for p in a.paragraphs {
        let _ = writeln!(main, "<p>{p}</p>");
    }
    if let Some(print) = a.print_path() {
        let _ =
            writeln!(main, "<p class=\"tools\" lang=\"fr\"><a href=\"{print}\">Version imprimable</a></p>");
    }
    main.push_str("</article>\n");
    let _ = write!(main, "<aside class=\"related\"><h2>{}</h2><ul>", labels.read_also);
    for other in a.related.iter().filter_map(|path| article_at(path)) {
        let _ = write!(main, "<li><a href=\"{}\">{}</a></li>", other.href(), escape(other.title));
    }
    main.push_str("</ul></aside>\n");
    if !a.comments.is_empty() {
        let _ =
            writeln!(main, "<section class=\"comments\"><h2>{} ({})</h2>", labels.comments, a.comments.len());
        for (name, text) in a.comments {
            let _ = writeln!(
                main,
                "<div class=\"comment\"><p class=\"comment-author\">{}</p><p>{}</p></div>",
                escape(name),
                escape(text)
            );
        }
        main.push_str("</section>\n");
    }
    let meta = format!(
        "<meta property=\"og:type\" content=\"article\">\n<meta property=\"article:published_time\" content=\"{}\">\n<meta name=\"author\" content=\"{}\">\n",
        a.published,
        escape(a.author().name)
    );
    layout(Page {
        lang: a.lang,
        charset,
        title: a.title,
        description: a.paragraphs[0],
        canonical: &a.path(),
        meta,
        main,
    })
}

/// The print copy: the story without the site's furniture, its canonical
/// link (absolute, as publishers write them) pointing to the story.
pub(super) fn print_copy(a: &Article, origin: &Url) -> String {
    let canonical = origin.join(&a.path()).expect("a path joins an origin");
    let mut body = String::new();
    for p in a.paragraphs {
        let _ = writeln!(body, "<p>{p}</p>");
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="{lang}" dir="{dir}">
<head>
<meta charset="utf-8">
<title>{title} — {SITE_NAME}</title>
<link rel="canonical" href="{canonical}">
</head>
<body class="print">
<p class="masthead">{SITE_NAME}</p>
<article>
<h1>{title}</h1>
{byline}{body}</article>
<p>© 2026 {SITE_NAME}</p>
</body>
</html>
"#,
        lang = a.lang.code(),
        dir = a.lang.dir(),
        title = escape(a.title),
        byline = byline(a),
    )
}

pub(super) fn about() -> String {
    let main: String = ABOUT.iter().map(|p| format!("<p>{p}</p>\n")).collect();
    layout(Page {
        lang: Lang::Fr,
        charset: "utf-8",
        title: "À propos",
        description: ABOUT[0],
        canonical: "/a-propos",
        meta: String::new(),
        main: format!("<article><h1>À propos du {SITE_NAME}</h1>\n{main}</article>"),
    })
}

pub(super) fn authors() -> String {
    let mut main = String::from("<h1>La rédaction</h1>\n<ul class=\"authors\">\n");
    for a in AUTHORS {
        let _ = writeln!(
            main,
            "<li id=\"{}\"><strong>{}</strong> : {}</li>",
            a.id,
            escape(a.name),
            escape(a.bio)
        );
    }
    main.push_str("</ul>\n");
    layout(Page {
        lang: Lang::Fr,
        charset: "utf-8",
        title: "La rédaction",
        description: "Les journalistes du Courrier du Littoral.",
        canonical: "/auteurs/",
        meta: String::new(),
        main,
    })
}

/// A page behind `Disallow: /private/`: served, so a crawl that ignores
/// robots.txt is caught fetching it.
pub(super) fn private_page(path: &str, title: &str, text: &str) -> String {
    layout(Page {
        lang: Lang::Fr,
        charset: "utf-8",
        title,
        description: text,
        canonical: path,
        meta: String::new(),
        main: format!("<article><h1>{}</h1><p>{}</p></article>", escape(title), escape(text)),
    })
}

pub(super) fn robots_txt(origin: &Url) -> String {
    format!(
        "# robots.txt du {SITE_NAME}\n\
         User-agent: *\n\
         Disallow: /private/\n\
         Allow: /\n\
         \n\
         User-agent: ExampleScraper\n\
         Disallow: /\n\
         \n\
         Sitemap: {}\n",
        origin.join("/sitemap.xml").expect("a path joins an origin")
    )
}

/// Every story at its current URL, with its date.
pub(super) fn sitemap(origin: &Url) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for a in articles_by_date() {
        let loc = origin.join(&a.path()).expect("a path joins an origin");
        let _ = writeln!(
            xml,
            "<url><loc>{}</loc><lastmod>{}</lastmod></url>",
            escape(loc.as_str()),
            &a.published[..10]
        );
    }
    xml.push_str("</urlset>\n");
    xml
}

/// The latest stories as RSS 2.0 (dates as Dublin Core, which takes RFC 3339).
pub(super) fn feed(origin: &Url) -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n<channel>\n<title>{SITE_NAME}</title>\n<link>{origin}</link>\n<description>Les derniers articles</description>\n<language>fr</language>\n"
    );
    for a in articles_by_date().into_iter().take(10) {
        let link = origin.join(&a.path()).expect("a path joins an origin");
        let _ = writeln!(
            xml,
            "<item><title>{}</title><link>{link}</link><guid>{link}</guid><dc:creator>{}</dc:creator><dc:date>{}</dc:date><description>{}</description></item>",
            escape(a.title),
            escape(a.author().name),
            a.published,
            escape(a.paragraphs[0])
        );
    }
    xml.push_str("</channel>\n</rss>\n");
    xml
}
