// The service's routes, as the page calls them: the bearer token from
// session.js, one refresh and one retry on a 401, and every failure as an
// ApiError carrying the service's problem (`code`, `title`, `detail`).

import * as session from "./session.js";

/** A problem answer of the service (API.md's error model). */
export class ApiError extends Error {
  constructor(status, problem, headers) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || "http_error";
    this.title = problem.title || `HTTP ${status}`;
    this.detail = problem.detail || "";
    this.headers = headers;
  }
}

async function call(method, path, { body, headers = {}, auth = true } = {}, retried = false) {
  const sent = { ...headers };
  if (body !== undefined) sent["content-type"] = "application/json";
  if (auth) {
    const current = session.token() || ((await session.refresh()) && session.token());
    if (!current) throw new ApiError(401, { code: "unauthorized", title: "Not logged in" });
    sent.authorization = `Bearer ${current}`;
  }
  const response = await fetch(path, {
    method,
    headers: sent,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401 && auth && !retried) {
    // The token lapsed or its session ended: one refresh, one retry.
    if (await session.refresh()) return call(method, path, { body, headers, auth }, true);
    session.lost("Your session ended (logged out or revoked elsewhere). Log in again.");
  }
  const text = response.status === 204 || response.status === 304 ? "" : await response.text();
  const parsed = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, parsed || {}, response.headers);
  return { body: parsed, headers: response.headers, status: response.status };
}

export const register = (email, password, name) =>
  call("POST", "/auth/register", { body: { email, password, name: name || null }, auth: false });
export const me = () => call("GET", "/me");
export const sessions = () => call("GET", "/auth/sessions");
export const revokeSession = (id) => call("DELETE", `/auth/sessions/${encodeURIComponent(id)}`);
export const products = () => call("GET", "/products?limit=20", { auth: false });
export const getCart = () => call("GET", "/cart");
export const putCart = (etag, items) =>
  call("PUT", "/cart", { body: { items }, headers: { "if-match": etag } });
export const createUpload = (file) =>
  call("POST", "/uploads", {
    body: { filename: file.name, content_type: file.type || "application/octet-stream", size: file.size },
  });
export const uploads = () => call("GET", "/uploads?limit=20");
export const getUpload = (id) => call("GET", `/uploads/${encodeURIComponent(id)}`);
export const createJob = (key) =>
  call("POST", "/jobs", { body: { type: "export" }, headers: { "idempotency-key": key } });
export const getJob = (id) => call("GET", `/jobs/${encodeURIComponent(id)}`);

// Headers a page may not set itself: the browser writes them (the length
// from the body it sends), and the signature covers the values it writes.
const BROWSER_WRITTEN = new Set(["content-length", "host"]);

/**
 * PUTs `file` straight to S3 with the presigned request `grant` (`url` and
 * the signed `headers`), calling `onProgress(fraction)` as bytes go out;
 * resolves when S3 answered 2xx, rejects with S3's status otherwise.
 */
export function putToBucket(grant, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(grant.method, grant.url);
    for (const [name, value] of Object.entries(grant.headers)) {
      if (!BROWSER_WRITTEN.has(name.toLowerCase())) xhr.setRequestHeader(name, value);
    }
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
      } else {
        reject(new Error(`the bucket refused the file (HTTP ${xhr.status})`));
      }
    });
    // A network error, or a CORS refusal: the page is told nothing more.
    xhr.addEventListener("error", () => reject(new Error("the bucket could not be reached (network or CORS)")));
    xhr.send(file);
  });
}
