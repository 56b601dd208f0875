//! The language of the article, from its text.
//!
//! `lang` attributes are often a CMS default (`en-US` on a French page), so the text decides
//! when the detector is confident; the page's own declaration is the fallback for short or
//! mixed texts. Detection reads a bounded sample, so long articles cost the same as short ones.

use whatlang::{Detector, Lang};

/// Bytes of text given to the detector.
const SAMPLE_BYTES: usize = 2048;

/// ISO 639-1 code (or 639-3 where there is none) of `text`, else of `declared` (`fr-FR` → `fr`).
pub fn detect(text: &str, declared: Option<&str>) -> Option<String> {
    let mut end = text.len().min(SAMPLE_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let declared = declared.and_then(primary_subtag);
    let sample = &text[..end];
    match (Detector::new().detect(sample), declared) {
        (Some(info), _) if info.is_reliable() => Some(iso639_1(info.lang()).to_owned()),
        // Unsure detection: the page's declaration is the better bet.
        (_, Some(declared)) => Some(declared),
        // Nothing declared: a guess on a paragraph or more is still worth giving.
        (Some(info), None) if sample.chars().count() >= 200 && info.confidence() >= 0.2 => {
            Some(iso639_1(info.lang()).to_owned())
        }
        _ => None,
    }
}

/// `fr-FR`, `fr_FR`, ` FR ` → `fr`.
fn primary_subtag(tag: &str) -> Option<String> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    ((2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase())).then_some(primary)
}

fn iso639_1(lang: Lang) -> &'static str {
    use Lang::*;
    match lang {
        Epo => "eo",
        Eng => "en",
        Rus => "ru",
        Cmn => "zh",
        Spa => "es",
        Por => "pt",
        Ita => "it",
        Ben => "bn",
        Fra => "fr",
        Deu => "de",
        Ukr => "uk",
        Kat => "ka",
        Ara => "ar",
        Hin => "hi",
        Jpn => "ja",
        Heb => "he",
        Yid => "yi",
        Pol => "pl",
        Amh => "am",
        Jav => "jv",
        Kor => "ko",
        Nob => "nb",
        Dan => "da",
        Swe => "sv",
        Fin => "fi",
        Tur => "tr",
        Nld => "nl",
        Hun => "hu",
        Ces => "cs",
        Ell => "el",
        Bul => "bg",
        Bel => "be",
        Mar => "mr",
        Kan => "kn",
        Ron => "ro",
        Slv => "sl",
        Hrv => "hr",
        Srp => "sr",
        Mkd => "mk",
        Lit => "lt",
        Lav => "lv",
        Est => "et",
        Tam => "ta",
        Vie => "vi",
        Urd => "ur",
        Tha => "th",
        Guj => "gu",
        Uzb => "uz",
        Pan => "pa",
        Aze => "az",
        Ind => "id",
        Tel => "te",
        Pes => "fa",
        Mal => "ml",
        Ori => "or",
        Mya => "my",
        Nep => "ne",
        Sin => "si",
        Khm => "km",
        Tuk => "tk",
        Aka => "ak",
        Zul => "zu",
        Sna => "sn",
        Afr => "af",
        Lat => "la",
        Slk => "sk",
        Cat => "ca",
        Tgl => "tl",
        Hye => "hy",
        Cym => "cy",
        #[allow(unreachable_patterns)]
        other => other.code(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_beats_a_wrong_declaration() {
        let french = "Le conseil municipal a voté mardi soir la prolongation de la ligne de tramway vers les quartiers nord, \
                      un projet débattu depuis plus de dix ans et dont le coût dépasse quatre cents millions d'euros.";
        assert_eq!(detect(french, Some("en-US")).as_deref(), Some("fr"));
        assert_eq!(detect("", Some("fr_FR")).as_deref(), Some("fr"));
        assert_eq!(detect("", None), None);
        assert_eq!(detect("", Some("not a tag")), None);
    }

    #[test]
    fn other_scripts() {
        let arabic = "قال المجلس البلدي إن مشروع تمديد خط الترام نحو الأحياء الشمالية سيكلف أكثر من أربعمائة مليون يورو";
        assert_eq!(detect(arabic, None).as_deref(), Some("ar"));
    }
}
