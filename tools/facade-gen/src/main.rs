//! `cargo run -p facade-gen`: rewrite the typed facade's generated files from the catalog.

fn main() {
    let root = facade_gen::root();
    for (path, contents) in facade_gen::outputs() {
        let target = root.join(path);
        let current = std::fs::read_to_string(&target).unwrap_or_default();
        if current == contents {
            println!("unchanged {path}");
            continue;
        }
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, contents).unwrap();
        println!("wrote {path}");
    }
}
