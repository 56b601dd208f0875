//! Fetching, politely and safely.
//!
//! - [`client`]: one HTTP request with connect/read/total timeouts, a body
//!   cap counted after decompression, and no automatic redirects;
//! - [`guard`]: the SSRF guard, applied after DNS resolution on every request;
//! - [`robots`] and [`robots_cache`]: RFC 9309 robots.txt, cached per origin
//!   and shared between fetchers;
//! - [`politeness`]: the rest a host gets after each request, and backoff.
//!
//! The fetch *stage* (claiming leases, reporting to the frontier, publishing
//! results) lives in `crawl-stages`; this crate knows nothing of queues.

pub mod client;
pub mod guard;
pub mod politeness;
pub mod robots;
pub mod robots_cache;

pub use reqwest::header;

pub use client::{ClientConfig, ErrorKind, FetchError, HttpClient, Request, Response};
pub use guard::AddressPolicy;
pub use politeness::Politeness;
pub use robots::Rules;
pub use robots_cache::{RobotsCache, RobotsConfig, RobotsState, RobotsStore, StoredRobots};
