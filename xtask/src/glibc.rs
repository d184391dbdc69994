//! The newest glibc symbol version a function binary needs, read from its
//! ELF version-needs (`.gnu.version_r`): Lambda's `provided.al2023` has
//! glibc 2.34, so a binary that needs a newer symbol does not start there.

use std::path::Path;

use anyhow::{Context, Result};
use object::read::elf::{ElfFile64, FileHeader};

/// Amazon Linux 2023's glibc.
pub const AL2023: (u32, u32) = (2, 34);

/// The newest `GLIBC_x.y` the binary at `path` needs, if it needs any.
pub fn newest_version(path: &Path) -> Result<Option<(u32, u32)>> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    newest_in(&data).with_context(|| format!("reading the ELF of {}", path.display()))
}

/// [`newest_version`] of an ELF image in memory.
pub fn newest_in(data: &[u8]) -> Result<Option<(u32, u32)>> {
    let elf = ElfFile64::<object::Endianness>::parse(data)?;
    let endian = elf.endian();
    let sections = elf.elf_header().sections(endian, data)?;
    let mut newest = None;
    let Some((mut needs, link)) = sections.gnu_verneed(endian, data)? else {
        return Ok(None);
    };
    let strings = sections.strings(endian, data, link)?;
    while let Some((_, mut auxes)) = needs.next()? {
        while let Some(aux) = auxes.next()? {
            let name = String::from_utf8_lossy(aux.name(endian, strings)?);
            if let Some(version) = parse(&name) {
                newest = newest.max(Some(version));
            }
        }
    }
    Ok(newest)
}

/// `GLIBC_2.34` as (2, 34); `GLIBC_PRIVATE` and other names as nothing.
fn parse(name: &str) -> Option<(u32, u32)> {
    let mut parts = name.strip_prefix("GLIBC_")?.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert_eq!(parse("GLIBC_2.34"), Some((2, 34)));
        assert_eq!(parse("GLIBC_2.3.4").map(|v| v.1), Some(3));
        assert_eq!(parse("GLIBC_2.4"), Some((2, 4)));
        assert!(parse("GLIBC_2.4") < parse("GLIBC_2.34"));
        assert_eq!(parse("GLIBC_PRIVATE"), None);
        assert_eq!(parse("GCC_3.0"), None);
    }

    #[test]
    fn this_test_binary_needs_some_glibc() {
        // The test binary links glibc like every function: the reader finds it.
        let me = std::env::current_exe().unwrap();
        let newest = newest_version(&me).unwrap();
        assert!(newest.is_some_and(|v| v >= (2, 2)), "{newest:?}");
    }
}
