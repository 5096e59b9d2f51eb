//! Lists kept by hand must not drift from what they list (rust-analyzer's tidy tests): the
//! scenario names `conformance_tests!` expands against `SCENARIOS`, the fuzz targets
//! against their fuzz crates' manifests, the code map of docs/ARCHITECTURE.md against the
//! tree, and the binary naming no provider.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn conformance_tests_expand_every_scenario() {
    let names: BTreeSet<String> = bank_conformance::SCENARIOS
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    let lib = read("crates/bank-conformance/src/lib.rs");
    let list = lib
        .split("@each $driver;")
        .nth(1)
        .and_then(|rest| rest.split(");").next())
        .expect("the scenario list of conformance_tests!");
    let listed: BTreeSet<String> = list
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        listed, names,
        "conformance_tests! in bank-conformance/src/lib.rs must list exactly SCENARIOS"
    );
}

#[test]
fn every_fuzz_target_is_declared_and_every_declared_one_exists() {
    // Core's fuzz crate, and each provider's own (crates/<provider>/fuzz).
    let mut dirs = vec![root().join("fuzz")];
    for e in std::fs::read_dir(root().join("crates")).unwrap().flatten() {
        if e.path().join("fuzz/Cargo.toml").exists() {
            dirs.push(e.path().join("fuzz"));
        }
    }
    assert!(
        dirs.len() >= 4,
        "core and the three providers with parsers: {dirs:?}"
    );
    for dir in dirs {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let declared: BTreeSet<String> = manifest
            .lines()
            .filter_map(|l| l.trim().strip_prefix("path = \"fuzz_targets/"))
            .map(|p| p.trim_end_matches('"').trim_end_matches(".rs").to_string())
            .collect();
        let files: BTreeSet<String> = std::fs::read_dir(dir.join("fuzz_targets"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".rs"))
                    .map(str::to_string)
            })
            .collect();
        assert!(!files.is_empty(), "{}: no targets", dir.display());
        assert_eq!(
            declared,
            files,
            "{}: [[bin]] against fuzz_targets/",
            dir.display()
        );
    }
}

/// `a.rs,b/{c,d}` → `a.rs`, `b/{c,d}`.
fn split_outside_braces(token: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0);
    for c in token.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// The paths a code-map line names: `crates/bank-{a,b}/` expands to both.
fn expand(token: &str) -> Vec<String> {
    match (token.find('{'), token.find('}')) {
        (Some(a), Some(b)) if a < b => token[a + 1..b]
            .split(',')
            .flat_map(|part| expand(&format!("{}{}{}", &token[..a], part, &token[b + 1..])))
            .collect(),
        _ => vec![token.to_string()],
    }
}

#[test]
fn the_code_map_names_paths_that_exist_and_every_crate() {
    let doc = read("docs/ARCHITECTURE.md");
    let map = doc
        .split("## Code map")
        .nth(1)
        .and_then(|s| s.split("```").nth(1))
        .expect("a code block under ## Code map");
    let mut base = PathBuf::new();
    let mut missing = Vec::new();
    let mut named_crates = BTreeSet::new();
    for line in map.lines() {
        let Some(token) = line.split_whitespace().next() else {
            continue;
        };
        let looks_like_path =
            token.contains('/') || token.ends_with(".rs") || token.ends_with(".sql");
        if !looks_like_path {
            continue;
        }
        if !line.starts_with(' ') {
            // A top-level entry: relative to the repository.
            for p in expand(token.trim_end_matches(':')) {
                if !root().join(&p).exists() {
                    missing.push(p.clone());
                }
                if let Some(c) = p.strip_prefix("crates/") {
                    named_crates.insert(
                        c.trim_end_matches('/')
                            .split('/')
                            .next()
                            .unwrap_or("")
                            .to_string(),
                    );
                }
            }
            base = PathBuf::from(expand(token)[0].trim_end_matches('/'));
        } else if line.starts_with("  ") && !line.starts_with("   ") {
            // An entry of the crate above: in its directory or its src/.
            for piece in split_outside_braces(token) {
                for p in expand(&piece) {
                    let found = [
                        root().join(&base).join(&p),
                        root().join(&base).join("src").join(&p),
                    ]
                    .iter()
                    .any(|c| c.exists());
                    if !found {
                        missing.push(format!("{}/{p}", base.display()));
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the code map names paths that do not exist: {missing:?}"
    );
    let crates: BTreeSet<String> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    let unnamed: Vec<_> = crates.difference(&named_crates).collect();
    assert!(
        unnamed.is_empty(),
        "crates missing from the code map: {unnamed:?}"
    );
}

/// The binary reaches providers only through what is registered: it names none of them,
/// so a new provider needs no change in `bank-cli`.
#[test]
fn the_cli_names_no_provider() {
    let dir = root().join("crates/bank-cli/src");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for f in bank::registry::factories() {
            let module = f.name.replace('-', "_");
            for needle in [format!("\"{}\"", f.name), format!("bank::{module}")] {
                if text.contains(&needle) {
                    found.push(format!("{}: {needle}", path.display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "bank-cli names providers: {found:?}");
}
