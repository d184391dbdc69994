//! The project's own structure, checked: template, router, binaries, sample
//! events and IAM agree with each other and with least privilege, and the template
//! keeps its hardening (log retention, TLS only, protected lasting tables).

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
