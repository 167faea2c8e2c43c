//! Targets declared in the server configuration (`[notify.webhook.<id>]`).

use std::collections::BTreeMap;

/// One webhook: events are POSTed to `endpoint` (`http://host[:port]/path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    pub id: String,
    pub endpoint: String,
}

/// The ARNs that name a webhook target: the queue form and the topic form.
pub fn target_arns(id: &str) -> [String; 2] {
    [format!("arn:holdfast:sqs::{id}:webhook"), format!("arn:holdfast:sns::{id}:webhook")]
}

/// Every configured target, by ARN.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    by_arn: BTreeMap<String, crate::webhook::Endpoint>,
}

impl Targets {
    /// Validates the endpoints (only `http://` is supported).
    pub fn new(webhooks: &[WebhookTarget]) -> Result<Self, String> {
        let mut by_arn = BTreeMap::new();
        for w in webhooks {
            if w.id.is_empty() || !w.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(format!("webhook id {:?}: use letters, digits, '-' and '_'", w.id));
            }
            let endpoint = crate::webhook::Endpoint::parse(&w.endpoint)
                .map_err(|e| format!("webhook {}: endpoint {:?}: {e}", w.id, w.endpoint))?;
            for arn in target_arns(&w.id) {
                by_arn.insert(arn, endpoint.clone());
            }
        }
        Ok(Self { by_arn })
    }

    pub fn knows(&self, arn: &str) -> bool {
        self.by_arn.contains_key(arn)
    }

    pub fn arns(&self) -> impl Iterator<Item = &str> {
        self.by_arn.keys().map(String::as_str)
    }

    pub(crate) fn endpoint(&self, arn: &str) -> Option<&crate::webhook::Endpoint> {
        self.by_arn.get(arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_and_validation() {
        let t =
            Targets::new(&[WebhookTarget { id: "audit-1".into(), endpoint: "http://127.0.0.1:9/x".into() }]).unwrap();
        assert!(t.knows("arn:holdfast:sqs::audit-1:webhook"));
        assert!(t.knows("arn:holdfast:sns::audit-1:webhook"));
        assert!(!t.knows("arn:holdfast:sqs::other:webhook"));
        assert!(Targets::new(&[WebhookTarget { id: "a".into(), endpoint: "https://x/".into() }]).is_err());
        assert!(Targets::new(&[WebhookTarget { id: "a b".into(), endpoint: "http://x/".into() }]).is_err());
    }
}
