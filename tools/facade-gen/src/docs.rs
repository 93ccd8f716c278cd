//! Renders the `package-docs` custom section of the composed `orderdesk-typed.wasm`.
//!
//! A component carries no doc comments of its own: wit-component keeps a package's docs in a
//! custom section named `package-docs` (a version byte, then the JSON of wit-parser's
//! `PackageMetadata`), and loaders read a function's description from it, e.g. wassette's
//! component2json takes `worlds.*.func_exports[NAME].docs` for an exported function `NAME`.
//! `wasm-component-ld` writes no such section into the facade and `wac compose` none into
//! the composition, so `scripts/compose.sh` appends this one to `orderdesk-typed.wasm`.
//!
//! The section is wit-parser's own extraction of `facade.wit`, for the package and world a
//! decoder gives the composed component (`root:component`, world `root`), so that the docs
//! land on its items when it is decoded (`wasm-tools component wit`, jco): the package docs,
//! the world docs, its types' docs and each exported function's docs.

use wit_parser::{PackageMetadata, PackageName, Resolve};

/// The section's version byte (wit-parser's `PACKAGE_DOCS_SECTION_VERSION`), which
/// `scripts/compose.sh` writes before the JSON.
pub const VERSION: u8 = 1;

/// The section's JSON (without the version byte), pretty-printed, for `facade_wit`.
pub fn render(facade_wit: &str) -> String {
    let metadata = metadata(facade_wit);
    let mut json = serde_json::to_string_pretty(
        &serde_json::from_slice::<serde_json::Value>(
            &metadata.encode().expect("encoding package-docs")[1..],
        )
        .expect("package-docs is JSON"),
    )
    .expect("printing JSON");
    json.push('\n');
    json
}

/// wit-parser's `PackageMetadata` of the facade's package, renamed as a decoder names the
/// composed component.
pub fn metadata(facade_wit: &str) -> PackageMetadata {
    let mut resolve = Resolve::default();
    resolve
        .push_dir(crate::root().join("wit"))
        .expect("parsing wit/ (orderdesk:mcp)");
    let pkg = resolve
        .push_str("facade.wit", facade_wit)
        .expect("parsing facade.wit");
    let world = resolve
        .select_world(&[pkg], Some("facade"))
        .expect("facade.wit has world `facade`");
    let package = &mut resolve.packages[pkg];
    package.name = PackageName {
        namespace: "root".into(),
        name: "component".into(),
        version: None,
    };
    package.worlds = [("root".to_string(), world)].into_iter().collect();
    resolve.worlds[world].name = "root".into();
    package.interfaces.clear();
    PackageMetadata::extract(&resolve, pkg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed section is one wit-parser decodes, and it has each tool's docs.
    #[test]
    fn the_section_decodes_and_documents_the_functions() {
        let json = std::fs::read_to_string(
            crate::root().join("compose/orderdesk-typed.package-docs.json"),
        )
        .unwrap();
        let section = [&[VERSION][..], json.as_bytes()].concat();
        PackageMetadata::decode(&section).expect("wit-parser decodes the section");
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let facade = crate::model::from_catalog();
        for func in &facade.funcs {
            let docs = value["worlds"]["root"]["func_exports"][&func.wit_name]["docs"]
                .as_str()
                .unwrap_or_else(|| panic!("no docs for {}", func.wit_name));
            let first = func.description.split_whitespace().next().unwrap();
            assert!(docs.starts_with(first), "{}: {docs}", func.wit_name);
        }
    }
}
