//! The jobs queue: one message per job, naming it; the job record holds
//! everything else. Delivery is at least once, so a message may come twice.

use aws_sdk_sqs::types::MessageAttributeValue;
use serde::{Deserialize, Serialize};

use super::records::JobRecord;
use crate::aws::StoreError;
use crate::ids::{JobId, UserId};

/// The body of a job's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobMessage {
    /// Whose job.
    pub user_id: UserId,
    /// Which job.
    pub job_id: JobId,
}

impl JobMessage {
    /// Parses a message body.
    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }
}

impl From<&JobRecord> for JobMessage {
    fn from(job: &JobRecord) -> Self {
        Self {
            user_id: job.user_id.clone(),
            job_id: job.job_id.clone(),
        }
    }
}

/// Sends job messages to SQS.
#[derive(Debug, Clone)]
pub struct JobQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl JobQueue {
    /// The queue at `url`.
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// Puts the job's message on the queue.
    pub async fn send(&self, message: &JobMessage) -> Result<(), StoreError> {
        const OPERATION: &str = "SQS.SendMessage";
        let body = serde_json::to_string(message)
            .map_err(|e| StoreError::corrupt(OPERATION, e.to_string()))?;
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body);
        if let Some(id) = crate::correlation::current() {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(id)
                .build()
                .map_err(|e| StoreError::corrupt(OPERATION, e.to_string()))?;
            request = request.message_attributes(crate::correlation::ATTRIBUTE, attribute);
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::sdk(OPERATION, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_nothing_else_parses() {
        let message = JobMessage {
            user_id: "u".into(),
            job_id: "j".into(),
        };
        let body = serde_json::to_string(&message).unwrap();
        assert_eq!(JobMessage::parse(&body).unwrap(), message);
        for bad in [
            "",
            "{}",
            r#"{"user_id":"u"}"#,
            r#"{"user_id":"u","job_id":"j","x":1}"#,
        ] {
            assert!(JobMessage::parse(bad).is_err(), "{bad}");
        }
    }
}
