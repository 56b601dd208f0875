//! Shared vocabulary of the crawler.
//!
//! Every stage speaks in these terms: a URL is canonicalised one way
//! ([`canon`]), belongs to one politeness [`canon::HostKey`], is in or out of
//! [`scope`], travels between stages as one of the [`message`] types, and ends
//! in one counted state of the [`fate`] ledger. Nothing here does I/O.

pub mod canon;
pub mod fate;
pub mod message;
pub mod scope;

pub use canon::{CanonError, CanonOptions, HostKey, UrlHash};
pub use fate::{Counter, Counters, Snapshot};
pub use message::{
    Discovery, DocLink, Document, FetchResult, FetchTask, FrontierEntry, LinkBatch, ResponseMeta,
};
pub use scope::{Scope, ScopeMode};

/// A service URL with its password hidden, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
