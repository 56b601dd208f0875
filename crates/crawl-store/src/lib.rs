//! Where bytes rest.
//!
//! - [`body`]: the content-addressed body store. Page bodies go from the
//!   fetcher to the parser through it, never through the broker: a parse
//!   backlog of bodies would sit in the broker's RAM and block every
//!   publisher at the memory alarm. Keys are SHA-256 addresses, so a second
//!   write of the same body is a no-op and duplicates cost nothing.
//! - [`sink`]: where documents end up (JSON lines for now).

pub mod body;
pub mod sink;

pub use body::{BodyStore, FsBodyStore, MemoryBodyStore, StoreError};
pub use sink::{DocumentSink, JsonlSink, SinkError};
