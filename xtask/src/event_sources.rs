//! The SQS event source mappings of the template, played locally: long-poll
//! a queue, invoke the function through cargo-lambda's invoke endpoint with
//! an SQS event, and delete only the messages the function did not report in
//! `batchItemFailures` — all of them if it fails outright, none deleted then,
//! exactly as Lambda does.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::local_names::REGION;

/// One event source mapping: a queue feeding a function.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// The queue's URL.
    pub queue_url: String,
    /// The queue's ARN (`eventSourceARN` of each record).
    pub queue_arn: String,
    /// The function's binary name, as cargo-lambda knows it.
    pub function: String,
    /// The URL that invokes the function.
    pub invoke_url: String,
    /// At most this many messages per invocation.
    pub batch_size: u32,
    /// The function answers with `batchItemFailures`.
    pub report_batch_item_failures: bool,
}

impl Mapping {
    /// `queue` (url, arn) played to `function` of the instance at `api_url`,
    /// ten messages at a time, reporting item failures.
    pub fn to_instance(queue: &(String, String), function: &str, api_url: &str) -> Self {
        Self {
            queue_url: queue.0.clone(),
            queue_arn: queue.1.clone(),
            function: function.to_string(),
            invoke_url: format!("{api_url}/2015-03-31/functions/{function}/invocations"),
            batch_size: 10,
            report_batch_item_failures: true,
        }
    }
}

/// A queue of the caller's own in moto (the name made unique): (url, arn).
pub async fn private_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    visibility_seconds: u32,
    dead_letter: Option<(&str, u64)>,
) -> Result<(String, String)> {
    let mut request = sqs
        .create_queue()
        .queue_name(format!(
            "{name}-{}",
            shared::ids::new_id().replace(['-', '_'], "x")
        ))
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_seconds.to_string(),
        );
    if let Some((arn, max_receive_count)) = dead_letter {
        let policy = json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receive_count});
        request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let url = request
        .send()
        .await
        .context("CreateQueue")?
        .queue_url
        .context("CreateQueue answered no URL")?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("GetQueueAttributes")?
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .context("the queue has no ARN")?;
    Ok((url, arn))
}

/// What one delivered batch came to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchOutcome {
    /// Messages handed to the function.
    pub received: usize,
    /// Messages deleted from the queue.
    pub deleted: usize,
}

/// Runs `mapping` until `stop` turns true.
pub async fn run(sqs: aws_sdk_sqs::Client, mapping: Mapping, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            _ = stop.changed() => return,
            outcome = deliver_one_batch(&sqs, &mapping, 1) => {
                if let Err(error) = outcome {
                    eprintln!("xtask: event source {} -> {}: {error:#}", mapping.queue_arn, mapping.function);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// Receives one batch (waiting up to `wait_seconds`), invokes, deletes what succeeded.
pub async fn deliver_one_batch(
    sqs: &aws_sdk_sqs::Client,
    mapping: &Mapping,
    wait_seconds: i32,
) -> Result<BatchOutcome> {
    let received = sqs
        .receive_message()
        .queue_url(&mapping.queue_url)
        .max_number_of_messages(mapping.batch_size.clamp(1, 10) as i32)
        .wait_time_seconds(wait_seconds)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .context("ReceiveMessage")?;
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok(BatchOutcome::default());
    }
    let event = sqs_event(&messages, &mapping.queue_arn);
    let url = mapping.invoke_url.clone();
    let response = tokio::task::spawn_blocking(move || invoke(&url, &event)).await??;

    let failed: HashSet<String> = match response {
        Invocation::Failed(reason) => {
            eprintln!(
                "xtask: {} failed on a batch of {} ({reason}); the messages return after their visibility timeout",
                mapping.function,
                messages.len()
            );
            return Ok(BatchOutcome {
                received: messages.len(),
                deleted: 0,
            });
        }
        Invocation::Succeeded(body) if mapping.report_batch_item_failures => {
            match reported_failures(&body) {
                Some(ids) => ids,
                // A malformed report fails the whole batch, as in Lambda.
                None => messages
                    .iter()
                    .filter_map(|m| m.message_id().map(String::from))
                    .collect(),
            }
        }
        Invocation::Succeeded(_) => HashSet::new(),
    };

    let mut deleted = 0;
    for message in &messages {
        let id = message.message_id().unwrap_or_default();
        if failed.contains(id) {
            continue;
        }
        if let Some(handle) = message.receipt_handle() {
            sqs.delete_message()
                .queue_url(&mapping.queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .context("DeleteMessage")?;
            deleted += 1;
        }
    }
    Ok(BatchOutcome {
        received: messages.len(),
        deleted,
    })
}

pub(crate) enum Invocation {
    Succeeded(Value),
    Failed(String),
}

pub(crate) fn invoke(url: &str, event: &Value) -> Result<Invocation> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(900)))
        .build()
        .into();
    let mut response = agent
        .post(url)
        .send_json(event)
        .with_context(|| format!("invoking {url}"))?;
    let status = response.status();
    let function_error = response.headers().get("x-amz-function-error").is_some();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    if !status.is_success() || function_error {
        let reason = format!("status {status}: {}", truncate(&body, 300));
        return Ok(Invocation::Failed(reason));
    }
    let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if value.get("errorType").is_some() {
        return Ok(Invocation::Failed(truncate(&body, 300)));
    }
    Ok(Invocation::Succeeded(value))
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The ids a function reported as failed; `None` when the report is malformed.
fn reported_failures(body: &Value) -> Option<HashSet<String>> {
    let items = match body.get("batchItemFailures") {
        None | Some(Value::Null) => return Some(HashSet::new()),
        Some(items) => items.as_array()?,
    };
    items
        .iter()
        .map(|item| {
            item.get("itemIdentifier")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .collect()
}

/// The SQS event Lambda would send for these messages.
pub fn sqs_event(messages: &[Message], queue_arn: &str) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, Value> = m
                .attributes()
                .map(|attrs| {
                    attrs
                        .iter()
                        .map(|(k, v)| (k.as_str().to_string(), Value::String(v.clone())))
                        .collect()
                })
                .unwrap_or_default();
            let message_attributes: serde_json::Map<String, Value> = m
                .message_attributes()
                .map(|attrs| {
                    attrs
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                json!({
                                    "stringValue": v.string_value(),
                                    "dataType": v.data_type(),
                                    "stringListValues": [],
                                    "binaryListValues": [],
                                }),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// Fails unless `mappings` name distinct queues (one consumer per queue, as in the template).
pub fn check_distinct(mappings: &[Mapping]) -> Result<()> {
    let mut seen = HashSet::new();
    for m in mappings {
        if !seen.insert(&m.queue_url) {
            bail!("queue {} feeds more than one function", m.queue_arn);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_failures_are_the_item_identifiers() {
        let body = json!({"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]});
        assert_eq!(
            reported_failures(&body),
            Some(HashSet::from(["a".into(), "b".into()]))
        );
        assert_eq!(
            reported_failures(&json!({"batchItemFailures": []})),
            Some(HashSet::new())
        );
        assert_eq!(reported_failures(&Value::Null), Some(HashSet::new()));
        assert_eq!(reported_failures(&json!({"batchItemFailures": "x"})), None);
        assert_eq!(
            reported_failures(&json!({"batchItemFailures": [{"id": "a"}]})),
            None
        );
    }

    #[test]
    fn the_event_carries_each_message() {
        let message = Message::builder()
            .message_id("m1")
            .receipt_handle("r1")
            .body("{\"job_id\":\"j\"}")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .build();
        let event = sqs_event(&[message], "arn:aws:sqs:us-east-1:123456789012:jobs");
        let record = &event["Records"][0];
        assert_eq!(record["messageId"], "m1");
        assert_eq!(record["body"], "{\"job_id\":\"j\"}");
        assert_eq!(record["attributes"]["ApproximateReceiveCount"], "2");
        assert_eq!(record["eventSource"], "aws:sqs");
        // The functions read it with aws_lambda_events, so it must parse there.
        let parsed: aws_lambda_events::event::sqs::SqsEvent =
            serde_json::from_value(event).unwrap();
        assert_eq!(parsed.records[0].message_id.as_deref(), Some("m1"));
    }
}
