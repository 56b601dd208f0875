//! `crawler extract`: the extractor on its own, for scoring, debugging and throughput tests.
//!
//! One page on stdin gives one JSON object on stdout. `--batch` (or `EXTRACT_PROTOCOL=jsonl`,
//! which the extract-dev scorer sets) keeps the process alive over many pages, so what is
//! measured is extraction, not process start-up; a bad request costs an error line for that
//! request, never the process.

use std::io::{self, BufRead, Read, Write};

use anyhow::Context;
use base64::Engine;
use chrono::Utc;
use crawl_extract::{Extracted, Input, Limits};
use serde_json::{Map, Value};
use url::Url;

/// The URL assumed when none is given (relative links resolve against it).
const UNKNOWN_URL: &str = "http://localhost/";

#[derive(clap::Args)]
#[command(after_long_help = "\
Single page: the HTML bytes (in their original encoding) on stdin; prints one JSON object:
  text, title, author, date (ISO 8601: published, else modified), lang, site_name, source,
  published_at, modified_at, description, canonical_url, links [{url, kind, text, in_content,
  nofollow}], noindex, nofollow, encoding, content_sha256, simhash.

Batch (--batch, or EXTRACT_PROTOCOL=jsonl in the environment): one request per stdin line,
  {\"id\": ..., \"url\": \"https://…\" or null, \"html_b64\": \"<base64 of the page bytes>\"}
and one answer per line, in order: the same object as above plus \"id\", or
  {\"id\": ..., \"error\": \"…\"} for a request that cannot be read or extracted.

Example:
  curl -s https://example.org/ | crawler extract --url https://example.org/")]
pub struct ExtractArgs {
    /// URL of the page (base for relative links, date hints; also read from $PAGE_URL).
    #[arg(long, env = "PAGE_URL")]
    pub url: Option<String>,
    /// HTTP Content-Type of the page, if known (its charset wins over <meta>).
    #[arg(long)]
    pub content_type: Option<String>,
    /// Read JSON-lines requests on stdin and answer each on one line (see below).
    #[arg(long)]
    pub batch: bool,
    /// Accepted for compatibility; the output is always JSON.
    #[arg(long, hide = true)]
    pub json: bool,
}

pub fn run(args: ExtractArgs) -> anyhow::Result<()> {
    let jsonl = std::env::var("EXTRACT_PROTOCOL").is_ok_and(|p| p.eq_ignore_ascii_case("jsonl"));
    if args.batch || jsonl {
        return batch(&args);
    }
    let mut body = Vec::new();
    io::stdin().lock().read_to_end(&mut body).context("reading the page from stdin")?;
    let url = page_url(args.url.as_deref())?;
    let doc = extract(&url, &body, args.content_type.as_deref()).map_err(anyhow::Error::msg)?;
    let mut out = io::stdout().lock();
    serde_json::to_writer(&mut out, &document(&doc, None))?;
    writeln!(out)?;
    Ok(())
}

fn batch(args: &ExtractArgs) -> anyhow::Result<()> {
    let default_url = page_url(args.url.as_deref())?;
    let stdin = io::stdin().lock();
    let mut out = io::BufWriter::new(io::stdout().lock());
    for line in stdin.split(b'\n') {
        let line = line.context("reading a request from stdin")?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let answer = match serde_json::from_slice::<Value>(&line) {
            Ok(request) => answer(&request, &default_url, args.content_type.as_deref()),
            Err(e) => error(None, format!("request is not JSON: {e}")),
        };
        serde_json::to_writer(&mut out, &answer)?;
        out.write_all(b"\n")?;
        // The caller waits for each answer before sending the next request.
        out.flush().context("writing an answer to stdout")?;
    }
    Ok(())
}

fn answer(request: &Value, default_url: &Url, content_type: Option<&str>) -> Value {
    let id = request.get("id");
    let url = match request.get("url").and_then(Value::as_str) {
        Some(url) => match Url::parse(url) {
            Ok(url) => url,
            Err(e) => return error(id, format!("bad url {url:?}: {e}")),
        },
        None => default_url.clone(),
    };
    let Some(b64) = request.get("html_b64").and_then(Value::as_str) else {
        return error(id, "missing html_b64".into());
    };
    let body = match base64::engine::general_purpose::STANDARD.decode(b64) {
        Ok(body) => body,
        Err(e) => return error(id, format!("html_b64 is not base64: {e}")),
    };
    let content_type = request.get("content_type").and_then(Value::as_str).or(content_type);
    // The extractor is written not to panic; this keeps a long batch alive if it ever does.
    match std::panic::catch_unwind(|| extract(&url, &body, content_type)) {
        Ok(Ok(doc)) => document(&doc, id),
        Ok(Err(e)) => error(id, e),
        Err(_) => error(id, "extractor panicked".into()),
    }
}

fn extract(url: &Url, body: &[u8], content_type: Option<&str>) -> Result<Extracted, String> {
    let input = Input { url, body, content_type, content_language: None, fetched_at: Utc::now() };
    crawl_extract::extract(&input, &Limits::default()).map_err(|e| e.to_string())
}

fn page_url(url: Option<&str>) -> anyhow::Result<Url> {
    let url = url.filter(|u| !u.is_empty()).unwrap_or(UNKNOWN_URL);
    Url::parse(url).with_context(|| format!("bad --url {url:?}"))
}

/// The document as JSON, with `date` (what scorers read) and the request's `id`.
fn document(doc: &Extracted, id: Option<&Value>) -> Value {
    let mut object = match serde_json::to_value(doc) {
        Ok(Value::Object(object)) => object,
        _ => Map::new(),
    };
    let date = doc.published_at.as_deref().or(doc.modified_at.as_deref());
    object.insert("date".into(), date.map_or(Value::Null, |d| Value::String(d.to_owned())));
    if let Some(id) = id {
        object.insert("id".into(), id.clone());
    }
    Value::Object(object)
}

fn error(id: Option<&Value>, message: String) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), id.cloned().unwrap_or(Value::Null));
    object.insert("error".into(), Value::String(message));
    Value::Object(object)
}
