//! A lean MCP-over-HTTP client for load: one keep-alive connection (hyper's HTTP/1 client,
//! no pool), in either era — stateless 2026-07-28 requests (`MCP-Protocol-Version`,
//! `Mcp-Method`, `Mcp-Name` headers and the `_meta` protocol fields), or a 2025-11-25
//! session (`initialize` once, then `Mcp-Session-Id` on every request, `DELETE` at the end).

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// Which era of MCP a client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    Stateless,
    Session,
}

impl Era {
    pub fn label(self) -> &'static str {
        match self {
            Era::Stateless => "stateless 2026-07-28",
            Era::Session => "session 2025-11-25",
        }
    }
}

const STATELESS: &str = "2026-07-28";
const SESSION: &str = "2025-11-25";

pub struct Client {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    era: Era,
    session: Option<String>,
    next_id: u64,
}

/// One connection to `addr` (`127.0.0.1:PORT`); a session client also initializes.
pub async fn connect(addr: &str, era: Era) -> Result<Client, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut client = Client {
        sender,
        host: addr.to_string(),
        era,
        session: None,
        next_id: 1,
    };
    if era == Era::Session {
        client.initialize().await?;
    }
    Ok(client)
}

impl Client {
    async fn initialize(&mut self) -> Result<(), String> {
        let params = json!({
            "protocolVersion": SESSION,
            "capabilities": {},
            "clientInfo": { "name": "bench", "version": "1" }
        });
        let (status, headers, body) = self.request("initialize", None, Some(params)).await?;
        if status != StatusCode::OK {
            return Err(format!(
                "initialize: {status} {}",
                String::from_utf8_lossy(&body)
            ));
        }
        let id = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .ok_or("initialize: no Mcp-Session-Id")?;
        self.session = Some(id.to_string());
        let (status, _, _) = self
            .request("notifications/initialized", None, None)
            .await?;
        if status != StatusCode::ACCEPTED {
            return Err(format!("notifications/initialized: {status}"));
        }
        Ok(())
    }

    /// A JSON-RPC request (a notification when `params` is `None` and the method says so),
    /// with the headers and fields its era needs.
    pub async fn request(
        &mut self,
        method: &str,
        name: Option<&str>,
        params: Option<Value>,
    ) -> Result<(StatusCode, hyper::HeaderMap, Bytes), String> {
        let notification = method.starts_with("notifications/");
        let mut message = json!({ "jsonrpc": "2.0", "method": method });
        if !notification {
            message["id"] = self.next_id.into();
            self.next_id += 1;
        }
        let mut params = params.unwrap_or_else(|| json!({}));
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri("/mcp")
            .header("host", &self.host)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        match (self.era, &self.session) {
            (Era::Stateless, _) => {
                params["_meta"] = json!({
                    "io.modelcontextprotocol/protocolVersion": STATELESS,
                    "io.modelcontextprotocol/clientCapabilities": {},
                    "io.modelcontextprotocol/clientInfo": { "name": "bench", "version": "1" }
                });
                builder = builder
                    .header("mcp-protocol-version", STATELESS)
                    .header("mcp-method", method);
                if let Some(name) = name {
                    builder = builder.header("mcp-name", name);
                }
            }
            (Era::Session, Some(session)) => {
                builder = builder
                    .header("mcp-protocol-version", SESSION)
                    .header("mcp-session-id", session);
            }
            (Era::Session, None) => {}
        }
        if !notification || params.as_object().is_some_and(|p| !p.is_empty()) {
            message["params"] = params;
        }
        let request = builder
            .body(Full::new(Bytes::from(message.to_string())))
            .map_err(|e| e.to_string())?;
        self.send(request).await
    }

    async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, hyper::HeaderMap, Bytes), String> {
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((parts.status, parts.headers, body))
    }

    /// `tools/call orders_get`; the answer's body.
    pub async fn orders_get(&mut self, arguments: &Value) -> Result<Bytes, String> {
        let params = json!({ "name": "orders_get", "arguments": arguments });
        let (status, _, body) = self
            .request("tools/call", Some("orders_get"), Some(params))
            .await?;
        if status != StatusCode::OK || contains(&body, br#""isError":true"#) {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
        }
        Ok(body)
    }

    /// `tools/call orders_get`; `Ok` only for a cache hit.
    pub async fn orders_get_hit(&mut self, arguments: &Value) -> Result<(), String> {
        let body = self.orders_get(arguments).await?;
        if !contains(&body, br#""cache":"hit""#) {
            return Err(format!(
                "not a cache hit: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(())
    }

    /// `tools/list`; `Ok` when the answer lists tools.
    pub async fn tools_list(&mut self) -> Result<(), String> {
        let (status, _, body) = self.request("tools/list", None, None).await?;
        if status != StatusCode::OK || !contains(&body, br#""tools":["#) {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
        }
        Ok(())
    }

    /// End the session, if there is one.
    pub async fn close(mut self) {
        if let Some(session) = self.session.take() {
            let request = Request::builder()
                .method(Method::DELETE)
                .uri("/mcp")
                .header("host", &self.host)
                .header("mcp-protocol-version", SESSION)
                .header("mcp-session-id", session)
                .body(Full::new(Bytes::new()))
                .unwrap();
            let _ = self.send(request).await;
        }
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
