//! Identity: who is calling and with what secret. Principals, sealed secrets, the key
//! directory that SigV4 consults, SigV4 verification for non-S3 services, and the IAM
//! query API (users, access keys, inline user policies) served on the S3 endpoint.

pub mod directory;
pub mod iam;
mod sealer;
pub mod signer;
pub mod sigv4;

pub use directory::{Account, Directory, Principal, RootCredentials};
/// The store of users, keys and policies the directory reads (its trait, for callers of
/// [`Directory::store`]).
pub use holdfast_meta::IdentityStore;
pub use sealer::{SealError, Sealer};
