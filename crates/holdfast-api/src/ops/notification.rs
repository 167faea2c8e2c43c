//! Put/GetBucketNotificationConfiguration: queue and topic configurations pointing at the
//! targets declared in the server configuration (`[notify.webhook.<id>]`).

use crate::Gateway;
use crate::error::{engine_error, rich_error, with_resource};
use holdfast_engine::model::{NotificationConfig, NotificationKind, NotificationRule, is_supported_event};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

/// Most configurations AWS accepts on one bucket.
const MAX_CONFIGURATIONS: usize = 100;

/// One queue or topic configuration as the request gave it.
struct Requested {
    kind: NotificationKind,
    id: Option<String>,
    arn: String,
    events: Vec<String>,
    filter: Option<NotificationConfigurationFilter>,
}

fn filter_error(message: &str) -> S3Error {
    rich_error(S3ErrorCode::InvalidArgument, message, &[("ArgumentName", "FilterRule")], &[])
}

/// The key filter's prefix and suffix (names case-insensitive, each at most once).
fn key_filter(filter: Option<&NotificationConfigurationFilter>) -> S3Result<(String, String)> {
    let (mut prefix, mut suffix) = (None, None);
    let rules = filter.and_then(|f| f.key.as_ref()).and_then(|k| k.filter_rules.as_ref());
    for rule in rules.into_iter().flatten() {
        let name = rule.name.as_ref().map(|n| n.as_str().to_ascii_lowercase()).unwrap_or_default();
        let value = rule.value.clone().unwrap_or_default();
        let slot = match name.as_str() {
            "prefix" => &mut prefix,
            "suffix" => &mut suffix,
            _ => return Err(filter_error("filter rule name must be either prefix or suffix")),
        };
        if slot.replace(value).is_some() {
            return Err(filter_error(&format!("Cannot specify more than one {name} rule in a filter.")));
        }
    }
    Ok((prefix.unwrap_or_default(), suffix.unwrap_or_default()))
}

impl Gateway {
    pub(crate) async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        let config = input.notification_configuration;
        if config.event_bridge_configuration.is_some() {
            return Err(s3_error!(NotImplemented, "EventBridge notifications are not supported"));
        }
        let mut requested = Vec::new();
        for q in config.queue_configurations.unwrap_or_default() {
            requested.push(Requested {
                kind: NotificationKind::Queue,
                id: q.id,
                arn: q.queue_arn,
                events: q.events.into_iter().map(String::from).collect(),
                filter: q.filter,
            });
        }
        for t in config.topic_configurations.unwrap_or_default() {
            requested.push(Requested {
                kind: NotificationKind::Topic,
                id: t.id,
                arn: t.topic_arn,
                events: t.events.into_iter().map(String::from).collect(),
                filter: t.filter,
            });
        }
        // No Lambda targets exist here: every Lambda ARN is an unknown destination.
        let lambdas: Vec<String> = config
            .lambda_function_configurations
            .unwrap_or_default()
            .into_iter()
            .map(|l| l.lambda_function_arn)
            .collect();
        if requested.len() + lambdas.len() > MAX_CONFIGURATIONS {
            return Err(s3_error!(InvalidArgument, "Too many notification configurations"));
        }
        let mut rules = Vec::with_capacity(requested.len());
        let mut unknown: Vec<(String, &'static str)> = Vec::new();
        for r in requested {
            if r.events.is_empty() {
                return Err(s3_error!(
                    MalformedXML,
                    "The XML you provided was not well-formed or did not validate against our published schema"
                ));
            }
            if let Some(bad) = r.events.iter().find(|e| !is_supported_event(e)) {
                return Err(rich_error(
                    S3ErrorCode::InvalidArgument,
                    "The event is not supported for notifications",
                    &[("ArgumentName", bad), ("ArgumentValue", bad)],
                    &[],
                ));
            }
            let (prefix, suffix) = key_filter(r.filter.as_ref())?;
            if !self.config.event_targets.contains(&r.arn) {
                let why = match r.kind {
                    NotificationKind::Queue => "The destination queue does not exist",
                    NotificationKind::Topic => "The destination topic does not exist",
                };
                unknown.push((r.arn.clone(), why));
            }
            rules.push(NotificationRule {
                id: r.id.filter(|i| !i.is_empty()).unwrap_or_else(holdfast_engine::model::new_version_id),
                kind: r.kind,
                target: r.arn,
                events: r.events,
                prefix,
                suffix,
            });
        }
        unknown.extend(lambdas.into_iter().map(|arn| (arn, "The destination Lambda function does not exist")));
        if !unknown.is_empty() {
            // AWS: 400 InvalidArgument, one ArgumentName<n> / ArgumentValue<n> pair per destination.
            let names: Vec<(String, String)> = unknown
                .iter()
                .enumerate()
                .flat_map(|(i, (arn, why))| {
                    [
                        (format!("ArgumentName{}", i + 1), arn.clone()),
                        (format!("ArgumentValue{}", i + 1), (*why).to_owned()),
                    ]
                })
                .collect();
            let fields: Vec<(&str, &str)> = names.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            return Err(rich_error(
                S3ErrorCode::InvalidArgument,
                "Unable to validate the following destination configurations",
                &fields,
                &[],
            ));
        }
        let mut ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err(s3_error!(InvalidArgument, "Configuration ids must be unique"));
        }
        self.engine
            .set_notification_config(&input.bucket, &NotificationConfig { rules })
            .await
            .map_err(|e| with_resource(engine_error(e), &input.bucket, None))?;
        Ok(S3Response::new(PutBucketNotificationConfigurationOutput {}))
    }

    pub(crate) async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
        let bucket = req.input.bucket;
        self.bucket(&bucket).await?;
        let config = self
            .engine
            .notification_config(&bucket)
            .await
            .map_err(|e| with_resource(engine_error(e), &bucket, None))?
            .unwrap_or_default();
        let (mut queues, mut topics) = (Vec::new(), Vec::new());
        for r in config.rules {
            let mut filter_rules = Vec::new();
            for (name, value) in [(FilterRuleName::PREFIX, &r.prefix), (FilterRuleName::SUFFIX, &r.suffix)] {
                if !value.is_empty() {
                    filter_rules
                        .push(FilterRule { name: Some(FilterRuleName::from_static(name)), value: Some(value.clone()) });
                }
            }
            let filter = (!filter_rules.is_empty()).then_some(NotificationConfigurationFilter {
                key: Some(S3KeyFilter { filter_rules: Some(filter_rules) }),
            });
            let events: Vec<Event> = r.events.into_iter().map(Event::from).collect();
            match r.kind {
                NotificationKind::Queue => {
                    queues.push(QueueConfiguration { events, filter, id: Some(r.id), queue_arn: r.target });
                }
                NotificationKind::Topic => {
                    topics.push(TopicConfiguration { events, filter, id: Some(r.id), topic_arn: r.target });
                }
            }
        }
        Ok(S3Response::new(GetBucketNotificationConfigurationOutput {
            event_bridge_configuration: None,
            lambda_function_configurations: None,
            queue_configurations: (!queues.is_empty()).then_some(queues),
            topic_configurations: (!topics.is_empty()).then_some(topics),
        }))
    }
}
