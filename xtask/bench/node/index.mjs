// GET /me in Node.js, for the cold-start comparison of `cargo xtask bench`.
// The same init as the Rust function (a DynamoDB client of the AWS SDK, the
// public signing keys, the configuration from the environment) and the same
// first request (verify the bearer token, read the user), behind a minimal
// Lambda runtime loop of its own. Not part of the service.
import http from "node:http";
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { createLocalJWKSet, jwtVerify } from "jose";

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const agent = new http.Agent({ keepAlive: true });
const usersTable = process.env.USERS_TABLE;
const verifyOptions = {
  issuer: process.env.TOKEN_ISSUER,
  audience: process.env.TOKEN_AUDIENCE,
  algorithms: ["EdDSA"],
  typ: "at+jwt",
};
const keys = createLocalJWKSet(JSON.parse(process.env.TOKEN_PUBLIC_JWKS));
const dynamodb = new DynamoDBClient({});

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
