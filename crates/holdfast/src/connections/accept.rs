//! Accepting connections when descriptors run short: the open-files limit raised at
//! start, and a back-off instead of a busy loop when `accept()` fails.

use super::{Connections, LOG_INTERVAL, LogEvery};
use std::time::Duration;

/// Accept error back-off: first pause, longest pause.
const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(10);
const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit now in force.
pub fn raise_nofile_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    // `None` means unlimited; Linux has no unlimited open-files limit, but be safe.
    let current = limit.current.unwrap_or(u64::MAX);
    if let Some(max) = limit.maximum
        && max > current
    {
        match setrlimit(Resource::Nofile, Rlimit { current: Some(max), maximum: Some(max) }) {
            Ok(()) => return max,
            Err(e) => tracing::warn!(error = %e, soft = current, hard = max, "cannot raise the open-files limit"),
        }
    }
    current
}

/// Accept errors (EMFILE, ENFILE, ENOBUFS, ...) pause the accept loop, doubling the pause up
/// to a second, instead of retrying at once; one log line per interval.
pub struct AcceptBackoff {
    pause: Duration,
    log: LogEvery,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        Self { pause: Duration::ZERO, log: LogEvery::new(LOG_INTERVAL) }
    }
}

impl AcceptBackoff {
    pub fn succeeded(&mut self) {
        self.pause = Duration::ZERO;
    }

    /// How long to pause after this error. Out of descriptors, an idle connection is closed
    /// so that the next accept can succeed.
    pub fn failed(&mut self, e: &std::io::Error, connections: &Connections) -> Duration {
        metrics::counter!("holdfast_accept_errors_total").increment(1);
        let out_of_fds = matches!(e.raw_os_error(), Some(code) if code == rustix::io::Errno::MFILE.raw_os_error()
            || code == rustix::io::Errno::NFILE.raw_os_error());
        let shed = out_of_fds && connections.shed_one();
        self.pause = (self.pause * 2).clamp(ACCEPT_PAUSE_MIN, ACCEPT_PAUSE_MAX);
        if let Some(errors) = self.log.ready() {
            tracing::warn!(error = %e, errors, pause_ms = self.pause.as_millis() as u64, closed_idle = shed,
                "accept failed; pausing the accept loop (holdfast_accept_errors_total)");
        }
        self.pause
    }
}
