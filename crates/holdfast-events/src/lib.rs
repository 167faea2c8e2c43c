//! Event notifications. The metadata store queues one delivery per matching
//! notification rule inside the transaction that changes a version; this crate renders the
//! AWS S3 event record and delivers it to the rule's target, retrying with backoff while the
//! target is down. Delivery never runs on the S3 request path.

mod dispatch;
mod record;
mod targets;
mod webhook;

pub use dispatch::{Dispatcher, EventSettings};
pub use record::render;
pub use targets::{Targets, WebhookTarget, target_arns};
