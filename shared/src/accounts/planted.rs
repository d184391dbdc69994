//! A deliberate bug, compiled only with the test-only feature
//! `planted-tmp-session-cache` (never in a function the template deploys):
//! a session once found valid is remembered in a file under the temporary
//! folder and trusted from then on without asking the store. A logout on
//! another instance goes unseen, and the file outlives the call. The
//! statelessness suite must catch it (`xtask/tests/devtool/stateless.rs`).

use std::path::PathBuf;

use super::tokens::AccessClaims;

fn entry(claims: &AccessClaims) -> PathBuf {
    std::env::temp_dir()
        .join("planted-session-cache")
        .join(claims.sid.as_str())
}

/// Whether this session was found valid before.
pub(crate) fn remembered(claims: &AccessClaims) -> bool {
    entry(claims).exists()
}

/// Remembers that this session was valid.
pub(crate) fn remember(claims: &AccessClaims) {
    let entry = entry(claims);
    if let Some(folder) = entry.parent() {
        let _ = std::fs::create_dir_all(folder);
    }
    let _ = std::fs::write(entry, b"valid");
}
