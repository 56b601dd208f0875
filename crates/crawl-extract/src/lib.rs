//! HTML page → clean document.
//!
//! (API stub; the implementation lands with the extractor work.)

use chrono::{DateTime, Utc};
use url::Url;

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKind {
    Anchor,
    Area,
    Canonical,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Absolute URL (resolved against `<base href>` or the page URL), not canonicalised.
    pub url: Url,
    pub kind: LinkKind,
    pub text: Option<String>,
    pub in_content: bool,
    pub nofollow: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extracted {
    pub encoding: &'static str,
    pub title: Option<String>,
    pub text: String,
    pub lang: Option<String>,
    pub site_name: Option<String>,
    pub author: Option<String>,
    pub published_at: Option<String>,
    pub modified_at: Option<String>,
    pub description: Option<String>,
    pub canonical_url: Option<Url>,
    pub links: Vec<Link>,
    pub noindex: bool,
    pub nofollow: bool,
    pub content_sha256: String,
    pub simhash: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("not HTML")]
    NotHtml,
}

/// Whether a response is HTML (by Content-Type, else by sniffing the body).
pub fn is_html(content_type: Option<&str>, _body: &[u8]) -> bool {
    content_type.is_none_or(|c| c.to_ascii_lowercase().contains("html"))
}

pub fn extract(_input: &Input, _limits: &Limits) -> Result<Extracted, ExtractError> {
    Ok(Extracted { encoding: "UTF-8", ..Default::default() })
}
