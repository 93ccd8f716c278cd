//! A minimal wasmtime embedding of orderdesk.wasm.
//!
//! ```text
//! ORDERDESK_API_URL=… ORDERDESK_STORE_ID=… ORDERDESK_API_KEY=… \
//!   cargo run -p embed-rust -- orderdesk.wasm orders_get '{"order_id":"100001"}' [--repeat 300]
//! ```
//!
//! wasmtime's crates provide WASI p2 (what Rust std imports), `wasi:http` and
//! `wasi:config`; this file adds the two imports no stock crate has: `wasi:keyvalue` and
//! `orderdesk:mcp/lock`, both in memory for one process. It prints the catalog's tool
//! names, then one JSON line per call, in one instance, so later calls hit the cache the
//! first one filled. `--repeat N` times N more runs of the last call. The project's own
//! host (host/src) adds what a server needs: an egress allow-list, durable state,
//! a fresh pooled instance per call, memory and time limits.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use wasmtime::component::{Component, HasSelf, Linker, Resource, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

mod bindings {
    // The world of the component's own interfaces (see wit/orderdesk.wit); the `wasi:*`
    // rest of its `plugin` world is linked from wasmtime's crates below.
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "orderdesk:mcp/plugin-core",
        with: { "wasi:keyvalue/store.bucket": super::Bucket },
    });
}
use bindings::exports::orderdesk::mcp::tools::{CallError, Caller};
use bindings::orderdesk::mcp::lock;
use bindings::wasi::keyvalue::{atomics, store};

/// An open `wasi:keyvalue` bucket: its name.
pub struct Bucket(String);

/// Everything the component's imports reach, for one store.
struct Host {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    config: WasiConfigVariables,
    /// (bucket, key) → value.
    kv: HashMap<(String, String), Vec<u8>>,
    /// lock name → (owner, lease end).
    locks: HashMap<String, (String, Instant)>,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: wasmtime_wasi_http::default_hooks(),
        }
    }
}

impl Host {
    fn entry(&self, bucket: &Resource<Bucket>, key: String) -> (String, String) {
        (self.table.get(bucket).unwrap().0.clone(), key)
    }

    /// Take or extend `name` for `owner` when it is free, expired or already `owner`'s.
    fn lease(&mut self, name: String, owner: String, ttl_ms: u64, renew: bool) -> bool {
        let now = Instant::now();
        let held = self.locks.get(&name).filter(|(_, until)| *until > now);
        let ok = match held {
            Some((holder, _)) => *holder == owner,
            None => !renew,
        };
        if ok {
            let until = now + Duration::from_millis(ttl_ms);
            self.locks.insert(name, (owner, until));
        }
        ok
    }
}

impl store::Host for Host {
    fn open(&mut self, name: String) -> Result<Resource<Bucket>, store::Error> {
        self.table
            .push(Bucket(name))
            .map_err(|e| store::Error::Other(e.to_string()))
    }
}

impl store::HostBucket for Host {
    fn get(&mut self, b: Resource<Bucket>, key: String) -> Result<Option<Vec<u8>>, store::Error> {
        Ok(self.kv.get(&self.entry(&b, key)).cloned())
    }
    fn set(&mut self, b: Resource<Bucket>, key: String, v: Vec<u8>) -> Result<(), store::Error> {
        self.kv.insert(self.entry(&b, key), v);
        Ok(())
    }
    fn delete(&mut self, b: Resource<Bucket>, key: String) -> Result<(), store::Error> {
        self.kv.remove(&self.entry(&b, key));
        Ok(())
    }
    fn exists(&mut self, b: Resource<Bucket>, key: String) -> Result<bool, store::Error> {
        Ok(self.kv.contains_key(&self.entry(&b, key)))
    }
    fn list_keys(
        &mut self,
        b: Resource<Bucket>,
        _cursor: Option<u64>,
    ) -> Result<store::KeyResponse, store::Error> {
        let name = &self.table.get(&b).unwrap().0;
        let keys = self.kv.keys().filter(|(n, _)| n == name);
        Ok(store::KeyResponse {
            keys: keys.map(|(_, k)| k.clone()).collect(),
            cursor: None,
        })
    }
    fn drop(&mut self, b: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(b)?;
        Ok(())
    }
}

impl atomics::Host for Host {
    /// Counters are decimal text, as the project's host stores them.
    fn increment(
        &mut self,
        b: Resource<Bucket>,
        key: String,
        by: u64,
    ) -> Result<u64, store::Error> {
        let value = self.kv.entry(self.entry(&b, key)).or_default();
        let next = std::str::from_utf8(value)
            .unwrap_or("0")
            .parse()
            .unwrap_or(0u64)
            + by;
        *value = next.to_string().into_bytes();
        Ok(next)
    }
}

impl lock::Host for Host {
    fn acquire(&mut self, name: String, owner: String, ttl_ms: u64) -> Result<bool, String> {
        Ok(self.lease(name, owner, ttl_ms, false))
    }
    fn renew(&mut self, name: String, owner: String, ttl_ms: u64) -> Result<bool, String> {
        Ok(self.lease(name, owner, ttl_ms, true))
    }
    fn release(&mut self, name: String, owner: String) -> Result<bool, String> {
        let held = self.locks.get(&name).is_some_and(|(o, _)| *o == owner);
        if held {
            self.locks.remove(&name);
        }
        Ok(held)
    }
}

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let repeat = match args.iter().position(|a| a == "--repeat") {
        Some(i) => args.drain(i..i + 2).nth(1).context("--repeat N")?.parse()?,
        None => 0,
    };
    let (wasm, calls) = args
        .split_first()
        .context("usage: embed-rust WASM [TOOL ARGS]…")?;

    let engine = Engine::default();
    let component = Component::from_file(&engine, wasm)?;
    let mut linker = Linker::<Host>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
    wasmtime_wasi_config::add_to_linker(&mut linker, |h| WasiConfig::from(&h.config))?;
    bindings::PluginCore::add_to_linker::<_, HasSelf<Host>>(&mut linker, |h| h)?;

    // The settings the component reads through wasi:config (keys as in settings/src/lib.rs).
    let setting = |var| std::env::var(var).with_context(|| format!("{var} is not set"));
    let mut config = WasiConfigVariables::new();
    config
        .insert("api_url", setting("ORDERDESK_API_URL")?)
        .insert("store_id", setting("ORDERDESK_STORE_ID")?)
        .insert("api_key", setting("ORDERDESK_API_KEY")?)
        .insert("tool_calls_per_minute", "0");
    let host = Host {
        table: ResourceTable::new(),
        // No env, args or files: the component's only way out is wasi:http.
        wasi: WasiCtx::builder().inherit_stderr().build(),
        http: WasiHttpCtx::new(),
        config,
        kv: HashMap::new(),
        locks: HashMap::new(),
    };
    let mut store = Store::new(&engine, host);
    let plugin = bindings::PluginCore::instantiate(&mut store, &component, &linker)?;
    let tools = plugin.orderdesk_mcp_tools();

    let names: Vec<_> = tools
        .call_list_tools(&mut store)?
        .into_iter()
        .map(|t| t.name)
        .collect();
    println!("{}", json!({ "tools": names }));

    let mut call = |tool: &str, arguments: &str| -> anyhow::Result<serde_json::Value> {
        let caller = Caller {
            credential: None,
            default_store: None,
            request_id: "embed-rust".into(),
        };
        Ok(
            match tools.call_call_tool(&mut store, &caller, tool, arguments)? {
                Ok(out) => {
                    json!({ "tool": tool, "ok": serde_json::from_str::<serde_json::Value>(&out.structured)? })
                }
                Err(CallError::Failed(e)) => {
                    json!({ "tool": tool, "error": { "code": e.code, "message": e.message, "retryable": e.retryable } })
                }
                Err(CallError::UnknownTool(name)) => json!({ "tool": tool, "unknown_tool": name }),
            },
        )
    };
    for pair in calls.chunks(2) {
        let [tool, arguments] = pair else {
            anyhow::bail!("each tool needs its JSON arguments")
        };
        println!("{}", call(tool, arguments)?);
    }
    if let (Some(last), true) = (calls.rchunks(2).next(), repeat > 0) {
        let mut times: Vec<Duration> = (0..repeat)
            .map(|_| {
                let started = Instant::now();
                call(&last[0], &last[1]).map(|_| started.elapsed())
            })
            .collect::<anyhow::Result<_>>()?;
        times.sort();
        let median_us = times[times.len() / 2].as_secs_f64() * 1e6;
        println!("{}", json!({ "repeat": repeat, "median_us": median_us }));
    }
    Ok(())
}
