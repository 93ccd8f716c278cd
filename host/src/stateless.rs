//! Stateless `tools/call` (MCP 2026-07-28) answered without building an rmcp service for
//! the request: the most common request a busy server gets, served by the same
//! [`OrderDeskMcp::call`] as every other call, with its result text written into the
//! JSON-RPC response as the component produced it (never parsed into a `Value` and written
//! again).
//!
//! Only a request that is plainly well-formed takes this path: one `tools/call` with the
//! 2026-07-28 headers (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` agreeing with the
//! body, no `Mcp-Param-*`), the protocol fields in `_meta`, arguments that are an object,
//! no progress token and no session. Anything else (other methods, a session, a progress
//! token, an odd header, a body that is not exactly such a request) goes to rmcp, which
//! validates and answers it as before — the same bytes, re-attached. rmcp's own rules are
//! kept where this path decides: a client that disconnects cancels its call (the call runs
//! on its own task, so a write it began is settled as for any abandoned call).

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::model::{ErrorCode, RequestId};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::auth::Principal;
use crate::capability::CallHooks;
use crate::mcp::{Arguments, OrderDeskMcp, ToolAnswer};

/// The only revision whose requests carry everything a call needs, with no session.
const PROTOCOL: &str = "2026-07-28";
const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

/// Whether the headers of a `POST /mcp` allow the stateless path, and the tool they name
/// (checked against the body later). `max_body` is the body limit rmcp enforces: a larger
/// or unsized (chunked) body goes to rmcp, which refuses it in its own words.
pub fn eligible(headers: &HeaderMap, max_body: usize) -> Option<String> {
    let one = |name: &str| {
        let mut values = headers.get_all(name).iter();
        let first = values.next()?.to_str().ok()?;
        values.next().is_none().then_some(first)
    };
    if headers.contains_key("mcp-session-id")
        || one("mcp-protocol-version")? != PROTOCOL
        || one("mcp-method")? != "tools/call"
        || headers.keys().any(|k| k.as_str().starts_with("mcp-param-"))
        || !essence_is(one(header::CONTENT_TYPE.as_str())?, "application/json")
        || !accepts_json_and_sse(headers)
    {
        return None;
    }
    let length: usize = one(header::CONTENT_LENGTH.as_str())?.parse().ok()?;
    (length <= max_body).then(|| one("mcp-name").map(str::to_string))?
}

/// `type/subtype` of a media type, compared without case and parameters.
fn essence_is(media_type: &str, wanted: &str) -> bool {
    media_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(wanted))
}

/// Both answer forms must be acceptable, as the transport requires of every POST.
fn accepts_json_and_sse(headers: &HeaderMap) -> bool {
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        for media in value.to_str().unwrap_or("").split(',') {
            json |= essence_is(media, "application/json");
            sse |= essence_is(media, "text/event-stream");
        }
    }
    json && sse
}

/// A JSON-RPC `tools/call` request exactly as this path serves it; any other field sends
/// the request to rmcp.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallRequest {
    jsonrpc: String,
    id: RequestId,
    method: String,
    params: CallParams,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallParams {
    name: String,
    #[serde(default)]
    arguments: Option<Map<String, Value>>,
    #[serde(rename = "_meta")]
    meta: Map<String, Value>,
}

/// The call a body holds, if this path may serve it (`named` is the `Mcp-Name` header).
fn parse(body: &[u8], named: &str) -> Option<CallRequest> {
    let request: CallRequest = serde_json::from_slice(body).ok()?;
    let meta = &request.params.meta;
    let plain = request.jsonrpc == "2.0"
        && request.method == "tools/call"
        && request.params.name == named
        && meta.get(META_PROTOCOL_VERSION).and_then(Value::as_str) == Some(PROTOCOL)
        && meta
            .get(META_CLIENT_CAPABILITIES)
            .is_some_and(Value::is_object)
        && !meta.contains_key("progressToken");
    plain.then_some(request)
}

/// What became of a request offered to this path.
pub enum Served {
    Answered(Response),
    /// Not a plain call: the request as it came (its body re-attached), for rmcp.
    NotPlain(Request<Body>),
    /// The body stopped arriving (the client timeout) or broke off.
    BodyLost,
}

/// Serve the call in `body` if it is one for this path; otherwise hand the request back
/// (with its body) for rmcp.
pub async fn serve(
    handler: &OrderDeskMcp,
    request: Request<Body>,
    named: String,
    max_body: usize,
) -> Served {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, max_body).await else {
        return Served::BodyLost;
    };
    let Some(call) = parse(&bytes, &named) else {
        return Served::NotPlain(Request::from_parts(parts, Body::from(bytes)));
    };
    let principal = parts.extensions.get::<Principal>().cloned();
    let arguments = Arguments::Object(call.params.arguments.unwrap_or_default());
    // On its own task, so a client that goes away cancels the call (the guard, dropped
    // with this future) instead of dropping it midway.
    let cancel = CancellationToken::new();
    let guard = cancel.clone().drop_guard();
    let handler = handler.new_session();
    let name = call.params.name;
    let task = tokio::spawn(async move {
        let hooks = CallHooks::cancelled_by(cancel);
        handler
            .call(&name, arguments, principal.as_ref(), hooks)
            .await
    });
    let answered = task.await;
    guard.disarm();
    let body = match answered {
        Ok(Ok((answer, _outcome))) => result_body(&call.id, answer),
        Ok(Err(error)) => serde_json::to_vec(&ErrorReply {
            jsonrpc: "2.0",
            id: &call.id,
            error,
        })
        .ok(),
        Err(panicked) => {
            tracing::error!("a stateless tool call's task failed: {panicked}");
            None
        }
    };
    Served::Answered(match body {
        Some(body) => json_response(body),
        None => internal_error(&call.id),
    })
}

/// The JSON-RPC response for an answer; `None` if the component's result is not JSON.
fn result_body(id: &RequestId, answer: ToolAnswer) -> Option<Vec<u8>> {
    let structured = if answer.is_error {
        None
    } else {
        match serde_json::from_str::<&RawValue>(&answer.text) {
            Ok(raw) => Some(raw),
            Err(e) => {
                tracing::error!("component returned invalid JSON: {e}");
                return None;
            }
        }
    };
    let reply = ResultReply {
        jsonrpc: "2.0",
        id,
        result: CallResult {
            result_type: "complete",
            content: [TextContent {
                kind: "text",
                text: &answer.text,
            }],
            structured_content: structured,
            is_error: answer.is_error,
        },
    };
    serde_json::to_vec(&reply).ok()
}

fn internal_error(id: &RequestId) -> Response {
    let error = rmcp::ErrorData::new(
        ErrorCode::INTERNAL_ERROR,
        "the tool's answer was lost",
        None,
    );
    match serde_json::to_vec(&ErrorReply {
        jsonrpc: "2.0",
        id,
        error,
    }) {
        Ok(body) => json_response(body),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A 200 with a JSON-RPC message: results, tool errors and JSON-RPC errors alike (the
/// errors this path can answer are ones rmcp also answers with 200).
fn json_response(body: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, Bytes::from(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The response rmcp would write for a `CallToolResult` (field names and order of
/// `rmcp::model::CallToolResult`), with `structuredContent` copied in as raw JSON text.
#[derive(Serialize)]
struct ResultReply<'a> {
    jsonrpc: &'static str,
    id: &'a RequestId,
    result: CallResult<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CallResult<'a> {
    result_type: &'static str,
    content: [TextContent<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    structured_content: Option<&'a RawValue>,
    is_error: bool,
}

#[derive(Serialize)]
struct TextContent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct ErrorReply<'a> {
    jsonrpc: &'static str,
    id: &'a RequestId,
    error: rmcp::ErrorData,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    const PLAIN: [(&str, &str); 6] = [
        ("mcp-protocol-version", PROTOCOL),
        ("mcp-method", "tools/call"),
        ("mcp-name", "orders_get"),
        ("content-type", "application/json; charset=utf-8"),
        ("accept", "application/json, text/event-stream"),
        ("content-length", "100"),
    ];

    fn with(extra: &[(&str, &str)], without: &str) -> HeaderMap {
        let mut pairs: Vec<(&str, &str)> = PLAIN
            .iter()
            .copied()
            .filter(|(k, _)| *k != without)
            .collect();
        pairs.extend_from_slice(extra);
        headers(&pairs)
    }

    #[test]
    fn a_plain_stateless_call_is_eligible_and_names_its_tool() {
        assert_eq!(
            eligible(&with(&[], ""), 1000).as_deref(),
            Some("orders_get")
        );
    }

    #[test]
    fn anything_unusual_in_the_headers_goes_to_rmcp() {
        let cases: [(&[(&str, &str)], &str); 12] = [
            (&[("mcp-session-id", "abc")], ""),
            (
                &[("mcp-protocol-version", "2025-11-25")],
                "mcp-protocol-version",
            ),
            (&[], "mcp-protocol-version"),
            (&[("mcp-method", "tools/list")], "mcp-method"),
            (&[("mcp-method", "tools/call")], ""), // two values
            (&[], "mcp-name"),
            (&[("mcp-param-order-id", "1")], ""),
            (&[("content-type", "text/plain")], "content-type"),
            (&[("accept", "application/json")], "accept"),
            (&[], "content-length"),
            (&[("content-length", "1001")], "content-length"),
            (&[("content-length", "x")], "content-length"),
        ];
        for (extra, without) in cases {
            assert_eq!(
                eligible(&with(extra, without), 1000),
                None,
                "{extra:?} -{without}"
            );
        }
    }

    fn body(params: Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params,
        }))
        .unwrap()
    }

    fn meta() -> Value {
        serde_json::json!({ META_PROTOCOL_VERSION: PROTOCOL, META_CLIENT_CAPABILITIES: {} })
    }

    #[test]
    fn a_plain_body_is_served_here() {
        let call = parse(
            &body(serde_json::json!({
                "name": "orders_get", "arguments": { "order_id": 1 }, "_meta": meta(),
            })),
            "orders_get",
        )
        .expect("plain");
        assert_eq!(call.params.name, "orders_get");
        assert_eq!(call.id, RequestId::Number(7));
    }

    #[test]
    fn anything_unusual_in_the_body_goes_to_rmcp() {
        let mut progress = meta();
        progress["progressToken"] = "p1".into();
        let mut old = meta();
        old[META_PROTOCOL_VERSION] = "2025-11-25".into();
        let cases = [
            serde_json::json!({ "name": "orders_list", "_meta": meta() }), // header disagrees
            serde_json::json!({ "name": "orders_get", "_meta": progress }),
            serde_json::json!({ "name": "orders_get", "_meta": old }),
            serde_json::json!({ "name": "orders_get", "_meta": { META_PROTOCOL_VERSION: PROTOCOL } }),
            serde_json::json!({ "name": "orders_get" }),
            serde_json::json!({ "name": "orders_get", "arguments": [1], "_meta": meta() }),
            serde_json::json!({ "name": "orders_get", "task": {}, "_meta": meta() }),
        ];
        for params in cases {
            assert!(
                parse(&body(params.clone()), "orders_get").is_none(),
                "{params}"
            );
        }
        assert!(parse(b"{not json", "orders_get").is_none());
        let notification = br#"{"jsonrpc":"2.0","method":"tools/call","params":{}}"#;
        assert!(parse(notification, "orders_get").is_none());
    }

    #[test]
    fn a_result_is_the_components_text_twice_and_an_error_only_as_text() {
        let ok = result_body(
            &RequestId::String("a".into()),
            ToolAnswer {
                text: r#"{"id":"1", "n": 2}"#.into(),
                is_error: false,
            },
        )
        .unwrap();
        let ok: Value = serde_json::from_slice(&ok).unwrap();
        assert_eq!(ok["id"], "a");
        assert_eq!(ok["result"]["content"][0]["text"], r#"{"id":"1", "n": 2}"#);
        assert_eq!(
            ok["result"]["structuredContent"],
            serde_json::json!({"id": "1", "n": 2})
        );
        assert_eq!(ok["result"]["isError"], false);
        assert_eq!(ok["result"]["resultType"], "complete");

        let failed = result_body(
            &RequestId::Number(3),
            ToolAnswer {
                text: r#"{"error":{"code":"X"}}"#.into(),
                is_error: true,
            },
        )
        .unwrap();
        let failed: Value = serde_json::from_slice(&failed).unwrap();
        assert!(failed["result"].get("structuredContent").is_none());
        assert_eq!(failed["result"]["isError"], true);

        let broken = ToolAnswer {
            text: "{not json".into(),
            is_error: false,
        };
        assert!(result_body(&RequestId::Number(1), broken).is_none());
    }
}
