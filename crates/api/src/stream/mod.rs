//! The live stream (`GET /v1/stream`, server-sent events).
//!
//! Parts:
//! - [`event`]: events, their composite ids (`a<articles seq>-s<stories seq>`) and filters.
//! - [`hub`]: the broadcast hub: a bounded ring of recent events and a bounded queue per
//!   client; a full queue drops its client, never slows the reader or the others.
//! - [`reader`]: one JetStream reader per stream feeding the hub, and read-backs for clients
//!   resuming from before the ring.
//! - [`sse`]: one client's byte stream.

pub mod event;
pub mod hub;
pub mod reader;
pub mod sse;

pub use event::{EventId, EventKind, HubEvent, StreamFilter, StreamKind};
pub use hub::{Hub, SubscribeError, Subscription};
