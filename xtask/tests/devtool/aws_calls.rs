//! Every route's AWS calls on its happy path, counted by an SDK interceptor
//! (`xtask::calls`), against the budget it declares (`Route::CALLS`): a route that starts making a call
//! it does not need fails here. `cargo xtask bench` publishes the table.

use xtask::calls;
use xtask::stack::StackInfo;
use xtask::template::Template;

#[tokio::test]
async fn every_route_stays_within_its_aws_call_budget() {
    let stack = StackInfo::from_env().unwrap();
    let seen = calls::per_route(&stack).await.unwrap();
    let mut over = Vec::new();
    for route in &seen {
        println!(
            "{:<16} {:>2}  {}",
            route.binary,
            route.calls.len(),
            route.calls.join(" ")
        );
        if route.over_budget() {
            over.push(format!(
                "{}: {} calls {:?}, budget {} ({}{})",
                route.binary,
                route.calls.len(),
                route.calls,
                route.budget.total(),
                if route.budget.authenticated {
                    "the caller's check, "
                } else {
                    ""
                },
                route.budget.what
            ));
        }
    }
    assert!(over.is_empty(), "over budget:\n{}", over.join("\n"));

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
