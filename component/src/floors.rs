//! The floors hold: a front door (`tools`, `admin`, `intake`, `console`) names only the services and
//! the shared kernel (`error`, `host`, and `testing` in tests), never the infrastructure
//! below the services. Checked on the source text, as a reviewer would grep it.

use std::path::{Path, PathBuf};

/// What a front door may name under `crate::` (`bindings` is the wasm glue above them).
const ALLOWED: [&str; 6] = ["services", "tools", "error", "host", "bindings", "testing"];

/// The first path segment of every `crate::` path in `text`, grouped imports included.
fn crate_modules(text: &str) -> Vec<&str> {
    let ident = |s: &str| -> usize {
        s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len())
    };
    let mut out = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            out.push(&rest[..ident(rest)]);
            continue;
        };
        // `crate::{a::{b, c}, d}`: the first segment of each item at the top level.
        let (mut depth, mut item_start) = (0, 0);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => item_start = i + 1,
                _ => {}
            }
            if i == item_start {
                let item = group[i..].trim_start();
                if !item.is_empty() {
                    out.push(&item[..ident(item)]);
                }
            }
        }
    }
    out.into_iter().filter(|m| !m.is_empty()).collect()
}

/// The front doors' own files: tools/ (but its test modules, which may set fixtures up
/// below the services), admin.rs, intake.rs, console.rs.
fn front_doors() -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: Vec<PathBuf> = std::fs::read_dir(src.join("tools"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".rs") && !name.ends_with("tests.rs")
        })
        .collect();
    files.extend([
        src.join("admin.rs"),
        src.join("intake.rs"),
        src.join("console.rs"),
    ]);
    files.sort();
    files
}

#[test]
fn front_doors_name_only_the_services_and_the_kernel() {
    let doors = front_doors();
    assert!(doors.len() > 10, "the doors were found: {doors:?}");
    for file in doors {
        let text = std::fs::read_to_string(&file).unwrap();
        for module in crate_modules(&text) {
            assert!(
                ALLOWED.contains(&module),
                "{} names crate::{module}: ask a service instead",
                file.display()
            );
        }
    }
}

#[test]
fn grouped_and_nested_imports_are_read() {
    let text = "use crate::{cache::{self, Cache}, kv};\nlet x = crate::merge::merge(a, b);\n\
                use $crate::tools::Tool; use crate::{ services };";
    assert_eq!(
        crate_modules(text),
        ["cache", "kv", "merge", "tools", "services"]
    );
}
