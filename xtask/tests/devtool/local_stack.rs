//! The local stack's own machinery, against the emulators of the stack that
//! `cargo xtask test` started: provisioning from a template (tables with
//! indexes and TTL, queues with redrive, bucket notifications) and the SQS
//! event source pump (partial batch failures, failed invocations).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use shared::aws::AwsClients;
use xtask::event_sources::{self, Mapping};
use xtask::local_names::Resolver;
use xtask::provision;
use xtask::stack::StackInfo;
use xtask::template::Template;

const FIXTURE: &str = r#"
Resources:
  Records:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - { AttributeName: pk, AttributeType: S }
        - { AttributeName: owner, AttributeType: S }
      KeySchema:
        - { AttributeName: pk, KeyType: HASH }
      GlobalSecondaryIndexes:
        - IndexName: by-owner
          KeySchema: [{ AttributeName: owner, KeyType: HASH }]
          Projection: { ProjectionType: KEYS_ONLY }
      TimeToLiveSpecification: { AttributeName: expires_at, Enabled: true }
  Work:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 1
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt WorkDlq.Arn
        maxReceiveCount: 5
  WorkDlq:
    Type: AWS::SQS::Queue
  Files:
    Type: AWS::S3::Bucket
    Properties:
      NotificationConfiguration:
        QueueConfigurations:
          - Event: s3:ObjectCreated:*
            Queue: !GetAtt Work.Arn
            Filter:
              S3Key:
                Rules: [{ Name: prefix, Value: users/ }]
"#;

/// A name prefix of this test run's own, so runs never share resources.
fn prefix(test: &str) -> String {
    format!("t{}-{test}-", std::process::id())
}

async fn clients() -> AwsClients {
    let stack = StackInfo::from_env().expect("the local stack");
    provision::clients(&stack.dynamodb_endpoint, &stack.moto_endpoint, None).await
}

#[tokio::test]
async fn provisioning_creates_what_the_template_declares() {
    let clients = clients().await;
    let template = Template::parse(FIXTURE).unwrap();
    let mut resolver = Resolver::new(&template, &prefix("provision"));
    provision::provision(&clients, &template, &mut resolver)
        .await
        .unwrap();

    let table_name = resolver.provisioned("Records").unwrap().name.clone();
    let table = clients
        .dynamodb()
        .describe_table()
        .table_name(&table_name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(table.key_schema()[0].attribute_name(), "pk");
    assert_eq!(
        table.global_secondary_indexes()[0].index_name(),
        Some("by-owner")
    );
    let ttl = clients
        .dynamodb()
        .describe_time_to_live()
        .table_name(&table_name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("expires_at")
    );

    let work = resolver.provisioned("Work").unwrap().clone();
    let dlq = resolver.provisioned("WorkDlq").unwrap().clone();
    let attributes = clients
        .sqs()
        .get_queue_attributes()
        .queue_url(work.url.as_deref().unwrap())
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "1");
    let redrive: serde_json::Value =
        serde_json::from_str(&attributes[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], dlq.arn);
    assert_eq!(redrive["maxReceiveCount"], 5);

    // The bucket notifies the queue of objects under the prefix only.
    let bucket = resolver.provisioned("Files").unwrap().name.clone();
    for key in ["elsewhere/a.txt", "users/u1/a%20b.txt"] {
        clients
            .s3()
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(b"hello".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let mut keys = Vec::new();
    for _ in 0..10 {
        let received = clients
            .sqs()
            .receive_message()
            .queue_url(work.url.as_deref().unwrap())
            .wait_time_seconds(1)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for message in received.messages() {
            let body: serde_json::Value = serde_json::from_str(message.body().unwrap()).unwrap();
            if let Some(key) = body
                .pointer("/Records/0/s3/object/key")
                .and_then(|k| k.as_str())
            {
                keys.push(key.to_string());
            }
        }
        if !keys.is_empty() {
            break;
        }
    }
    // Keys arrive URL-encoded (moto encodes `/` too, AWS does not; both decode alike).
    let decoded: Vec<String> = keys.iter().map(|k| percent_decode(k)).collect();
    assert_eq!(decoded, vec!["users/u1/a%20b.txt".to_string()]);
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) => {
                out.push(u8::from_str_radix(std::str::from_utf8(hex).unwrap(), 16).unwrap());
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// A stand-in for cargo-lambda's invoke endpoint: answers every invocation
/// with `answer(event)` and keeps the events it was sent.
fn fake_function(
    answer: fn(&serde_json::Value) -> (u16, String),
) -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/2015-03-31/functions/f/invocations",
        listener.local_addr().unwrap()
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let (status, reply) = answer(&event);
            record.lock().unwrap().push(event);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (url, seen)
}

async fn queue_with_messages(
    clients: &AwsClients,
    name: &str,
    bodies: &[&str],
) -> (String, String) {
    let url = clients
        .sqs()
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    for body in bodies {
        clients
            .sqs()
            .send_message()
            .queue_url(&url)
            .message_body(*body)
            .send()
            .await
            .unwrap();
    }
    (url, format!("arn:aws:sqs:us-east-1:123456789012:{name}"))
}

async fn remaining_bodies(clients: &AwsClients, url: &str) -> Vec<String> {
    // Visibility timeout is 1 s: what the pump did not delete is back by now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let received = clients
        .sqs()
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let mut bodies: Vec<String> = received
        .messages()
        .iter()
        .filter_map(|m| m.body().map(String::from))
        .collect();
    bodies.sort();
    bodies
}

#[tokio::test]
async fn the_pump_deletes_all_but_the_reported_failures() {
    let clients = clients().await;
    let name = format!("{}q", prefix("partial"));
    let (queue_url, queue_arn) =
        queue_with_messages(&clients, &name, &["ok-1", "poison", "ok-2"]).await;
    let (invoke_url, seen) = fake_function(|event| {
        let failures: Vec<serde_json::Value> = event["Records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["body"] == "poison")
            .map(|r| serde_json::json!({"itemIdentifier": r["messageId"]}))
            .collect();
        (
            200,
            serde_json::json!({"batchItemFailures": failures}).to_string(),
        )
    });
    let mapping = Mapping {
        queue_url: queue_url.clone(),
        queue_arn: queue_arn.clone(),
        function: "f".into(),
        invoke_url,
        batch_size: 10,
        report_batch_item_failures: true,
    };
    let mut received = 0;
    let mut deleted = 0;
    for _ in 0..5 {
        let outcome = event_sources::deliver_one_batch(clients.sqs(), &mapping, 1)
            .await
            .unwrap();
        received += outcome.received;
        deleted += outcome.deleted;
        if received >= 3 {
            break;
        }
    }
    assert_eq!((received, deleted), (3, 2));
    let event = seen.lock().unwrap()[0].clone();
    assert_eq!(event["Records"][0]["eventSource"], "aws:sqs");
    assert_eq!(event["Records"][0]["eventSourceARN"], queue_arn);
    assert_eq!(
        remaining_bodies(&clients, &queue_url).await,
        vec!["poison".to_string()]
    );
}

#[tokio::test]
async fn a_failed_invocation_deletes_nothing() {
    let clients = clients().await;
    let name = format!("{}q", prefix("failed"));
    let (queue_url, queue_arn) = queue_with_messages(&clients, &name, &["a", "b"]).await;
    let (invoke_url, _) = fake_function(|_| {
        (
            200,
            r#"{"errorType":"Panic","errorMessage":"boom"}"#.to_string(),
        )
    });
    let mapping = Mapping {
        queue_url: queue_url.clone(),
        queue_arn,
        function: "f".into(),
        invoke_url,
        batch_size: 10,
        report_batch_item_failures: true,
    };
    let mut received = 0;
    for _ in 0..5 {
        let outcome = event_sources::deliver_one_batch(clients.sqs(), &mapping, 1)
            .await
            .unwrap();
        assert_eq!(outcome.deleted, 0);
        received += outcome.received;
        if received >= 2 {
            break;
        }
    }
    assert_eq!(
        remaining_bodies(&clients, &queue_url).await,
        vec!["a".to_string(), "b".to_string()]
    );
}
