//! The project's own structure, checked: template, router, binaries, sample
//! events and IAM agree with each other and with least privilege, the template
//! keeps its hardening (log retention, TLS only, protected lasting tables),
//! and every function is traced and watched by the alarms an operator needs.

use xtask::checks;
use xtask::template::Template;

fn template() -> Template {
    Template::load(&xtask::workspace_root().join("template.yaml")).expect("template.yaml parses")
}

#[test]
fn the_router_holds_exactly_the_template_routes() {
    let root = xtask::workspace_root();
    let template_routes = checks::template_routes(&template()).unwrap();
    assert!(
        !template_routes.is_empty(),
        "the template has no HttpApi route"
    );
    let problems =
        checks::router_mismatches(&template_routes, &checks::router_routes(&root).unwrap());
    assert!(problems.is_empty(), "{problems:#?}");
    // And it reads exactly as `cargo xtask routes` writes it.
    xtask::router::check(&root).unwrap();
}

#[test]
fn every_template_function_has_a_binary_and_every_binary_a_function() {
    let problems = checks::binary_mismatches(&template(), &xtask::workspace_root()).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_function_has_sample_events() {
    let problems = checks::event_mismatches(&template(), &xtask::workspace_root()).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn no_iam_policy_grants_wildcards() {
    let problems = checks::iam_violations(&template()).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn only_the_functions_that_post_or_close_may_manage_this_apis_connections() {
    let problems = checks::manage_connections_violations(&template()).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    // The functions that post or close are exactly these.
    let managers: Vec<String> = template()
        .functions()
        .unwrap()
        .into_iter()
        .filter(|f| {
            f.environment
                .contains_key(checks::MANAGEMENT_ENDPOINT_VARIABLE)
        })
        .map(|f| f.binary)
        .collect();
    assert_eq!(
        managers,
        ["delete-session", "logout-all", "logout", "realtime-publish"],
        "by logical id"
    );
}

#[test]
fn every_websocket_route_has_its_function_and_sample_events() {
    let root = xtask::workspace_root();
    let routes = template().socket_routes().unwrap();
    assert!(routes.len() >= 7, "{routes:?}");
    for route in routes {
        assert!(
            !checks::event_files(&root, &route.binary)
                .unwrap()
                .is_empty(),
            "{}: no sample event",
            route.route_key
        );
        let main = std::fs::read_to_string(
            root.join("functions")
                .join(&route.binary)
                .join("src/main.rs"),
        )
        .unwrap();
        assert!(
            main.contains("shared::realtime::socket::run::<"),
            "{}",
            route.binary
        );
    }
}

#[test]
fn every_function_and_the_api_log_to_a_group_with_a_retention() {
    let problems = checks::log_retention_violations(&template());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_bucket_and_queue_refuses_requests_without_tls() {
    let problems = checks::tls_violations(&template());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_queue_is_encrypted_at_rest() {
    let problems = checks::queue_encryption_violations(&template());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_table_of_lasting_data_outlives_the_stack() {
    let problems = checks::table_protection_violations(&template(), checks::EPHEMERAL_TABLES);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_function_writes_its_metrics_in_the_stacks_namespace_and_is_traced() {
    let template = template();
    let mut problems = checks::metrics_namespace_violations(&template).unwrap();
    problems.extend(checks::tracing_violations(&template).unwrap());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_alarm_notifies_the_alarm_topic_and_says_what_to_do() {
    let template = template();
    assert!(
        template.ids_of_kind("AWS::CloudWatch::Alarm").count() > 0,
        "the template has no alarm"
    );
    let problems = checks::alarm_notification_violations(&template);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_dead_letter_queue_has_a_depth_alarm() {
    let template = template();
    assert!(
        !checks::dead_letter_queues(&template).is_empty(),
        "the template redrives into no queue"
    );
    let problems = checks::dead_letter_alarm_violations(&template);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_authenticated_route_has_a_p99_latency_alarm() {
    let template = template();
    let authenticated = checks::authenticated_binaries(&xtask::workspace_root()).unwrap();
    assert!(authenticated.len() > 10, "{authenticated:?}");
    // Behind the bearer check, which reads the deny-list.
    for function in template.functions().unwrap() {
        if authenticated.contains(&function.binary) {
            assert!(
                function.environment.contains_key("REVOKED_TOKENS_TABLE"),
                "{}: authenticated, but without REVOKED_TOKENS_TABLE",
                function.logical_id
            );
        }
    }
    let problems = checks::latency_alarm_violations(&template, &authenticated).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_authenticated_route_reads_its_roles_and_nothing_else_of_the_users_table() {
    let template = template();
    let authenticated = checks::authenticated_binaries(&xtask::workspace_root()).unwrap();
    let problems = checks::role_read_violations(&template, &authenticated).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_apis_cors_takes_exactly_the_routes_methods_and_headers() {
    let spec = xtask::openapi::load(&xtask::workspace_root()).unwrap();
    let template = template();
    let problems = checks::cors_violations(&template, &spec).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    // The guard sees a method dropped and a header added.
    let text = std::fs::read_to_string(xtask::workspace_root().join("template.yaml")).unwrap();
    let changed = text
        .replace(
            "AllowMethods: [DELETE, GET, POST, PUT]",
            "AllowMethods: [GET, POST, PUT]",
        )
        .replace(
            "AllowHeaders: [authorization,",
            "AllowHeaders: [x-extra, authorization,",
        );
    let problems = checks::cors_violations(&Template::parse(&changed).unwrap(), &spec).unwrap();
    assert_eq!(problems.len(), 2, "{problems:#?}");
}

#[test]
fn every_function_has_a_throttle_alarm() {
    let problems = checks::throttle_alarm_violations(&template()).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn a_job_given_up_raises_the_jobs_failed_alarm() {
    let problems = checks::jobs_failed_alarm_violations(&template()).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_function_deploys_on_arm64_unless_a_local_run_says_otherwise() {
    let problems = checks::architecture_violations(&template()).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    // The guard sees a function pinned to x86-64 and a default changed.
    let text = std::fs::read_to_string(xtask::workspace_root().join("template.yaml")).unwrap();
    for broken in [
        text.replacen(
            "Architectures: [!Ref Architecture]",
            "Architectures: [x86_64]",
            1,
        ),
        text.replacen("Default: arm64", "Default: x86_64", 1),
    ] {
        assert_ne!(broken, text);
        let template = Template::parse(&broken).unwrap();
        assert!(
            !checks::architecture_violations(&template)
                .unwrap()
                .is_empty()
        );
    }
}

#[test]
fn every_function_is_built_for_lambda_by_cargo_lambda() {
    let template = template();
    for function in template.functions().unwrap() {
        let resource = template.resource(&function.logical_id).unwrap();
        assert_eq!(
            resource
                .metadata
                .get("BuildMethod")
                .and_then(|m| m.as_str()),
            Some("rust-cargolambda"),
            "{}: sam build needs Metadata.BuildMethod rust-cargolambda",
            function.logical_id
        );
    }
}

#[test]
fn only_the_token_minting_functions_and_the_rotation_can_read_the_signing_key() {
    let template = template();
    for function in template.functions().unwrap() {
        let policies = function.policies.to_string();
        let reads_secret = policies.contains("secretsmanager:")
            || function.environment.contains_key("SIGNING_KEY_SECRET_ARN");
        let mints = ["login", "refresh"].contains(&function.binary.as_str());
        let rotates = function.binary == "rotate-keys";
        assert_eq!(
            reads_secret,
            mints || rotates,
            "{}: only login, refresh and the rotation may read the signing key",
            function.logical_id
        );
        assert_eq!(
            policies.contains("secretsmanager:PutSecretValue"),
            rotates,
            "{}: only the rotation may write it",
            function.logical_id
        );
    }
}

#[test]
fn no_module_of_the_service_or_the_dev_tool_imports_in_a_circle() {
    let root = xtask::workspace_root();
    for src in ["shared/src", "xtask/src"] {
        let graph = xtask::imports::graph(&root.join(src)).unwrap();
        assert!(graph.len() > 10, "{src}: the modules were not found");
        let circles = xtask::imports::circles(&graph);
        assert!(circles.is_empty(), "{src}: import circles: {circles:#?}");
    }
}

#[test]
fn no_file_of_shared_is_over_400_lines_and_no_source_cites_a_file_outside_the_repository() {
    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let root = xtask::workspace_root();
    let mut shared = Vec::new();
    files(&root.join("shared/src"), &mut shared);
    for file in &shared {
        let lines = std::fs::read_to_string(file).unwrap().lines().count();
        assert!(lines <= 400, "{}: {lines} lines", file.display());
    }
    let mut sources = shared;
    for dir in ["functions", "xtask/src", "xtask/tests", "shared/benches"] {
        files(&root.join(dir), &mut sources);
    }
    for file in sources
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
    {
        let text = std::fs::read_to_string(file).unwrap();
        // Spelled in pieces, so that this file does not cite them itself.
        let outside = ["API", "DESIGN", "STYLE"].map(|name| format!("{name}.md"));
        let beside = format!("{}/shared/", "..");
        for outside in outside.iter().chain([&beside]) {
            assert!(
                !text.contains(outside),
                "{} cites {outside}, which is not in the repository",
                file.display()
            );
        }
    }
}

/// A copy of the tree's sources (no build output, tools or history),
/// removed when dropped, even when the test fails.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn copy_of(root: &std::path::Path) -> Self {
        fn copy(from: &std::path::Path, to: &std::path::Path) {
            std::fs::create_dir_all(to).unwrap();
            for entry in std::fs::read_dir(from).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name();
                if [".git", ".tools", ".aws-sam", "target", "node_modules"]
                    .contains(&name.to_string_lossy().as_ref())
                {
                    continue;
                }
                let (from, to) = (entry.path(), to.join(&name));
                if entry.file_type().unwrap().is_dir() {
                    copy(&from, &to);
                } else {
                    std::fs::copy(&from, &to).unwrap();
                }
            }
        }
        let dir = std::env::temp_dir().join(format!("add-a-route-{}", shared::ids::new_id()));
        copy(root, &dir);
        Self(dir)
    }

    fn write(&self, file: &str, text: &str) {
        let path = self.0.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Puts `text` right after the line `anchor` of `file`.
    fn insert_after(&self, file: &str, anchor: &str, text: &str) {
        let old = std::fs::read_to_string(self.0.join(file)).unwrap();
        let at = old
            .find(&format!("\n{anchor}\n"))
            .unwrap_or_else(|| panic!("{file} has no line {anchor:?}"))
            + anchor.len()
            + 2;
        self.write(file, &format!("{}{text}{}", &old[..at], &old[at..]));
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The code blocks of the README's "Adding a route", by the file each names
/// (` ```rust shared/src/greeting.rs `).
fn readme_route_blocks() -> std::collections::BTreeMap<String, String> {
    let readme = std::fs::read_to_string(xtask::workspace_root().join("README.md")).unwrap();
    let section = readme
        .split("\n### Adding a route\n")
        .nth(1)
        .expect("the README has an \"Adding a route\" section");
    let section = section.split("\n### ").next().unwrap();
    let mut blocks = std::collections::BTreeMap::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let file = info
            .split_whitespace()
            .nth(1)
            .expect("a block names its file");
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        blocks.insert(file.to_string(), format!("{}\n", body.join("\n")));
    }
    blocks
}

#[test]
fn a_route_added_in_the_four_places_of_the_readme_passes_every_static_guard() {
    let blocks = readme_route_blocks();
    let block = |file: &str| {
        blocks
            .get(file)
            .unwrap_or_else(|| panic!("the README shows no block for {file}"))
    };
    let tree = Scratch::copy_of(&xtask::workspace_root());
    let root = &tree.0;
    let template = || Template::load(&root.join("template.yaml")).unwrap();

    // 1. The route in `shared`.
    tree.write("shared/src/greeting.rs", block("shared/src/greeting.rs"));
    tree.insert_after(
        "shared/src/lib.rs",
        "pub mod config;",
        block("shared/src/lib.rs"),
    );
    // 2. Its function: the registry reads it, as `build.rs` does.
    for file in [
        "functions/greeting/Cargo.toml",
        "functions/greeting/src/main.rs",
    ] {
        tree.write(file, block(file));
    }
    let mains = xtask::function_mains::read(root).unwrap();
    let greeting = mains.iter().find(|m| m.binary == "greeting").unwrap();
    assert_eq!(greeting.kind, xtask::function_mains::Kind::Route);
    assert_eq!(greeting.handler, "Authenticated < Greeting >");
    // A function the template lacks is caught.
    assert_eq!(
        checks::binary_mismatches(&template(), root).unwrap(),
        ["binary greeting is not a function in template.yaml"]
    );
    // 3. Its block in the template, and its sample event.
    tree.insert_after("template.yaml", "Resources:", block("template.yaml"));
    let sample = std::fs::read_to_string(root.join("events/me/bearer.json")).unwrap();
    tree.write(
        "events/greeting/bearer.json",
        &sample
            .replace("\"/me\"", "\"/greeting\"")
            .replace("GET /me", "GET /greeting"),
    );
    // A route the spec lacks is caught.
    let deployed: std::collections::BTreeSet<_> = checks::template_routes(&template())
        .unwrap()
        .into_iter()
        .map(|(route, _)| route)
        .collect();
    let described =
        |root: &std::path::Path| xtask::openapi::routes(&xtask::openapi::load(root).unwrap());
    assert_ne!(described(root), deployed);
    // 4. Its entry in the contract.
    tree.insert_after(
        "shared/openapi.yaml",
        "paths:",
        block("shared/openapi.yaml"),
    );
    assert_eq!(described(root), deployed);

    // Derived: the router, written as `cargo xtask routes` writes it.
    assert!(xtask::router::check(root).is_err(), "the router was stale");
    assert!(xtask::router::write(root).unwrap());
    xtask::router::check(root).unwrap();

    let template = template();
    let mut problems = checks::router_mismatches(
        &checks::template_routes(&template).unwrap(),
        &checks::router_routes(root).unwrap(),
    );
    problems.extend(checks::binary_mismatches(&template, root).unwrap());
    problems.extend(checks::event_mismatches(&template, root).unwrap());
    problems.extend(checks::iam_violations(&template).unwrap());
    problems.extend(checks::manage_connections_violations(&template).unwrap());
    problems.extend(checks::log_retention_violations(&template));
    problems.extend(checks::tls_violations(&template));
    problems.extend(checks::queue_encryption_violations(&template));
    problems.extend(checks::table_protection_violations(
        &template,
        checks::EPHEMERAL_TABLES,
    ));
    problems.extend(checks::metrics_namespace_violations(&template).unwrap());
    problems.extend(checks::tracing_violations(&template).unwrap());
    problems.extend(checks::alarm_notification_violations(&template));
    problems.extend(checks::dead_letter_alarm_violations(&template));
    let authenticated = checks::authenticated_binaries(root).unwrap();
    assert!(authenticated.contains("greeting"));
    problems.extend(checks::latency_alarm_violations(&template, &authenticated).unwrap());
    problems.extend(checks::role_read_violations(&template, &authenticated).unwrap());
    problems.extend(checks::throttle_alarm_violations(&template).unwrap());
    problems.extend(checks::jobs_failed_alarm_violations(&template).unwrap());
    problems.extend(checks::architecture_violations(&template).unwrap());
    let spec = xtask::openapi::load(root).unwrap();
    problems.extend(checks::cors_violations(&template, &spec).unwrap());
    let graph = xtask::imports::graph(&root.join("shared/src")).unwrap();
    problems.extend(
        xtask::imports::circles(&graph)
            .into_iter()
            .map(|circle| format!("import circle {circle:?}")),
    );
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        template
            .functions()
            .unwrap()
            .iter()
            .any(|f| f.binary == "greeting"),
        "the route is deployed"
    );
}
