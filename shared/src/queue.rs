//! SQS-triggered functions: each message is handled on its own, and only the
//! ones that failed are reported back (`ReportBatchItemFailures`), so one bad
//! message never makes the others run again.

use std::fmt::Display;
use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Context, LambdaEvent, service_fn};

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
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        if let Err(error) = handle(message).await {
            tracing::error!(message_id = %id, %error, "message failed; it will be retried");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Runs `handler` for every SQS batch until the runtime stops; it gets the
/// invocation's context too (its deadline bounds a worker's lease).
pub async fn serve_batches<H, F>(handler: H) -> Result<(), lambda_runtime::Error>
where
    H: Fn(SqsEvent, Context) -> F,
    F: Future<Output = SqsBatchResponse> + Send,
{
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let outcome = handler(event.payload, event.context);
        async move { Ok::<_, lambda_runtime::Error>(outcome.await) }
    }))
    .await
}
