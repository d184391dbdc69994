//! Creates the template's tables, queues and bucket on the emulators, exactly
//! as the template declares them: key schema, indexes and TTL; visibility
//! timeouts and dead-letter redrive; bucket notifications to a queue.

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Map, Value};

use aws_sdk_dynamodb::config::SharedInterceptor;
use shared::aws::AwsClients;

use crate::call_log::CallLog;
use crate::local_names::{LocalResource, Resolver};
use crate::template::{Template, get_att, number};

/// The SDK clients of a stack's emulators, with the stack's dummy
/// credentials: what provisioning, the tests and the functions' handlers in
/// tests use. With `log`, every call they make is recorded in it.
pub async fn clients(
    dynamodb_endpoint: &str,
    moto_endpoint: &str,
    log: Option<&CallLog>,
) -> AwsClients {
    let base = crate::aws_config().await;
    let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(&base);
    let mut secrets = aws_sdk_secretsmanager::config::Builder::from(&base);
    let mut s3 = aws_sdk_s3::config::Builder::from(&base);
    let mut sqs = aws_sdk_sqs::config::Builder::from(&base);
    let mut aws = AwsClients::new(&base);
    if let Some(log) = log {
        let interceptor = SharedInterceptor::new(log.clone());
        aws = aws.with_management_interceptor(interceptor.clone());
        dynamodb.push_interceptor(interceptor.clone());
        secrets.push_interceptor(interceptor.clone());
        s3.push_interceptor(interceptor.clone());
        sqs.push_interceptor(interceptor);
    }
    aws.with_dynamodb(aws_sdk_dynamodb::Client::from_conf(
        dynamodb.endpoint_url(dynamodb_endpoint).build(),
    ))
    .with_secrets(aws_sdk_secretsmanager::Client::from_conf(
        secrets.endpoint_url(moto_endpoint).build(),
    ))
    .with_s3(aws_sdk_s3::Client::from_conf(
        s3.endpoint_url(moto_endpoint)
            .force_path_style(true)
            .build(),
    ))
    .with_sqs(aws_sdk_sqs::Client::from_conf(
        sqs.endpoint_url(moto_endpoint).build(),
    ))
}

/// Creates every table, queue and bucket of `template`, recording each in `resolver`.
pub async fn provision(
    clients: &AwsClients,
    template: &Template,
    resolver: &mut Resolver<'_>,
) -> Result<()> {
    create_tables(clients, template, resolver).await?;
    for id in queues_in_creation_order(template)? {
        create_queue(clients, template, resolver, &id)
            .await
            .with_context(|| format!("creating queue {id}"))?;
    }
    for id in template.ids_of_kind("AWS::S3::Bucket") {
        create_bucket(clients, template, resolver, id)
            .await
            .with_context(|| format!("creating bucket {id}"))?;
    }
    Ok(())
}

/// Creates every table of `template` (the part of a stack that lives in DynamoDB).
pub async fn create_tables(
    clients: &AwsClients,
    template: &Template,
    resolver: &mut Resolver<'_>,
) -> Result<()> {
    for id in template.ids_of_kind("AWS::DynamoDB::Table") {
        create_table(clients, template, resolver, id)
            .await
            .with_context(|| format!("creating table {id}"))?;
    }
    if template.resource(CATALOG_TABLE).is_some() {
        seed_catalog(clients, &resolver.local_name(CATALOG_TABLE))
            .await
            .context("seeding the sample catalog (xtask/seed/catalog.json)")?;
    }
    Ok(())
}

/// The catalog's table in the template.
const CATALOG_TABLE: &str = "CatalogTable";

/// The sample catalog every local stack starts with (README, "The catalog").
pub const SEED_CATALOG: &str = include_str!("../seed/catalog.json");

/// Writes the sample catalog into the catalog table `table`, through the
/// same store the routes write with (the template's currency, EUR).
pub async fn seed_catalog(clients: &AwsClients, table: &str) -> Result<()> {
    let products: Vec<shared::catalog::product::SeedProduct> =
        serde_json::from_str(SEED_CATALOG).context("xtask/seed/catalog.json")?;
    let store = shared::catalog::store::CatalogStore::new(clients.dynamodb().clone(), table);
    let now = shared::time::Timestamp::now();
    for product in products {
        let sku = shared::cart::items::Sku::parse(&product.sku)
            .map_err(|why| anyhow!("sku {}: {why}", product.sku))?;
        let fields = product
            .fields
            .parse("EUR")
            .map_err(|(field, why)| anyhow!("{}: {field} {why}", product.sku))?;
        store.put(&sku, &fields, None, now).await?;
    }
    Ok(())
}

/// The template parameter naming the signing keys' secret.
const SIGNING_KEY_PARAMETER: &str = "SigningKeySecretArn";
/// The table their public half is published in.
const KEYS_TABLE: &str = "TokenKeysTable";
/// The template parameter naming the account key secret.
const ACCOUNT_KEY_PARAMETER: &str = "AccountKeySecretArn";

/// Gives the parameters that only exist outside the template a local value:
/// a fresh set of access-token signing keys (one current key), stored as a
/// secret in moto and its public half published in the keys table, as a
/// deployment's first rotation tick does, and a fresh account key (a secret
/// too). New keys every start.
pub async fn local_parameters(
    clients: &AwsClients,
    template: &Template,
    resolver: &mut Resolver<'_>,
    name: &str,
) -> Result<()> {
    if !template.has_parameter(SIGNING_KEY_PARAMETER) {
        return Ok(());
    }
    let kid = shared::ids::new_id();
    let now = shared::time::Timestamp::now();
    let mut keys = shared::accounts::keyset::KeySet::first(now)
        .map_err(|e| anyhow!("generating a signing key: {e}"))?;
    let jwks = keys
        .public_jwks()
        .map_err(|e| anyhow!("the signing key's public half: {e}"))?;
    let table = resolver.resolve(&serde_json::json!({ "Ref": KEYS_TABLE }))?;
    let env = shared::config::Environment::from_pairs([("TOKEN_KEYS_TABLE", table)]);
    shared::accounts::keystore::PublishedKeys::new(&env, clients)?
        .publish(&jwks, now)
        .await
        .context("publishing the signing key")?;
    keys.mark_published(now);
    let secret = keys
        .to_secret()
        .map_err(|e| anyhow!("the signing keys' secret: {e}"))?;
    let arn = create_secret(clients, &format!("{name}-signing-keys-{kid}"), secret).await?;
    resolver.set_parameter(SIGNING_KEY_PARAMETER, arn);
    if template.has_parameter(ACCOUNT_KEY_PARAMETER) {
        let (secret, _) = shared::accounts::account_key::AccountKeys::generate();
        let arn = create_secret(clients, &format!("{name}-account-key-{kid}"), secret).await?;
        resolver.set_parameter(ACCOUNT_KEY_PARAMETER, arn);
    }
    Ok(())
}

/// A secret in moto; its ARN.
async fn create_secret(clients: &AwsClients, name: &str, secret: String) -> Result<String> {
    clients
        .secrets()
        .create_secret()
        .name(name)
        .secret_string(secret)
        .send()
        .await
        .map_err(aws_sdk_secretsmanager::Error::from)
        .with_context(|| format!("creating the secret {name}"))?
        .arn
        .ok_or_else(|| anyhow!("CreateSecret returned no ARN"))
}

fn list<'a>(props: &'a Map<String, Value>, key: &str) -> &'a [Value] {
    props
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn text<'a>(value: &'a Value, key: &str) -> Result<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("`{key}` is missing or not a string"))
}

fn key_schema(elements: &[Value]) -> Result<Vec<KeySchemaElement>> {
    elements
        .iter()
        .map(|e| {
            Ok(KeySchemaElement::builder()
                .attribute_name(text(e, "AttributeName")?)
                .key_type(KeyType::from(text(e, "KeyType")?))
                .build()?)
        })
        .collect()
}

fn projection(value: Option<&Value>) -> Projection {
    let kind = value
        .and_then(|p| p.get("ProjectionType"))
        .and_then(Value::as_str)
        .unwrap_or("ALL");
    let attributes = value
        .and_then(|p| p.get("NonKeyAttributes"))
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        });
    Projection::builder()
        .projection_type(ProjectionType::from(kind))
        .set_non_key_attributes(attributes)
        .build()
}

async fn create_table(
    clients: &AwsClients,
    template: &Template,
    resolver: &mut Resolver<'_>,
    id: &str,
) -> Result<()> {
    let props = &template.resources()[id].properties;
    let name = resolver.local_name(id);
    let mut request = clients
        .dynamodb()
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(list(props, "KeySchema"))?));
    for attribute in list(props, "AttributeDefinitions") {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(attribute, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(text(attribute, "AttributeType")?))
                .build()?,
        );
    }
    for index in list(props, "GlobalSecondaryIndexes") {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(text(index, "IndexName")?)
                .set_key_schema(Some(key_schema(list_of(index, "KeySchema"))?))
                .projection(projection(index.get("Projection")))
                .build()?,
        );
    }
    for index in list(props, "LocalSecondaryIndexes") {
        request = request.local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(text(index, "IndexName")?)
                .set_key_schema(Some(key_schema(list_of(index, "KeySchema"))?))
                .projection(projection(index.get("Projection")))
                .build()?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) => {}
        Err(e) => return Err(aws_sdk_dynamodb::Error::from(e).into()),
    }
    if let Some(ttl) = props.get("TimeToLiveSpecification") {
        let enabled = ttl.get("Enabled").is_some_and(|e| e == true || e == "true");
        if enabled {
            clients
                .dynamodb()
                .update_time_to_live()
                .table_name(&name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name(text(ttl, "AttributeName")?)
                        .build()?,
                )
                .send()
                .await
                .map_err(aws_sdk_dynamodb::Error::from)?;
        }
    }
    resolver.record_named(id, name)
}

fn list_of<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Queues ordered so that a dead-letter queue exists before the queues that redrive to it.
fn queues_in_creation_order(template: &Template) -> Result<Vec<String>> {
    let ids: Vec<String> = template
        .ids_of_kind("AWS::SQS::Queue")
        .map(String::from)
        .collect();
    let mut ordered: Vec<String> = Vec::new();
    let mut pending = ids.clone();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|id| match dead_letter_target(template, id) {
            Some(dlq) if !ordered.contains(&dlq) => true,
            _ => {
                ordered.push(id.clone());
                false
            }
        });
        if pending.len() == before {
            bail!("queues {pending:?} redrive in a cycle or to a queue not in the template");
        }
    }
    Ok(ordered)
}

fn dead_letter_target(template: &Template, id: &str) -> Option<String> {
    let redrive = template.resource(id)?.properties.get("RedrivePolicy")?;
    get_att(redrive.get("deadLetterTargetArn")?).map(|(dlq, _)| dlq)
}

async fn create_queue(
    clients: &AwsClients,
    template: &Template,
    resolver: &mut Resolver<'_>,
    id: &str,
) -> Result<()> {
    let props = &template.resources()[id].properties;
    let name = resolver.local_name(id);
    let mut request = clients.sqs().create_queue().queue_name(&name);
    let numeric = [
        ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
        (
            "MessageRetentionPeriod",
            QueueAttributeName::MessageRetentionPeriod,
        ),
        (
            "ReceiveMessageWaitTimeSeconds",
            QueueAttributeName::ReceiveMessageWaitTimeSeconds,
        ),
        ("DelaySeconds", QueueAttributeName::DelaySeconds),
        ("MaximumMessageSize", QueueAttributeName::MaximumMessageSize),
    ];
    for (key, attribute) in numeric {
        if let Some(value) = props.get(key) {
            let value = number(value).ok_or_else(|| anyhow!("{key} is not a number"))?;
            request = request.attributes(attribute, value.to_string());
        }
    }
    if let Some(redrive) = props.get("RedrivePolicy") {
        let target = redrive
            .get("deadLetterTargetArn")
            .ok_or_else(|| anyhow!("RedrivePolicy has no deadLetterTargetArn"))?;
        let max_receive_count = redrive
            .get("maxReceiveCount")
            .and_then(number)
            .ok_or_else(|| anyhow!("RedrivePolicy has no maxReceiveCount"))?;
        let policy = serde_json::json!({
            "deadLetterTargetArn": resolver.resolve(target)?,
            "maxReceiveCount": max_receive_count,
        });
        request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let output = request.send().await.map_err(aws_sdk_sqs::Error::from)?;
    let url = output
        .queue_url()
        .ok_or_else(|| anyhow!("CreateQueue returned no URL"))?
        .to_string();
    let arn = resolver.arn_of(id)?;
    resolver.record(
        id,
        LocalResource {
            name,
            arn,
            url: Some(url),
        },
    );
    Ok(())
}

async fn create_bucket(
    clients: &AwsClients,
    template: &Template,
    resolver: &mut Resolver<'_>,
    id: &str,
) -> Result<()> {
    let props = &template.resources()[id].properties;
    let name = resolver.local_name(id);
    match clients.s3().create_bucket().bucket(&name).send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error().is_some_and(|e| {
                e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()
            }) => {}
        Err(e) => return Err(aws_sdk_s3::Error::from(e).into()),
    }
    let queue_configurations = props
        .get("NotificationConfiguration")
        .map(|n| list_of(n, "QueueConfigurations"))
        .unwrap_or_default();
    if !queue_configurations.is_empty() {
        let mut notification = NotificationConfiguration::builder();
        for config in queue_configurations {
            let queue = config
                .get("Queue")
                .ok_or_else(|| anyhow!("a QueueConfiguration has no Queue"))?;
            let mut builder = QueueConfiguration::builder()
                .queue_arn(resolver.resolve(queue)?)
                .events(Event::from(text(config, "Event")?));
            let rules = config
                .get("Filter")
                .and_then(|f| f.get("S3Key"))
                .map(|k| list_of(k, "Rules"))
                .unwrap_or_default();
            if !rules.is_empty() {
                let mut key_filter = S3KeyFilter::builder();
                for rule in rules {
                    key_filter = key_filter.filter_rules(
                        FilterRule::builder()
                            .name(FilterRuleName::from(
                                text(rule, "Name")?.to_ascii_lowercase().as_str(),
                            ))
                            .value(resolver.resolve(rule.get("Value").unwrap_or(&Value::Null))?)
                            .build(),
                    );
                }
                builder = builder.filter(
                    NotificationConfigurationFilter::builder()
                        .key(key_filter.build())
                        .build(),
                );
            }
            notification = notification.queue_configurations(builder.build()?);
        }
        clients
            .s3()
            .put_bucket_notification_configuration()
            .bucket(&name)
            .notification_configuration(notification.build())
            .send()
            .await
            .map_err(aws_sdk_s3::Error::from)?;
    }
    resolver.record_named(id, name)
}
