// The page: one section per capability of the service. Everything it
// knows of the user comes from the API; nothing is stored in the browser
// but the HttpOnly refresh cookie the service sets.

import * as api from "./api.js";
import * as live from "./live.js";
import * as session from "./session.js";

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
};
const money = (price) => `${(price.amount / 100).toFixed(2)} ${price.currency}`;

function notice(text) {
  $("notice").textContent = text;
}

function problemText(error) {
  if (error instanceof api.ApiError) {
    return `${error.title}${error.detail ? `: ${error.detail}` : ""} (HTTP ${error.status}, ${error.code})`;
  }
  return error.message;
}

const stops = [];
function stopWatching() {
  while (stops.length) stops.pop()();
}

// ---- logged in or out -------------------------------------------------

function showLoggedIn(loggedIn) {
  $("auth").hidden = loggedIn;
  for (const id of ["profile", "cart", "uploads", "jobs", "logout"]) $(id).hidden = !loggedIn;
  $("who").dataset.state = loggedIn ? "in" : "out";
  for (const button of document.querySelectorAll("button.add")) button.disabled = !loggedIn;
  if (!loggedIn) {
    stopWatching();
    $("who").textContent = "Not logged in";
    for (const id of ["profile-fields", "sessions", "cart-lines", "upload-list", "job-list"]) {
      $(id).replaceChildren();
    }
  }
}

async function loadAll() {
  await Promise.all([loadProfile(), loadCart(), loadUploads()]);
}

session.onChange(async ({ loggedIn, why }) => {
  showLoggedIn(loggedIn);
  if (loggedIn) {
    notice("");
    await loadAll().catch((error) => notice(problemText(error)));
  } else if (why) {
    notice(why);
  }
});

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const problem = await session.login(form.get("email"), form.get("password"));
  if (problem) notice(`Login refused: ${problem.detail || problem.title}`);
});

$("register-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    await api.register(form.get("email"), form.get("password"), form.get("name"));
    const problem = await session.login(form.get("email"), form.get("password"));
    if (problem) notice(`Registered, but the login was refused: ${problem.detail || problem.title}`);
  } catch (error) {
    notice(`Registration refused: ${problemText(error)}`);
  }
});

$("logout").addEventListener("click", () => session.logout());

// ---- profile and sessions --------------------------------------------

async function loadProfile() {
  const [{ body: user }, { body: list }] = await Promise.all([api.me(), api.sessions()]);
  $("who").textContent = `Logged in as ${user.name || user.email}`;
  $("profile-fields").replaceChildren(
    ...Object.entries({ Email: user.email, Name: user.name || "—", "User id": user.user_id })
      .flatMap(([key, value]) => [el("dt", {}, key), el("dd", {}, String(value))]),
  );
  $("sessions").replaceChildren(
    ...list.sessions.map((s) => {
      const revoke = el("button", { type: "button", className: "secondary revoke" }, "Revoke");
      revoke.addEventListener("click", async () => {
        try {
          await api.revokeSession(s.session_id);
          if (s.current) session.lost("You revoked this device's session.");
          else await loadProfile();
        } catch (error) {
          notice(problemText(error));
        }
      });
      return el(
        "li",
        { dataset: { session: s.session_id, current: String(s.current) } },
        el("span", {}, `${s.current ? "This device" : s.user_agent || "a device"} · since ${s.created_at}`),
        revoke,
      );
    }),
  );
}

// ---- catalog and cart -------------------------------------------------

let cart = { items: [], version: 0 };
let cartEtag = '"0"';

async function loadProducts() {
  try {
    const { body } = await api.products();
    $("products").replaceChildren(
      ...body.products.map((product) => {
        const add = el("button", { type: "button", className: "add" }, "Add to cart");
        add.disabled = !session.loggedIn();
        add.addEventListener("click", () => addToCart(product.sku));
        return el(
          "li",
          { dataset: { sku: product.sku } },
          el("span", {}, `${product.name} · ${money(product.price)}`),
          add,
        );
      }),
    );
  } catch (error) {
    $("products").replaceChildren(el("li", { className: "problem" }, problemText(error)));
  }
}

function showCart(body, etag) {
  cart = body;
  cartEtag = etag;
  $("cart-version").textContent = `version ${body.version}`;
  $("cart-lines").replaceChildren(
    ...body.items.map((line) =>
      el("li", { dataset: { sku: line.sku } }, el("span", {}, `${line.quantity} × ${line.name}`), el("span", {}, money(line.unit_price))),
    ),
  );
  $("cart-total").textContent = `Total: ${money(body.total)}`;
}

async function loadCart() {
  const { body, headers } = await api.getCart();
  showCart(body, headers.get("etag"));
}

async function addToCart(sku) {
  const items = cart.items.map(({ sku, quantity }) => ({ sku, quantity }));
  const line = items.find((item) => item.sku === sku);
  if (line) line.quantity += 1;
  else items.push({ sku, quantity: 1 });
  try {
    const { body, headers } = await api.putCart(cartEtag, items);
    $("cart-conflict").hidden = true;
    showCart(body, headers.get("etag"));
  } catch (error) {
    if (error.status === 412) {
      $("cart-conflict").textContent =
        "Not saved: your cart changed in another tab or on another device since this page " +
        "read it (412 precondition_failed), and saving would have overwritten that change. " +
        "The cart below is the current one; add the item again if you still want it.";
      $("cart-conflict").hidden = false;
      await loadCart();
    } else {
      notice(`The cart was not saved: ${problemText(error)}`);
    }
  }
}

$("cart-reload").addEventListener("click", () => loadCart().catch((e) => notice(problemText(e))));

// ---- uploads ----------------------------------------------------------

const FINAL_UPLOAD = (upload) => upload.status !== "pending";

function uploadItem(upload) {
  const status = el("span", { className: "status", dataset: { status: upload.status } }, upload.status);
  const item = el("li", { dataset: { upload: upload.upload_id } }, el("span", {}, `${upload.filename} (${upload.size} bytes)`), status);
  const show = (record) => {
    status.textContent = record.status;
    status.dataset.status = record.status;
    if (record.download_url && !item.querySelector("a")) {
      item.append(el("a", { href: record.download_url, className: "download" }, "Download"));
    }
  };
  show(upload);
  if (!FINAL_UPLOAD(upload)) {
    stops.push(
      live.watch("upload", upload.upload_id, async () => (await api.getUpload(upload.upload_id)).body, FINAL_UPLOAD, (record, error) =>
        record ? show(record) : notice(problemText(error)),
      ),
    );
  }
  return item;
}

async function loadUploads() {
  const { body } = await api.uploads();
  $("upload-list").replaceChildren(...body.uploads.map(uploadItem));
}

$("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = new FormData(event.target).get("file");
  const problem = $("upload-problem");
  const progress = $("upload-progress");
  problem.hidden = true;
  progress.hidden = true;
  let grant;
  try {
    ({ body: grant } = await api.createUpload(file));
  } catch (error) {
    problem.textContent = `The service refused this file: ${problemText(error)}`;
    problem.hidden = false;
    return;
  }
  progress.hidden = false;
  progress.value = 0;
  try {
    await api.putToBucket(grant, file, (fraction) => {
      progress.value = Math.round(fraction * 100);
    });
  } catch (error) {
    problem.textContent = `The upload failed: ${error.message}`;
    problem.hidden = false;
    return;
  }
  const { body: upload } = await api.getUpload(grant.upload_id);
  $("upload-list").prepend(uploadItem(upload));
  event.target.reset();
});

// ---- jobs -------------------------------------------------------------

const FINAL_JOB = (job) => job.status === "succeeded" || job.status === "failed";

function jobItem(job) {
  const status = el("span", { className: "status", dataset: { status: job.status } }, job.status);
  const item = el("li", { dataset: { job: job.job_id } }, el("span", {}, `Export · ${job.created_at}`), status);
  const show = (record) => {
    status.textContent = record.status === "failed" ? `failed: ${record.error}` : record.status;
    status.dataset.status = record.status;
    if (record.result && !item.querySelector("a")) {
      item.append(el("a", { href: record.result.download_url, className: "download" }, "Download the export"));
    }
  };
  show(job);
  stops.push(
    live.watch("job", job.job_id, async () => (await api.getJob(job.job_id)).body, FINAL_JOB, (record, error) =>
      record ? show(record) : notice(problemText(error)),
    ),
  );
  return item;
}

$("export").addEventListener("click", async () => {
  try {
    const { body: job } = await api.createJob(crypto.randomUUID());
    $("job-list").prepend(jobItem(job));
  } catch (error) {
    notice(`The export was not started: ${problemText(error)}`);
  }
});

// ---- start: a reload stays logged in through the refresh cookie --------

showLoggedIn(false);
const catalog = loadProducts();
session.refresh().then(async (ok) => {
  showLoggedIn(ok);
  if (ok) await loadAll().catch((error) => notice(problemText(error)));
  await catalog;
  document.body.dataset.ready = "true";
});
