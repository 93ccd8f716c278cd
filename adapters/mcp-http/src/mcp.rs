//! MCP streamable HTTP, stateless, JSON responses only
//! (https://modelcontextprotocol.io/specification/2025-11-25/basic/transports), independent of
//! the wasm bindings: [`handle`] turns one HTTP request into one HTTP response through a
//! [`Backend`].
//!
//! Every request stands alone: there is no `Mcp-Session-Id`, no server-to-client stream (GET
//! answers 405) and no state between requests, so what a tool binds to a connection
//! (`tenant_use_master_key`, `stores_use`) does not carry over; pass `store` per call instead.

use orderdesk_mcp_shapes::code::{INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR};
use orderdesk_mcp_shapes::{bearer, constant_time_eq, rpc_error};
use serde_json::{Map, Value, json};

/// Protocol versions `initialize` agrees to, newest first; any other request gets the newest.
pub const VERSIONS: [&str; 3] = ["2026-07-28", "2025-11-25", "2025-06-18"];

/// Versions a client may name in `MCP-Protocol-Version` (older ones too: the header is only
/// refused when it names a version no MCP revision has).
const HEADER_VERSIONS: [&str; 5] = [
    "2026-07-28",
    "2025-11-25",
    "2025-06-18",
    "2025-03-26",
    "2024-11-05",
];

/// `allowed_origins` when it is not configured: browser pages served from this machine.
pub const DEFAULT_ALLOWED_ORIGINS: &str = "http://localhost:*,http://127.0.0.1:*,http://[::1]:*";

/// `max_body_bytes` when it is not configured.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 << 20;

/// What the adapter needs from its imports.
pub trait Backend {
    /// A `wasi:config` setting.
    fn config(&self, key: &str) -> Option<String>;
    /// The catalog, as MCP `Tool` objects.
    fn list_tools(&self) -> Vec<Value>;
    /// `orderdesk:mcp/tools.call-tool`.
    fn call_tool(&self, call: ToolCall<'_>) -> Outcome;
    /// A fresh id for one call.
    fn request_id(&self) -> String;
}

/// One `tools/call`, as the component takes it.
pub struct ToolCall<'a> {
    /// The tenant master key (`Authorization: Bearer` when no store is configured).
    pub credential: Option<String>,
    pub name: &'a str,
    pub arguments_json: String,
    pub request_id: &'a str,
}

/// What became of a `call-tool`.
pub enum Outcome {
    /// The `structured` JSON object, as text.
    Ok(String),
    UnknownTool(String),
    Failed {
        code: String,
        message: String,
        details: Option<String>,
        retryable: bool,
    },
}

/// The parts of an HTTP request the transport looks at.
pub struct Request {
    pub method: String,
    pub path_with_query: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

pub enum Body {
    Read(Vec<u8>),
    /// Larger than `max_body_bytes`.
    TooLarge,
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The largest body the transport reads.
pub fn max_body_bytes(backend: &impl Backend) -> usize {
    backend
        .config("max_body_bytes")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_BODY_BYTES)
}

/// A message the transport cannot accept: an HTTP error with a JSON-RPC error without id.
fn refuse(status: u16, code: i64, message: &str) -> Response {
    Response::json(status, &rpc_error(Value::Null, code, message, None))
}

pub fn handle(backend: &impl Backend, request: Request) -> Response {
    let path = request
        .path_with_query
        .split('?')
        .next()
        .unwrap_or_default();
    if path != "/mcp" && path != "/" {
        return Response::empty(404);
    }
    if let Some(origin) = request.header("origin") {
        let allowed = backend
            .config("allowed_origins")
            .unwrap_or_else(|| DEFAULT_ALLOWED_ORIGINS.into());
        if !origin_allowed(&allowed, origin) {
            return refuse(403, INVALID_REQUEST, "origin not allowed");
        }
    }
    if let Some(token) = backend.config("auth_token").filter(|t| !t.is_empty()) {
        let presented = request.header("authorization").and_then(bearer);
        if !presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes())) {
            return refuse(
                401,
                INVALID_REQUEST,
                "a valid Authorization: Bearer is required",
            )
            .header("www-authenticate", "Bearer");
        }
    }
    if request.method != "POST" {
        // Stateless: no server-to-client stream (GET) and no session to end (DELETE).
        return Response::empty(405).header("allow", "POST");
    }
    let content_type = request.header("content-type").unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return refuse(
            415,
            INVALID_REQUEST,
            "Content-Type must be application/json",
        );
    }
    if let Some(version) = request.header("mcp-protocol-version")
        && !HEADER_VERSIONS.contains(&version.trim())
    {
        return refuse(
            400,
            INVALID_REQUEST,
            &format!("unsupported MCP-Protocol-Version: {version}"),
        );
    }
    let body = match request.body {
        Body::Read(ref body) => body,
        Body::TooLarge => return refuse(413, INVALID_REQUEST, "request body too large"),
    };
    let message: Value = match serde_json::from_slice(body) {
        Ok(message) => message,
        Err(e) => return refuse(400, PARSE_ERROR, &format!("parse error: {e}")),
    };
    let Value::Object(message) = message else {
        // JSON-RPC batches were removed from MCP in 2025-06-18.
        return refuse(400, INVALID_REQUEST, "expected one JSON-RPC message object");
    };
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return refuse(400, INVALID_REQUEST, "jsonrpc must be \"2.0\"");
    }
    let id = match message.get("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id.clone()),
        Some(_) => return refuse(400, INVALID_REQUEST, "id must be a string or a number"),
    };
    let method = match message.get("method") {
        Some(Value::String(method)) => method.as_str(),
        Some(_) => return refuse(400, INVALID_REQUEST, "method must be a string"),
        // A response to a server request: this server sends none, so there is nothing
        // to match it with; accepted like a notification.
        None if id.is_some()
            && (message.contains_key("result") || message.contains_key("error")) =>
        {
            return Response::empty(202);
        }
        None => return refuse(400, INVALID_REQUEST, "not a JSON-RPC request"),
    };
    let Some(id) = id else {
        // Notifications (`notifications/initialized`, `notifications/cancelled`, …): each
        // request here runs to completion within its HTTP exchange, so none changes anything.
        return Response::empty(202);
    };
    let params = match message.get("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(params)) => params.clone(),
        Some(_) => {
            let error = rpc_error(id, INVALID_PARAMS, "params must be an object", None);
            return Response::json(200, &error);
        }
    };
    let answer = match method {
        "initialize" => Ok(initialize(&params)),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({ "tools": backend.list_tools() })),
        "tools/call" => call_tool(backend, &request, &params),
        _ => Err((
            METHOD_NOT_FOUND,
            format!("method not found: {method}"),
            None,
        )),
    };
    let body = match answer {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err((code, message, data)) => rpc_error(id, code, &message, data),
    };
    Response::json(200, &body)
}

fn initialize(params: &Map<String, Value>) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = VERSIONS
        .into_iter()
        .find(|v| Some(*v) == asked)
        .unwrap_or(VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false } },
        "serverInfo": { "name": "orderdesk-mcp", "version": env!("CARGO_PKG_VERSION") },
        "instructions": orderdesk_mcp_shapes::instructions::STATELESS,
    })
}

type RpcError = (i64, String, Option<Value>);

fn call_tool(
    backend: &impl Backend,
    request: &Request,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return Err((
            INVALID_PARAMS,
            "tools/call needs a string `name`".into(),
            None,
        ));
    };
    let arguments = match params.get("arguments") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(arguments @ Value::Object(_)) => arguments.clone(),
        Some(_) => {
            return Err((INVALID_PARAMS, "`arguments` must be an object".into(), None));
        }
    };
    // With a store configured (or an `auth_token`) the bearer only admits the request;
    // otherwise it is the tenant's master key.
    let single_store = backend.config("store_id").is_some_and(|s| !s.is_empty())
        || backend.config("auth_token").is_some_and(|t| !t.is_empty());
    let credential = if single_store {
        None
    } else {
        request
            .header("authorization")
            .and_then(bearer)
            .map(str::to_string)
    };
    let request_id = backend.request_id();
    let outcome = backend.call_tool(ToolCall {
        credential,
        name,
        arguments_json: arguments.to_string(),
        request_id: &request_id,
    });
    match outcome {
        Outcome::Ok(structured) => {
            let value: Value = serde_json::from_str(&structured).map_err(|e| {
                (
                    -32603,
                    format!("the component returned invalid JSON: {e}"),
                    None,
                )
            })?;
            Ok(json!({
                "content": [{ "type": "text", "text": structured }],
                "structuredContent": value,
                "isError": false,
            }))
        }
        Outcome::UnknownTool(tool) => Err((
            INVALID_PARAMS,
            format!("unknown tool: {tool}"),
            Some(json!({ "tool": tool })),
        )),
        Outcome::Failed {
            code,
            message,
            details,
            retryable,
        } => {
            let details = details
                .as_deref()
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
                .unwrap_or(Value::Null);
            // As the native host answers: the error as text and no structuredContent, which
            // clients would validate against the tool's outputSchema (successes only).
            let body = orderdesk_mcp_shapes::tool_error_body(
                &code,
                &message,
                details,
                retryable,
                &request_id,
            );
            Ok(json!({
                "content": [{ "type": "text", "text": body }],
                "isError": true,
            }))
        }
    }
}

/// `allowed` is a comma-separated list of `scheme://host:port`, `scheme://host:*` (any port)
/// or `*` (any origin).
pub fn origin_allowed(allowed: &str, origin: &str) -> bool {
    let origin = origin.trim();
    allowed.split(',').map(str::trim).any(|entry| {
        if entry == "*" || entry.eq_ignore_ascii_case(origin) {
            return true;
        }
        let Some(prefix) = entry.strip_suffix('*') else {
            return false;
        };
        if !prefix.ends_with(':') || origin.len() < prefix.len() {
            return false;
        }
        let (head, port) = origin.split_at(prefix.len());
        head.eq_ignore_ascii_case(prefix)
            && !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert!(origin_allowed(
            DEFAULT_ALLOWED_ORIGINS,
            "http://localhost:3000"
        ));
        assert!(origin_allowed(DEFAULT_ALLOWED_ORIGINS, "http://[::1]:1"));
        assert!(!origin_allowed(
            DEFAULT_ALLOWED_ORIGINS,
            "http://localhost.evil:3000"
        ));
        assert!(!origin_allowed(
            DEFAULT_ALLOWED_ORIGINS,
            "http://localhost:"
        ));
        assert!(!origin_allowed(
            DEFAULT_ALLOWED_ORIGINS,
            "https://example.com"
        ));
        assert!(origin_allowed("https://app.example", "https://app.example"));
        assert!(origin_allowed("*", "https://anything"));
    }
}
