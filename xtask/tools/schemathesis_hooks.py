"""Schemathesis hooks for xtask/tests/api/openapi.rs.

The bearer token of a user of the test's own (ST_API_URL, ST_EMAIL,
ST_PASSWORD). The fuzzed logout routes end its session; a 401 then makes
schemathesis log in again and retry, so the other routes keep being
tested with a live token.
"""

import json
import os
import urllib.request

import schemathesis


@schemathesis.auth(retry_on=[401])
class Bearer:
    def get(self, case, context):
        body = json.dumps(
            {"email": os.environ["ST_EMAIL"], "password": os.environ["ST_PASSWORD"]}
        ).encode()
        request = urllib.request.Request(
            os.environ["ST_API_URL"] + "/auth/login",
            data=body,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["access_token"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook("filter_body")
def only_utf8_bodies(context, body):
    """Bodies that are not UTF-8 never reach a function locally: cargo-lambda
    answers them 500 itself (API Gateway passes them base64-encoded, and the
    functions answer 400: `shared::http::body`'s unit tests prove that)."""
    if isinstance(body, (bytes, bytearray)):
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True
