//! A small HTTP/1.1 server on loopback and a synthetic news site, for
//! `crawler crawl --demo` and for tests of misbehaving servers.
//!
//! - [`TestServer`] answers the routes a test registers, from plain pages to
//!   scripted misbehaviour (a trickling or endless body, a gzip bomb, a
//!   connection that never answers or is reset), and records every request,
//!   so a test can assert what was, and was not, asked for.
//! - [`DemoSite`] serves a multilingual mini news site with the traps of
//!   real ones (robots.txt, redirects, dead links, a windows-1252 page,
//!   canonical copies, links to another host) and knows which pages a
//!   correct crawl must fetch.
//!
//! Both run on the caller's tokio runtime and stop when dropped. They are
//! hand-rolled on `tokio::net` rather than built on a server framework:
//! misbehaving on purpose is easier without one, and compiling one would
//! cost more than everything here.

mod bomb;
mod demo;
mod server;

pub use demo::DemoSite;
pub use server::{RecordedRequest, Reply, Route, TestServer};
