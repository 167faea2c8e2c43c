//! One request's bucket-level reads in one statement (issue #17). A PutObject reads its
//! bucket's policy and owner (the access check), the bucket record (the API) and its quota
//! (the engine): four statements, each a round trip and a pool checkout on PostgreSQL. Inside a
//! [`scope`] (the HTTP edge opens one per S3 request), the PostgreSQL store answers the first
//! of those reads with one statement that reads all four in one snapshot, and hands the other
//! three the answers of that snapshot, each once. This is what the four reads would have seen
//! had they all run at the request's first read: a change committed before the request began
//! is seen, as before. Any write the store makes inside the scope drops what is held, so a
//! request never reads back, from here, something older than its own change; a read made a
//! second time goes to the database again. The lock decisions of a write are unaffected: they
//! read the bucket row again inside the write's transaction.

use crate::model::Bucket;
use std::cell::RefCell;

/// What the first read of a request found about one bucket; each part is taken once.
#[derive(Debug)]
pub(crate) struct Held {
    pub bucket: String,
    pub exists: bool,
    /// The bucket's row (`None`: there is no such bucket).
    pub record: Option<Option<Bucket>>,
    pub policy: Option<Option<String>>,
    pub owner: Option<Option<String>>,
    pub quota: Option<Option<String>>,
}

/// Which of the held answers a read takes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part {
    Record,
    Policy,
    Owner,
    Quota,
}

/// A held answer: the bucket's row, or a document of a bucket (and whether the bucket exists).
pub(crate) enum Answer {
    Record(Option<Bucket>),
    Doc { exists: bool, doc: Option<String> },
}

/// What a read of one part finds in the view.
pub(crate) enum Lookup {
    Held(Answer),
    /// In a scope that holds nothing yet: fetch all of it and [`hold`] it.
    Fetch,
    /// No scope, another bucket, a write made already, or this part taken: read it alone.
    Alone,
}

/// `None`: nothing is fetched any more in this scope; `Some(None)`: nothing held yet.
type Slot = RefCell<Option<Option<Held>>>;

tokio::task_local! {
    static VIEW: Slot;
}

/// Runs `fut` (one request) with a view of its own.
pub async fn scope<F: std::future::Future>(fut: F) -> F::Output {
    VIEW.scope(RefCell::new(Some(None)), fut).await
}

/// Takes `part` of `bucket` from the current view, if it holds it.
pub(crate) fn take(bucket: &str, part: Part) -> Lookup {
    VIEW.try_with(|slot| match slot.borrow_mut().as_mut() {
        None => Lookup::Alone,
        Some(None) => Lookup::Fetch,
        Some(Some(held)) if held.bucket != bucket => Lookup::Alone,
        Some(Some(held)) => {
            let exists = held.exists;
            let found = |doc: Option<Option<String>>| doc.map(|doc| Answer::Doc { exists, doc });
            let answer = match part {
                Part::Record => held.record.take().map(Answer::Record),
                Part::Policy => found(held.policy.take()),
                Part::Owner => found(held.owner.take()),
                Part::Quota => found(held.quota.take()),
            };
            answer.map_or(Lookup::Alone, Lookup::Held)
        }
    })
    .unwrap_or(Lookup::Alone)
}

/// Holds what the request's first read fetched (once per scope: a later fetch finds it held
/// or dropped).
pub(crate) fn hold(held: Held) {
    let _ = VIEW.try_with(|slot| {
        if let Some(s @ None) = slot.borrow_mut().as_mut() {
            *s = Some(held);
        }
    });
}

/// A write inside the scope: nothing held stays, and nothing is fetched for the rest of the
/// request.
pub(crate) fn drop_held() {
    let _ = VIEW.try_with(|slot| *slot.borrow_mut() = None);
}
