//! The catalog over HTTP on the local stack: the sample catalog's listings
//! sorted and paged, a product's ETag and 304, roles that change on the very
//! next request, carts priced at today's price on every instance within the
//! cache's TTL, a deleted product shown unavailable, and every catalog and
//! cart route answering with the cache table gone.

use std::time::Duration;

use serde_json::{Value, json};
use xtask::happy_path::grant_admin;
use xtask::stack::{Instance, StackInfo};

use crate::helpers::{Api, poll_until};

/// The catalog's L1 TTL on the test stack (the template's default).
const TTL: Duration = Duration::from_secs(5);

fn product(name: &str, amount: u64, category: &str) -> Value {
    json!({"name": name, "price": {"amount": amount, "currency": "EUR"}, "category": category})
}

/// A new user with the `admin` role: its email and token.
fn admin(api: &Api) -> (String, String) {
    let (email, token) = api.new_user();
    grant_admin(&StackInfo::from_env().unwrap(), &email).unwrap();
    (email, token)
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        shared::ids::new_id().to_lowercase().replace('_', "-")
    )
}

#[test]
fn the_sample_catalog_lists_sorted_and_pages_to_the_end() {
    let api = Api::new();
    let all = api.list_products("category=kitchen&sort=price&limit=100");
    assert_eq!(all.status, 200, "{}", all.body);
    assert!(
        all.header("cache-control")
            .unwrap()
            .starts_with("public, max-age="),
        "{:?}",
        all.header("cache-control")
    );
    let products = all.body["products"].as_array().unwrap().clone();
    let prices: Vec<u64> = products
        .iter()
        .map(|p| p["price"]["amount"].as_u64().unwrap())
        .collect();
    assert!(products.len() >= 7, "the seeded kitchen: {products:?}");
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");
    assert_eq!(all.body["next_cursor"], Value::Null);

    // Two at a time, to the end: the same products in the same order.
    let mut paged = Vec::new();
    let mut query = "category=kitchen&sort=price&limit=2".to_string();
    loop {
        let page = api.list_products(&query);
        assert_eq!(page.status, 200, "{}", page.body);
        paged.extend(page.body["products"].as_array().unwrap().clone());
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("category=kitchen&sort=price&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, products);

    let by_name = api.list_products("category=books");
    let names: Vec<&str> = by_name.body["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);

    for bad in [
        "sort=cost",
        "limit=0",
        "limit=101",
        "category=Kitchen",
        "cursor=x",
    ] {
        let refused = api.list_products(bad);
        assert_eq!(refused.status, 400, "{bad}");
        assert_eq!(refused.body["code"], "invalid_query", "{bad}");
    }
    // A cursor of one listing is refused by another.
    let first = api.list_products("category=kitchen&limit=1");
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let other = api.list_products(&format!("category=books&limit=1&cursor={cursor}"));
    assert_eq!(other.status, 400);
}

#[test]
fn a_product_has_an_etag_and_answers_304_to_it() {
    let api = Api::new();
    let mug = api.get_product("MUG-01");
    assert_eq!(mug.status, 200, "{}", mug.body);
    assert_eq!(mug.body["name"], "Enamel mug");
    assert_eq!(
        mug.body["price"],
        json!({"amount": 1299, "currency": "EUR"})
    );
    let etag = mug.header("etag").unwrap().to_string();
    let again = api.send(
        "GET",
        "/products/MUG-01",
        None,
        &[("if-none-match", &etag)],
        None,
    );
    assert_eq!(again.status, 304);
    assert_eq!(api.get_product("NO-SUCH-SKU").status, 404);
    assert_eq!(api.get_product("not%20a%20sku").status, 404);
}

#[test]
fn a_role_is_granted_and_revoked_on_the_very_next_request() {
    let api = Api::new();
    let (email, token) = api.new_user();
    let sku = unique("ROLE").to_uppercase();
    let body = product("Role test", 100, &unique("roles"));

    assert_eq!(api.me(&token).body["roles"], json!([]));
    let refused = api.put_product(&token, &sku, &body);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.body["code"], "forbidden");

    let stack = StackInfo::from_env().unwrap();
    grant_admin(&stack, &email).unwrap();
    // The same token, the very next request.
    assert_eq!(api.me(&token).body["roles"], json!(["admin"]));
    let created = api.put_product(&token, &sku, &body);
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("etag"), Some("\"1\""));

    let email = shared::accounts::email::Email::parse(&email).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = shared::accounts::roles::RoleStore::new(
            stack.aws_clients().await.dynamodb().clone(),
            stack
                .template_environment("me")
                .require("USERS_TABLE")
                .unwrap(),
        );
        store
            .revoke(&email, shared::accounts::roles::Role::Admin)
            .await
            .unwrap();
    });
    assert_eq!(api.me(&token).body["roles"], json!([]));
    assert_eq!(api.delete_product(&token, &sku).status, 403);
}

#[test]
fn writes_need_the_current_etag_and_a_valid_product() {
    let api = Api::new();
    let (_, token) = admin(&api);
    let sku = unique("ETAG").to_uppercase();
    let category = unique("etags");
    assert_eq!(
        api.put_product(&token, &sku, &product("One", 100, &category))
            .status,
        201
    );
    let stale = api.send(
        "PUT",
        &format!("/products/{sku}"),
        Some(&token),
        &[("if-match", "\"7\"")],
        Some(&product("Two", 200, &category).to_string()),
    );
    assert_eq!(stale.status, 412);
    let current = api.send(
        "PUT",
        &format!("/products/{sku}"),
        Some(&token),
        &[("if-match", "\"1\"")],
        Some(&product("Two", 200, &category).to_string()),
    );
    assert_eq!(current.status, 200, "{}", current.body);
    assert_eq!(current.header("etag"), Some("\"2\""));
    let usd = json!({"name": "x", "price": {"amount": 1, "currency": "USD"}, "category": category});
    let refused = api.put_product(&token, &sku, &usd);
    assert_eq!(refused.status, 400);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("price.currency")
    );
    assert_eq!(api.delete_product(&token, &sku).status, 204);
    assert_eq!(api.delete_product(&token, &sku).status, 404);
}

#[test]
fn a_new_price_is_served_by_every_instance_within_the_ttl_and_a_deleted_product_is_unavailable() {
    let api = Api::new();
    let stack = StackInfo::from_env().unwrap();
    let other = Instance::start(&stack, "catalog-prices", &[]).unwrap();
    let apis = [Api::new(), Api::at(&other.api_url)];
    let (_, admin_token) = admin(&api);
    let (_, token) = api.new_user();
    let sku = unique("PRICE").to_uppercase();
    let category = unique("prices");
    assert_eq!(
        api.put_product(&admin_token, &sku, &product("Lamp", 1000, &category))
            .status,
        201
    );
    let put = api.put_cart(
        &token,
        "\"0\"",
        &json!({"items": [{"sku": sku, "quantity": 3}]}),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["total"]["amount"], 3000);
    // Both instances have read the old price (their L1s hold it).
    for api in &apis {
        assert_eq!(api.get_product(&sku).body["price"]["amount"], 1000);
        assert_eq!(api.get_cart(&token).body["total"]["amount"], 3000);
    }

    assert_eq!(
        api.put_product(&admin_token, &sku, &product("Lamp", 1500, &category))
            .status,
        200
    );
    // The bound is the TTL; a second covers the poll and the processes.
    let within = TTL + Duration::from_secs(2);
    for api in &apis {
        poll_until(
            "the new price",
            within,
            || api.get_product(&sku),
            |b| b["price"]["amount"] == 1500,
        );
        poll_until(
            "the cart at the new price",
            within,
            || api.get_cart(&token),
            |b| b["total"]["amount"] == 4500 && b["items"][0]["unit_price"]["amount"] == 1500,
        );
        poll_until(
            "the listing at the new price",
            within,
            || api.list_products(&format!("category={category}")),
            |b| b["products"][0]["price"]["amount"] == 1500,
        );
    }

    assert_eq!(api.delete_product(&admin_token, &sku).status, 204);
    for api in &apis {
        let cart = poll_until(
            "the product gone",
            within,
            || api.get_cart(&token),
            |b| b["items"][0]["available"] == false,
        );
        assert_eq!(cart["items"][0]["name"], Value::Null);
        assert_eq!(cart["total"]["amount"], 0);
        assert_eq!(cart["version"], 1, "the cart itself is untouched");
    }
    let refused = api.put_cart(
        &token,
        "\"1\"",
        &json!({"items": [{"sku": sku, "quantity": 1}]}),
    );
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["code"], "unknown_sku");
}

#[test]
fn every_catalog_and_cart_route_answers_with_the_cache_table_gone() {
    let stack = StackInfo::from_env().unwrap();
    // The L2 of this instance is a table that does not exist: every call to
    // it fails at once, as a table that was stopped or throttles.
    let away = Instance::start(
        &stack,
        "cache-away",
        &[("CACHE_TABLE", "no-such-cache-table")],
    )
    .unwrap();
    let api = Api::at(&away.api_url);
    let reference = Api::new();
    // Seeded categories that no test writes to.
    for query in [
        "category=kitchen&sort=price",
        "category=books",
        "category=stationery",
    ] {
        let listed = api.list_products(query);
        assert_eq!(listed.status, 200, "{query}: {}", listed.body);
        assert_eq!(
            listed.body["products"],
            reference.list_products(query).body["products"],
            "{query}"
        );
    }
    let mug = api.get_product("MUG-01");
    assert_eq!(mug.status, 200);
    let (_, token) = api.new_user();
    let put = api.put_cart(
        &token,
        "\"0\"",
        &json!({"items": [{"sku": "MUG-01", "quantity": 2}]}),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["total"]["amount"], 2 * 1299);
    assert_eq!(api.get_cart(&token).body, put.body);
    let (_, admin_token) = admin(&api);
    let sku = unique("AWAY").to_uppercase();
    let category = unique("away");
    assert_eq!(
        api.put_product(&admin_token, &sku, &product("Away", 5, &category))
            .status,
        201
    );
    assert_eq!(api.delete_product(&admin_token, &sku).status, 204);
}

#[test]
fn cargo_xtask_admin_grants_and_revokes_a_role_on_the_running_stack() {
    let api = Api::new();
    let (email, token) = api.new_user();
    // The command finds the stack by STACK_FILE, as `cargo xtask test` sets it.
    let admin = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg("admin")
            .args(args)
            .output()
            .unwrap()
    };
    let granted = admin(&["grant", &email, "admin"]);
    assert!(granted.status.success(), "{granted:?}");
    assert_eq!(api.me(&token).body["roles"], json!(["admin"]));
    let revoked = admin(&["revoke", &email, "admin"]);
    assert!(revoked.status.success(), "{revoked:?}");
    assert_eq!(api.me(&token).body["roles"], json!([]));

    let nobody = admin(&["grant", &crate::helpers::unique_email(), "admin"]);
    assert!(!nobody.status.success(), "an email without an account");
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no account"));
    assert!(
        !admin(&["grant", &email, "root"]).status.success(),
        "an unknown role"
    );
    assert!(!admin(&["promote", &email, "admin"]).status.success());
    assert_eq!(api.me(&token).body["roles"], json!([]));
}
