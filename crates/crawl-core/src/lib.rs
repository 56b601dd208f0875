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
