//! An MCP server as a `wasi:http/incoming-handler` component: MCP streamable HTTP (stateless,
//! JSON responses) in front of the imported `orderdesk:mcp/tools`. Composed with
//! `orderdesk.wasm` by `compose/orderdesk-server.wac` into `orderdesk-server.wasm`, which any
//! `wasi:http` proxy runtime serves (`wasmtime serve -Scli -Sconfig -Skeyvalue`).
//!
//! Endpoint: `POST /mcp` (or `/`). Settings from `wasi:config`, which the component reads
//! too: `auth_token` (when set, every request must carry `Authorization: Bearer <it>`),
//! `allowed_origins` (browser origins, as the native host takes them; loopback by default),
//! `max_body_bytes` (2 MiB). With `store_id` set, tools act on that store; without one, the
//! bearer is a tenant master key and is passed to the component as the caller's credential.
//!
//! The protocol lives in [`mcp`]; this file only moves bytes between it and the bindings.

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "orderdesk:mcp-http/mcp-http",
    generate_all,
});

mod mcp;

use serde_json::{Value, json};

use exports::wasi::http::incoming_handler::Guest;
use orderdesk::mcp::tools::{self, CallError, Caller, ToolDescriptor};
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasi::io::streams::StreamError;

struct McpHttp;

impl mcp::Backend for McpHttp {
    fn config(&self, key: &str) -> Option<String> {
        wasi::config::store::get(key).ok().flatten()
    }

    fn list_tools(&self) -> Vec<Value> {
        tools::list_tools().iter().map(to_mcp_tool).collect()
    }

    fn call_tool(&self, call: mcp::ToolCall<'_>) -> mcp::Outcome {
        let caller = Caller {
            credential: call.credential,
            default_store: None,
            request_id: call.request_id.to_string(),
        };
        match tools::call_tool(&caller, call.name, &call.arguments_json) {
            Ok(output) => mcp::Outcome::Ok(output.structured),
            Err(CallError::UnknownTool(name)) => mcp::Outcome::UnknownTool(name),
            Err(CallError::Failed(e)) => mcp::Outcome::Failed {
                code: e.code,
                message: e.message,
                details: e.details,
                retryable: e.retryable,
            },
        }
    }

    fn request_id(&self) -> String {
        let [a, b] = [0; 2].map(|_| wasi::random::random::get_random_u64());
        format!("{a:016x}{b:016x}")
    }
}

/// A catalog entry as an MCP `Tool`.
fn to_mcp_tool(d: &ToolDescriptor) -> Value {
    let schema = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!({}));
    let a = &d.annotations;
    json!({
        "name": d.name,
        "title": d.title,
        "description": d.description,
        "inputSchema": schema(&d.input_schema),
        "outputSchema": schema(&d.output_schema),
        "annotations": {
            "title": d.title,
            "readOnlyHint": a.read_only,
            "destructiveHint": a.destructive,
            "idempotentHint": a.idempotent,
            "openWorldHint": a.open_world,
        },
    })
}

impl Guest for McpHttp {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let response = mcp::handle(&McpHttp, read_request(&request));
        drop(request);
        send(response_out, response);
    }
}

fn read_request(request: &IncomingRequest) -> mcp::Request {
    let method = match request.method() {
        Method::Get => "GET".to_string(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other,
    };
    let headers = request
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(&value).into_owned();
            (name.to_ascii_lowercase(), value)
        })
        .collect();
    let body = if method == "POST" {
        read_body(request, mcp::max_body_bytes(&McpHttp))
    } else {
        mcp::Body::Read(Vec::new())
    };
    mcp::Request {
        method,
        path_with_query: request.path_with_query().unwrap_or_default(),
        headers,
        body,
    }
}

/// The body, up to `limit` bytes; a body that cannot be read reads as empty (and then
/// fails to parse).
fn read_body(request: &IncomingRequest, limit: usize) -> mcp::Body {
    let Ok(body) = request.consume() else {
        return mcp::Body::Read(Vec::new());
    };
    let mut bytes = Vec::new();
    if let Ok(stream) = body.stream() {
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > limit {
                        return mcp::Body::TooLarge;
                    }
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(_)) => break,
            }
        }
    }
    mcp::Body::Read(bytes)
}

fn send(out: ResponseOutparam, response: mcp::Response) {
    let mut headers: Vec<(String, Vec<u8>)> = response
        .headers
        .into_iter()
        .map(|(n, v)| (n, v.into_bytes()))
        .collect();
    headers.push((
        "content-length".into(),
        response.body.len().to_string().into_bytes(),
    ));
    let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let outgoing = OutgoingResponse::new(fields);
    let _ = outgoing.set_status_code(response.status);
    let Ok(body) = outgoing.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(outgoing));
    if let Ok(stream) = body.write() {
        // `blocking-write-and-flush` takes at most 4096 bytes at a time.
        for chunk in response.body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                return;
            }
        }
        drop(stream);
    }
    let _ = OutgoingBody::finish(body, None);
}

export!(McpHttp);
