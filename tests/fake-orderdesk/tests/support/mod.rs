//! A tiny HTTP/1.1 client over a raw `TcpStream`, so the tests see exactly what is on the
//! wire (including a connection closed without any response).

#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;

use fake_orderdesk::{FakeConfig, FakeOrderDesk};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A header parsed as an integer.
    pub fn header_u64(&self, name: &str) -> Option<u64> {
        self.header(name)?.parse().ok()
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "body is not JSON ({err}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Sends requests to one fake, authenticated unless told otherwise.
#[derive(Clone, Debug)]
pub struct Client {
    pub addr: SocketAddr,
    pub store_id: String,
    pub api_key: String,
}

impl Client {
    pub fn new(fake: &FakeOrderDesk) -> Self {
        Self {
            addr: fake.addr(),
            store_id: fake.store_id().to_string(),
            api_key: fake.api_key().to_string(),
        }
    }

    /// A client for another store on the same fake.
    pub fn for_store(fake: &FakeOrderDesk, store_id: &str, api_key: &str) -> Self {
        Self {
            addr: fake.addr(),
            store_id: store_id.to_string(),
            api_key: api_key.to_string(),
        }
    }

    /// An authenticated DELETE of `path`, without a body.
    pub async fn delete(&self, path: &str) -> Reply {
        self.request("DELETE", path, &[], None).await
    }

    /// An authenticated GET of `path` (relative to `/api/v2`).
    pub async fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], None).await
    }

    /// An authenticated request with a JSON body.
    pub async fn send_json(&self, method: &str, path: &str, body: &Value) -> Reply {
        let body = body.to_string();
        self.request(
            method,
            path,
            &[("Content-Type", "application/json")],
            Some(&body),
        )
        .await
    }

    /// An authenticated request with extra headers and an optional body.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut all = vec![
            ("ORDERDESK-STORE-ID", self.store_id.as_str()),
            ("ORDERDESK-API-KEY", self.api_key.as_str()),
        ];
        all.extend_from_slice(headers);
        self.raw_request(method, path, &all, body).await
    }

    /// A request with exactly these headers (no credentials added); panics on I/O errors.
    pub async fn raw_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let bytes = self
            .exchange(&build(method, path, headers, body))
            .await
            .expect("I/O error");
        parse(&bytes)
    }

    /// An authenticated request with an optional JSON body; `None` when the server closed
    /// the connection without answering.
    pub async fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Option<Reply> {
        let body = body.map(Value::to_string);
        let mut headers = vec![
            ("ORDERDESK-STORE-ID", self.store_id.as_str()),
            ("ORDERDESK-API-KEY", self.api_key.as_str()),
        ];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        match self
            .exchange(&build(method, path, &headers, body.as_deref()))
            .await
        {
            Ok(bytes) if bytes.is_empty() => None,
            Ok(bytes) => Some(parse(&bytes)),
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => None,
            Err(err) => panic!("I/O error: {err}"),
        }
    }

    /// An authenticated request whose JSON body is sent with `Transfer-Encoding: chunked`
    /// (no `Content-Length`).
    pub async fn send_chunked(&self, method: &str, path: &str, body: &Value) -> Reply {
        let headers = [
            ("ORDERDESK-STORE-ID", self.store_id.as_str()),
            ("ORDERDESK-API-KEY", self.api_key.as_str()),
            ("Content-Type", "application/json"),
        ];
        let bytes = self
            .exchange(&build_chunked(method, path, &headers, &body.to_string()))
            .await
            .expect("I/O error");
        parse(&bytes)
    }

    /// Writes `request` on a fresh connection and reads until the server closes it.
    pub async fn exchange(&self, request: &[u8]) -> io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(self.addr).await?;
        stream.write_all(request).await?;
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await?;
        Ok(out)
    }
}

/// The bytes of a `Connection: close` request for `/api/v2{path}`.
pub fn build(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Vec<u8> {
    let mut head =
        format!("{method} /api/v2{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default().as_bytes());
    bytes
}

/// The bytes of a `Connection: close` request for `/api/v2{path}` whose body is sent in
/// two chunks with `Transfer-Encoding: chunked` and no `Content-Length`.
pub fn build_chunked(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut out =
        format!("{method} /api/v2{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("Transfer-Encoding: chunked\r\n\r\n");
    let middle = (0..=body.len() / 2)
        .rev()
        .find(|&i| body.is_char_boundary(i))
        .unwrap_or(0);
    let (first, second) = body.split_at(middle);
    for chunk in [first, second].into_iter().filter(|c| !c.is_empty()) {
        out.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    out.push_str("0\r\n\r\n");
    out.into_bytes()
}

/// Parses a whole response (the server closed the connection after it).
pub fn parse(bytes: &[u8]) -> Reply {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(bytes)));
    let head = std::str::from_utf8(&bytes[..split]).expect("head is UTF-8");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    assert!(
        status_line.starts_with("HTTP/1.1 "),
        "bad status line {status_line}"
    );
    let status = status_line[9..12].parse().expect("status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = bytes[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

/// Decodes a chunked body.
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = std::str::from_utf8(&data[..line_end]).expect("chunk size");
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .expect("hex size");
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// A fake with the given number of orders and OrderDesk's rate limiter on.
pub async fn fake_with_limit(orders: usize) -> (FakeOrderDesk, Client) {
    let config = FakeConfig {
        orders,
        ..FakeConfig::default()
    };
    let fake = FakeOrderDesk::start(config).await.expect("fake starts");
    let client = Client::new(&fake);
    (fake, client)
}

/// The smallest order OrderDesk accepts, with this `source_id`.
pub fn new_order(source_id: &str) -> Value {
    json!({
        "source_id": source_id,
        "shipping": {"company": "Acme"},
        "order_items": [{"name": "Mug", "price": 4, "quantity": 1}],
    })
}

/// A fake with the given number of orders and the rate limiter off, for functional tests.
pub async fn fake_without_limit(orders: usize) -> (FakeOrderDesk, Client) {
    let config = FakeConfig {
        orders,
        rate_limit: false,
        ..FakeConfig::default()
    };
    let fake = FakeOrderDesk::start(config).await.expect("fake starts");
    let client = Client::new(&fake);
    (fake, client)
}

/// Order ids in a list answer, as numbers.
pub fn ids(reply: &Value, key: &str) -> Vec<u64> {
    reply[key]
        .as_array()
        .expect("record list")
        .iter()
        .map(|r| {
            r["id"]
                .as_str()
                .expect("string id")
                .parse()
                .expect("numeric id")
        })
        .collect()
}
