//! The signing keys rotate without downtime: two rotations while tokens are
//! minted and verified on two instances refuse no valid token, a token of a
//! retired key is refused, and a withdrawn key is refused at once.
//!
//! Each test has a key set of its own (a secret in moto, a published keys
//! table in DynamoDB Local) and short delays, so the stack's keys stay as
//! they are; the rotation runs in-process, as `rotate-keys` would.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use shared::accounts::keyset::KeySet;
use shared::accounts::keystore::PublishedKeys;
use shared::accounts::rotation::RotateKeys;
use shared::accounts::tokens::{AccessTokenIssuer, TokenSettings};
use shared::aws::AwsClients;
use shared::config::Environment;
use shared::sqs_batch::Consumer;
use shared::time::Timestamp;
use xtask::stack::{Instance, StackInfo};

use crate::helpers::{Api, Reply};

/// A key set of the test's own, and the variables that point functions at it.
struct PrivateKeys {
    overrides: Vec<(String, String)>,
    first: KeySet,
}

impl PrivateKeys {
    async fn create(aws: &AwsClients, name: &str) -> Self {
        let suffix = shared::ids::new_id()
            .to_lowercase()
            .replace(['-', '_'], "x");
        let table = format!("{name}-keys-{suffix}");
        aws.dynamodb()
            .create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("key_set")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("key_set")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let now = Timestamp::now();
        let mut first = KeySet::first(now).unwrap();
        let env = Environment::from_pairs([("TOKEN_KEYS_TABLE", table.clone())]);
        PublishedKeys::new(&env, aws)
            .unwrap()
            .publish(&first.public_jwks().unwrap(), now)
            .await
            .unwrap();
        first.mark_published(now);
        let arn = aws
            .secrets()
            .create_secret()
            .name(format!("{name}-signing-keys-{suffix}"))
            .secret_string(first.to_secret().unwrap())
            .send()
            .await
            .unwrap()
            .arn
            .unwrap();
        let overrides = [
            ("SIGNING_KEY_SECRET_ARN", arn.as_str()),
            ("TOKEN_KEYS_TABLE", table.as_str()),
            ("TOKEN_KEYS_MAX_AGE_SECONDS", "1"),
            ("SIGNING_KEY_MAX_AGE_SECONDS", "1"),
            ("ACCESS_TOKEN_TTL_SECONDS", "5"),
            // The traffic is one user's, far past a real user's budget.
            ("REQUESTS_PER_USER_PER_MINUTE", "1000000"),
        ];
        Self {
            overrides: overrides
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            first,
        }
    }

    fn overrides(&self) -> Vec<(&str, &str)> {
        self.overrides
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The rotation over these keys: a key every tick that has no next
    /// one, signing two seconds after it is published.
    async fn rotation(&self, stack: &StackInfo, aws: &AwsClients) -> RotateKeys {
        let mut env = stack.environment_of("rotate-keys");
        env.extend(self.overrides.iter().cloned());
        env.insert("KEY_PROPAGATION_SECONDS".into(), "2".into());
        env.insert("KEY_ROTATION_DAYS".into(), "0".into());
        RotateKeys::build(&Environment::from_pairs(env), aws)
            .await
            .unwrap()
    }
}

/// The `kid` a token was signed with.
fn kid(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_string()
}

/// A claim of a token, read without checking it.
fn claim(token: &str, name: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims[name].as_str().unwrap().to_string()
}

/// Two instances over a key set of their own, its rotation, and a user.
struct TwoInstances {
    stack: StackInfo,
    keys: PrivateKeys,
    rotation: RotateKeys,
    instances: [Instance; 2],
    a: Api,
    b: Api,
    email: String,
    token: String,
}

impl TwoInstances {
    async fn start(name: &str) -> Self {
        let stack = StackInfo::from_env().unwrap();
        let aws = stack.aws_clients().await;
        let keys = PrivateKeys::create(&aws, name).await;
        let instances = [
            Instance::start(&stack, &format!("{name}-a"), &keys.overrides()).unwrap(),
            Instance::start(&stack, &format!("{name}-b"), &keys.overrides()).unwrap(),
        ];
        let rotation = keys.rotation(&stack, &aws).await;
        let (a, b) = (
            Api::at(&instances[0].api_url),
            Api::at(&instances[1].api_url),
        );
        let (email, token) = a.new_user();
        Self {
            stack,
            keys,
            rotation,
            instances,
            a,
            b,
            email,
            token,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rotations_under_traffic_refuse_no_valid_token_and_retired_keys_are_refused() {
    let TwoInstances {
        stack,
        keys,
        rotation,
        instances,
        a,
        b,
        email,
        token,
    } = TwoInstances::start("rotation").await;
    let first_kid = kid(&token);
    // A token of the first key that outlives its key (signed here, an hour
    // long), for the user's live session: refused once the key is retired.
    let env = stack.template_environment("login");
    let settings = TokenSettings {
        issuer: env.require("TOKEN_ISSUER").unwrap().to_string(),
        audience: env.require("TOKEN_AUDIENCE").unwrap().to_string(),
        access_ttl_seconds: 3600,
    };
    let (long_lived, _) = AccessTokenIssuer::new(settings)
        .issue(
            &keys.first.signing_key().unwrap(),
            &claim(&token, "sub").into(),
            &claim(&token, "sid").into(),
            Timestamp::now(),
        )
        .unwrap();
    assert_eq!(b.me(&long_lived).status, 200);

    // Mint on one instance, verify on both, refresh on the other, nonstop.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = Arc::clone(&stop);
        let (a, b) = (instances[0].api_url.clone(), instances[1].api_url.clone());
        std::thread::spawn(move || {
            let (a, b) = (Api::at(&a), Api::at(&b));
            let mut refused = Vec::new();
            let mut kids = BTreeSet::new();
            let mut rounds = 0;
            while !stop.load(Ordering::SeqCst) {
                let tokens = a.login_as(&email);
                let access = tokens["access_token"].as_str().unwrap().to_string();
                kids.insert(kid(&access));
                for (step, api) in [("me on b", &b), ("me on a", &a)] {
                    let Reply { status, body, .. } = api.me(&access);
                    if status != 200 {
                        refused.push(format!("{step} ({}): {status} {body}", kid(&access)));
                    }
                }
                let Reply { status, body, .. } =
                    b.refresh(tokens["refresh_token"].as_str().unwrap());
                if status == 200 {
                    let access = body["access_token"].as_str().unwrap();
                    kids.insert(kid(access));
                    let Reply { status, body, .. } = a.me(access);
                    if status != 200 {
                        refused.push(format!("refreshed me on a: {status} {body}"));
                    }
                } else {
                    refused.push(format!("refresh on b: {status} {body}"));
                }
                rounds += 1;
            }
            (refused, kids, rounds)
        })
    };

    let started = Instant::now();
    let mut promoted = Vec::new();
    let mut retired = Vec::new();
    while (promoted.len() < 2 || !retired.contains(&first_kid))
        && started.elapsed() < Duration::from_secs(60)
    {
        let changes = rotation.tick(Timestamp::now()).await.unwrap();
        promoted.extend(changes.promoted);
        retired.extend(changes.retired);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Let the traffic meet the last key for a while too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    let (refused, kids, rounds) = traffic.join().unwrap();

    assert!(promoted.len() >= 2, "two rotations: {promoted:?}");
    assert!(
        retired.contains(&first_kid),
        "the first key retired: {retired:?}"
    );
    assert!(refused.is_empty(), "valid tokens refused: {refused:#?}");
    assert!(
        kids.len() >= 3,
        "tokens of three keys were minted and verified in {rounds} rounds: {kids:?}"
    );
    // The verifiers keep the published set for a second at most.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for api in [&a, &b] {
        assert_eq!(
            api.me(&long_lived).status,
            401,
            "a token of a retired key is refused"
        );
    }
    let jwks = a.jwks().body;
    let published: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    assert!(!published.contains(&first_kid.as_str()), "{published:?}");
    assert!(published.contains(&promoted.last().unwrap().as_str()));
}

#[tokio::test]
async fn a_withdrawn_key_is_refused_at_once_everywhere_and_another_signs() {
    let TwoInstances {
        stack,
        rotation,
        a,
        b,
        email,
        token,
        instances: _instances,
        ..
    } = TwoInstances::start("withdrawal").await;
    let compromised = kid(&token);
    assert_eq!(b.me(&token).status, 200);

    let changes = rotation
        .withdraw(&compromised, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(changes.created.len(), 1, "a new key signs in its place");
    // Under every shard of its deny-list entry, whichever a token's check reads.
    let revoked = stack.environment_of("me")["REVOKED_TOKENS_TABLE"].clone();
    let aws = stack.aws_clients().await;
    for shard in 0..shared::accounts::keystore::WITHDRAWN_SHARDS {
        let id = shared::accounts::keystore::withdrawn_kid_id(&compromised, shard);
        let entry = aws
            .dynamodb()
            .get_item()
            .table_name(&revoked)
            .key("token_id", AttributeValue::S(id.clone()))
            .send()
            .await
            .unwrap();
        assert!(entry.item.is_some(), "{id} is not on the deny-list");
    }
    // At once: no verifier waits for its copy of the published set to age.
    for api in [&a, &b] {
        assert_eq!(api.me(&token).status, 401);
    }
    // Once the signers have reread the secret, logins get the new key.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fresh = a.login_as(&email)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(kid(&fresh), changes.created[0]);
    assert_eq!(b.me(&fresh).status, 200, "verified on the other instance");
    let jwks = b.jwks().body;
    assert!(!jwks.to_string().contains(&compromised));
}

#[tokio::test]
async fn cargo_xtask_keys_drives_the_rotation_of_a_running_stack() {
    let stack = StackInfo::from_env().unwrap();
    let aws = stack.aws_clients().await;
    let keys = PrivateKeys::create(&aws, "keys-command").await;
    // The stack as the command reads it, with rotate-keys over these keys.
    let mut info = stack.clone();
    let env = info.function_env.get_mut("rotate-keys").unwrap();
    env.extend(keys.overrides.iter().cloned());
    let dir = tempfile_dir();
    let stack_file = dir.join("stack.json");
    std::fs::write(&stack_file, serde_json::to_string(&info).unwrap()).unwrap();
    let first = keys.first.signing_key().unwrap().kid().to_string();
    let xtask = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .env("STACK_FILE", &stack_file)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        (output.status.success(), text)
    };
    let (ok, text) = xtask(&["keys", "tick"]);
    assert!(ok, "{text}");
    assert!(text.contains("created []"), "nothing is due: {text}");
    let (ok, text) = xtask(&["keys", "withdraw", &first]);
    assert!(ok, "{text}");
    let env = Environment::from_pairs(keys.overrides.clone());
    let published = PublishedKeys::new(&env, &aws)
        .unwrap()
        .load()
        .await
        .unwrap();
    assert!(published.get(&first).is_none(), "withdrawn: {text}");
    assert_eq!(published.jwks()["keys"].as_array().unwrap().len(), 1);
    let (ok, text) = xtask(&["keys", "spin"]);
    assert!(!ok && text.contains("usage"), "{text}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A fresh folder under the system's temporary folder.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("key-rotation-{}", shared::ids::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
