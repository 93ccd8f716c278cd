//! Generates the typed facade (`adapters/facade`) from the component's tool catalog.
//!
//! Loaders such as wassette present each exported WIT function as a tool, with its
//! parameters as a JSON Schema and its doc comment as the description. The component's own
//! export is one generic `call-tool(name, json)`; the facade turns every MCP tool into a
//! function of its own:
//!
//! 1. [`model`] maps each tool's input schema onto WIT types (strings, integers, booleans,
//!    options, lists, enums; free-form JSON objects stay JSON text) and hides the tools and
//!    arguments that need a tenant, which the facade never presents;
//! 2. [`wit`] writes `adapters/facade/wit/facade.wit`, one function per tool whose doc
//!    comment is the tool's description;
//! 3. [`rust`] writes `adapters/facade/src/generated.rs`, each function turning its
//!    parameters back into the tool's JSON arguments for the imported `call-tool`;
//! 4. [`docs`] writes `compose/orderdesk-typed.package-docs.json`, the `package-docs`
//!    custom section (wit-parser's encoding of the WIT's docs) that `scripts/compose.sh`
//!    appends to the composition, where loaders read each function's description.
//!
//! The functions are exported by the world itself, not through an interface: a loader such
//! as wassette looks a function's docs up in `package-docs` under a world's
//! `func_exports`, where only world-level functions are.
//!
//! `cargo run -p facade-gen` rewrites the three files; `cargo test -p facade-gen` fails
//! while any differs from what the catalog gives.

pub mod docs;
pub mod model;
pub mod rust;
pub mod wit;

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tools/facade-gen sits two levels below the root")
        .to_path_buf()
}

/// Every generated file: its path under the root and its contents.
pub fn outputs() -> Vec<(&'static str, String)> {
    let facade = model::from_catalog();
    let wit = wit::render(&facade);
    let docs = docs::render(&wit);
    vec![
        ("adapters/facade/wit/facade.wit", wit),
        ("adapters/facade/src/generated.rs", rust::render(&facade)),
        ("compose/orderdesk-typed.package-docs.json", docs),
    ]
}

/// Word-wrap `text` into lines of at most `width` characters, keeping its line breaks.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed facade is what the catalog gives now.
    #[test]
    fn generated_files_are_current() {
        let root = root();
        let mut stale = Vec::new();
        for (path, want) in outputs() {
            let have = std::fs::read_to_string(root.join(path)).unwrap_or_default();
            if have != want {
                stale.push(path);
            }
        }
        assert!(
            stale.is_empty(),
            "stale generated files {stale:?}: run `cargo run -p facade-gen` and commit them"
        );
    }

    #[test]
    fn wrap_keeps_words_and_line_breaks() {
        assert_eq!(wrap("one two three\nfour", 7), ["one two", "three", "four"]);
    }
}
