//! Accuracy regression guard: the extract-dev scorer's text metric (4-word shingles,
//! per-page precision and recall averaged over pages, F1 of the means), computed in Rust on
//! a fixed subset of `../shared/extract-dev`, must stay within 0.01 of the recorded baseline.
//!
//! The pages are not committed (they belong to the shared dev set, found at `$CRAWL_SHARED`
//! or `../shared` next to the checkout); without them the test says so and passes, unless
//! `CRAWL_TEST_REQUIRE=1` (CI), where it fails.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use crawl_extract::{Input, Limits, extract};
use serde_json::Value;
use url::Url;

/// (set, pages taken, baseline F1 of this crate on them, tokenizer splits CJK). Baselines
/// are raised when the extractor improves, never lowered to make a change pass.
const SETS: &[(&str, usize, f64, bool)] =
    &[("daniel", 60, 0.9008, true), ("europa-fr", 15, 0.9996, false), ("readability", 20, 0.9712, true)];
const ALLOWED_DROP: f64 = 0.01;

fn data_dir() -> PathBuf {
    std::env::var_os("CRAWL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("extract-dev")
}

#[test]
fn text_f1_does_not_regress() {
    let dir = data_dir();
    if !dir.is_dir() {
        if std::env::var("CRAWL_TEST_REQUIRE").is_ok_and(|v| v == "1") {
            panic!("{} not found (CRAWL_TEST_REQUIRE=1; set CRAWL_SHARED)", dir.display());
        }
        eprintln!("SKIPPED: {} not found (set CRAWL_SHARED)", dir.display());
        return;
    }
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for &(set, take, baseline, cjk) in SETS {
        let f1 = score_set(&dir.join(set), take, cjk);
        report.push(format!("{set}: F1={f1:.4} (baseline {baseline:.4})"));
        if f1 < baseline - ALLOWED_DROP {
            failures.push(format!(
                "{set}: F1 {f1:.4} is more than {ALLOWED_DROP} below the baseline {baseline:.4}"
            ));
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// F1 of the mean precision and mean recall over the first `take` pages (by id) of a set.
fn score_set(set: &Path, take: usize, cjk: bool) -> f64 {
    let truth = std::fs::read_to_string(set.join("truth.jsonl")).expect("truth.jsonl");
    let mut records: Vec<Value> = truth
        .split('\n')
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("truth line"))
        .collect();
    records.retain(|r| r["text"].is_string());
    records.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let fetched_at: DateTime<Utc> =
        DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
    let fallback = Url::parse("http://localhost/").unwrap();
    let (mut precisions, mut recalls) = (Vec::new(), Vec::new());
    for record in records.iter().take(take) {
        let body = std::fs::read(set.join(record["file"].as_str().unwrap())).expect("page file");
        let url = record["url"].as_str().and_then(|u| Url::parse(u).ok()).unwrap_or_else(|| fallback.clone());
        let input = Input { url: &url, body: &body, content_type: None, content_language: None, fetched_at };
        let predicted = extract(&input, &Limits::default()).map(|d| d.text).unwrap_or_default();
        let (tp, fp, fn_) =
            shingle_counts(&tokens(record["text"].as_str().unwrap(), cjk), &tokens(&predicted, cjk));
        if tp + fp > 0.0 {
            precisions.push(if fp == 0.0 && fn_ == 0.0 { 1.0 } else { tp / (tp + fp) });
        }
        if tp + fn_ > 0.0 {
            recalls.push(if fp == 0.0 && fn_ == 0.0 { 1.0 } else { tp / (tp + fn_) });
        }
    }
    let mean = |v: &[f64]| {
        if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 }
    };
    let (p, r) = (mean(&precisions), mean(&recalls));
    if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 }
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}' | '\u{31f0}'..='\u{31ff}')
}

/// Python's `\w+` runs, with CJK characters as tokens of their own when `cjk`.
fn tokens(text: &str, cjk: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if cjk && is_cjk(c) {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            out.push(c.to_string());
        } else if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Normalised (TP, FP, FN) over 4-token shingle multisets, as the scorer computes them.
fn shingle_counts(truth: &[String], predicted: &[String]) -> (f64, f64, f64) {
    fn shingles(tokens: &[String]) -> HashMap<&[String], i64> {
        let mut out = HashMap::new();
        if tokens.is_empty() {
            return out;
        }
        let n = 4.min(tokens.len());
        for window in tokens.windows(n) {
            *out.entry(window).or_insert(0) += 1;
        }
        out
    }
    let (t, p) = (shingles(truth), shingles(predicted));
    let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
    for key in t.keys().chain(p.keys().filter(|k| !t.contains_key(*k))) {
        let (a, b) = (*t.get(key).unwrap_or(&0), *p.get(key).unwrap_or(&0));
        tp += a.min(b) as f64;
        fp += (b - a).max(0) as f64;
        fn_ += (a - b).max(0) as f64;
    }
    let sum = tp + fp + fn_;
    if sum > 0.0 { (tp / sum, fp / sum, fn_ / sum) } else { (0.0, 0.0, 0.0) }
}
