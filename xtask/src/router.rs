//! The router of `cargo lambda watch`, in the root `Cargo.toml`
//! (`[workspace.metadata.lambda.watch.router]`), written from the
//! template's `HttpApi` events by `cargo xtask routes` (and by `cargo xtask
//! dev` before it starts): never edited by hand, and a structure test fails
//! when it is not what the template makes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::template::{Route, Template};

const HEADER: &str = "[workspace.metadata.lambda.watch.router]";
const INTRO: &str = "\
# Routes served by `cargo lambda watch`: the HttpApi events of template.yaml,
# written by `cargo xtask routes`. Do not edit by hand.
";
const END: &str = "# End of the routes written by `cargo xtask routes`.\n";

/// The router block for `routes` (route, function), comments included.
pub fn render(routes: &BTreeSet<(Route, String)>) -> String {
    let mut by_path: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (route, function) in routes {
        by_path
            .entry(route.path.as_str())
            .or_default()
            .push((route.method.as_str(), function.as_str()));
    }
    let mut block = format!("{INTRO}{HEADER}\n");
    for (path, entries) in by_path {
        let entry = |(method, function): &(&str, &str)| {
            format!("{{ method = \"{method}\", function = \"{function}\" }}")
        };
        match entries.as_slice() {
            [only] => {
                let _ = writeln!(block, "\"{path}\" = [{}]", entry(only));
            }
            many => {
                let _ = writeln!(block, "\"{path}\" = [");
                for one in many {
                    let _ = writeln!(block, "  {},", entry(one));
                }
                let _ = writeln!(block, "]");
            }
        }
    }
    block.push_str(END);
    block
}

/// `manifest` (a `Cargo.toml`'s text) with its router block replaced by
/// `block`; an error if it has no block where one is expected.
pub fn replace_block(manifest: &str, block: &str) -> Result<String> {
    let start = manifest
        .find(INTRO)
        .with_context(|| format!("Cargo.toml lacks the router's opening comment:\n{INTRO}"))?;
    let end = manifest[start..]
        .find(END)
        .map(|at| start + at + END.len())
        .with_context(|| format!("Cargo.toml lacks the router's closing comment: {END}"))?;
    Ok(format!("{}{block}{}", &manifest[..start], &manifest[end..]))
}

/// What the router of `root/Cargo.toml` should read: `(current, wanted)`.
fn manifest_and_wanted(root: &Path) -> Result<(String, String)> {
    let template = Template::load(&root.join("template.yaml"))?;
    let routes = crate::checks::template_routes(&template)?;
    let path = root.join("Cargo.toml");
    let manifest =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let wanted = replace_block(&manifest, &render(&routes))?;
    Ok((manifest, wanted))
}

/// Writes the router of `root/Cargo.toml` from the template; whether it changed.
pub fn write(root: &Path) -> Result<bool> {
    let (manifest, wanted) = manifest_and_wanted(root)?;
    if manifest == wanted {
        return Ok(false);
    }
    std::fs::write(root.join("Cargo.toml"), wanted)?;
    Ok(true)
}

/// An error naming the fix when `root/Cargo.toml`'s router is not what the
/// template makes.
pub fn check(root: &Path) -> Result<()> {
    let (manifest, wanted) = manifest_and_wanted(root)?;
    if manifest != wanted {
        bail!("the router in Cargo.toml is not the template's routes: run `cargo xtask routes`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str, function: &str) -> (Route, String) {
        let route = Route {
            method: method.into(),
            path: path.into(),
        };
        (route, function.into())
    }

    #[test]
    fn one_route_a_line_and_several_methods_a_list() {
        let routes = BTreeSet::from([
            route("GET", "/cart", "get-cart"),
            route("PUT", "/cart", "put-cart"),
            route("GET", "/health", "health"),
        ]);
        let block = render(&routes);
        assert!(block.starts_with(INTRO));
        assert!(block.contains(
            "\"/cart\" = [\n  { method = \"GET\", function = \"get-cart\" },\n  \
             { method = \"PUT\", function = \"put-cart\" },\n]\n"
        ));
        assert!(block.contains("\"/health\" = [{ method = \"GET\", function = \"health\" }]\n"));
        assert!(block.ends_with(END));
    }

    #[test]
    fn only_the_block_is_replaced() {
        let manifest =
            format!("[workspace]\n\n{INTRO}{HEADER}\n\"/old\" = \"old\"\n{END}\n[profile.dev]\n");
        let replaced = replace_block(&manifest, "NEW\n").map_err(|e| e.to_string());
        assert_eq!(
            replaced,
            Ok("[workspace]\n\nNEW\n\n[profile.dev]\n".to_string())
        );
        assert!(replace_block("[workspace]\n", "NEW\n").is_err());
    }
}
