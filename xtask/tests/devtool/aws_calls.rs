//! Every route's AWS calls on its happy path, counted by an SDK interceptor
//! (`xtask::calls`), against its budget: a route that starts making a call
//! it does not need fails here. `cargo xtask bench` publishes the table.

use xtask::calls::{self, BUDGETS};
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
        let budget = BUDGETS
            .iter()
            .find(|b| b.binary == route.binary)
            .unwrap_or_else(|| panic!("{} has no budget in xtask::calls::BUDGETS", route.binary));
        if route.calls.len() > budget.calls {
            over.push(format!(
                "{}: {} calls {:?}, budget {} ({})",
                route.binary,
                route.calls.len(),
                route.calls,
                budget.calls,
                budget.why
            ));
        }
    }
    assert!(over.is_empty(), "over budget:\n{}", over.join("\n"));

    // Every route of the template is measured, and every budget is a route's.
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
    let mut budgeted: Vec<String> = BUDGETS.iter().map(|b| b.binary.to_string()).collect();
    budgeted.sort();
    assert_eq!(budgeted, routes);
}
