"""GET /me in Python, for the cold-start comparison of `cargo xtask bench`.

The same init as the Rust function (a boto3 DynamoDB client, the published
public keys read from DynamoDB, the configuration from the environment) and the same first
request (verify the bearer token, read the user), behind a minimal Lambda
runtime loop of its own. With SIGNING_KEY_SECRET_ARN set, its init also
reads the signing key from Secrets Manager and loads it, as login's and
refresh's do: the comparison for the token-minting functions. Not part of
the service.
"""

import base64
import http.client
import json
import os

import boto3
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HOST, PORT = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
USERS_TABLE = os.environ["USERS_TABLE"]
ISSUER = os.environ["TOKEN_ISSUER"]
AUDIENCE = os.environ["TOKEN_AUDIENCE"]
DYNAMODB = boto3.client("dynamodb")
PUBLISHED = DYNAMODB.get_item(
    TableName=os.environ["TOKEN_KEYS_TABLE"],
    Key={"key_set": {"S": "access-token-keys"}},
    ConsistentRead=True,
)["Item"]
KEYS = {
    key["kid"]: jwt.PyJWK(key)
    for key in json.loads(PUBLISHED["jwks"]["S"])["keys"]
}


def read_signing_key(arn):
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=arn)
    fields = next(
        key
        for key in json.loads(secret["SecretString"])["keys"]
        if key["state"] == "current"
    )
    der = base64.b64decode(fields["private_key_pkcs8"])
    # The PKCS#8 v2 document aws-lc writes: the seed follows the OCTET
    # STRING header 04 20 at byte 14 (as in the Node.js comparison).
    if der[14:16] != b"\x04\x20":
        raise ValueError("not an Ed25519 PKCS#8 key")
    return fields["kid"], Ed25519PrivateKey.from_private_bytes(der[16:48])


SIGNING_KEY = (
    read_signing_key(os.environ["SIGNING_KEY_SECRET_ARN"])
    if "SIGNING_KEY_SECRET_ARN" in os.environ
    else None
)
RUNTIME = http.client.HTTPConnection(HOST, int(PORT))


def handle(event):
    header = (event.get("headers") or {}).get("authorization", "")
    token = header[len("Bearer "):] if header.startswith("Bearer ") else ""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        claims = jwt.decode(
            token,
            KEYS[kid],
            algorithms=["EdDSA"],
            issuer=ISSUER,
            audience=AUDIENCE,
        )
    except (jwt.PyJWTError, KeyError):
        return {"statusCode": 401, "body": ""}
    user = DYNAMODB.get_item(
        TableName=USERS_TABLE, Key={"pk": {"S": "user#" + claims["sub"]}}
    ).get("Item")
    if user is None:
        return {"statusCode": 404, "body": ""}
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"user_id": claims["sub"], "email": user["email"]["S"]}),
    }


def call(method, path, body=None):
    RUNTIME.request(method, path, body=body)
    response = RUNTIME.getresponse()
    return response.getheader("lambda-runtime-aws-request-id"), response.read()


while True:
    request_id, event = call("GET", "/2018-06-01/runtime/invocation/next")
    result = handle(json.loads(event))
    call("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", json.dumps(result))
