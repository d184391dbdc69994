//! The cart over HTTP on the local stack: ETags, `If-Match`, no lost update
//! when many writers race from one ETag (on two instances, and straight at
//! the store), and every validation rule answered with the field it broke.

use std::sync::Arc;

use serde_json::{Value, json};
use shared::cart::items::{CartItems, RawLine};
use shared::cart::store::CartStore;
use shared::time::Timestamp;
use xtask::stack::{Instance, StackInfo};

use crate::helpers::Api;

#[test]
fn a_new_cart_is_empty_at_version_0_and_a_write_moves_its_etag() {
    let api = Api::new();
    let (_, token) = api.new_user();

    let empty = api.get_cart(&token);
    assert_eq!(empty.status, 200);
    assert_eq!(
        empty.body,
        json!({"items": [], "total": {"amount": 0, "currency": "EUR"}, "version": 0})
    );
    assert_eq!(empty.header("etag"), Some("\"0\""));
    assert_eq!(empty.header("cache-control"), Some("private, no-cache"));

    // Two products of the sample catalog (xtask/seed/catalog.json).
    let items =
        json!({"items": [{"sku": "TSHIRT-M", "quantity": 2}, {"sku": "MUG_01", "quantity": 1}]});
    let written = api.put_cart(&token, "\"0\"", &items);
    assert_eq!(written.status, 200, "{}", written.body);
    assert_eq!(written.body["version"], 1);
    assert_eq!(
        written.body["items"],
        json!([
            {"sku": "TSHIRT-M", "quantity": 2, "name": "T-shirt, organic cotton, M",
             "unit_price": {"amount": 1990, "currency": "EUR"}, "available": true},
            {"sku": "MUG_01", "quantity": 1, "name": "Stoneware mug",
             "unit_price": {"amount": 1499, "currency": "EUR"}, "available": true},
        ])
    );
    assert_eq!(
        written.body["total"],
        json!({"amount": 2 * 1990 + 1499, "currency": "EUR"})
    );
    assert_eq!(written.header("etag"), Some("\"1\""));

    let read = api.get_cart(&token);
    assert_eq!(read.body, written.body, "a read sees the write at once");

    // No 304 any more: the priced answer changes with a price at one version.
    let asked = api.send(
        "GET",
        "/cart",
        Some(&token),
        &[("if-none-match", "\"1\"")],
        None,
    );
    assert_eq!(asked.status, 200);
    assert_eq!(asked.header("etag"), Some("\"1\""));
    assert_eq!(asked.body, written.body);
}

#[test]
fn a_sku_the_catalog_lacks_is_refused_by_its_field() {
    let api = Api::new();
    let (_, token) = api.new_user();
    let body = json!({"items": [
        {"sku": "MUG-01", "quantity": 1},
        {"sku": "PEN-01", "quantity": 1},
        {"sku": "NO-SUCH-PRODUCT", "quantity": 1},
    ]});
    let refused = api.put_cart(&token, "\"0\"", &body);
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.body["code"], "unknown_sku");
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("items[2].sku"),
        "{}",
        refused.body
    );
    assert_eq!(
        api.get_cart(&token).body["version"],
        0,
        "nothing was written"
    );
}

#[test]
fn a_write_needs_the_current_etag() {
    let api = Api::new();
    let (_, token) = api.new_user();
    let body = json!({"items": [{"sku": "CAP-01", "quantity": 1}]});

    // No If-Match at all: the request's shape is the subject.
    let missing = api.send("PUT", "/cart", Some(&token), &[], Some(&body.to_string()));
    assert_eq!(missing.status, 428);
    assert_eq!(missing.body["code"], "precondition_required");
    let star = api.put_cart(&token, "*", &body);
    assert_eq!(star.status, 428, "If-Match: * would allow a lost update");

    assert_eq!(api.put_cart(&token, "\"0\"", &body).status, 200);
    for stale in ["\"0\"", "W/\"1\"", "\"7\""] {
        let refused = api.put_cart(&token, stale, &body);
        assert_eq!(refused.status, 412, "{stale}");
        assert_eq!(refused.body["code"], "precondition_failed");
    }
    let malformed = api.put_cart(&token, "1", &body);
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.body["code"], "invalid_precondition");
    assert_eq!(
        api.put_cart(&token, "\"5\", \"1\"", &body).status,
        200,
        "a list matches when any of its tags does"
    );
}

#[test]
fn fifty_writers_from_one_etag_on_two_instances_exactly_one_wins() {
    let stack = StackInfo::from_env().unwrap();
    let second = Instance::start(&stack, "cart-race", &[]).unwrap();
    let apis = Arc::new([Api::new(), Api::at(&second.api_url)]);
    let (_, token) = apis[0].new_user();
    let token = Arc::new(token);

    let writers: Vec<_> = (0..50)
        .map(|i| {
            let apis = Arc::clone(&apis);
            let token = Arc::clone(&token);
            std::thread::spawn(move || {
                let sku = xtask::client::SEEDED_SKUS[i as usize % xtask::client::SEEDED_SKUS.len()];
                let body = json!({"items": [{"sku": sku, "quantity": 1 + i}]});
                let reply = apis[i as usize % 2].put_cart(&token, "\"0\"", &body);
                (reply.status, reply.body)
            })
        })
        .collect();
    let replies: Vec<(u16, Value)> = writers.into_iter().map(|w| w.join().unwrap()).collect();

    let winners: Vec<&Value> = replies
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    let refused = replies.iter().filter(|(s, _)| *s == 412).count();
    assert_eq!(winners.len(), 1, "{replies:?}");
    assert_eq!(refused, 49, "{replies:?}");
    let final_cart = apis[1].get_cart(&token);
    assert_eq!(&final_cart.body, winners[0], "the cart is the winner's");
    assert_eq!(final_cart.body["version"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_store_writes_from_one_version_land_once() {
    let stack = StackInfo::from_env().unwrap();
    let env = stack.template_environment("put-cart");
    let aws = stack.aws_clients().await;
    let store = Arc::new(CartStore::new(
        aws.dynamodb().clone(),
        env.require("CARTS_TABLE").unwrap(),
    ));
    let user = shared::ids::UserId::from(format!("store-race-{}", shared::ids::new_id()));
    let tasks: Vec<_> = (0..50u64)
        .map(|i| {
            let store = Arc::clone(&store);
            let user = user.clone();
            tokio::spawn(async move {
                let items = CartItems::parse(vec![RawLine::new(format!("S{i}"), i + 1)]).unwrap();
                store
                    .replace(&user, &items, &[0], Timestamp::now())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut landed = Vec::new();
    for task in tasks {
        if let Some(cart) = task.await.unwrap() {
            landed.push(cart);
        }
    }
    assert_eq!(landed.len(), 1);
    assert_eq!(store.get(&user).await.unwrap(), landed[0]);
}

#[test]
fn invalid_items_are_400_naming_the_field() {
    let api = Api::new();
    let (_, token) = api.new_user();
    let line = |sku: Value, quantity: Value| json!({"sku": sku, "quantity": quantity});
    let many: Vec<Value> = (0..101)
        .map(|i| line(json!(format!("S{i}")), json!(1)))
        .collect();
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"items": [line(json!(""), json!(1))]}),
            "items[0].sku",
        ),
        (
            json!({"items": [line(json!("x".repeat(65)), json!(1))]}),
            "items[0].sku",
        ),
        (
            json!({"items": [line(json!("ok"), json!(1)), line(json!("a b"), json!(1))]}),
            "items[1].sku",
        ),
        (
            json!({"items": [line(json!("ünï"), json!(1))]}),
            "items[0].sku",
        ),
        (json!({"items": [line(json!(7), json!(1))]}), "items[0].sku"),
        (
            json!({"items": [line(json!("A"), json!(0))]}),
            "items[0].quantity",
        ),
        (
            json!({"items": [line(json!("A"), json!(1000))]}),
            "items[0].quantity",
        ),
        (
            json!({"items": [line(json!("A"), json!(-1))]}),
            "items[0].quantity",
        ),
        (
            json!({"items": [line(json!("A"), json!(1.5))]}),
            "items[0].quantity",
        ),
        (
            json!({"items": [line(json!("A"), json!("2"))]}),
            "items[0].quantity",
        ),
        (
            json!({"items": [line(json!("A"), json!(1e30))]}),
            "items[0].quantity",
        ),
        (json!({"items": [{"sku": "A"}]}), "items[0]"),
        (
            json!({"items": [{"sku": "A", "quantity": 1, "price": 3}]}),
            "items[0]",
        ),
        (
            json!({"items": [line(json!("A"), json!(1)), line(json!("A"), json!(2))]}),
            "items[1].sku",
        ),
        (json!({"items": many}), "items"),
        (json!({"items": {"sku": "A"}}), "items"),
        (json!({}), "items"),
    ];
    for (body, field) in cases {
        let reply = api.put_cart(&token, "\"0\"", &body);
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        let detail = reply.body["detail"].as_str().unwrap();
        assert!(
            detail.contains(field),
            "{body}: `{detail}` should name {field}"
        );
        assert!(
            ["invalid_items", "invalid_body"].contains(&reply.body["code"].as_str().unwrap()),
            "{}",
            reply.body
        );
    }
    let cart = api.get_cart(&token);
    assert_eq!(cart.body["version"], 0, "nothing invalid was written");
}

#[test]
fn each_user_has_a_cart_of_their_own() {
    let api = Api::new();
    let (_, alice) = api.new_user();
    let (_, bob) = api.new_user();
    let body = json!({"items": [{"sku": "BOOK-SRE", "quantity": 3}]});
    assert_eq!(api.put_cart(&alice, "\"0\"", &body).status, 200);
    let bobs = api.get_cart(&bob);
    assert_eq!(
        bobs.body,
        json!({"items": [], "total": {"amount": 0, "currency": "EUR"}, "version": 0})
    );
    let unauthenticated = api.send("GET", "/cart", None, &[], None);
    assert_eq!(unauthenticated.status, 401);
}
