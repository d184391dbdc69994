//! SQS-triggered functions: each message is handled on its own, and only the
//! ones that failed are reported back (`ReportBatchItemFailures`), so one bad
//! message never makes the others run again.
//!
//! A queue's consumer is a type, like a route: built once at cold start,
//! then one `handle` per batch. Its function's `main` is one line:
//! `shared::sqs_batch::run::<JobWorker>().await`.

use std::fmt::Display;
use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Context, LambdaEvent, service_fn};

use tracing::Instrument;

use crate::aws::AwsClients;
use crate::config::Environment;
use crate::correlation;
use crate::metrics::{self, Metric};
use crate::startup::StartupError;

/// A consumer of an SQS queue: one function's handler.
pub trait Consumer: Sized + Sync {
    /// Builds it from the function's environment and clients (cold start).
    fn build(
        env: &Environment,
        aws: &AwsClients,
    ) -> impl Future<Output = Result<Self, StartupError>> + Send;

    /// Its answer to one batch: the messages to deliver again. The context
    /// carries the invocation's deadline.
    fn handle(
        &self,
        event: SqsEvent,
        context: Context,
    ) -> impl Future<Output = SqsBatchResponse> + Send;
}

/// A consumer function's whole `main`: logging, consumer `C` built once,
/// then every batch until the runtime stops.
pub async fn run<C: Consumer>() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init()?;
    crate::startup::seed_random();
    let consumer = C::build(&Environment::from_process(), &AwsClients::from_env().await).await?;
    serve_batches(|event, context| {
        let messages = event.records.len();
        // Boxed: with the recorder and the runtime around it, a consumer's
        // future nests deeper than the compiler's layout limit otherwise.
        let answer = Box::pin(consumer.handle(event, context));
        async move {
            let answer = answer.await;
            metrics::add(Metric::Messages, messages as u64);
            metrics::add(
                Metric::MessagesFailed,
                answer.batch_item_failures.len() as u64,
            );
            answer
        }
    })
    .await
}

/// Runs `handle` on every message of `event`; the messages it failed on are
/// the batch item failures (a message without an id fails the whole batch,
/// as Lambda cannot say which to retry).
pub async fn process_batch<F, Fut, E>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let mut response = SqsBatchResponse::default();
    let mut correlation_ids = Vec::new();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        // The sender's id when it sent one (a route's request), else the message's.
        let correlation_id = message
            .message_attributes
            .get(correlation::ATTRIBUTE)
            .and_then(|attribute| attribute.string_value.clone())
            .unwrap_or_else(|| id.clone());
        let span =
            tracing::info_span!("message", message_id = %id, correlation_id = %correlation_id);
        correlation_ids.push(correlation_id.clone());
        let outcome = correlation::scoped(correlation_id, handle(message))
            .instrument(span.clone())
            .await;
        if let Err(error) = outcome {
            span.in_scope(|| tracing::error!(%error, "message failed; it will be retried"));
            response.batch_item_failures.push(item_failure(id));
        }
    }
    metrics::property("correlation_ids", correlation_ids);
    response
}

/// Reports every message of `event` failed, so that all of them come back
/// (for a batch handled as one piece of work).
pub fn retry_all(event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = event
        .records
        .into_iter()
        .map(|message| item_failure(message.message_id.unwrap_or_default()))
        .collect();
    response
}

fn item_failure(id: String) -> BatchItemFailure {
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = id;
    failure
}

/// Runs `handler` for every SQS batch until the runtime stops; it gets the
/// invocation's context too (its deadline bounds a worker's lease).
async fn serve_batches<H, F>(handler: H) -> Result<(), lambda_runtime::Error>
where
    H: Fn(SqsEvent, Context) -> F,
    F: Future<Output = SqsBatchResponse> + Send,
{
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let outcome = metrics::recorded(handler(event.payload, event.context));
        async move { Ok::<_, lambda_runtime::Error>(outcome.await) }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(ids: &[&str]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = ids
            .iter()
            .map(|id| {
                let mut message = SqsMessage::default();
                message.message_id = Some((*id).to_string());
                message
            })
            .collect();
        event
    }

    fn failed(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn only_the_messages_that_failed_are_reported() {
        let response = process_batch(batch(&["a", "b", "c"]), |message| async move {
            match message.message_id.as_deref() {
                Some("b") => Err("poison"),
                _ => Ok(()),
            }
        })
        .await;
        assert_eq!(failed(&response), ["b"]);
    }

    #[test]
    fn a_batch_retried_whole_reports_every_message() {
        assert_eq!(failed(&retry_all(batch(&["a", "b"]))), ["a", "b"]);
        assert!(failed(&retry_all(batch(&[]))).is_empty());
    }
}
