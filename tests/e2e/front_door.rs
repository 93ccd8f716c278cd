//! Fuzzing the front door on the stable toolchain: a seeded, bounded stream of malformed
//! and mutated requests, each sent as raw bytes over its own TCP connection to one `serve`
//! (tenant mode on SQLite, a valid bearer on most requests): byte-level mutations of valid
//! JSON-RPC messages, structurally wrong JSON-RPC (duplicate keys, huge numbers, 10,000-deep
//! nesting, invalid UTF-8, wrong types, batches, notifications with ids), malformed HTTP
//! (request lines, headers, Content-Length, chunked bodies, the HTTP/2 preface, pipelined
//! junk), wrong methods and paths, bad session ids, and `tools/call` of every listed tool with
//! mutated arguments.
//!
//! After every [`CHECK_EVERY`] requests and at the end: the process is alive, a well-formed
//! `orders_get` succeeds, `/ready` is 200 and stderr has no `panicked`. Every request must be
//! answered (or its connection closed) within [`ANSWER_WITHIN`], and no answer may be a 5xx
//! other than [`DOCUMENTED_5XX`]. A finding prints the seed, the case number and the exact
//! bytes (also written to a file), so one case can be replayed alone:
//! `FRONT_DOOR_SEED=<seed> FRONT_DOOR_CASE=<n> cargo test -p orderdesk-mcp --test e2e front_door`.
//! `FRONT_DOOR_CASES` changes how many cases run.

use crate::support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use support::http::{self, HttpServer, ok};
use support::{FakeOrderDesk, Launch, create_tenant, fake_unlimited};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The seed when `FRONT_DOOR_SEED` is not set: a fixed one, so CI runs the same stream.
const DEFAULT_SEED: u64 = 0x0D5E_ED0F_F00D_2026;
/// Cases when `FRONT_DOOR_CASES` is not set.
const DEFAULT_CASES: usize = 3_000;
/// Health checks between this many cases.
const CHECK_EVERY: usize = 250;
/// Cases in flight at once.
const CONCURRENCY: usize = 8;
/// The server's `--client-timeout-secs` for these tests: a half-sent request is cut then.
const CLIENT_TIMEOUT_SECS: u64 = 2;
/// Longest a case may go without its answer or its connection closing.
const ANSWER_WITHIN: Duration = Duration::from_secs(15);
/// The 5xx statuses the README documents: 503 for a server past a connection or session
/// cap, a draining server, or a webhook worth delivering again.
const DOCUMENTED_5XX: &[u16] = &[503];

const STORE: (&str, &str) = ("30001", "key-front-door-1");
const PROTOCOL_VERSIONS: &[&str] = &["2025-06-18", "2025-11-25", "2026-07-28"];

/// SplitMix64: small, seedable, good enough to pick mutations.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    /// The generator of case `index` of the stream `seed`: cases are independent, so any
    /// one can be replayed alone.
    fn for_case(seed: u64, index: usize) -> Rng {
        let mut rng = Rng(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One request: what it is, its exact bytes, and whether the write side is shut after
/// sending (the server then sees the end of the stream; otherwise it must cut the
/// connection itself within the client timeout).
struct Case {
    index: usize,
    kind: &'static str,
    what: String,
    bytes: Vec<u8>,
    half_close: bool,
}

/// What the server did with a case.
#[derive(Debug)]
struct Answer {
    /// The status of every response on the connection, in order.
    statuses: Vec<u16>,
    /// The connection was still open, with no further bytes, after [`ANSWER_WITHIN`].
    hung: bool,
    /// Connecting or writing failed (the server may close early on junk: not a finding).
    io_error: Option<String>,
    elapsed: Duration,
    /// The start of what came back, for the log.
    head: String,
}

/// Everything the generators need to know about the server under test.
struct Target {
    host: String,
    bearer: String,
    order_id: u64,
    /// Every listed tool with its input schema.
    tools: Vec<(String, Value)>,
    /// A 2025-11-25 session opened with the bearer before the stream.
    session: String,
}

impl Target {
    /// A request with the usual headers (host, bearer, JSON content type and accept,
    /// `Connection: close`), those in `extra` replacing the usual ones of the same name,
    /// and `body` with its Content-Length.
    fn request(&self, method: &str, path: &str, extra: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
        let bearer = format!("Bearer {}", self.bearer);
        let usual = [
            ("Host", self.host.as_str()),
            ("Authorization", bearer.as_str()),
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("Connection", "close"),
        ];
        let mut head = format!("{method} {path} HTTP/1.1\r\n");
        let replaced = |name: &str| extra.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        for (k, v) in usual.iter().filter(|(k, _)| !replaced(k)).chain(extra) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        out
    }

    /// A stateless (2026-07-28) POST of `message`, its headers agreeing with it.
    fn stateless(&self, message: &Value, body: &[u8]) -> Vec<u8> {
        let method = message["method"]
            .as_str()
            .unwrap_or("tools/list")
            .to_string();
        let mut extra = vec![
            ("MCP-Protocol-Version", "2026-07-28".to_string()),
            ("Mcp-Method", method.clone()),
        ];
        if method == "tools/call"
            && let Some(name) = message["params"]["name"].as_str()
        {
            extra.push(("Mcp-Name", name.to_string()));
        }
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.request("POST", "/mcp", &extra, body)
    }
}

/// The `_meta` a stateless request carries.
fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "front-door", "version": "1" }
    })
}

/// Valid messages to start mutating from.
fn base_messages(target: &Target) -> Vec<Value> {
    let call = |name: &str, arguments: Value| {
        json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": { "name": name, "arguments": arguments, "_meta": meta() } })
    };
    vec![
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": { "name": "front-door", "version": "1" } } }),
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
        json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": { "_meta": meta() } }),
        call("orders_get", json!({ "order_id": target.order_id })),
        call(
            "orders_list",
            json!({ "limit": 2, "offset": 1, "email": "x@example.com" }),
        ),
        call(
            "orders_update",
            json!({ "order_id": 999_999_999, "changes": { "email": "a@example.com" } }),
        ),
        json!({ "jsonrpc": "2.0", "id": 4, "method": "ping", "params": { "_meta": meta() } }),
        json!({ "jsonrpc": "2.0", "id": 5, "method": "server/discover", "params": { "_meta": meta() } }),
        json!({ "jsonrpc": "2.0", "id": 6, "method": "resources/list", "params": { "_meta": meta() } }),
        json!({ "jsonrpc": "2.0", "id": 7, "method": "prompts/list", "params": { "_meta": meta() } }),
        json!({ "jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": { "requestId": 3, "reason": "x" } }),
    ]
}

/// Values that are wrong, odd or extreme for nearly any field (none is a real id).
fn junk_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 2 { 24 } else { 28 }) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(0),
        3 => json!(-1),
        4 => json!(i64::MIN),
        5 => json!(u64::MAX),
        6 => json!(1e308),
        7 => json!(-0.0),
        8 => json!(0.5),
        9 => json!(9_007_199_254_740_993u64),
        10 => json!(""),
        11 => json!("x"),
        12 => json!("-1"),
        13 => json!("１２３"),
        14 => json!("a\u{0000}b"),
        15 => json!("line\r\nX-Injected: 1"),
        16 => json!("💥ǅ\u{202e}\u{feff}"),
        17 => json!("../../../etc/passwd"),
        18 => json!("%00%ff"),
        19 => json!("' OR 1=1 --"),
        20 => json!("9999-99-99 99:99:99"),
        21 => json!("q".repeat(1 + rng.below(70_000))),
        22 => json!([]),
        23 => json!({}),
        24 => Value::Array(
            (0..rng.below(4))
                .map(|_| junk_value(rng, depth + 1))
                .collect(),
        ),
        25 => {
            let mut map = Map::new();
            for i in 0..rng.below(4) {
                map.insert(format!("k{i}"), junk_value(rng, depth + 1));
            }
            Value::Object(map)
        }
        26 => nested(rng.below(200), json!(1)),
        _ => json!({ "op": "replace", "path": "/email", "value": junk_value(rng, depth + 1) }),
    }
}

/// `inner` wrapped in `depth` arrays.
fn nested(depth: usize, inner: Value) -> Value {
    (0..depth).fold(inner, |v, _| Value::Array(vec![v]))
}

/// Arguments for `schema` (a tool's input schema), mutated: each property left out, given
/// a junk value or a plausible one; sometimes unknown properties; sometimes no object at all.
fn mutated_arguments(rng: &mut Rng, schema: &Value) -> Value {
    if rng.chance(8) {
        return junk_value(rng, 0);
    }
    let mut args = Map::new();
    if let Some(properties) = schema["properties"].as_object() {
        for (name, property) in properties {
            match rng.below(4) {
                0 => {}
                1 => {
                    args.insert(name.clone(), plausible(rng, property));
                }
                _ => {
                    args.insert(name.clone(), junk_value(rng, 0));
                }
            }
        }
    }
    if rng.chance(20) {
        args.insert(format!("unknown_{}", rng.below(100)), junk_value(rng, 0));
    }
    Value::Object(args)
}

/// A value of roughly the type a property schema asks for.
fn plausible(rng: &mut Rng, property: &Value) -> Value {
    let kind = property["type"]
        .as_str()
        .or_else(|| property["type"].as_array()?.first()?.as_str())
        .unwrap_or("string");
    match kind {
        "integer" | "number" => json!(rng.below(1_000) as i64 - 10),
        "boolean" => json!(rng.chance(50)),
        "array" => json!([junk_value(rng, 1)]),
        "object" => json!({ "email": "a@example.com", "order_metadata": { "k": 1 } }),
        _ => json!(format!("v{}", rng.below(1_000))),
    }
}

/// One to three byte-level mutations of `bytes`.
fn mutate_bytes(rng: &mut Rng, mut bytes: Vec<u8>) -> (Vec<u8>, String) {
    let mut done = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let len = bytes.len().max(1);
        let at = rng.below(len);
        match rng.below(7) {
            0 if !bytes.is_empty() => {
                let bit = rng.below(8);
                bytes[at] ^= 1 << bit;
                done.push(format!("flip {at}.{bit}"));
            }
            1 => {
                let what = rng
                    .pick(&[
                        &b"\x00"[..],
                        b"\xff",
                        b"\xc3\x28",
                        b"\xed\xa0\x80",
                        b"{",
                        b"}",
                        b"[",
                        b"\"",
                        b"\\",
                        b",",
                        b":",
                        b"\\u0000",
                        b"\\ud800",
                        b"1e99999",
                    ])
                    .to_vec();
                let at = at.min(bytes.len());
                bytes.splice(at..at, what.iter().copied());
                done.push(format!("insert {at} {:?}", what.escape_ascii().to_string()));
            }
            2 => {
                let end = (at + 1 + rng.below(16)).min(bytes.len());
                let at = at.min(end);
                bytes.drain(at..end);
                done.push(format!("delete {at}..{end}"));
            }
            3 => {
                bytes.truncate(at);
                done.push(format!("truncate {at}"));
            }
            4 => {
                let end = (at + 1 + rng.below(32)).min(bytes.len());
                let at = at.min(end);
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
                done.push(format!("duplicate {at}..{end}"));
            }
            5 => {
                let n = 1 + rng.below(8);
                let junk = rng.bytes(n);
                let at = at.min(bytes.len());
                bytes.splice(at..at, junk);
                done.push(format!("random bytes at {at}"));
            }
            _ => {
                let at = at.min(bytes.len());
                let digits = "9".repeat(1 + rng.below(400));
                bytes.splice(at..at, digits.bytes());
                done.push(format!("digits at {at}"));
            }
        }
    }
    (bytes, done.join(", "))
}

/// JSON-RPC that parses (or nearly) but is wrong in shape.
fn structural(rng: &mut Rng) -> (String, Vec<u8>) {
    let list =
        json!({ "jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": { "_meta": meta() } });
    let text = |what: &str, body: String| (what.to_string(), body.into_bytes());
    match rng.below(22) {
        0 => text(
            "duplicate keys",
            r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping","method":"tools/list","params":{},"params":[]}"#.into(),
        ),
        1 => text(
            "huge id",
            format!(r#"{{"jsonrpc":"2.0","id":{},"method":"ping"}}"#, "9".repeat(1 + rng.below(5_000))),
        ),
        2 => text("id 1e400", r#"{"jsonrpc":"2.0","id":1e400,"method":"ping"}"#.into()),
        3 => text("10,000 [", "[".repeat(10_000)),
        4 => text(
            "10,000 nested arrays, closed",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
        ),
        5 => text(
            "params nested 10,000 deep",
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"orders_get","arguments":{}1{}}}}}"#,
                "{\"a\":".repeat(10_000),
                "}".repeat(10_000)
            ),
        ),
        6 => {
            let mut body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/li"#.to_vec();
            let bad: [&[u8]; 4] = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"];
            let chosen: &[u8] = bad[rng.below(bad.len())];
            body.extend_from_slice(chosen);
            body.extend_from_slice(br#"st"}"#);
            ("invalid UTF-8".into(), body)
        }
        7 => {
            let id = rng.pick(&["{}", "[]", "true", "null", "1.5", "-0", "\"\"", "[1,2]"]);
            text("id of the wrong type", format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#))
        }
        8 => {
            let method = rng.pick(&["1", "null", "[]", "{}", "\"\"", "\"tools/\"", "\"../../x\""]);
            text("method of the wrong type", format!(r#"{{"jsonrpc":"2.0","id":1,"method":{method}}}"#))
        }
        9 => {
            let params = rng.pick(&["\"x\"", "1", "[]", "null", "true", "[1,2,3]"]);
            text(
                "params of the wrong type",
                format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{params}}}"#),
            )
        }
        10 => text("empty batch", "[]".into()),
        11 => {
            let n = 1 + rng.below(1_000);
            let batch: Vec<Value> = (0..n).map(|_| list.clone()).collect();
            text("batch", Value::Array(batch).to_string())
        }
        12 => text("batch of junk", "[1,\"x\",null,{},[]]".into()),
        13 => text(
            "notification with an id",
            r#"{"jsonrpc":"2.0","id":5,"method":"notifications/initialized"}"#.into(),
        ),
        14 => text(
            "a response sent to the server",
            r#"{"jsonrpc":"2.0","id":1,"result":{"x":1}}"#.into(),
        ),
        15 => text(
            "an error sent to the server",
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x","data":[]}}"#.into(),
        ),
        16 => {
            let version = rng.pick(&["\"1.0\"", "2.0", "null", "\"2.0 \""]);
            text("wrong jsonrpc", format!(r#"{{"jsonrpc":{version},"id":1,"method":"ping"}}"#))
        }
        17 => text("no jsonrpc", r#"{"id":1,"method":"ping"}"#.into()),
        18 => {
            let body = rng.pick(&["", " ", "null", "0", "\"s\"", "\u{feff}{}", "{}", "{\"jsonrpc\":\"2.0\"}"]);
            text("not a message", body.to_string())
        }
        19 => text(
            "lone surrogate escapes",
            r#"{"jsonrpc":"2.0","id":"\ud800","method":"tools/list\udc00","params":{"\u0000":"\ud83d"}}"#.into(),
        ),
        20 => {
            let long = "x".repeat(300);
            let names = ["", "orders.get", "ORDERS_GET", "orders_get\u{0000}", long.as_str()];
            let name = *rng.pick(&names);
            text(
                "tools/call of an odd name",
                json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                        "params": { "name": name, "arguments": {}, "_meta": meta() } })
                .to_string(),
            )
        }
        _ => text(
            "initialize with odd capabilities",
            json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": junk_value(rng, 0), "capabilities": junk_value(rng, 0),
                "clientInfo": junk_value(rng, 0) } })
            .to_string(),
        ),
    }
}

/// Headers for a POST of `body` that are wrong in one way or another.
fn odd_headers(rng: &mut Rng, target: &Target, body: &[u8]) -> (String, Vec<u8>) {
    let version = *rng.pick(PROTOCOL_VERSIONS);
    let (what, extra): (&str, Vec<(&str, String)>) = match rng.below(14) {
        0 => (
            "unknown protocol version",
            vec![("MCP-Protocol-Version", "1999-01-01".into())],
        ),
        1 => ("no accept", vec![("Accept", "".into())]),
        2 => (
            "accept only text/html",
            vec![("Accept", "text/html".into())],
        ),
        3 => (
            "foreign origin",
            vec![("Origin", "https://evil.example".into())],
        ),
        4 => (
            "Mcp-Method disagreeing",
            vec![
                ("MCP-Protocol-Version", "2026-07-28".into()),
                ("Mcp-Method", "tools/call".into()),
                ("Mcp-Name", "orders_delete".into()),
            ],
        ),
        5 => (
            "junk bearer",
            vec![(
                "Authorization",
                format!("Bearer odmk_{}", rng.below(1 << 30)),
            )],
        ),
        6 => (
            "bearer of another scheme",
            vec![("Authorization", "Basic dXNlcjpwdw==".into())],
        ),
        7 => (
            "compressed, it says",
            vec![(
                "Content-Encoding",
                (*rng.pick(&["gzip", "br", "deflate, gzip"])).into(),
            )],
        ),
        8 => (
            "another content type",
            vec![(
                "Content-Type",
                (*rng.pick(&[
                    "text/plain",
                    "application/json; charset=utf-16",
                    "multipart/form-data; boundary=x",
                    "",
                ]))
                .into(),
            )],
        ),
        9 => (
            "stateless with a session id",
            vec![
                ("MCP-Protocol-Version", "2026-07-28".into()),
                ("Mcp-Session-Id", target.session.clone()),
            ],
        ),
        10 => (
            "session id of this tenant's session, another version",
            vec![
                ("MCP-Protocol-Version", "2025-06-18".into()),
                ("Mcp-Session-Id", target.session.clone()),
            ],
        ),
        11 => ("accept anything", vec![("Accept", "*/*".into())]),
        12 => (
            "Last-Event-ID junk",
            vec![
                ("MCP-Protocol-Version", "2025-11-25".into()),
                ("Mcp-Session-Id", target.session.clone()),
                ("Last-Event-ID", format!("{}/../{}", rng.next(), rng.next())),
            ],
        ),
        _ => (
            "session era, no session",
            vec![("MCP-Protocol-Version", version.into())],
        ),
    };
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    (
        what.to_string(),
        target.request("POST", "/mcp", &extra, body),
    )
}

/// Malformed HTTP, byte for byte.
fn malformed_http(rng: &mut Rng, target: &Target) -> (String, Vec<u8>, bool) {
    let host = &target.host;
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let valid = target.request(
        "POST",
        "/mcp",
        &[("MCP-Protocol-Version", "2025-11-25")],
        body,
    );
    // With the bearer, so that the server gets past authentication to the body.
    let bearer = &target.bearer;
    let head = |lines: &str| {
        format!(
            "POST /mcp HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {bearer}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             MCP-Protocol-Version: 2025-11-25\r\n{lines}"
        )
    };
    let bytes = |what: &str, b: Vec<u8>| (what.to_string(), b, true);
    let text = |what: &str, s: String| (what.to_string(), s.into_bytes(), true);
    match rng.below(30) {
        0 => {
            let n = 1 + rng.below(300);
            bytes("random bytes", rng.bytes(n))
        }
        1 => text("garbage request line", "GARBAGE\r\n\r\n".into()),
        2 => text("empty lines", "\r\n\r\n\r\n".into()),
        3 => text(
            "HTTP/9.9",
            format!("GET /health HTTP/9.9\r\nHost: {host}\r\n\r\n"),
        ),
        4 => text(
            "extra words in the request line",
            format!("GET /health HTTP/1.1 extra\r\nHost: {host}\r\n\r\n"),
        ),
        5 => text(
            "lowercase method",
            format!("get /health HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        ),
        6 => text(
            "absolute-form to elsewhere",
            "GET http://evil.example/mcp HTTP/1.1\r\nHost: evil.example\r\n\r\n".into(),
        ),
        7 => text(
            "header without a colon",
            head("Content-Type application/json\r\n\r\n"),
        ),
        8 => text(
            "space in a header name",
            head("Content Length: 2\r\n\r\n{}"),
        ),
        9 => bytes(
            "NUL in a header value",
            [head("X-A: a").as_bytes(), b"\x00b\r\n\r\n"].concat(),
        ),
        10 => text(
            "obsolete line folding",
            head("Content-Type: application/\r\n json\r\nContent-Length: 2\r\n\r\n{}"),
        ),
        11 => text(
            "a 100 KB header",
            head(&format!(
                "X-Big: {}\r\nContent-Length: 0\r\n\r\n",
                "b".repeat(100_000)
            )),
        ),
        12 => {
            let many: String = (0..2_000).map(|i| format!("X-H{i}: v\r\n")).collect();
            text(
                "2,000 headers",
                head(&format!("{many}Content-Length: 0\r\n\r\n")),
            )
        }
        13 => text(
            "two differing Content-Lengths",
            head("Content-Length: 5\r\nContent-Length: 6\r\n\r\n{}{}{}"),
        ),
        14 => {
            let cl = rng.pick(&[
                "-1",
                "abc",
                "99999999999999999999",
                "+2",
                "0x10",
                " 2",
                "2 2",
            ]);
            text(
                "bogus Content-Length",
                head(&format!("Content-Length: {cl}\r\n\r\n{{}}")),
            )
        }
        15 => text(
            "Content-Length past the body",
            head("Content-Length: 1000\r\n\r\n{}"),
        ),
        16 => bytes(
            "Content-Length short of the body",
            [
                head("Content-Length: 2\r\n\r\n").as_bytes(),
                b"{}GARBAGE \x00\xff\r\n\r\n",
            ]
            .concat(),
        ),
        17 => {
            let size = rng.pick(&["zz", "ffffffffffffffffffff", "-1", "1;ext=\"x", ""]);
            text(
                "chunk size garbage",
                head(&format!(
                    "Transfer-Encoding: chunked\r\n\r\n{size}\r\n{{}}\r\n0\r\n\r\n"
                )),
            )
        }
        18 => text(
            "chunked body with no last chunk",
            head("Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n"),
        ),
        19 => text(
            "chunked and Content-Length",
            head("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n2\r\n{}\r\n0\r\n\r\n"),
        ),
        20 => {
            let te = rng.pick(&[
                "gzip, chunked",
                "chunked, identity",
                "xchunked",
                "chunked\u{0b}",
                "identity",
            ]);
            text(
                "odd Transfer-Encoding",
                head(&format!(
                    "Transfer-Encoding: {te}\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n"
                )),
            )
        }
        21 => {
            let n = rng.below(64);
            bytes(
                "HTTP/2 preface then garbage",
                [&b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..], &rng.bytes(n)].concat(),
            )
        }
        22 => bytes(
            "HTTP/2 preface, SETTINGS, then a junk frame",
            [
                &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
                b"\x00\x00\x00\x04\x00\x00\x00\x00\x00",
                b"\x00\x00\x08\x01\x05\x00\x00\x00\x01\xff\xff\xff\xff\xff\xff\xff\xff",
            ]
            .concat(),
        ),
        23 => text(
            "h2c upgrade",
            format!(
                "GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
            ),
        ),
        24 => {
            let mut keep = valid.clone();
            let text = String::from_utf8_lossy(&keep)
                .replace("Connection: close", "Connection: keep-alive");
            keep = text.into_bytes();
            keep.extend_from_slice(b"\x16\x03\x01\x02\x00junk\r\n\r\nGET / HTTP/1.1\r\n");
            bytes("pipelined junk after a request", keep)
        }
        25 => {
            let one = String::from_utf8_lossy(&valid)
                .replace("Connection: close", "Connection: keep-alive");
            let n = 2 + rng.below(40);
            text("pipelined requests", one.repeat(n))
        }
        26 => (
            "half-sent headers, never finished".to_string(),
            format!("POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Le").into_bytes(),
            false,
        ),
        27 => (
            "body promised, never sent".to_string(),
            head("Content-Length: 50\r\n\r\n{\"jsonrpc\"").into_bytes(),
            false,
        ),
        28 => text(
            "Expect: 100-continue, no body",
            head("Expect: 100-continue\r\nContent-Length: 10\r\n\r\n"),
        ),
        _ => {
            let hosts = ["", "evil.example", "127.0.0.1:1, evil.example"];
            let h = rng.pick(&hosts);
            text(
                "odd Host",
                format!("GET /ready HTTP/1.1\r\nHost: {h}\r\nHost: {host}\r\n\r\n"),
            )
        }
    }
}

/// Wrong methods on real and unreal paths, and session ids that are not.
fn methods_and_paths(rng: &mut Rng, target: &Target) -> (String, Vec<u8>) {
    let paths = [
        "/mcp".to_string(),
        "/mcp/".into(),
        "/MCP".into(),
        "//mcp".into(),
        "/mcp?x=1&x=2".into(),
        "/health".into(),
        "/ready".into(),
        "/metrics".into(),
        "/webhooks/orderdesk".into(),
        "/".into(),
        "/%2e%2e/%2e%2e/etc/passwd".into(),
        "/mcp/../mcp".into(),
        format!("/{}", "a".repeat(1 + rng.below(20_000))),
        "/%ff%00".into(),
        "/mcp%00".into(),
        "*".into(),
    ];
    let methods = [
        "GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "FOO", "POST",
    ];
    if rng.chance(40) {
        let session = match rng.below(6) {
            0 => String::new(),
            1 => "x".repeat(1 + rng.below(10_000)),
            2 => "00000000-0000-0000-0000-000000000000".into(),
            3 => format!("{:032x}", rng.next() as u128 * rng.next() as u128),
            4 => "ÿ-session-é".into(),
            _ => "../../etc/passwd".into(),
        };
        let method = *rng.pick(&["POST", "GET", "DELETE"]);
        let version = *rng.pick(&["2025-06-18", "2025-11-25"]);
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }).to_string();
        let body = if method == "POST" {
            body.into_bytes()
        } else {
            Vec::new()
        };
        let bytes = target.request(
            method,
            "/mcp",
            &[
                ("MCP-Protocol-Version", version),
                ("Mcp-Session-Id", &session),
            ],
            &body,
        );
        return (format!("{method} with a bad session id"), bytes);
    }
    let method = *rng.pick(&methods);
    let path = rng.pick(&paths).clone();
    let body: &[u8] = if rng.chance(50) { b"{}" } else { b"" };
    let what = format!("{method} {}", path.chars().take(40).collect::<String>());
    (what, target.request(method, &path, &[], body))
}

/// A webhook delivery that is not one.
fn webhook_junk(rng: &mut Rng, target: &Target) -> (String, Vec<u8>) {
    let bodies: [&[u8]; 5] = [
        b"order=%7B%22id%22%3A1%7D",
        b"order=",
        b"order=%ff%fe",
        b"\xff\xfe\x00",
        b"order=%7B%7B%7B%7B",
    ];
    let body = *rng.pick(&bodies);
    let head = format!(
        "POST /webhooks/orderdesk HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         X-Order-Desk-Store-Id: {}\r\nX-Order-Desk-Hash: {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        target.host,
        rng.pick(&["30001", "", "x", "99999999999999999999999"]),
        rng.pick(&["", "00", "zz"]),
        body.len()
    );
    ("junk webhook".into(), [head.as_bytes(), body].concat())
}

/// Case `index` of the stream `seed`. Only malformed HTTP is followed by the end of the
/// stream (a half-close): hyper treats that as the client hanging up, and drops a request
/// it has not answered yet, so well-formed requests rely on `Connection: close` instead.
fn case(seed: u64, index: usize, target: &Target) -> Case {
    let mut rng = Rng::for_case(seed, index);
    let bases = base_messages(target);
    let mut half_close = false;
    let (kind, what, bytes) = match rng.below(100) {
        0..=27 => {
            let message = rng.pick(&bases).clone();
            let (body, how) = mutate_bytes(&mut rng, message.to_string().into_bytes());
            let method = message["method"].as_str().unwrap_or_default();
            let bytes = target.stateless(&message, &body);
            ("mutated JSON-RPC", format!("{method}: {how}"), bytes)
        }
        28..=41 => {
            let (what, body) = structural(&mut rng);
            let message = json!({ "method": "tools/list" });
            (
                "malformed JSON-RPC",
                what,
                target.stateless(&message, &body),
            )
        }
        42..=59 => {
            let (name, schema) = rng.pick(&target.tools).clone();
            let arguments = mutated_arguments(&mut rng, &schema);
            let params = json!({ "name": name, "arguments": arguments, "_meta": meta() });
            let message = json!({ "jsonrpc": "2.0", "id": rng.below(1_000),
                                  "method": "tools/call", "params": params });
            let body = message.to_string().into_bytes();
            let bytes = target.stateless(&message, &body);
            ("tools/call, mutated arguments", name, bytes)
        }
        60..=66 => {
            // In the open session: a mutated message, or a call with mutated arguments.
            let body = if rng.chance(50) {
                let message = rng.pick(&bases).clone();
                mutate_bytes(&mut rng, message.to_string().into_bytes()).0
            } else {
                let (name, schema) = rng.pick(&target.tools).clone();
                let arguments = mutated_arguments(&mut rng, &schema);
                json!({ "jsonrpc": "2.0", "id": rng.below(1_000), "method": "tools/call",
                        "params": { "name": name, "arguments": arguments } })
                .to_string()
                .into_bytes()
            };
            let headers = [
                ("MCP-Protocol-Version", "2025-11-25"),
                ("Mcp-Session-Id", target.session.as_str()),
            ];
            let bytes = target.request("POST", "/mcp", &headers, &body);
            (
                "in a session",
                String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned(),
                bytes,
            )
        }
        67..=72 => {
            let message = rng.pick(&bases).clone();
            let (what, bytes) = odd_headers(&mut rng, target, message.to_string().as_bytes());
            ("odd headers", what, bytes)
        }
        73..=89 => {
            let (what, bytes, end) = malformed_http(&mut rng, target);
            half_close = end;
            ("malformed HTTP", what, bytes)
        }
        90..=96 => {
            let (what, bytes) = methods_and_paths(&mut rng, target);
            ("methods, paths, sessions", what, bytes)
        }
        _ => {
            let (what, bytes) = webhook_junk(&mut rng, target);
            ("webhook junk", what, bytes)
        }
    };
    Case {
        index,
        kind,
        what,
        bytes,
        half_close,
    }
}

/// Send `case` on a fresh connection to `addr`; read until the server closes it or
/// [`ANSWER_WITHIN`] passes.
async fn send(addr: &str, case: &Case) -> Answer {
    let started = Instant::now();
    let mut answer = Answer {
        statuses: Vec::new(),
        hung: false,
        io_error: None,
        elapsed: Duration::ZERO,
        head: String::new(),
    };
    let mut received = Vec::new();
    let run = async {
        let mut stream = TcpStream::connect(addr).await?;
        // The server may answer and close before reading everything: keep what it said.
        let written = stream.write_all(&case.bytes).await;
        if written.is_ok() && case.half_close {
            let _ = stream.shutdown().await;
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) if received.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        written
    };
    match tokio::time::timeout(ANSWER_WITHIN, run).await {
        Err(_) => answer.hung = true,
        Ok(Err(e)) => answer.io_error = Some(e.to_string()),
        Ok(Ok(())) => {}
    }
    answer.statuses = statuses(&received);
    answer.head = String::from_utf8_lossy(&received[..received.len().min(600)]).into_owned();
    answer.elapsed = started.elapsed();
    answer
}

/// The status of every HTTP/1.x response in `received`, in order: each head is parsed and
/// its body skipped (by Content-Length, chunks, or to the end), so pipelined answers are
/// all seen.
fn statuses(received: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    let mut rest = received;
    while rest.starts_with(b"HTTP/1.") {
        let Some(code) = std::str::from_utf8(&rest[9..rest.len().min(12)])
            .ok()
            .and_then(|c| c.parse::<u16>().ok())
        else {
            break;
        };
        out.push(code);
        let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&rest[..end]).to_ascii_lowercase();
        rest = &rest[end + 4..];
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(str::trim))
                .map(str::to_string)
        };
        if (100..200).contains(&code) || code == 204 || code == 304 {
            continue;
        }
        if header("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
            // Chunks: size line, data, CRLF; a zero size ends them (then the last CRLF).
            loop {
                let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
                    return out;
                };
                let size = String::from_utf8_lossy(&rest[..eol]);
                let size = size.split(';').next().unwrap_or_default().trim();
                let Ok(size) = usize::from_str_radix(size, 16) else {
                    return out;
                };
                rest = &rest[(eol + 2 + size + 2).min(rest.len())..];
                if size == 0 {
                    break;
                }
            }
        } else if let Some(length) = header("content-length").and_then(|l| l.parse::<usize>().ok())
        {
            rest = &rest[length.min(rest.len())..];
        } else {
            break;
        }
    }
    out
}

/// What went wrong with one case, with what it takes to replay it.
fn finding(seed: u64, case: &Case, answer: &Answer, why: &str) -> String {
    let dump = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("front-door-{seed:x}-{}.bin", case.index));
    let _ = std::fs::write(&dump, &case.bytes);
    let shown: String = case.bytes.escape_ascii().to_string();
    let shown = if shown.len() > 2_000 {
        format!("{}… ({} bytes in all)", &shown[..2_000], case.bytes.len())
    } else {
        shown
    };
    format!(
        "{why}: case {} ({}: {}), seed {seed:#x}, {:?}, statuses {:?}, half-closed {}, \
         i/o error {:?}\n  answer: {:?}\n  bytes (also in {}): b\"{shown}\"",
        case.index,
        case.kind,
        case.what,
        answer.elapsed,
        answer.statuses,
        case.half_close,
        answer.io_error,
        answer.head,
        dump.display()
    )
}

/// What a case must not do: hang, or answer a 5xx the README does not document.
fn judge(seed: u64, case: &Case, answer: &Answer) -> Option<String> {
    if answer.hung {
        return Some(finding(seed, case, answer, "HANG"));
    }
    let bad: Vec<u16> = answer
        .statuses
        .iter()
        .copied()
        .filter(|s| *s >= 500 && !DOCUMENTED_5XX.contains(s))
        .collect();
    if !bad.is_empty() {
        return Some(finding(seed, case, answer, "UNDOCUMENTED 5XX"));
    }
    // A well-formed HTTP request (whatever its body) gets an answer; a connection closed
    // without one is what a panicking handler leaves.
    if case.kind != "malformed HTTP" && answer.statuses.is_empty() {
        return Some(finding(seed, case, answer, "NO ANSWER"));
    }
    None
}

/// The server is alive, a well-formed call succeeds, `/ready` is 200, nothing panicked.
async fn healthy(server: &mut HttpServer, target: &Target, fake: &FakeOrderDesk, when: &str) {
    assert!(
        server.exited().is_none(),
        "the server exited ({when}): {:?}\n{}",
        server.exited(),
        tail(&server.stderr())
    );
    let client = tokio::time::timeout(ANSWER_WITHIN, server.stateless_client(Some(&target.bearer)))
        .await
        .unwrap_or_else(|_| panic!("server/discover hung ({when})"));
    let got = tokio::time::timeout(
        ANSWER_WITHIN,
        ok(
            &client,
            "orders_get",
            json!({ "store": STORE.0, "order_id": target.order_id }),
        ),
    )
    .await
    .unwrap_or_else(|_| panic!("orders_get hung ({when})"));
    assert_eq!(
        got["order"]["id"],
        target.order_id.to_string(),
        "({when}) {got}"
    );
    assert!(fake.order_in(STORE.0, target.order_id).is_some());
    let ready = reqwest::get(format!("{}/ready", server.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "/ready ({when})");
    let stderr = server.stderr();
    assert!(
        !stderr.contains("panicked"),
        "the server panicked ({when}):\n{}",
        tail(&stderr)
    );
}

/// The last lines of a long log.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A 2025-11-25 session opened with raw requests (initialize, then initialized); its id.
async fn open_session(server: &HttpServer, bearer: &str) -> String {
    let auth = format!("Bearer {bearer}");
    let opened = http::post(
        &server.mcp_url(),
        &[("authorization", auth.as_str())],
        http::initialize("2025-11-25").to_string(),
    )
    .await;
    assert_eq!(opened.status(), 200);
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = http::message_of(opened).await;
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let headers = [
        ("authorization", auth.as_str()),
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let sent = http::post(&server.mcp_url(), &headers, initialized.to_string()).await;
    assert_eq!(sent.status(), 202);
    session
}

fn env_number(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    let raw = raw.trim();
    let parsed = match raw.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => raw.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={raw} is not a number")))
}

#[tokio::test]
async fn a_seeded_stream_of_malformed_requests_never_crashes_hangs_or_5xxs_the_server() {
    let seed = env_number("FRONT_DOOR_SEED").unwrap_or(DEFAULT_SEED);
    let only = env_number("FRONT_DOOR_CASE").map(|n| n as usize);
    let count = env_number("FRONT_DOOR_CASES").map_or(DEFAULT_CASES, |n| n as usize);
    eprintln!(
        "front door: seed {seed:#x} (FRONT_DOOR_SEED), {count} cases (FRONT_DOOR_CASES){}",
        only.map(|n| format!(", only case {n}")).unwrap_or_default()
    );

    let fake = fake_unlimited().await;
    fake.add_store(STORE.0, STORE.1, 20, 5);
    let dir = tempfile::tempdir().unwrap();
    let state = format!("sqlite:{}", dir.path().join("state.db").display());
    let (_, bearer) = create_tenant(&state, "Front door");
    let launch = Launch::for_tenants(&fake, &state)
        .unthrottled()
        .arg("--client-timeout-secs")
        .arg(CLIENT_TIMEOUT_SECS.to_string())
        .arg("--sync-tick-secs")
        .arg("0");
    let mut server = http::serve(&launch).await;
    let client = server.stateless_client(Some(&bearer)).await;
    ok(
        &client,
        "stores_register",
        json!({ "store_id": STORE.0, "api_key": STORE.1, "name": "front door shop" }),
    )
    .await;
    let tools: Vec<(String, Value)> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.name.to_string(), Value::Object((*t.input_schema).clone())))
        .collect();
    assert!(tools.len() > 20, "{tools:?}");
    drop(client);
    let session = open_session(&server, &bearer).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let target = Arc::new(Target {
        host: addr.clone(),
        bearer,
        order_id: fake.order_ids_in(STORE.0)[0],
        tools,
        session,
    });
    healthy(&mut server, &target, &fake, "before the first case").await;

    let started = Instant::now();
    let indices: Vec<usize> = match only {
        Some(n) => vec![n],
        None => (0..count).collect(),
    };
    let mut findings = Vec::new();
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let mut slowest = (Duration::ZERO, String::new());
    for chunk in indices.chunks(CHECK_EVERY) {
        let semaphore = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut running = Vec::new();
        for &index in chunk {
            let (target, addr, semaphore) = (target.clone(), addr.clone(), semaphore.clone());
            running.push(tokio::spawn(async move {
                let _slot = semaphore.acquire().await.unwrap();
                let case = case(seed, index, &target);
                let answer = send(&addr, &case).await;
                (case, answer)
            }));
        }
        for task in running {
            let (case, answer) = task.await.unwrap();
            if let Some(found) = judge(seed, &case, &answer) {
                eprintln!("{found}");
                findings.push(found);
            }
            let key = format!("{} {:?}", case.kind, answer.statuses.first());
            *statuses.entry(key).or_insert(0) += 1;
            if answer.elapsed > slowest.0 {
                slowest = (
                    answer.elapsed,
                    format!("case {} ({}: {})", case.index, case.kind, case.what),
                );
            }
        }
        let last = chunk.last().unwrap();
        healthy(&mut server, &target, &fake, &format!("after case {last}")).await;
        assert!(
            findings.is_empty(),
            "{} finding(s) by case {last}:\n{}",
            findings.len(),
            findings.join("\n")
        );
    }
    eprintln!(
        "front door: {} cases in {:?}, slowest {:?} ({}); first status by kind: {statuses:#?}",
        indices.len(),
        started.elapsed(),
        slowest.0,
        slowest.1
    );
    healthy(&mut server, &target, &fake, "at the end").await;
    if only.is_none() && count >= 1_000 {
        let called: std::collections::BTreeSet<String> = indices
            .iter()
            .map(|&i| case(seed, i, &target))
            .filter(|c| c.kind == "tools/call, mutated arguments")
            .map(|c| c.what)
            .collect();
        let missed: Vec<&String> = target
            .tools
            .iter()
            .map(|(name, _)| name)
            .filter(|name| !called.contains(*name))
            .collect();
        assert!(missed.is_empty(), "tools never called: {missed:?}");
    }
}

/// The judge sees what it must: a hang, an undocumented 5xx in any of several pipelined
/// answers, a well-formed request left without an answer.
#[test]
fn the_judge_flags_hangs_undocumented_5xx_and_missing_answers() {
    let case = |kind| Case {
        index: 7,
        kind,
        what: "w".into(),
        bytes: b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        half_close: false,
    };
    let answer = |received: &[u8], hung| Answer {
        statuses: statuses(received),
        hung,
        io_error: None,
        elapsed: Duration::ZERO,
        head: String::new(),
    };
    let two = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 502 Bad Gateway\r\n\r\n";
    assert_eq!(statuses(two), [200, 502]);
    let well_formed = case("odd headers");
    assert!(
        judge(1, &well_formed, &answer(two, false))
            .unwrap()
            .starts_with("UNDOCUMENTED 5XX")
    );
    let busy = b"HTTP/1.1 503 Service Unavailable\r\n\r\n";
    assert!(
        judge(1, &well_formed, &answer(busy, false)).is_none(),
        "503 is documented"
    );
    assert!(
        judge(1, &well_formed, &answer(b"", true))
            .unwrap()
            .starts_with("HANG")
    );
    assert!(
        judge(1, &well_formed, &answer(b"", false))
            .unwrap()
            .starts_with("NO ANSWER")
    );
    assert!(judge(1, &case("malformed HTTP"), &answer(b"", false)).is_none());
    let found = judge(1, &well_formed, &answer(b"", false)).unwrap();
    assert!(found.contains("GET / HTTP/1.1\\r\\n\\r\\n"), "{found}");
}
