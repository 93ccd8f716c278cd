//! What the two MCP fronts of the component say alike: the native host (`host/`, rmcp and
//! its stateless fast path) and the `wasi:http` adapter (`adapters/mcp-http`, for other
//! runtimes). One definition each of the JSON-RPC error envelope, the body of a failed tool
//! call, how a bearer token is read from `Authorization`, and the server's instructions, so
//! a client sees the same server whichever front it reached. No I/O, no MCP library: plain
//! `serde_json` values, built for the host and for `wasm32-wasip2` alike.

use serde_json::{Value, json};

/// JSON-RPC 2.0 error codes (and MCP's use of them).
pub mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    /// Server-defined: the request cannot be served now (full, unauthorised, no session).
    pub const SERVER_REFUSED: i64 = -32000;
    /// Server-defined: no such session, or a bearer the server does not accept.
    pub const SESSION_OR_AUTH: i64 = -32001;
}

/// A JSON-RPC error response: `{"jsonrpc": "2.0", "id", "error": {code, message, data?}}`.
/// `id` is `null` when the request's id is unknown (it could not be read, or the transport
/// refused it before reading it).
pub fn rpc_error(id: Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({ "code": code, "message": message });
    if let Some(data) = data {
        error["data"] = data;
    }
    json!({ "jsonrpc": "2.0", "id": id, "error": error })
}

/// The text content of a failed tool call (`isError: true`, no `structuredContent`: clients
/// validate structured content against the tool's `outputSchema`, which describes
/// successes): `{"error": {code, message, details, retryable, request_id}}`.
pub fn tool_error_body(
    code: &str,
    message: &str,
    details: Value,
    retryable: bool,
    request_id: &str,
) -> String {
    json!({
        "error": {
            "code": code,
            "message": message,
            "details": details,
            "retryable": retryable,
            "request_id": request_id,
        }
    })
    .to_string()
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive, RFC
/// 6750); `None` for another scheme or an empty token.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Compare secrets without a timing signal beyond their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The server's `instructions`: what the tools are for, then how a client picks a store in
/// this front's mode.
pub mod instructions {
    macro_rules! tools {
        () => {
            "Tools for OrderDesk stores: read and search orders, create and update them \
(orders_update merges safely; orders_mutate applies JSON Patch), move them between folders \
(store_info lists folders), add notes, items and shipments, and manage inventory (products_*). "
        };
    }
    macro_rules! errors {
        () => {
            " Failed calls return isError with error.code (e.g. ORDER_NOT_FOUND, \
CONCURRENT_UPDATE, OD_API_429, INVALID_ARGUMENT)."
        };
    }

    /// The native host: sessions or stateless requests, tenants, sync and the mirror.
    pub const SERVER: &str = concat!(
        tools!(),
        "With several stores, call tenant_use_master_key, then stores_list / stores_use, or \
pass `store` to any tool. sync_configure keeps a local mirror of a store's orders (polling and \
webhooks); mirror_orders_query searches it without calling OrderDesk.",
        errors!()
    );

    /// The `wasi:http` adapter: every request stands alone.
    pub const STATELESS: &str = concat!(
        tools!(),
        "Each request stands alone: pass `store` to a tool rather than relying on stores_use.",
        errors!()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_follow_rfc_6750() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("BEARER abc"), Some("abc"));
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearer   "), None);
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer(""), None);
    }

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret-longer"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn rpc_errors_carry_data_only_when_given() {
        let plain = rpc_error(Value::Null, code::PARSE_ERROR, "bad", None);
        assert_eq!(
            plain,
            json!({ "jsonrpc": "2.0", "id": null, "error": { "code": -32700, "message": "bad" } })
        );
        let with = rpc_error(
            json!(3),
            code::INVALID_PARAMS,
            "x",
            Some(json!({ "tool": "t" })),
        );
        assert_eq!(with["id"], 3);
        assert_eq!(with["error"]["data"]["tool"], "t");
    }

    #[test]
    fn a_tool_error_body_names_every_field() {
        let body: Value = serde_json::from_str(&tool_error_body(
            "BUSY",
            "later",
            json!({"retry_after_ms": 5}),
            true,
            "r1",
        ))
        .unwrap();
        assert_eq!(
            body,
            json!({ "error": { "code": "BUSY", "message": "later",
                "details": { "retry_after_ms": 5 }, "retryable": true, "request_id": "r1" } })
        );
    }

    #[test]
    fn both_instructions_say_what_the_tools_do_and_how_errors_look() {
        for text in [instructions::SERVER, instructions::STATELESS] {
            assert!(text.starts_with("Tools for OrderDesk stores"));
            assert!(text.contains("isError with error.code"));
            assert!(!text.contains("  "), "{text}");
        }
        assert!(instructions::SERVER.contains("tenant_use_master_key"));
        assert!(instructions::STATELESS.contains("Each request stands alone"));
    }
}
