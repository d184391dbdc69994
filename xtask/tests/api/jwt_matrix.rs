//! The negative JWT matrix: every way a bearer token can be wrong gets 401
//! with `WWW-Authenticate: Bearer error="invalid_token"` from `GET /me`,
//! over HTTP against the local stack, while a positive control built the
//! same way (same key, same session) gets 200.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use xtask::stack::StackInfo;

use crate::helpers::Api;

/// The stack's signing key, read from its secret as only login and refresh may.
async fn stack_signing_key(stack: &StackInfo) -> (String, EncodingKey) {
    let arn = &stack.function_env["login"]["SIGNING_KEY_SECRET_ARN"];
    let aws = stack.aws_clients().await;
    let secret = aws
        .secrets()
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .unwrap();
    let set: Value = serde_json::from_str(secret.secret_string().unwrap()).unwrap();
    let secret = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["state"] == "current")
        .unwrap();
    let der = STANDARD
        .decode(secret["private_key_pkcs8"].as_str().unwrap())
        .unwrap();
    (
        secret["kid"].as_str().unwrap().to_string(),
        EncodingKey::from_ed_der(&der),
    )
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A token with exactly this header and these claims, signed with `key` (EdDSA).
fn signed(header: &Value, claims: &Value, key: &EncodingKey) -> String {
    let header: Header = serde_json::from_value(header.clone()).unwrap();
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// A token with a raw header and payload and the given signature part.
fn raw(header: &Value, claims: &Value, signature: &str) -> String {
    format!("{}.{}.{signature}", b64(header), b64(claims))
}

fn without(value: &Value, field: &str) -> Value {
    let mut value = value.clone();
    value.as_object_mut().unwrap().remove(field);
    value
}

fn with(value: &Value, field: &str, new: Value) -> Value {
    let mut value = value.clone();
    value[field] = new;
    value
}

#[tokio::test]
async fn every_malformed_forged_or_revoked_token_is_401() {
    let stack = StackInfo::from_env().unwrap();
    let env = &stack.function_env["me"];
    let (kid, key) = stack_signing_key(&stack).await;
    let api = Api::new();
    let email = api.new_account();
    let tokens = tokio::task::spawn_blocking(move || Api::new().login_as(&email))
        .await
        .unwrap();
    let real_access = tokens["access_token"].as_str().unwrap().to_string();
    let real_claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(real_access.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();

    let now = xtask_now();
    let claims = json!({
        "iss": env["TOKEN_ISSUER"], "aud": env["TOKEN_AUDIENCE"],
        "sub": real_claims["sub"], "sid": real_claims["sid"], "jti": shared::ids::new_id(),
        "iat": now, "nbf": now, "exp": now + 600,
    });
    let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid});

    // Positive controls: the real token, and one minted here the same way.
    let control = signed(&header, &claims, &key);
    let get_me = |token: String| {
        let api = Api::new();
        let reply = api.me(&token);
        let challenge = reply.header("www-authenticate").map(String::from);
        (reply.status, challenge)
    };
    let run = |token: String| tokio::task::spawn_blocking(move || get_me(token));
    assert_eq!(
        run(real_access.clone()).await.unwrap().0,
        200,
        "the real token works"
    );
    assert_eq!(
        run(control.clone()).await.unwrap().0,
        200,
        "a token minted here the same way works"
    );

    let public_x = {
        let jwks = api.jwks().body;
        jwks["keys"][0]["x"].as_str().unwrap().to_string()
    };
    let (_, attacker_secret) = {
        let (secret, key) = shared::accounts::keys::SigningKey::generate(&kid).unwrap();
        (key, secret)
    };
    let attacker_key = {
        let secret: Value = serde_json::from_str(&attacker_secret).unwrap();
        EncodingKey::from_ed_der(
            &STANDARD
                .decode(secret["private_key_pkcs8"].as_str().unwrap())
                .unwrap(),
        )
    };
    let control_signature = control.split('.').nth(2).unwrap().to_string();
    let hs256 = |secret: &[u8]| {
        jsonwebtoken::encode(
            &Header {
                typ: Some("at+jwt".into()),
                kid: Some(kid.clone()),
                ..Header::new(Algorithm::HS256)
            },
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    };

    // Session of a logged-out token, and a deny-listed jti on a live session.
    let logged_out = {
        let api = Api::new();
        let email = api.new_account();
        let tokens = api.login_as(&email);
        let access = tokens["access_token"].as_str().unwrap().to_string();
        assert_eq!(api.logout(&access).status, 204);
        access
    };
    let denied_jti = shared::ids::new_id();
    let aws = stack.aws_clients().await;
    aws.dynamodb()
        .put_item()
        .table_name(&env["REVOKED_TOKENS_TABLE"])
        .item(
            "token_id",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "{}#{denied_jti}",
                env["TOKEN_ISSUER"]
            )),
        )
        .item(
            "expires_at",
            aws_sdk_dynamodb::types::AttributeValue::N((now + 600).to_string()),
        )
        .send()
        .await
        .unwrap();
    let before_logout_all = {
        let api = Api::new();
        let email = api.new_account();
        let first = api.login_as(&email);
        let second = api.login_as(&email);
        assert_eq!(
            api.logout_all(second["access_token"].as_str().unwrap())
                .status,
            204
        );
        first["access_token"].as_str().unwrap().to_string()
    };

    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            raw(
                &json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
                &claims,
                "",
            ),
        ),
        (
            "alg None",
            raw(
                &json!({"alg": "None", "typ": "at+jwt", "kid": kid}),
                &claims,
                "",
            ),
        ),
        (
            "alg none with the real signature",
            raw(
                &json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
                &claims,
                &control_signature,
            ),
        ),
        (
            "HS256 signed with the public key (x)",
            hs256(public_x.as_bytes()),
        ),
        (
            "HS256 signed with the decoded public key",
            hs256(&URL_SAFE_NO_PAD.decode(&public_x).unwrap()),
        ),
        (
            "RS256 header on our signature",
            raw(
                &json!({"alg": "RS256", "typ": "at+jwt", "kid": kid}),
                &claims,
                &control_signature,
            ),
        ),
        (
            "ES256 header on our signature",
            raw(
                &json!({"alg": "ES256", "typ": "at+jwt", "kid": kid}),
                &claims,
                &control_signature,
            ),
        ),
        (
            "missing exp",
            signed(&header, &without(&claims, "exp"), &key),
        ),
        (
            "string exp",
            signed(
                &header,
                &with(&claims, "exp", json!((now + 600).to_string())),
                &key,
            ),
        ),
        (
            "missing nbf",
            signed(&header, &without(&claims, "nbf"), &key),
        ),
        (
            "string nbf",
            signed(&header, &with(&claims, "nbf", json!(now.to_string())), &key),
        ),
        (
            "nbf in the future",
            signed(&header, &with(&claims, "nbf", json!(now + 120)), &key),
        ),
        (
            "expired beyond leeway",
            signed(
                &header,
                &with(
                    &with(&claims, "exp", json!(now - 30)),
                    "iat",
                    json!(now - 930),
                ),
                &key,
            ),
        ),
        (
            "wrong iss",
            signed(
                &header,
                &with(&claims, "iss", json!("https://evil.example")),
                &key,
            ),
        ),
        (
            "missing iss",
            signed(&header, &without(&claims, "iss"), &key),
        ),
        (
            "wrong aud",
            signed(&header, &with(&claims, "aud", json!("another-api")), &key),
        ),
        (
            "missing aud",
            signed(&header, &without(&claims, "aud"), &key),
        ),
        (
            "missing sub",
            signed(&header, &without(&claims, "sub"), &key),
        ),
        (
            "sub of another user with this session",
            signed(
                &header,
                &with(&claims, "sub", json!(shared::ids::new_id())),
                &key,
            ),
        ),
        (
            "wrong typ JWT",
            signed(&with(&header, "typ", json!("JWT")), &claims, &key),
        ),
        (
            "missing typ",
            signed(&without(&header, "typ"), &claims, &key),
        ),
        (
            "unknown kid",
            signed(
                &with(&header, "kid", json!("not-a-kid-of-ours")),
                &claims,
                &key,
            ),
        ),
        (
            "hostile kid path",
            signed(
                &with(&header, "kid", json!("../../../../dev/null")),
                &claims,
                &key,
            ),
        ),
        (
            "hostile kid injection",
            signed(&with(&header, "kid", json!("' OR '1'='1")), &claims, &key),
        ),
        (
            "missing kid",
            signed(&without(&header, "kid"), &claims, &key),
        ),
        (
            "jku header",
            signed(
                &with(&header, "jku", json!("https://evil.example/jwks.json")),
                &claims,
                &key,
            ),
        ),
        (
            "x5u header",
            signed(
                &with(&header, "x5u", json!("https://evil.example/cert.pem")),
                &claims,
                &key,
            ),
        ),
        (
            "jwk header with the attacker's key",
            signed(
                &with(
                    &header,
                    "jwk",
                    json!({"kty": "OKP", "crv": "Ed25519", "x": public_x, "kid": kid}),
                ),
                &claims,
                &attacker_key,
            ),
        ),
        (
            "signed by another key under our kid",
            signed(&header, &claims, &attacker_key),
        ),
        (
            "tampered payload",
            format!(
                "{}.{}.{}",
                control.split('.').next().unwrap(),
                b64(&with(&claims, "sub", json!(shared::ids::new_id()))),
                control_signature
            ),
        ),
        ("tampered signature", {
            let mut signature = control_signature.clone().into_bytes();
            signature[5] = if signature[5] == b'A' { b'B' } else { b'A' };
            format!(
                "{}.{}",
                control.rsplit_once('.').unwrap().0,
                String::from_utf8(signature).unwrap()
            )
        }),
        (
            "truncated signature",
            control[..control.len() - 10].to_string(),
        ),
        ("a token of a deleted session (logout)", logged_out),
        (
            "a deny-listed jti",
            signed(&header, &with(&claims, "jti", json!(denied_jti)), &key),
        ),
        ("a token issued before logout-all", before_logout_all),
        (
            "garbage header",
            format!("%%%.{}.{}", b64(&claims), control_signature),
        ),
        (
            "header that is not JSON",
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode("not json"),
                b64(&claims),
                control_signature
            ),
        ),
        (
            "oversized header",
            raw(
                &with(&header, "pad", json!("x".repeat(8000))),
                &claims,
                &control_signature,
            ),
        ),
        ("two parts", control.rsplit_once('.').unwrap().0.to_string()),
        ("not a JWT", "garbage".to_string()),
    ];
    assert!(cases.len() >= 25);
    for (name, token) in cases {
        let (status, challenge) = run(token).await.unwrap();
        assert_eq!(status, 401, "{name}");
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer error="invalid_token""#),
            "{name}"
        );
    }
    // The controls still work after all that: nothing above revoked them.
    assert_eq!(run(control).await.unwrap().0, 200);
}

fn xtask_now() -> u64 {
    shared::time::Timestamp::now().0
}
