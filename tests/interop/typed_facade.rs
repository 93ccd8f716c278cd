//! The typed facade (`compose/orderdesk-typed.wac`: adapters/facade over orderdesk.wasm over
//! adapters/lock-local) under a runtime this project did not write: `wasmtime run --invoke`
//! from the pinned wasmtime CLI (`scripts/tools.sh`) calls its functions `orders-get` and
//! `orders-list` against the fake OrderDesk, through `examples/typed-facade/invoke.sh` (the
//! command the README quotes). Each call is a fresh process, so each is a cache miss. And
//! the composition carries each tool's description where loaders read a function's docs:
//! the `package-docs` custom section, under `worlds.*.func_exports[NAME].docs`.

use crate::support;

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::tools::{composed, wasm_tools};
use support::{FakeOrderDesk, Launch, fake_unlimited, repo_root, spawn};
use tokio::process::Command;

/// One `wasmtime run --invoke` of the facade and how long the process took.
struct Invoked {
    output: Output,
    elapsed: Duration,
}

impl Invoked {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout)
            .trim()
            .to_string()
    }

    /// The result JSON of an `ok("…")` answer.
    fn ok_json(&self) -> Value {
        let out = self.stdout();
        assert!(
            self.output.status.success(),
            "wasmtime run failed ({}):\n{out}\n{}",
            self.output.status,
            String::from_utf8_lossy(&self.output.stderr)
        );
        let quoted = out
            .strip_prefix("ok(")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or_else(|| panic!("not an ok(…) answer: {out}"));
        serde_json::from_str(&wave_string(quoted)).expect("the result is JSON")
    }
}

/// Run `call` (WAVE) through examples/typed-facade/invoke.sh for `fake`'s store.
async fn invoke(fake: &FakeOrderDesk, call: &str, wasmtime_args: &[&str]) -> Invoked {
    let facade = tokio::task::spawn_blocking(composed)
        .await
        .unwrap()
        .join("orderdesk-typed.wasm");
    let tools = tokio::task::spawn_blocking(wasm_tools).await.unwrap();
    let started = Instant::now();
    let output = Command::new("bash")
        .arg(repo_root().join("examples/typed-facade/invoke.sh"))
        .arg(call)
        .args(wasmtime_args)
        .env("WASMTIME", &tools.wasmtime)
        .env("FACADE", &facade)
        .env("ORDERDESK_API_URL", fake.base_url())
        .env("ORDERDESK_STORE_ID", fake.store_id())
        .env("ORDERDESK_API_KEY", fake.api_key())
        // wasmtime keeps compiled code in `$XDG_CACHE_HOME/wasmtime`: under target/, not ~.
        .env("XDG_CACHE_HOME", repo_root().join("target/tools/cache"))
        .output()
        .await
        .expect("running invoke.sh");
    Invoked {
        output,
        elapsed: started.elapsed(),
    }
}

/// A WAVE call of `func` with the `given` parameters and `none` for every other one, in the
/// order the generated WIT declares them.
fn call_of(func: &str, given: &[(&str, &str)]) -> String {
    let wit = std::fs::read_to_string(repo_root().join("adapters/facade/wit/facade.wit"))
        .expect("the generated facade WIT");
    let start = wit
        .find(&format!("    export {func}: func("))
        .unwrap_or_else(|| panic!("facade.wit has no function {func}"));
    let signature = &wit[start..];
    let params = &signature[signature.find('(').unwrap() + 1..signature.find(") ->").unwrap()];
    let names: Vec<&str> = params
        .split(',')
        .filter_map(|p| p.split(':').next())
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    for (name, _) in given {
        assert!(names.contains(name), "{func} has no parameter {name}");
    }
    let args: Vec<&str> = names
        .iter()
        .map(|n| {
            given
                .iter()
                .find(|(g, _)| g == n)
                .map_or("none", |(_, v)| *v)
        })
        .collect();
    format!("{func}({})", args.join(", "))
}

/// The text of a WAVE string literal (`"…"` with `\"`, `\\`, `\n`, `\u{…}` escapes).
fn wave_string(literal: &str) -> String {
    let inner = literal
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not a WAVE string: {literal}"));
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let hex: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
            }
            Some(other) => out.push(other),
            None => panic!("dangling escape in {literal}"),
        }
    }
    out
}

#[tokio::test]
async fn orders_get_answers_the_fakes_order() {
    let fake = fake_unlimited().await;
    let id = fake.order_ids()[0];
    // No compilation cache: the time includes compiling the whole composition.
    let cold = invoke(&fake, &format!("orders-get(\"{id}\")"), &["-C", "cache=n"]).await;
    let result = cold.ok_json();
    assert_eq!(result["order"], fake.order(id).unwrap());
    assert_eq!(result["cache"], "miss");
    assert_eq!(fake.stats().by_route.get("GET /orders/{id}"), Some(&1));

    // wasmtime's own cache of compiled code (on by default): the second run reuses it.
    invoke(&fake, &format!("orders-get(\"{id}\")"), &[])
        .await
        .ok_json();
    let warm = invoke(&fake, &format!("orders-get(\"{id}\")"), &[]).await;
    assert_eq!(warm.ok_json()["order"], fake.order(id).unwrap());
    println!(
        "typed facade: wasmtime run --invoke orders-get: {} ms wall with compilation \
         (-C cache=n), {} ms with wasmtime's compilation cache warm; each a new process \
         and a cache miss reaching the fake",
        cold.elapsed.as_millis(),
        warm.elapsed.as_millis()
    );
}

#[tokio::test]
async fn orders_list_filters_sorts_and_pages_as_asked() {
    let fake = fake_unlimited().await;
    let in_folder: Vec<u64> = {
        let mut ids: Vec<u64> = fake
            .order_ids()
            .into_iter()
            .filter(|id| fake.order(*id).unwrap()["folder_id"] == 1)
            .collect();
        ids.sort_unstable();
        ids
    };
    assert!(
        in_folder.len() > 3,
        "the fake seeds enough orders in folder 1"
    );
    let call = call_of(
        "orders-list",
        &[
            ("folder-id", r#"some(["1"])"#),
            ("limit", "some(3)"),
            ("order", "some(asc)"),
            ("order-by", "some(id)"),
        ],
    );
    let result = invoke(&fake, &call, &[]).await.ok_json();
    let ids: Vec<u64> = result["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids, in_folder[..3]);
    assert_eq!(result["total_count"], in_folder.len());
    assert_eq!(result["has_more"], true);
    assert_eq!(result["next_offset"], 3);
}

#[tokio::test]
async fn a_failed_call_answers_the_tools_error() {
    let fake = fake_unlimited().await;
    let missing = invoke(&fake, r#"orders-get("999999")"#, &[]).await;
    let out = missing.stdout();
    assert!(out.starts_with("err({"), "{out}");
    assert!(out.contains(r#"code: "ORDER_NOT_FOUND""#), "{out}");
    assert!(out.contains("retryable: false"), "{out}");

    // A free-form parameter that is not JSON never reaches the component's tool.
    let before = fake.stats().total;
    let bad = invoke(&fake, r#"orders-create("{not json")"#, &[]).await;
    let out = bad.stdout();
    assert!(out.contains(r#"code: "INVALID_ARGUMENT""#), "{out}");
    assert_eq!(fake.stats().total, before);
}

/// The JSON of the first `package-docs` custom section in `wasm`, nested components
/// included, after its version byte: as wassette's component2json reads it
/// (`extract_package_docs`, wasmparser's `parse_all` order).
fn package_docs(wasm: &[u8]) -> Option<Value> {
    fn leb(bytes: &[u8], at: &mut usize) -> usize {
        let (mut value, mut shift) = (0usize, 0);
        loop {
            let byte = bytes[*at];
            *at += 1;
            value |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte < 0x80 {
                return value;
            }
        }
    }
    assert_eq!(&wasm[..4], b"\0asm", "not WebAssembly");
    // Layer 1 is a component, whose sections 1 (core module) and 4 (component) nest.
    let component = wasm[6] == 1;
    let mut at = 8;
    while at < wasm.len() {
        let id = wasm[at];
        at += 1;
        let size = leb(wasm, &mut at);
        let body = &wasm[at..at + size];
        at += size;
        match id {
            0 => {
                let mut name_at = 0;
                let name_len = leb(body, &mut name_at);
                let name = &body[name_at..name_at + name_len];
                let data = &body[name_at + name_len..];
                if name == b"package-docs" {
                    assert_eq!(data[0], 1, "package-docs version byte");
                    return Some(serde_json::from_slice(&data[1..]).expect("package-docs JSON"));
                }
            }
            1 | 4 if component => {
                if let Some(docs) = package_docs(body) {
                    return Some(docs);
                }
            }
            _ => {}
        }
    }
    None
}

/// The docs of exported function `name` in `docs`, looked up as component2json does
/// (`find_function_docs`): in any world's `func_exports`.
fn function_docs<'a>(docs: &'a Value, name: &str) -> Option<&'a str> {
    docs["worlds"]
        .as_object()?
        .values()
        .find_map(|world| world["func_exports"][name]["docs"].as_str())
}

#[tokio::test]
async fn the_composition_carries_each_tools_description_for_loaders() {
    let wasm = std::fs::read(
        tokio::task::spawn_blocking(composed)
            .await
            .unwrap()
            .join("orderdesk-typed.wasm"),
    )
    .expect("the composed facade");
    let docs = package_docs(&wasm).expect("orderdesk-typed.wasm has a package-docs section");

    // The description orders_get has over MCP (the stdio server's tools/list).
    let fake = fake_unlimited().await;
    let server = spawn(Launch::against(&fake)).await;
    let tools = server.client.list_all_tools().await.unwrap();
    let description = |name: &str| {
        tools
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.description.as_deref())
            .unwrap_or_else(|| panic!("{name} has a description over MCP"))
            .to_string()
    };
    // The WIT doc comment is the description word-wrapped, then the parameters.
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    for (func, tool) in [("orders-get", "orders_get"), ("orders-list", "orders_list")] {
        let doc = function_docs(&docs, func)
            .unwrap_or_else(|| panic!("no docs for {func} in package-docs: {docs:#}"));
        assert!(
            words(doc).starts_with(&words(&description(tool))),
            "{func}'s docs do not open with {tool}'s description:\n{doc}"
        );
    }
    assert!(
        function_docs(&docs, "orders-get")
            .unwrap()
            .contains("- `order-id`: OrderDesk's order id"),
        "and they name the parameters"
    );
}
