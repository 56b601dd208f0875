//! Publication dates, from machine-readable values and from the words around a headline.
//!
//! Machine-readable values (JSON-LD, `article:published_time`, `<time datetime>`) are ISO 8601
//! or RFC 2822 most of the time and go through chrono. Dates written for readers ("20 octobre
//! 2021", "le 20 - 10 - 2021", "October 20, 2021", "20 de octubre de 2021", "٢٠ أكتوبر ٢٠٢١",
//! "il y a 3 heures") go through a small tokenizer and a handful of token patterns: no regex,
//! one pass, no allocation per token.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, Utc};
use url::Url;

/// A date as precise as the page gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Day(NaiveDate),
    Local(NaiveDateTime),
    Exact(DateTime<FixedOffset>),
}

impl Found {
    pub fn day(&self) -> NaiveDate {
        match self {
            Found::Day(d) => *d,
            Found::Local(dt) => dt.date(),
            Found::Exact(dt) => dt.date_naive(),
        }
    }

    /// ISO 8601: `2021-10-20`, `2021-10-20T14:03:00` or `2021-10-20T14:03:00+02:00`.
    pub fn iso(&self) -> String {
        match self {
            Found::Day(d) => d.format("%Y-%m-%d").to_string(),
            Found::Local(dt) => dt.format("%Y-%m-%dT%H:%M:%S").to_string(),
            Found::Exact(dt) => dt.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }

    /// Plausible for a page fetched at `now`: not before the web, not after the fetch.
    pub fn plausible(&self, now: DateTime<Utc>) -> bool {
        let day = self.day();
        day.year() >= 1993 && day <= (now + Duration::days(1)).date_naive()
    }
}

/// Parses a machine-readable date value (meta content, JSON-LD, `datetime` attribute).
pub fn parse_value(value: &str, now: DateTime<Utc>) -> Option<Found> {
    let value = value.trim();
    if value.is_empty() || value.len() > 64 {
        return None;
    }
    let found = DateTime::parse_from_rfc3339(value)
        .ok()
        .map(Found::Exact)
        .or_else(|| DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z").ok().map(Found::Exact))
        .or_else(|| DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M%z").ok().map(Found::Exact))
        .or_else(|| DateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f%z").ok().map(Found::Exact))
        .or_else(|| DateTime::parse_from_rfc2822(value).ok().map(Found::Exact))
        .or_else(|| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f").ok().map(Found::Local))
        .or_else(|| NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f").ok().map(Found::Local))
        .or_else(|| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M").ok().map(Found::Local))
        .or_else(|| NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M").ok().map(Found::Local))
        .or_else(|| NaiveDate::parse_from_str(value, "%Y%m%d").ok().map(Found::Day))
        .or_else(|| find_in_text(value, now));
    found.filter(|f| f.plausible(now))
}

/// A date in the path of a URL: `/2021/10/20/`, `/2021-10-20-slug`, `/20211020/`.
pub fn from_url(url: &Url, now: DateTime<Utc>) -> Option<Found> {
    let path = url.path();
    let numbers: Vec<(usize, u32, usize)> = number_runs(path).collect();
    for (i, &(_, value, len)) in numbers.iter().enumerate() {
        if len == 8 {
            let date = NaiveDate::from_ymd_opt((value / 10_000) as i32, value / 100 % 100, value % 100)
                .map(Found::Day);
            if let Some(date) = date.filter(|d| d.plausible(now)) {
                return Some(date);
            }
        }
        if len == 4
            && let (Some(&(m_at, month, m_len)), Some(&(d_at, day, d_len))) =
                (numbers.get(i + 1), numbers.get(i + 2))
        {
            let (_, _, year_len) = numbers[i];
            let adjacent = |at: usize, prev_end: usize| at == prev_end + 1;
            let year_end = numbers[i].0 + year_len;
            if m_len <= 2 && d_len <= 2 && adjacent(m_at, year_end) && adjacent(d_at, m_at + m_len) {
                let date = NaiveDate::from_ymd_opt(value as i32, month, day).map(Found::Day);
                if let Some(date) = date.filter(|d| d.plausible(now)) {
                    return Some(date);
                }
            }
        }
    }
    None
}

/// (byte offset, value, digit count) of each run of ASCII digits (at most 9 digits).
fn number_runs(s: &str) -> impl Iterator<Item = (usize, u32, usize)> + '_ {
    let bytes = s.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            if bytes[i].is_ascii_digit() {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                if i - start <= 9 {
                    return Some((start, s[start..i].parse().unwrap_or(0), i - start));
                }
            } else {
                i += 1;
            }
        }
        None
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token<'a> {
    /// Value and number of digits.
    Number(u32, u8),
    Word(&'a str),
    Punct(char),
}

/// Splits text into numbers (ASCII, Arabic-Indic and Persian digits), words and punctuation.
fn tokens(text: &str) -> impl Iterator<Item = Token<'_>> {
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        loop {
            let (start, c) = chars.next()?;
            if let Some(d) = digit(c) {
                let (mut value, mut count) = (d, 1u8);
                while let Some(d) = chars.peek().and_then(|&(_, c)| digit(c)) {
                    chars.next();
                    value = value.saturating_mul(10).saturating_add(d);
                    count = count.saturating_add(1);
                }
                return Some(Token::Number(value, count));
            }
            if c.is_alphabetic() {
                let mut end = start + c.len_utf8();
                while let Some(&(i, c)) = chars.peek() {
                    if !(c.is_alphabetic() || c == '\u{200f}' || c == '\u{0640}') {
                        break;
                    }
                    end = i + c.len_utf8();
                    chars.next();
                }
                return Some(Token::Word(&text[start..end]));
            }
            if !c.is_whitespace() {
                return Some(Token::Punct(c));
            }
        }
    })
}

fn digit(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        '\u{0660}'..='\u{0669}' => Some(c as u32 - 0x0660),
        '\u{06f0}'..='\u{06f9}' => Some(c as u32 - 0x06f0),
        _ => None,
    }
}

/// Month number of a month name or abbreviation (French, English, Spanish, Portuguese, German,
/// Arabic; the Levantine names are two words: "كانون الثاني", given here by their first word
/// and resolved by [`levantine_month`]).
fn month(word: &str) -> Option<u32> {
    let mut buf = [0u8; 32];
    let lower = lowercase_into(word, &mut buf)?;
    Some(match lower {
        "janvier" | "janv" | "january" | "jan" | "enero" | "ene" | "janeiro" | "januar" | "jänner"
        | "يناير" | "جانفي" => 1,
        "février" | "fevrier" | "févr" | "fevr" | "fév" | "fev" | "february" | "feb" | "febrero"
        | "fevereiro" | "februar" | "فبراير" | "فيفري" | "شباط" => 2,
        "mars" | "march" | "mar" | "marzo" | "março" | "märz" | "mär" | "مارس" | "آذار" => 3,
        "avril" | "avr" | "april" | "apr" | "abril" | "abr" | "أبريل" | "ابريل" | "إبريل" | "أفريل"
        | "نيسان" => 4,
        "mai" | "may" | "mayo" | "maio" | "مايو" | "ماي" | "أيار" => 5,
        "juin" | "june" | "jun" | "junio" | "junho" | "juni" | "يونيو" | "يونيه" | "جوان" | "حزيران" => {
            6
        }
        "juillet" | "juil" | "july" | "jul" | "julio" | "julho" | "juli" | "يوليو" | "يوليه" | "جويلية"
        | "تموز" => 7,
        "août" | "aout" | "august" | "aug" | "agosto" | "ago" | "أغسطس" | "اغسطس" | "أوت" | "آب" => {
            8
        }
        "septembre" | "sept" | "september" | "sep" | "septiembre" | "setiembre" | "setembro" | "سبتمبر"
        | "أيلول" => 9,
        "octobre" | "oct" | "october" | "octubre" | "outubro" | "oktober" | "okt" | "أكتوبر" | "اكتوبر" => {
            10
        }
        "novembre" | "nov" | "november" | "noviembre" | "novembro" | "نوفمبر" => 11,
        "décembre" | "decembre" | "déc" | "dec" | "december" | "diciembre" | "dic" | "dezembro"
        | "dezember" | "dez" | "ديسمبر" | "دجنبر" => 12,
        _ => return None,
    })
}

/// "تشرين الأول" (October), "كانون الثاني" (January), …
fn levantine_month(first: &str, second: &str) -> Option<u32> {
    let first_of_pair = matches!(second, "الأول" | "الاول");
    let second_of_pair = matches!(second, "الثاني");
    match first {
        "تشرين" if first_of_pair => Some(10),
        "تشرين" if second_of_pair => Some(11),
        "كانون" if first_of_pair => Some(12),
        "كانون" if second_of_pair => Some(1),
        _ => None,
    }
}

/// Lower-cases `word` into `buf` (None if it does not fit: no month name is that long).
fn lowercase_into<'b>(word: &str, buf: &'b mut [u8; 32]) -> Option<&'b str> {
    let mut len = 0;
    for c in word.chars().flat_map(char::to_lowercase) {
        let n = c.len_utf8();
        if len + n > buf.len() {
            return None;
        }
        c.encode_utf8(&mut buf[len..]);
        len += n;
    }
    std::str::from_utf8(&buf[..len]).ok()
}

/// The first date written in `text` for readers, or a relative one ("il y a 3 heures")
/// counted back from `now`.
pub fn find_in_text(text: &str, now: DateTime<Utc>) -> Option<Found> {
    let tokens: Vec<Token> = tokens(text).take(400).collect();
    (0..tokens.len()).find_map(|i| date_at(&tokens[i..], now)).filter(|f| f.plausible(now))
}

fn date_at(t: &[Token], now: DateTime<Utc>) -> Option<Found> {
    use Token::*;
    let ymd = |y: u32, m: u32, d: u32| NaiveDate::from_ymd_opt(y as i32, m, d).map(Found::Day);
    let sep = |t: Option<&Token>| matches!(t, Some(Punct('-' | '/' | '.' | '‐' | '–')));
    let year = |t: Option<&Token>| match t {
        Some(&Number(y, 4)) => Some(y),
        _ => None,
    };
    let month_at = |i: usize| -> Option<(u32, usize)> {
        match (t.get(i), t.get(i + 1)) {
            (Some(Word(a)), Some(Word(b))) if levantine_month(a, b).is_some() => {
                levantine_month(a, b).map(|m| (m, 2))
            }
            (Some(Word(w)), _) => month(w).map(|m| (m, 1)),
            _ => None,
        }
    };
    match t.first()? {
        // 2019年4月3日 (Chinese, Japanese), 2019년 4월 3일 (Korean)
        &Number(y, 4) if matches!(t.get(1), Some(Word("年" | "년"))) => {
            match (t.get(2), t.get(3), t.get(4), t.get(5)) {
                (
                    Some(&Number(m, 1..=2)),
                    Some(Word("月" | "월")),
                    Some(&Number(d, 1..=2)),
                    Some(Word(day)),
                ) if day.starts_with(['日', '일']) => ymd(y, m, d),
                _ => None,
            }
        }
        // 2021-10-20, 2021/10/20
        &Number(y, 4) if sep(t.get(1)) && sep(t.get(3)) => match (t.get(2), t.get(4)) {
            (Some(&Number(m, 1..=2)), Some(&Number(d, 1..=2))) => ymd(y, m, d),
            _ => None,
        },
        &Number(d, 1..=2) => {
            // 20 - 10 - 2021, 20/10/2021, 20.10.2021 (day first; month first when the day cannot be)
            if sep(t.get(1))
                && let Some(&Number(m, 1..=2)) = t.get(2)
                && sep(t.get(3))
                && let Some(y) = year(t.get(4))
            {
                return ymd(y, m, d).or_else(|| ymd(y, d, m));
            }
            // 20 octobre 2021, 1er octobre 2021, 20 de octubre de 2021, 20. Oktober 2021, 20 أكتوبر 2021
            let mut i = 1;
            while matches!(
                t.get(i),
                Some(Word("er" | "st" | "nd" | "rd" | "th" | "de" | "del")) | Some(Punct('.' | ','))
            ) {
                i += 1;
            }
            let (m, used) = month_at(i)?;
            i += used;
            while matches!(t.get(i), Some(Word("de" | "del" | "،")) | Some(Punct('.' | ',' | '،'))) {
                i += 1;
            }
            ymd(year(t.get(i))?, m, d)
        }
        Word(w) => {
            // October 20, 2021 / Oct. 20 2021
            if let Some((m, used)) = month_at(0) {
                let mut i = used;
                if matches!(t.get(i), Some(Punct('.'))) {
                    i += 1;
                }
                let Some(&Number(d, 1..=2)) = t.get(i) else {
                    return None;
                };
                i += 1;
                while matches!(t.get(i), Some(Word("st" | "nd" | "rd" | "th")) | Some(Punct(','))) {
                    i += 1;
                }
                return ymd(year(t.get(i))?, m, d);
            }
            relative(w, &t[1..], now)
        }
        _ => None,
    }
}

/// "il y a 3 heures", "3 hours ago", "hace 3 horas", "منذ 3 ساعات".
fn relative(first: &str, rest: &[Token], now: DateTime<Utc>) -> Option<Found> {
    use Token::*;
    let mut buf = [0u8; 32];
    let lower = lowercase_into(first, &mut buf)?;
    let (n, unit) = match (lower, rest) {
        ("il", [Word(y), Word(a), Number(n, _), Word(unit), ..])
            if y.eq_ignore_ascii_case("y") && *a == "a" =>
        {
            (*n, *unit)
        }
        ("hace" | "منذ", [Number(n, _), Word(unit), ..]) => (*n, *unit),
        (_, _) => return english_ago(rest, now),
    };
    back_from(now, n, unit)
}

/// "<word> 3 hours ago": the number follows the word that started the match.
fn english_ago(rest: &[Token], now: DateTime<Utc>) -> Option<Found> {
    match rest {
        [Token::Number(n, _), Token::Word(unit), Token::Word(ago), ..] if ago.eq_ignore_ascii_case("ago") => {
            back_from(now, *n, unit)
        }
        _ => None,
    }
}

fn back_from(now: DateTime<Utc>, n: u32, unit: &str) -> Option<Found> {
    let mut buf = [0u8; 32];
    let unit = lowercase_into(unit, &mut buf)?;
    let n = i64::from(n.min(10_000));
    let delta = match unit {
        "minute" | "minutes" | "min" | "mins" | "minuto" | "minutos" | "دقيقة" | "دقائق" => {
            Duration::minutes(n)
        }
        "heure" | "heures" | "h" | "hour" | "hours" | "hora" | "horas" | "ساعة" | "ساعات" => {
            Duration::hours(n)
        }
        "jour" | "jours" | "day" | "days" | "día" | "días" | "dia" | "dias" | "يوم" | "أيام" | "ايام" => {
            Duration::days(n)
        }
        _ => return None,
    };
    Some(Found::Exact((now - delta).fixed_offset()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-10T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn day(text: &str) -> Option<String> {
        find_in_text(text, now()).map(|f| f.day().to_string())
    }

    #[test]
    fn machine_values() {
        let iso = |v: &str| parse_value(v, now()).map(|f| f.iso());
        assert_eq!(iso("2019-08-27T23:02:00+01:00").as_deref(), Some("2019-08-27T23:02:00+01:00"));
        assert_eq!(iso("2016-12-20T12:44:32.000Z").as_deref(), Some("2016-12-20T12:44:32Z"));
        assert_eq!(iso("2021-10-20 14:03:00").as_deref(), Some("2021-10-20T14:03:00"));
        assert_eq!(iso("2021-10-20").as_deref(), Some("2021-10-20"));
        assert_eq!(iso("20211020").as_deref(), Some("2021-10-20"));
        assert_eq!(iso("Wed, 20 Oct 2021 14:03:00 +0200").as_deref(), Some("2021-10-20T14:03:00+02:00"));
        assert_eq!(iso("2021-10-20T14:03:00+0200").as_deref(), Some("2021-10-20T14:03:00+02:00"));
        assert_eq!(iso("2099-01-01"), None);
        assert_eq!(iso("1970-01-01"), None);
        assert_eq!(iso("yesterday-ish"), None);
    }

    #[test]
    fn french_dates() {
        assert_eq!(day("Publié dans H24 Info le 20 - 10 - 2021").as_deref(), Some("2021-10-20"));
        assert_eq!(day("Publié le 20 octobre 2021 à 14h03").as_deref(), Some("2021-10-20"));
        assert_eq!(day("mis à jour le 1er févr. 2022").as_deref(), Some("2022-02-01"));
        assert_eq!(day("Le 08/01/2020").as_deref(), Some("2020-01-08"));
    }

    #[test]
    fn english_spanish_german_dates() {
        assert_eq!(day("Published October 20, 2021 at 2:03 PM").as_deref(), Some("2021-10-20"));
        assert_eq!(day("Updated: Oct. 3rd, 2021").as_deref(), Some("2021-10-03"));
        assert_eq!(day("Published in AFP on 20 - 10 - 2021").as_deref(), Some("2021-10-20"));
        assert_eq!(day("12/25/2021").as_deref(), Some("2021-12-25"));
        assert_eq!(day("Publicado el 20 de octubre de 2021").as_deref(), Some("2021-10-20"));
        assert_eq!(day("20. Oktober 2021").as_deref(), Some("2021-10-20"));
        assert_eq!(day("2021/10/20 update").as_deref(), Some("2021-10-20"));
    }

    #[test]
    fn east_asian_dates() {
        assert_eq!(day("2019年4月3日に発表").as_deref(), Some("2019-04-03"));
        assert_eq!(day("发布时间：2012年1月17日 08:30").as_deref(), Some("2012-01-17"));
        assert_eq!(day("2019년 4월 3일").as_deref(), Some("2019-04-03"));
    }

    #[test]
    fn arabic_dates() {
        assert_eq!(day("نشر في 20 أكتوبر 2021").as_deref(), Some("2021-10-20"));
        assert_eq!(day("٢٠ أكتوبر ٢٠٢١").as_deref(), Some("2021-10-20"));
        assert_eq!(day("الأربعاء 20 تشرين الأول 2021").as_deref(), Some("2021-10-20"));
        assert_eq!(day("5 كانون الثاني 2022").as_deref(), Some("2022-01-05"));
    }

    #[test]
    fn relative_dates() {
        assert_eq!(day("il y a 3 heures").as_deref(), Some("2024-05-10"));
        assert_eq!(day("Il y a 2 jours").as_deref(), Some("2024-05-08"));
        assert_eq!(day("posted 3 days ago").as_deref(), Some("2024-05-07"));
        assert_eq!(day("hace 2 días").as_deref(), Some("2024-05-08"));
        assert_eq!(day("منذ 4 أيام").as_deref(), Some("2024-05-06"));
    }

    #[test]
    fn no_date_no_answer() {
        assert_eq!(day("Le 14 juillet, 300 personnes"), None);
        assert_eq!(day("Score 3 - 1 - 2"), None);
        assert_eq!(day(""), None);
    }

    #[test]
    fn url_dates() {
        let at = |u: &str| from_url(&Url::parse(u).unwrap(), now()).map(|f| f.day().to_string());
        assert_eq!(at("https://x.fr/politique/2021/10/20/slug").as_deref(), Some("2021-10-20"));
        assert_eq!(at("https://x.fr/2021-10-20-slug.html").as_deref(), Some("2021-10-20"));
        assert_eq!(at("https://x.fr/news/20211020/slug").as_deref(), Some("2021-10-20"));
        assert_eq!(at("https://x.fr/politique/2021/10/slug-20.html"), None);
        assert_eq!(at("https://x.fr/id/123456789"), None);
    }
}
