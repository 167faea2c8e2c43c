//! Open connections, bounded: a cap on how many are open, an idle timeout that
//! starts at accept and runs again between requests, and accept errors that back off
//! instead of spinning. Every log line here is rate-limited: a storm of clients must not
//! become a storm of log lines.
//!
//! At the cap, a new connection takes the place of an idle one (no request in flight),
//! preferring connections that never completed a request (idle or slow-header sockets)
//! and then the one silent longest, so a flood of idle sockets cannot lock well-behaved
//! clients out. When every connection is busy the new one is closed at once.

mod accept;
mod activity_io;

pub use accept::{AcceptBackoff, raise_nofile_limit};
pub use activity_io::ActivityIo;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// At most one "connection limit" or "accept failed" line per this interval.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// File descriptors kept for the database, blobs, the audit trail and PostgreSQL, beyond
/// `RLIMIT_NOFILE / 8`.
const FD_RESERVE: u64 = 64;
/// Connections examined to choose one to evict: the choice is exact up to this many open
/// connections and costs no more beyond (the next search continues where this one ended).
const EVICTION_SCAN: usize = 16_384;

/// The `[limits]` connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// No request in flight and no byte read or written for this long: the connection is closed.
    pub idle: Duration,
    /// A request's headers must arrive within this long of their first byte.
    pub header: Duration,
    /// A request body that sends nothing for this long is answered 400 RequestTimeout.
    pub body_idle: Duration,
    /// The cap; `None` derives it from the open-files limit ([`default_max_connections`]).
    pub max_connections: Option<usize>,
}

/// The default cap: each connection may hold two descriptors (its socket and a blob or
/// temporary file), after a reserve for everything else the process opens.
pub fn default_max_connections(nofile: u64) -> usize {
    let reserve = FD_RESERVE + nofile / 8;
    usize::try_from(nofile.saturating_sub(reserve) / 2).unwrap_or(usize::MAX).max(16)
}

/// Says "log now" at most once per interval, with how many events were not logged since.
pub(crate) struct LogEvery {
    every: Duration,
    next: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl LogEvery {
    pub(crate) fn new(every: Duration) -> Self {
        Self { every, next: Mutex::new(None), suppressed: AtomicU64::new(0) }
    }

    /// `Some(events since the last line)` when a line may be logged now.
    pub(crate) fn ready(&self) -> Option<u64> {
        let now = Instant::now();
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        if next.is_some_and(|t| now < t) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *next = Some(now + self.every);
        Some(self.suppressed.swap(0, Ordering::Relaxed) + 1)
    }
}

/// One open connection, as the cap and the idle timeout see it.
pub struct Conn {
    epoch: Instant,
    /// Milliseconds after `epoch` of the last byte read or written (or request end).
    last_io_ms: AtomicU64,
    /// 1 + milliseconds after `epoch` of the first byte of a request head still incomplete
    /// (0: none): the header timeout counts from there.
    head_since_ms: AtomicU64,
    in_flight: AtomicU32,
    /// Whether a request was ever received (its headers complete).
    served: AtomicBool,
    close: Notify,
}

impl Conn {
    fn new(epoch: Instant) -> Self {
        let c = Self {
            epoch,
            last_io_ms: AtomicU64::new(0),
            head_since_ms: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            served: AtomicBool::new(false),
            close: Notify::new(),
        };
        c.touch();
        c
    }

    /// Milliseconds since `epoch`, rounded up: a time stored here is never earlier than the
    /// event, so a timeout counted from it never fires before its full length (rounded down,
    /// an idle socket was closed up to 1 ms before `idle_secs`).
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX - 1)
    }

    pub(crate) fn touch(&self) {
        self.last_io_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Bytes arrived. With no request in flight they begin a request head (bytes read
    /// during a request are its body, or a pipelined head parsed as soon as it ends).
    pub(crate) fn received(&self) {
        let now = self.now_ms();
        self.last_io_ms.store(now, Ordering::Relaxed);
        if !self.busy() {
            let _ = self.head_since_ms.compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Since when a request head has been arriving, if one is.
    fn head_since(&self) -> Option<Instant> {
        match self.head_since_ms.load(Ordering::Acquire) {
            0 => None,
            ms => Some(self.epoch + Duration::from_millis(ms - 1)),
        }
    }

    fn last_io(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_io_ms.load(Ordering::Relaxed))
    }

    fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    /// Marks a request in flight until the guard drops: the idle timeout never cuts a
    /// request the server is still working on (stalled bodies have their own timeout).
    pub fn request(self: &Arc<Self>) -> RequestGuard {
        self.served.store(true, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since_ms.store(0, Ordering::Release);
        RequestGuard(Arc::clone(self))
    }
}

pub struct RequestGuard(Arc<Conn>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        // The idle time between requests counts from the end of the last one.
        self.0.touch();
        self.0.head_since_ms.store(0, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Every open connection of the server.
pub struct Connections {
    settings: ConnectionSettings,
    max: usize,
    /// Connections evicted but not closed yet may exceed `max` by this much, no more.
    headroom: usize,
    epoch: Instant,
    next_id: AtomicU64,
    /// Connections that may still be chosen for eviction.
    candidates: Mutex<Candidates>,
    /// Open sockets, evicted or not (each [`Admission`] alive).
    live: AtomicUsize,
    limit_log: LogEvery,
}

/// Connections that may still be chosen for eviction, and where the next search starts.
#[derive(Default)]
struct Candidates {
    by_id: BTreeMap<u64, Arc<Conn>>,
    cursor: u64,
}

/// A connection's place under the cap; dropping it frees the place.
pub struct Admission {
    id: u64,
    pub conn: Arc<Conn>,
    all: Arc<Connections>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.all.candidates.lock().unwrap_or_else(PoisonError::into_inner).by_id.remove(&self.id);
        let live = self.all.live.fetch_sub(1, Ordering::AcqRel) - 1;
        metrics::gauge!("holdfast_connections_open").set(live as f64);
    }
}

impl Connections {
    pub fn new(settings: ConnectionSettings, nofile: u64) -> Arc<Self> {
        let max = settings.max_connections.unwrap_or_else(|| default_max_connections(nofile)).max(1);
        metrics::gauge!("holdfast_connections_limit").set(max as f64);
        metrics::gauge!("holdfast_connections_open").set(0.0);
        Arc::new(Self {
            settings,
            max,
            headroom: (max / 4).max(4),
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            candidates: Mutex::default(),
            live: AtomicUsize::new(0),
            limit_log: LogEvery::new(LOG_INTERVAL),
        })
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// A place for a just-accepted connection, making room by closing an idle one at the
    /// cap; `None` when every connection is busy: the caller closes the new socket at once.
    pub fn admit(self: &Arc<Self>) -> Option<Admission> {
        let mut candidates = self.candidates.lock().unwrap_or_else(PoisonError::into_inner);
        let live = self.live.load(Ordering::Acquire);
        if live >= self.max {
            let evicted = live < self.max + self.headroom && Self::evict_one(&mut candidates);
            if !evicted {
                drop(candidates);
                metrics::counter!("holdfast_connections_refused_total").increment(1);
                self.note_limit("refused");
                return None;
            }
            self.note_limit("evicted");
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn::new(self.epoch));
        candidates.by_id.insert(id, Arc::clone(&conn));
        let live = self.live.fetch_add(1, Ordering::AcqRel) + 1;
        metrics::gauge!("holdfast_connections_open").set(live as f64);
        Some(Admission { id, conn, all: Arc::clone(self) })
    }

    /// Closes an idle connection to free a descriptor (after EMFILE); whether there was one.
    pub(crate) fn shed_one(&self) -> bool {
        Self::evict_one(&mut self.candidates.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Tells the idle connection that matters least to close: never served before served,
    /// then the longest silent, among up to [`EVICTION_SCAN`] connections.
    fn evict_one(candidates: &mut Candidates) -> bool {
        let Candidates { by_id, cursor } = candidates;
        let mut victim: Option<((bool, u64), u64)> = None;
        let mut last = None;
        for (id, c) in by_id.range(*cursor..).chain(by_id.range(..*cursor)).take(EVICTION_SCAN) {
            last = Some(*id);
            if c.busy() {
                continue;
            }
            let rank = (c.served.load(Ordering::Relaxed), c.last_io_ms.load(Ordering::Relaxed));
            if victim.is_none_or(|(best, _)| rank < best) {
                victim = Some((rank, *id));
            }
        }
        *cursor = last.map_or(0, |id| id + 1);
        let Some(conn) = victim.and_then(|(_, id)| by_id.remove(&id)) else { return false };
        conn.close.notify_one();
        metrics::counter!("holdfast_connections_evicted_total").increment(1);
        true
    }

    fn note_limit(&self, what: &str) {
        if let Some(events) = self.limit_log.ready() {
            tracing::warn!(
                limit = self.max,
                open = self.live.load(Ordering::Relaxed),
                events,
                last = what,
                "connection limit reached: idle connections closed to make room, new ones refused while all are busy \
                 (holdfast_connections_evicted_total, holdfast_connections_refused_total)"
            );
        }
    }

    /// Runs a connection until it ends, is evicted, or a timeout closes it: `idle` without a
    /// byte and without a request in flight (from accept, and from the end of each request),
    /// or `header` since the first byte of a request head that is still incomplete. (Both are
    /// kept here rather than in hyper, whose header timer also runs between keep-alive
    /// requests and would cut idle connections at `header` instead of `idle`.)
    pub async fn supervise<F: Future>(&self, admission: Admission, serve: F) {
        let conn = &admission.conn;
        let ConnectionSettings { idle, header, .. } = self.settings;
        let mut serve = std::pin::pin!(serve);
        loop {
            let deadline = match (conn.busy(), conn.head_since()) {
                (true, _) => Instant::now() + idle,
                (false, None) => conn.last_io() + idle,
                (false, Some(head)) => (conn.last_io() + idle).min(head + header),
            };
            tokio::select! {
                _ = &mut serve => return,
                () = conn.close.notified() => return,
                () = tokio::time::sleep_until(deadline) => {
                    if conn.busy() {
                        continue;
                    }
                    if conn.head_since().is_some_and(|head| head.elapsed() >= header) {
                        metrics::counter!("holdfast_connections_header_timeouts_total").increment(1);
                        return;
                    }
                    if conn.last_io().elapsed() >= idle {
                        metrics::counter!("holdfast_connections_idle_closed_total").increment(1);
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max: usize) -> ConnectionSettings {
        ConnectionSettings {
            idle: Duration::from_secs(60),
            header: Duration::from_secs(30),
            body_idle: Duration::from_secs(20),
            max_connections: Some(max),
        }
    }

    #[test]
    fn default_cap_leaves_a_reserve() {
        assert_eq!(default_max_connections(256), 80);
        assert_eq!(default_max_connections(1024), 416);
        assert_eq!(default_max_connections(10), 16, "a floor, however low the limit");
    }

    #[test]
    fn at_the_cap_an_idle_connection_makes_room_and_busy_ones_never_do() {
        let all = Connections::new(settings(2), 1024);
        let a = all.admit().unwrap();
        let b = all.admit().unwrap();
        let _busy_a = a.conn.request();
        // b served a request earlier; the newcomer c never did, so c goes first next time.
        drop(b.conn.request());
        let c = all.admit().expect("b is idle: it makes room");
        assert!(all.candidates.lock().unwrap().by_id.values().all(|k| !Arc::ptr_eq(k, &b.conn)), "b evicted");
        let d = all.admit().expect("c is idle and never served");
        assert!(all.candidates.lock().unwrap().by_id.values().all(|k| !Arc::ptr_eq(k, &c.conn)), "c evicted");
        let _busy_d = d.conn.request();
        assert!(all.admit().is_none(), "every connection busy: refused");
        assert_eq!(all.live.load(Ordering::Relaxed), 4, "evicted ones count until they close");
        drop((b, c));
        assert_eq!(all.live.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn the_search_for_an_idle_connection_is_bounded_and_moves_on() {
        let all = Connections::new(settings(EVICTION_SCAN + 10), 1024);
        let open: Vec<_> = (0..EVICTION_SCAN + 10).map(|_| all.admit().unwrap()).collect();
        let busy: Vec<_> = open[..EVICTION_SCAN].iter().map(|a| a.conn.request()).collect();
        assert!(all.admit().is_none(), "the first window holds only busy connections");
        assert!(all.admit().is_some(), "the next search starts after it and finds an idle one");
        drop(busy);
    }

    #[test]
    fn eviction_overshoot_is_bounded() {
        let all = Connections::new(settings(4), 1024);
        let kept: Vec<_> = std::iter::from_fn(|| all.admit()).take(100).collect();
        assert_eq!(kept.len(), 8, "4 open plus 4 evicted but not yet closed, then refusals");
    }

    #[test]
    fn log_lines_are_rate_limited() {
        let log = LogEvery::new(Duration::from_secs(3600));
        assert_eq!(log.ready(), Some(1));
        assert!((0..1000).all(|_| log.ready().is_none()));
        let log = LogEvery::new(Duration::ZERO);
        assert_eq!(log.ready(), Some(1));
        assert_eq!(log.ready(), Some(1));
    }

    #[tokio::test]
    async fn idle_timeout_counts_from_accept_and_spares_requests_in_flight() {
        let mut s = settings(8);
        s.idle = Duration::from_millis(300);
        let all = Connections::new(s, 1024);
        let started = Instant::now();
        all.supervise(all.admit().unwrap(), std::future::pending::<()>()).await;
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(600), "{took:?}");

        let admission = all.admit().unwrap();
        let guard = admission.conn.request();
        let started = Instant::now();
        let release = async move {
            tokio::time::sleep(Duration::from_millis(900)).await;
            drop(guard);
            std::future::pending::<()>().await
        };
        all.supervise(admission, release).await;
        let took = started.elapsed();
        // Closed idle time after the request ended, not during it.
        assert!(took >= Duration::from_millis(1200) && took < Duration::from_millis(1600), "{took:?}");
    }

    #[tokio::test]
    async fn header_timeout_counts_from_the_first_byte_of_a_head_however_bytes_trickle() {
        let mut s = settings(8);
        s.idle = Duration::from_millis(400);
        s.header = Duration::from_millis(1000);
        let all = Connections::new(s, 1024);
        let admission = all.admit().unwrap();
        let conn = Arc::clone(&admission.conn);
        let started = Instant::now();
        // A byte every 200 ms: never idle for 400 ms, but the head never completes.
        let trickle = async move {
            loop {
                conn.received();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        all.supervise(admission, trickle).await;
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(1000) && took < Duration::from_millis(1300), "{took:?}");

        // Once its head is complete, the request is not timed by `header`.
        let admission = all.admit().unwrap();
        let conn = Arc::clone(&admission.conn);
        conn.received();
        let guard = conn.request();
        let started = Instant::now();
        let release = async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            drop(guard);
            std::future::pending::<()>().await
        };
        all.supervise(admission, release).await;
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(1900) && took < Duration::from_millis(2300), "{took:?}");
    }
}
