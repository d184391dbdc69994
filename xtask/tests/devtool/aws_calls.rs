//! Every route's AWS calls on its happy path, counted by an SDK interceptor
//! (`xtask::calls`), against the budget it declares (`Route::CALLS`): a
//! route that starts making a call it does not need, or waiting for one
//! more round trip, fails here. `cargo xtask bench` publishes the table.

use xtask::calls;
use xtask::stack::StackInfo;
use xtask::template::Template;

/// The authenticated reads of one item: the token's standing, the per-user
/// budget and the item come back in one round trip.
const SINGLE_ITEM_READS: [&str; 4] = ["me", "get-cart", "get-upload", "get-job"];

#[tokio::test]
async fn every_route_stays_within_its_aws_call_and_round_trip_budget() {
    let stack = StackInfo::from_env().unwrap();
    let seen = calls::per_route(&stack).await.unwrap();
    let mut over = Vec::new();
    for route in &seen {
        println!(
            "{:<16} {:>2} calls in {} round trip(s)  {}",
            route.binary,
            route.calls.len(),
            route.round_trips,
            route.calls.join(" ")
        );
        if route.over_budget() {
            over.push(format!(
                "{}: {} calls {:?} in {} round trips, budget {} in {} ({}{})",
                route.binary,
                route.calls.len(),
                route.calls,
                route.round_trips,
                route.budget.total(),
                route.budget.total_round_trips(),
                if route.budget.authenticated() {
                    "the caller's check, "
                } else {
                    ""
                },
                route.budget.what
            ));
        }
        if route.read_only {
            assert!(
                route.writes().is_empty(),
                "{} is declared READ_ONLY (it answers alongside the caller's check) but writes: {:?}",
                route.binary,
                route.writes()
            );
        }
    }
    assert!(over.is_empty(), "over budget:\n{}", over.join("\n"));

    for binary in SINGLE_ITEM_READS {
        let route = seen.iter().find(|r| r.binary == binary).unwrap();
        assert!(
            route.read_only,
            "{binary} should answer alongside the check"
        );
        assert_eq!(
            (route.calls.len(), route.round_trips),
            (3, 1),
            "{binary}: the standing, the budget and the item, at once: {:?}",
            route.calls
        );
    }

    // Every route of the template is measured.
    let template = Template::load(&xtask::workspace_root().join("template.yaml")).unwrap();
    let mut routes: Vec<String> = template
        .functions()
        .unwrap()
        .into_iter()
        .filter(|f| !f.routes.is_empty())
        .map(|f| f.binary)
        .collect();
    routes.sort();
    let mut measured: Vec<String> = seen.iter().map(|r| r.binary.clone()).collect();
    measured.sort();
    assert_eq!(measured, routes);
}
