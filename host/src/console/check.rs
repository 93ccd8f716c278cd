//! "Check the connection": an MCP round trip to this server's own `/mcp`, as an agent makes
//! it (HTTP, the tenant's bearer, `initialize` then `tools/list` in a session, then the
//! session's end), so what it proves is what an agent would meet.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use super::Console;

const TIMEOUT: Duration = Duration::from_secs(10);
const PROTOCOL: &str = "2025-06-18";

/// The number of tools the server lists for `key`, or what went wrong.
pub async fn mcp_round_trip(c: &Console, key: &str) -> Result<usize, String> {
    tokio::time::timeout(TIMEOUT, round_trip(c, key))
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", TIMEOUT.as_secs())))
}

async fn round_trip(c: &Console, key: &str) -> Result<usize, String> {
    let host = url::Url::parse(&c.public_url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| {
                u.port()
                    .map_or_else(|| h.to_string(), |p| format!("{h}:{p}"))
            })
        })
        .unwrap_or_else(|| c.local.to_string());
    let init = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                   "clientInfo": {"name": "orderdesk-console-check", "version": env!("CARGO_PKG_VERSION")}}
    });
    let (status, session, body) = post(c, &host, key, None, &init).await?;
    if status == 401 {
        return Err("the server refused the key (401)".into());
    }
    if status != 200 {
        return Err(format!("initialize answered HTTP {status}"));
    }
    let answer = rpc_answer(&body)?;
    if answer.pointer("/result/serverInfo").is_none() {
        return Err("initialize did not answer as an MCP server".into());
    }
    let session = session.ok_or("the server gave no session id")?;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    post(c, &host, key, Some(&session), &initialized).await?;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let (status, _, body) = post(c, &host, key, Some(&session), &list).await?;
    let tools = (status == 200)
        .then(|| rpc_answer(&body).ok())
        .flatten()
        .and_then(|a| {
            a.pointer("/result/tools")
                .and_then(Value::as_array)
                .map(Vec::len)
        })
        .ok_or_else(|| format!("tools/list answered HTTP {status}"))?;
    let _ = send(c, &host, key, Some(&session), "DELETE", None).await;
    Ok(tools)
}

async fn post(
    c: &Console,
    host: &str,
    key: &str,
    session: Option<&str>,
    body: &Value,
) -> Result<(u16, Option<String>, String), String> {
    send(c, host, key, session, "POST", Some(body.to_string())).await
}

async fn send(
    c: &Console,
    host: &str,
    key: &str,
    session: Option<&str>,
    method: &str,
    body: Option<String>,
) -> Result<(u16, Option<String>, String), String> {
    let stream = tokio::net::TcpStream::connect(c.local)
        .await
        .map_err(|e| format!("cannot reach the server's own listener: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri("/mcp")
        .header("host", host)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", PROTOCOL);
    if let Some(s) = session {
        request = request.header("mcp-session-id", s);
    }
    let request = request
        .body(Full::new(bytes::Bytes::from(body.unwrap_or_default())))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, session, String::from_utf8_lossy(&body).into_owned()))
}

/// The JSON-RPC answer in a body: plain JSON, or the first SSE `data:` event that is one.
fn rpc_answer(body: &str) -> Result<Value, String> {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return Ok(v);
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v.get("id").is_some())
        .ok_or_else(|| "the answer was not JSON-RPC".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_from_json_or_sse() {
        assert_eq!(rpc_answer(r#"{"id":1,"result":{}}"#).unwrap()["id"], 1);
        let sse = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n\ndata: {\"id\":2,\"result\":{\"tools\":[]}}\n\n";
        assert_eq!(rpc_answer(sse).unwrap()["id"], 2);
        assert!(rpc_answer("<html>").is_err());
    }
}
