//! Turning page bytes into text, in the order browsers use (WHATWG HTML "determining the
//! character encoding"): byte-order mark, then the HTTP `Content-Type` charset, then a
//! `<meta>` prescan of the first 1024 bytes, then statistical detection for unlabelled pages.
//!
//! Getting this wrong is silent and costly: a windows-1252 page decoded as UTF-8 turns every
//! `’ « » œ €` into U+FFFD, and the damage spreads to titles, shingles and hashes. Labels go
//! through `encoding_rs`, which maps them as the Encoding Standard does (`iso-8859-1` and
//! `latin1` mean windows-1252, `utf-16` in a `<meta>` means UTF-8).

use std::borrow::Cow;

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252, X_USER_DEFINED};

/// How many bytes the `<meta>` prescan looks at (the HTML standard's figure).
const PRESCAN_BYTES: usize = 1024;

/// Detection looks at most at this many bytes: enough to see the article's own
/// non-ASCII text, and it keeps the cost flat on huge pages.
const DETECT_BYTES: usize = 64 << 10;

/// Which step decided the encoding; kept for tests and debugging output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Bom,
    Http,
    Meta,
    Detected,
}

/// The encoding to decode `body` with, and the number of BOM bytes to skip.
pub fn sniff(
    body: &[u8],
    content_type: Option<&str>,
    tld: Option<&str>,
) -> (&'static Encoding, usize, Source) {
    if let Some((encoding, bom_len)) = Encoding::for_bom(body) {
        return (encoding, bom_len, Source::Bom);
    }
    if let Some(encoding) =
        content_type.and_then(charset_param).and_then(|label| Encoding::for_label(label.as_bytes()))
    {
        return (encoding, 0, Source::Http);
    }
    if let Some(encoding) = prescan(&body[..body.len().min(PRESCAN_BYTES)]) {
        // A page re-encoded to UTF-8 by its CMS or a proxy often keeps its old <meta>.
        // Legacy-encoded text with non-ASCII bytes is practically never valid UTF-8, so
        // valid UTF-8 with non-ASCII content is UTF-8, whatever the <meta> says.
        if encoding != UTF_8 && !body.is_ascii() && std::str::from_utf8(body).is_ok() {
            return (UTF_8, 0, Source::Meta);
        }
        return (encoding, 0, Source::Meta);
    }
    (detect(body, tld), 0, Source::Detected)
}

/// Decodes `body`, replacing invalid sequences with U+FFFD (never fails).
pub fn decode<'a>(
    body: &'a [u8],
    content_type: Option<&str>,
    tld: Option<&str>,
) -> (Cow<'a, str>, &'static Encoding) {
    let (encoding, bom_len, _) = sniff(body, content_type, tld);
    let (text, _had_errors) = encoding.decode_without_bom_handling(&body[bom_len..]);
    (text, encoding)
}

/// The `charset` parameter of a `Content-Type` value, unquoted.
fn charset_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim().eq_ignore_ascii_case("charset").then(|| value.trim().trim_matches(['"', '\'']).trim())
    })
}

fn detect(body: &[u8], tld: Option<&str>) -> &'static Encoding {
    // Most unlabelled pages today are UTF-8, and validating is far cheaper than detecting.
    if std::str::from_utf8(body).is_ok() {
        return UTF_8;
    }
    let sample = &body[..body.len().min(DETECT_BYTES)];
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(sample, sample.len() == body.len());
    // chardetng asserts that the hint is a lower-case ASCII label without dots.
    let tld = tld.filter(|t| {
        !t.is_empty() && t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    detector.guess(tld.map(str::as_bytes), Utf8Detection::Allow)
}

/// The HTML standard's "prescan a byte stream to determine its encoding", over `head`.
pub fn prescan(head: &[u8]) -> Option<&'static Encoding> {
    let mut pos = 0;
    while pos < head.len() {
        let rest = &head[pos..];
        if rest.starts_with(b"<!--") {
            pos = match find(&head[pos + 2..], b"-->") {
                Some(end) => pos + 2 + end + 3,
                None => return None,
            };
        } else if starts_with_ignore_case(rest, b"<meta")
            && rest.get(5).is_some_and(|&b| is_space(b) || b == b'/')
        {
            pos += 5;
            if let Some(encoding) = meta_charset(head, &mut pos) {
                return Some(encoding);
            }
        } else if rest.len() >= 2
            && rest[0] == b'<'
            && (rest[1].is_ascii_alphabetic()
                || (rest[1] == b'/' && rest.get(2).is_some_and(u8::is_ascii_alphabetic)))
        {
            // An ordinary tag: skip its name, then its attributes (which may contain '>').
            pos += 1;
            while pos < head.len() && !is_space(head[pos]) && head[pos] != b'>' {
                pos += 1;
            }
            while next_attribute(head, &mut pos).is_some() {}
            pos += 1;
        } else if rest.starts_with(b"<!") || rest.starts_with(b"</") || rest.starts_with(b"<?") {
            pos = match memchr_byte(b'>', &head[pos..]) {
                Some(end) => pos + end + 1,
                None => return None,
            };
        } else {
            pos += 1;
        }
    }
    None
}

/// The attributes of one `<meta>` tag; `pos` is just past `<meta`.
fn meta_charset(head: &[u8], pos: &mut usize) -> Option<&'static Encoding> {
    let mut seen_http_equiv = false;
    let mut seen_content = false;
    let mut seen_charset = false;
    let mut got_pragma = false;
    let mut charset: Option<&'static Encoding> = None;
    let mut need_pragma: Option<bool> = None;
    while let Some((name, value)) = next_attribute(head, pos) {
        match name.as_slice() {
            b"http-equiv" if !seen_http_equiv => {
                seen_http_equiv = true;
                got_pragma |= value.eq_ignore_ascii_case(b"content-type");
            }
            b"content" if !seen_content => {
                seen_content = true;
                if charset.is_none()
                    && let Some(label) = charset_in_content(&value)
                {
                    charset = Encoding::for_label(label);
                    need_pragma = Some(true);
                }
            }
            b"charset" if !seen_charset => {
                seen_charset = true;
                charset = Encoding::for_label(&value);
                need_pragma = Some(false);
            }
            _ => {}
        }
    }
    *pos += 1;
    let charset = charset?;
    match need_pragma {
        Some(true) if !got_pragma => None,
        None => None,
        _ => Some(if charset == UTF_16BE || charset == UTF_16LE {
            UTF_8
        } else if charset == X_USER_DEFINED {
            WINDOWS_1252
        } else {
            charset
        }),
    }
}

/// The standard's "get an attribute": returns the lower-cased name and the raw value, and
/// leaves `pos` on the byte after it (or on the closing `>` when there are no more).
fn next_attribute(head: &[u8], pos: &mut usize) -> Option<(Vec<u8>, Vec<u8>)> {
    let at = |p: usize| head.get(p).copied();
    while at(*pos).is_some_and(|b| is_space(b) || b == b'/') {
        *pos += 1;
    }
    match at(*pos) {
        None | Some(b'>') => return None,
        _ => {}
    }
    let mut name = Vec::new();
    let mut value = Vec::new();
    loop {
        match at(*pos)? {
            b'=' if !name.is_empty() => {
                *pos += 1;
                break;
            }
            b if is_space(b) => {
                while at(*pos).is_some_and(is_space) {
                    *pos += 1;
                }
                if at(*pos)? != b'=' {
                    return Some((name, value));
                }
                *pos += 1;
                break;
            }
            b'/' | b'>' => return Some((name, value)),
            b => {
                name.push(b.to_ascii_lowercase());
                *pos += 1;
            }
        }
    }
    while at(*pos).is_some_and(is_space) {
        *pos += 1;
    }
    match at(*pos)? {
        quote @ (b'"' | b'\'') => {
            *pos += 1;
            loop {
                let b = at(*pos)?;
                *pos += 1;
                if b == quote {
                    return Some((name, value));
                }
                value.push(b.to_ascii_lowercase());
            }
        }
        b'>' => Some((name, value)),
        _ => {
            while let Some(b) = at(*pos) {
                if is_space(b) || b == b'>' {
                    break;
                }
                value.push(b.to_ascii_lowercase());
                *pos += 1;
            }
            Some((name, value))
        }
    }
}

/// The standard's "extract a character encoding from a meta element" (`content="…;charset=x"`).
fn charset_in_content(content: &[u8]) -> Option<&[u8]> {
    let mut from = 0;
    loop {
        let found = from + find(&content[from..], b"charset")?;
        let mut p = found + 7;
        while content.get(p).copied().is_some_and(is_space) {
            p += 1;
        }
        if content.get(p) != Some(&b'=') {
            from = found + 7;
            continue;
        }
        p += 1;
        while content.get(p).copied().is_some_and(is_space) {
            p += 1;
        }
        return match content.get(p)? {
            &quote @ (b'"' | b'\'') => {
                let len = memchr_byte(quote, &content[p + 1..])?;
                Some(&content[p + 1..p + 1 + len])
            }
            _ => {
                let rest = &content[p..];
                let len = rest.iter().position(|&b| is_space(b) || b == b';').unwrap_or(rest.len());
                (len > 0).then(|| &rest[..len])
            }
        };
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r')
}

fn starts_with_ignore_case(haystack: &[u8], prefix: &[u8]) -> bool {
    haystack.len() >= prefix.len() && haystack[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn memchr_byte(byte: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == byte)
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{GBK, ISO_8859_7, UTF_16LE, WINDOWS_1251};

    fn source(body: &[u8], content_type: Option<&str>) -> (&'static str, Source) {
        let (encoding, _, source) = sniff(body, content_type, None);
        (encoding.name(), source)
    }

    #[test]
    fn bom_wins_over_everything() {
        let body = b"\xEF\xBB\xBF<meta charset=windows-1252>caf\xC3\xA9";
        assert_eq!(source(body, Some("text/html; charset=iso-8859-1")), ("UTF-8", Source::Bom));
        let (text, _) = decode(body, None, None);
        assert_eq!(text, "<meta charset=windows-1252>café");
        assert_eq!(sniff(b"\xFF\xFEa\0", None, None).0, UTF_16LE);
    }

    #[test]
    fn http_charset_beats_meta_and_maps_latin1_to_windows_1252() {
        let body = b"<meta charset=utf-8>";
        assert_eq!(source(body, Some("text/html; charset=ISO-8859-1")), ("windows-1252", Source::Http));
        assert_eq!(source(body, Some("text/html;charset=\"koi8-r\"")), ("KOI8-R", Source::Http));
        // An unknown label is ignored, and the next step decides.
        assert_eq!(source(body, Some("text/html; charset=bogus")), ("UTF-8", Source::Meta));
    }

    #[test]
    fn prescan_reads_meta_charset_in_its_forms() {
        assert_eq!(prescan(b"<html><head><META CHARSET='Latin1'>"), Some(WINDOWS_1252));
        assert_eq!(
            prescan(b"<meta content=\"text/html; charset=windows-1251\" http-equiv=\"Content-Type\">"),
            Some(WINDOWS_1251)
        );
        assert_eq!(
            prescan(b"<meta http-equiv=content-type content='text/html;charset = gb2312'>"),
            Some(GBK)
        );
        // content= without the http-equiv pragma does not count.
        assert_eq!(prescan(b"<meta content=\"text/html; charset=windows-1251\">"), None);
        // UTF-16 in a meta means UTF-8 (the bytes are evidently ASCII-compatible).
        assert_eq!(prescan(b"<meta charset=utf-16le>"), Some(UTF_8));
    }

    #[test]
    fn prescan_skips_comments_and_other_tags_attributes() {
        assert_eq!(prescan(b"<!-- <meta charset=koi8-r> --><meta charset=iso-8859-7>"), Some(ISO_8859_7));
        assert_eq!(prescan(b"<div title='<meta charset=koi8-r>'><meta charset=utf-8>"), Some(UTF_8));
        assert_eq!(
            prescan(b"<!DOCTYPE html><?xml x?><meta name=x><meta charset=\"windows-1252\">"),
            Some(WINDOWS_1252)
        );
        assert_eq!(prescan(b"<metadata charset=koi8-r>"), None);
    }

    #[test]
    fn valid_utf8_overrides_a_stale_meta_label() {
        let body = "<meta charset=shift_jis><p>脆弱性対策情報</p>".as_bytes();
        assert_eq!(source(body, None), ("UTF-8", Source::Meta));
        let (latin, _, _) = WINDOWS_1252.encode("<meta charset=windows-1252><p>déjà vu</p>");
        assert_eq!(source(&latin, None), ("windows-1252", Source::Meta));
    }

    #[test]
    fn prescan_stops_at_1024_bytes() {
        let mut body = b"<html>".to_vec();
        body.extend(std::iter::repeat_n(b' ', 1100));
        body.extend_from_slice(b"<meta charset=windows-1252>\xE9t\xE9 tr\xE8s caf\xE9 \xE0 la fran\xE7aise, d\xE9j\xE0 \xE9t\xE9");
        assert_ne!(source(&body, None).1, Source::Meta);
    }

    #[test]
    fn unlabelled_pages_are_detected() {
        let body = "<p>L’été à Paris « très » chaud, œuvre à 5 €, déjà vu ; la société française</p>";
        let (bytes, _, _) = WINDOWS_1252.encode(body);
        let (text, encoding) = decode(&bytes, Some("text/html"), Some("fr"));
        assert_eq!(encoding, WINDOWS_1252);
        assert_eq!(text, body);
        // Valid UTF-8 stays UTF-8.
        assert_eq!(decode(body.as_bytes(), None, Some("fr")).1, UTF_8);
    }

    #[test]
    fn odd_tld_hints_do_not_panic() {
        for tld in ["FR", "xn--p1ai", "127", "a.b", "é"] {
            let _ = decode(b"caf\xE9", None, Some(tld));
        }
    }

    #[test]
    fn truncated_and_invalid_bytes_decode_with_replacement() {
        let (text, _) = decode(b"<meta charset=utf-8>ab\xC3", None, None);
        assert_eq!(text, "<meta charset=utf-8>ab\u{FFFD}");
        assert_eq!(prescan(b"<meta charset=\"utf-8"), None);
        assert_eq!(prescan(b"<!-- never closed"), None);
    }
}
