//! "Can this bucket be emptied, and after when?", read off its lock report (D2..D5, D12).

use crate::LockReport;
use holdfast_lock::UtcMillis;

/// When every version of a bucket could be removed, if nothing changes meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emptiable {
    /// Nothing is protected.
    Now,
    /// Only GOVERNANCE retention protects versions: a caller with
    /// `s3:BypassGovernanceRetention` may empty it now, anyone after `after` (D3, D5).
    WithBypassNowOrAfter { after: UtcMillis },
    /// COMPLIANCE retention protects versions: not before `after` (the latest active
    /// retain-until of either mode), bypass or not (D2, P5).
    After { after: UtcMillis },
    /// Versions under legal hold: not until every hold is lifted, and then as retention
    /// allows (`then_after`, the latest active retain-until, if any) (D4).
    NotWhileHeld { holds: u64, then_after: Option<UtcMillis> },
}

impl LockReport {
    /// Whether and when the bucket's versions could all be removed.
    pub fn emptiable(&self) -> Emptiable {
        match (self.legal_hold.versions, self.latest_retain_until) {
            (0, None) => Emptiable::Now,
            (0, Some(after)) if self.compliance.versions == 0 => Emptiable::WithBypassNowOrAfter { after },
            (0, Some(after)) => Emptiable::After { after },
            (holds, then_after) => Emptiable::NotWhileHeld { holds, then_after },
        }
    }
}

impl Emptiable {
    /// For a person: "now", "after 2030-01-01T00:00:00.000Z", ...
    pub fn describe(&self) -> String {
        match *self {
            Self::Now => "now (nothing is protected)".to_owned(),
            Self::WithBypassNowOrAfter { after } => format!(
                "now with governance bypass (s3:BypassGovernanceRetention), otherwise after {}",
                after.to_iso8601()
            ),
            Self::After { after } => format!("after {}", after.to_iso8601()),
            Self::NotWhileHeld { holds, then_after: Some(t) } => {
                format!("not while {holds} versions are under legal hold (then after {})", t.to_iso8601())
            }
            Self::NotWhileHeld { holds, then_after: None } => {
                format!("not while {holds} versions are under legal hold")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tally;

    fn report(gov: u64, comp: u64, held: u64, latest: Option<i64>) -> LockReport {
        let t = |versions| Tally { versions, bytes: versions * 10 };
        LockReport {
            bucket: "b".into(),
            governance: t(gov),
            compliance: t(comp),
            legal_hold: t(held),
            latest_retain_until: latest.map(UtcMillis),
            expiries_by_month: Vec::new(),
        }
    }

    #[test]
    fn d2_d5_d12_when_a_bucket_can_be_emptied() {
        assert_eq!(report(0, 0, 0, None).emptiable(), Emptiable::Now);
        assert_eq!(report(3, 0, 0, Some(9)).emptiable(), Emptiable::WithBypassNowOrAfter { after: UtcMillis(9) });
        assert_eq!(report(3, 1, 0, Some(9)).emptiable(), Emptiable::After { after: UtcMillis(9) });
        assert_eq!(report(0, 0, 2, None).emptiable(), Emptiable::NotWhileHeld { holds: 2, then_after: None });
        assert_eq!(
            report(0, 1, 2, Some(9)).emptiable(),
            Emptiable::NotWhileHeld { holds: 2, then_after: Some(UtcMillis(9)) }
        );
        assert_eq!(report(0, 0, 2, None).emptiable().describe(), "not while 2 versions are under legal hold");
        assert_eq!(report(0, 1, 0, Some(0)).emptiable().describe(), "after 1970-01-01T00:00:00.000Z");
    }
}
