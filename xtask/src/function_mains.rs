//! What each function serves, read from its one-line `main`
//! (`functions/<binary>/src/main.rs`): `shared::route::run::<R>()` serves
//! route `R`, `shared::sqs_batch::run::<C>()` consumes a queue with `C`,
//! `shared::realtime::socket::run::<W>()` serves WebSocket route `W`.
//!
//! The dev tool's handler registry is generated from this by `build.rs`,
//! so a new function is known to the sample-event test, the call budget
//! and the bench without a line written for it here.

use std::fmt::Write as _;
use std::path::Path;

use quote::ToTokens;
use syn::visit::Visit;

/// How a function is invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An HTTP API route (`shared::route::run`).
    Route,
    /// A queue's consumer (`shared::sqs_batch::run`).
    Consumer,
    /// A WebSocket API route (`shared::realtime::socket::run`).
    Socket,
}

/// One function's `main`, as far as the registry needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionMain {
    /// The binary (the function's folder).
    pub binary: String,
    /// Route or consumer.
    pub kind: Kind,
    /// The `use` items of `main.rs`, as source, for the handler type's names.
    pub uses: Vec<String>,
    /// The handler type given to `run`, as source (e.g. `Authenticated < Me >`).
    pub handler: String,
}

/// Every function under `root/functions`, by binary name.
pub fn read(root: &Path) -> Result<Vec<FunctionMain>, String> {
    let folder = root.join("functions");
    let entries =
        std::fs::read_dir(&folder).map_err(|error| format!("{}: {error}", folder.display()))?;
    let mut binaries = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| format!("{}: {error}", folder.display()))?;
        if entry.path().join("Cargo.toml").is_file() {
            binaries.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    binaries.sort();
    binaries
        .iter()
        .map(|binary| {
            let path = folder.join(binary).join("src").join("main.rs");
            let source = std::fs::read_to_string(&path)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            parse(binary, &source).map_err(|error| format!("{}: {error}", path.display()))
        })
        .collect()
}

/// What `source`, the `main.rs` of `binary`, serves.
pub fn parse(binary: &str, source: &str) -> Result<FunctionMain, String> {
    let file = syn::parse_file(source).map_err(|error| error.to_string())?;
    let uses = file
        .items
        .iter()
        .filter(|item| matches!(item, syn::Item::Use(_)))
        .map(|item| item.to_token_stream().to_string())
        .collect();
    let main = file
        .items
        .iter()
        .find_map(|item| match item {
            syn::Item::Fn(function) if function.sig.ident == "main" => Some(function),
            _ => None,
        })
        .ok_or("no `fn main`")?;
    let mut runs = RunCalls::default();
    runs.visit_item_fn(main);
    match runs.found.as_slice() {
        [(kind, handler)] => Ok(FunctionMain {
            binary: binary.to_string(),
            kind: *kind,
            uses,
            handler: handler.clone(),
        }),
        _ => Err("`main` must call `shared::route::run::<Route>()`, \
             `shared::sqs_batch::run::<Consumer>()` or \
             `shared::realtime::socket::run::<SocketRoute>()` exactly once"
            .to_string()),
    }
}

/// The `run::<T>()` calls of a function body.
#[derive(Default)]
struct RunCalls {
    found: Vec<(Kind, String)>,
}

impl<'ast> Visit<'ast> for RunCalls {
    fn visit_expr_path(&mut self, expr: &'ast syn::ExprPath) {
        let names: Vec<String> = expr
            .path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        let kind = match names.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["shared", "route", "run"] => Some(Kind::Route),
            ["shared", "sqs_batch", "run"] => Some(Kind::Consumer),
            ["shared", "realtime", "socket", "run"] => Some(Kind::Socket),
            _ => None,
        };
        let handler = expr
            .path
            .segments
            .last()
            .and_then(|last| match &last.arguments {
                syn::PathArguments::AngleBracketed(arguments) if arguments.args.len() == 1 => {
                    arguments
                        .args
                        .first()
                        .map(|a| a.to_token_stream().to_string())
                }
                _ => None,
            });
        if let (Some(kind), Some(handler)) = (kind, handler) {
            self.found.push((kind, handler));
        }
        syn::visit::visit_expr_path(self, expr);
    }
}

/// The registry's source: `build_handler(binary, env, aws)` with one arm per
/// function, each naming its handler type with `main.rs`'s own `use`s.
pub fn registry_source(mains: &[FunctionMain]) -> String {
    let mut source = String::from(
        "// Generated by xtask/build.rs from functions/*/src/main.rs: do not edit.\n\n\
         /// The handler of function `binary`, built as its `main` builds it;\n\
         /// `None` for a binary that is not a function.\n\
         pub(crate) async fn build_handler(\n    \
             binary: &str,\n    \
             env: &shared::config::Environment,\n    \
             aws: &shared::aws::AwsClients,\n\
         ) -> Result<Option<Handler>, shared::startup::StartupError> {\n    \
             match binary {\n",
    );
    for main in mains {
        let constructor = match main.kind {
            Kind::Route => "route",
            Kind::Consumer => "consumer",
            Kind::Socket => "socket",
        };
        let _ = writeln!(source, "        {:?} => {{", main.binary);
        for item in &main.uses {
            let _ = writeln!(source, "            {item}");
        }
        let _ = writeln!(
            source,
            "            Ok(Some(Handler::{constructor}::<{}>(env, aws).await?))\n        }}",
            main.handler
        );
    }
    source.push_str("        _ => Ok(None),\n    }\n}\n");
    source
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_behind_authentication_is_read_with_its_uses() {
        let source = "//! doc\nuse shared::things::Things;\nuse shared::route::Authenticated;\n\n\
            #[tokio::main(flavor = \"current_thread\")]\n\
            async fn main() -> Result<(), shared::http::LambdaError> {\n    \
            shared::route::run::<Authenticated<Things>>().await\n}\n";
        let main = parse("list-things", source).map_err(|e| e.to_string());
        assert_eq!(
            main,
            Ok(FunctionMain {
                binary: "list-things".into(),
                kind: Kind::Route,
                uses: vec![
                    "use shared :: things :: Things ;".into(),
                    "use shared :: route :: Authenticated ;".into()
                ],
                handler: "Authenticated < Things >".into(),
            })
        );
    }

    #[test]
    fn a_consumer_is_read_as_one() {
        let source = "async fn main() -> R { shared::sqs_batch::run::<Worker>().await }";
        assert_eq!(
            parse("worker", source).map(|m| (m.kind, m.handler)),
            Ok((Kind::Consumer, "Worker".to_string()))
        );
    }

    #[test]
    fn a_websocket_route_is_read_as_one() {
        let source = "async fn main() -> R { shared::realtime::socket::run::<Ping>().await }";
        assert_eq!(
            parse("realtime-ping", source).map(|m| (m.kind, m.handler)),
            Ok((Kind::Socket, "Ping".to_string()))
        );
    }

    #[test]
    fn a_main_that_serves_nothing_known_is_refused() {
        for source in [
            "async fn main() { lambda_http::run(handler).await }",
            "async fn main() { shared::route::run::<A>().await; shared::route::run::<B>().await }",
            "fn not_main() {}",
        ] {
            assert!(parse("x", source).is_err(), "{source}");
        }
    }
}
