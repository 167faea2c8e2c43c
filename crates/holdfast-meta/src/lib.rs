//! Metadata: the domain records, the [`MetaStore`] boundary, the embedded SQLite store and
//! the PostgreSQL store that several gateways share.
//!
//! Every method that deletes or changes a version runs the pure lock rules of
//! `holdfast-lock` inside the same transaction as the change (check-and-mutate), and the
//! schema refuses the same things a second time with triggers (defence in depth).
//!
//! Each store is a cargo feature, both on by default: `sqlite` (the embedded store) and
//! `postgres` (the store several gateways share).

// Built without a store (a crate above that reads only the records and the boundary), the
// plans only the stores carry out are unused.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]

mod capacity;
mod delete;
mod emptiable;
mod error;
mod identity;
mod inventory;
mod lifecycle;
mod listing;
mod lock_history;
mod lock_jobs;
mod model;
mod notification;
#[cfg(feature = "postgres")]
pub mod postgres;
mod replication;
pub mod request_view;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod store;
mod tags;
mod trail;

pub use capacity::{BucketQuota, SosapiSetting};
pub use emptiable::Emptiable;
pub use error::{MetaError, MetaResult};
pub use identity::{AccessKey, IdentityStore, User};
pub use inventory::*;
pub use lifecycle::*;
pub use lock_history::{
    HistoryOrder, LockAction, LockHistory, LockHistoryEntry, LockHistoryQuery, MAX_LOCK_HISTORY_PAGE, lock_actions,
};
pub use lock_jobs::*;
pub use model::*;
pub use notification::*;
pub use replication::*;
pub use store::{GatewayClock, MetaStore};
pub use tags::{MAX_TAG_KEY, MAX_TAG_VALUE, MAX_TAGS, TagSet};

/// Whether a string is a version id this store could have issued (R3: a malformed id is
/// 400 InvalidArgument, an unknown well-formed one 404 NoSuchVersion).
pub fn is_well_formed_version_id(v: &str) -> bool {
    v == "null" || (v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
}

/// A fresh, unique version id (32 lowercase hex digits).
pub fn new_version_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}
