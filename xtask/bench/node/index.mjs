// GET /me in Node.js, for the cold-start comparison of `cargo xtask bench`.
// The same init as the Rust function (a DynamoDB client of the AWS SDK, the
// published public keys read from DynamoDB, the configuration from the
// environment) and the same
// first request (verify the bearer token, read the user), behind a minimal
// Lambda runtime loop of its own. With SIGNING_KEY_SECRET_ARN set, its init
// also reads the signing key from Secrets Manager and imports it, as login's
// and refresh's do: the comparison for the token-minting functions. Not part
// of the service.
import http from "node:http";
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { createLocalJWKSet, importJWK, jwtVerify } from "jose";

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const agent = new http.Agent({ keepAlive: true });
const usersTable = process.env.USERS_TABLE;
const verifyOptions = {
  issuer: process.env.TOKEN_ISSUER,
  audience: process.env.TOKEN_AUDIENCE,
  algorithms: ["EdDSA"],
  typ: "at+jwt",
};
const dynamodb = new DynamoDBClient({});
const { Item: published } = await dynamodb.send(
  new GetItemCommand({
    TableName: process.env.TOKEN_KEYS_TABLE,
    Key: { key_set: { S: "access-token-keys" } },
    ConsistentRead: true,
  }),
);
const jwks = JSON.parse(published.jwks.S);
const keys = createLocalJWKSet(jwks);
const signingKey = process.env.SIGNING_KEY_SECRET_ARN
  ? await readSigningKey(process.env.SIGNING_KEY_SECRET_ARN)
  : undefined;

async function readSigningKey(arn) {
  const secrets = new SecretsManagerClient({});
  const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: arn }));
  const { kid, private_key_pkcs8: pkcs8 } = JSON.parse(SecretString).keys.find(
    (key) => key.state === "current",
  );
  // The secret is the PKCS#8 v2 document aws-lc writes, which Node's
  // OpenSSL does not parse: take the Ed25519 seed from it (bytes 16 to 48,
  // after the OCTET STRING header 04 20) and import it as a JWK.
  const der = Buffer.from(pkcs8, "base64");
  if (der[14] !== 0x04 || der[15] !== 0x20) throw new Error("not an Ed25519 PKCS#8 key");
  const { x } = jwks.keys.find((key) => key.kid === kid);
  const d = der.subarray(16, 48).toString("base64url");
  return { kid, key: await importJWK({ kty: "OKP", crv: "Ed25519", d, x }, "EdDSA") };
}

async function handle(event) {
  const header = event.headers?.authorization ?? "";
  const token = header.startsWith("Bearer ") ? header.slice(7) : "";
  let claims;
  try {
    ({ payload: claims } = await jwtVerify(token, keys, verifyOptions));
  } catch {
    return { statusCode: 401, body: "" };
  }
  const { Item: user } = await dynamodb.send(
    new GetItemCommand({ TableName: usersTable, Key: { pk: { S: `user#${claims.sub}` } } }),
  );
  if (!user) return { statusCode: 404, body: "" };
  return {
    statusCode: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user_id: claims.sub, email: user.email?.S }),
  };
}

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const request = http.request({ host, port, method, path, agent }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("end", () =>
        resolve({ headers: response.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    request.on("error", reject);
    request.end(body);
  });
}

for (;;) {
  const next = await call("GET", "/2018-06-01/runtime/invocation/next");
  const id = next.headers["lambda-runtime-aws-request-id"];
  const result = await handle(JSON.parse(next.body));
  await call("POST", `/2018-06-01/runtime/invocation/${id}/response`, JSON.stringify(result));
}
