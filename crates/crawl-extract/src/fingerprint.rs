//! Fingerprints of the article text: an exact hash for identical copies and a SimHash for
//! near-duplicates (the same wire story on two sites, a page re-rendered with a new ticker).
//!
//! SimHash (Charikar): every 3-word shingle of the lower-cased text votes on each of the 64
//! bits with its own hash; the fingerprint keeps the majority. Texts that share most shingles
//! end up a few bits apart, so `(a ^ b).count_ones()` is a cheap similarity.

use sha2::{Digest, Sha256};
use xxhash_rust::xxh3::xxh3_64;

const SHINGLE_WORDS: usize = 3;

/// Lower-case hex SHA-256 of the text's UTF-8 bytes.
pub fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    hex
}

/// 64-bit SimHash over word shingles; 0 for an empty text.
pub fn simhash(text: &str) -> u64 {
    let mut word = String::new();
    let words: Vec<u64> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            word.clear();
            if w.is_ascii() {
                word.push_str(w);
                word.make_ascii_lowercase();
            } else {
                word.extend(w.chars().flat_map(char::to_lowercase));
            }
            xxh3_64(word.as_bytes())
        })
        .collect();
    if words.is_empty() {
        return 0;
    }
    let mut votes = [0i32; 64];
    let mut shingle = [0u8; 8 * SHINGLE_WORDS];
    for window in words.windows(SHINGLE_WORDS.min(words.len())) {
        for (slot, hash) in shingle.chunks_exact_mut(8).zip(window) {
            slot.copy_from_slice(&hash.to_le_bytes());
        }
        let hash = xxh3_64(&shingle[..8 * window.len()]);
        for (bit, vote) in votes.iter_mut().enumerate() {
            *vote += if hash >> bit & 1 == 1 { 1 } else { -1 };
        }
    }
    votes.iter().enumerate().fold(0, |acc, (bit, &v)| if v > 0 { acc | 1 << bit } else { acc })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_text() {
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn simhash_is_close_for_near_duplicates_and_far_otherwise() {
        let base = "The regional council voted on Tuesday to extend the tram line to the northern districts, \
                    a project that has been debated for more than ten years and will cost 400 million euros.";
        let edited = base.replace("Tuesday", "Wednesday");
        let other = "Heavy rain flooded the harbour overnight and the ferry service to the islands was suspended \
                     until further notice, the port authority said in a statement on its website.";
        let distance = |a: &str, b: &str| (simhash(a) ^ simhash(b)).count_ones();
        assert_eq!(simhash(base), simhash(&base.to_uppercase()));
        assert!(distance(base, &edited) <= 12, "{}", distance(base, &edited));
        assert!(distance(base, other) >= 20, "{}", distance(base, other));
        assert_eq!(simhash(""), 0);
    }
}
