// The session of this tab: the access token in memory only (never in
// localStorage or sessionStorage), the refresh token in the
// `__Host-refresh_token` cookie only (HttpOnly: no script reads it; every
// login and refresh says `Prefer: refresh-token=cookie`, so the body never
// carries it either).
//
// One refresh at a time across every tab of this origin: a refresh runs
// under the Web Lock "refresh", so a second tab waits for the first one's
// rotation and then refreshes with the cookie it left, instead of both
// presenting the same token (which the service would take for reuse and
// answer by ending the session). Logins and logouts are told to the other
// tabs through a BroadcastChannel.

const LOCK = "stateless-shop-refresh";
const channel = new BroadcastChannel("stateless-shop-session");

let accessToken = null;
let expiresAt = 0;
const listeners = new Set();

/** Calls `listener(state)` on every login or logout, this tab's or another's. */
export function onChange(listener) {
  listeners.add(listener);
}

function tell(state) {
  for (const listener of listeners) listener(state);
}

channel.addEventListener("message", (event) => {
  if (event.data === "logged-out") {
    forget();
    tell({ loggedIn: false, why: "You logged out in another tab." });
  } else if (event.data === "logged-in") {
    // Another tab logged in: the cookie is there, take a token of our own.
    refresh().then((ok) => ok && tell({ loggedIn: true }));
  }
});

function forget() {
  accessToken = null;
  expiresAt = 0;
}

function keep(tokens) {
  accessToken = tokens.access_token;
  // Refresh a little before it lapses.
  expiresAt = Date.now() + Math.max(5, tokens.expires_in - 30) * 1000;
}

/** The current access token, or null. */
export function token() {
  return accessToken && Date.now() < expiresAt ? accessToken : null;
}

/** Whether this tab holds a usable access token. */
export function loggedIn() {
  return token() !== null;
}

async function postJson(path, body) {
  return fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "content-type": "application/json",
      prefer: "refresh-token=cookie",
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Logs in; resolves to null, or to the problem the service answered. */
export async function login(email, password) {
  const response = await postJson("/auth/login", { email, password });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) return body;
  keep(body);
  channel.postMessage("logged-in");
  tell({ loggedIn: true });
  return null;
}

/**
 * A new access token from the refresh cookie, one tab at a time; resolves
 * to whether this tab is now logged in.
 */
export async function refresh() {
  const before = accessToken;
  return navigator.locks.request(LOCK, async () => {
    // Another refresh of this tab finished while this one waited.
    if (accessToken !== before && token()) return true;
    const response = await fetch("/auth/refresh", {
      method: "POST",
      credentials: "same-origin",
      headers: { prefer: "refresh-token=cookie" },
    });
    if (!response.ok) {
      forget();
      return false;
    }
    keep(await response.json());
    return true;
  });
}

/** Ends this session (the cookie goes with it) and tells the other tabs. */
export async function logout() {
  const current = token();
  if (current) {
    await fetch("/auth/logout", {
      method: "POST",
      credentials: "same-origin",
      headers: { authorization: `Bearer ${current}` },
    }).catch(() => undefined);
  }
  forget();
  channel.postMessage("logged-out");
  tell({ loggedIn: false, why: "You logged out." });
}

/** This tab lost its session (revoked elsewhere): say so, here only. */
export function lost(why) {
  forget();
  tell({ loggedIn: false, why });
}
