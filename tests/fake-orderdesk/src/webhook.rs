//! OrderDesk's outgoing webhooks: a delivery of the "Post Order JSON" rule action, signed as
//! OrderDesk signs it, and a loopback-only sender for it.
//!
//! OrderDesk POSTs `application/x-www-form-urlencoded` with one field, `order`, holding the
//! order as JSON, and two headers: `X-ORDER-DESK-STORE-ID` (the store) and
//! `X-ORDER-DESK-HASH`, the hex HMAC-SHA256 of the raw (URL-decoded) order JSON keyed by the
//! store's API key ([docs](https://apidocs.orderdesk.com/#post-order-json)).
//!
//! ```no_run
//! # async fn demo(url: &str) -> anyhow::Result<()> {
//! use fake_orderdesk::webhook::{Delivery, post};
//!
//! let delivery = Delivery::signed("10001", "fake-api-key-0123456789", r#"{"id":"100001"}"#);
//! let (status, body) = post(url, &delivery).await?;
//! # Ok(()) }
//! ```

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Context, bail};
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tokio::net::TcpStream;

/// The header naming the store a delivery comes from.
pub const STORE_HEADER: &str = "X-ORDER-DESK-STORE-ID";
/// The header carrying the delivery's signature.
pub const HASH_HEADER: &str = "X-ORDER-DESK-HASH";
/// The content type OrderDesk posts with.
pub const FORM: &str = "application/x-www-form-urlencoded";

/// The hex HMAC-SHA256 of `order_json` keyed by `api_key`, as `X-ORDER-DESK-HASH` carries it.
pub fn signature(order_json: &str, api_key: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(api_key.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(order_json.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `order=<order_json, form-urlencoded>`, the body OrderDesk posts.
pub fn form_body(order_json: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("order", order_json)
        .finish()
}

/// One webhook delivery: its headers and form body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// `X-ORDER-DESK-STORE-ID`, or `None` to leave the header out.
    pub store_id: Option<String>,
    /// `X-ORDER-DESK-HASH`, or `None` to leave the header out.
    pub signature: Option<String>,
    /// `Content-Type`.
    pub content_type: String,
    /// The raw request body.
    pub body: Vec<u8>,
}

impl Delivery {
    /// A delivery of `order_json` from `store_id`, signed with `api_key`.
    pub fn signed(store_id: &str, api_key: &str, order_json: &str) -> Delivery {
        Delivery {
            store_id: Some(store_id.to_string()),
            signature: Some(signature(order_json, api_key)),
            content_type: FORM.to_string(),
            body: form_body(order_json).into_bytes(),
        }
    }

    /// The same delivery with another `X-ORDER-DESK-HASH` (`None`: none at all).
    pub fn with_signature(mut self, signature: Option<&str>) -> Delivery {
        self.signature = signature.map(str::to_string);
        self
    }

    /// The same delivery with another `X-ORDER-DESK-STORE-ID` (`None`: none at all).
    pub fn with_store_id(mut self, store_id: Option<&str>) -> Delivery {
        self.store_id = store_id.map(str::to_string);
        self
    }

    /// The same headers with another body, sent as it is.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Delivery {
        self.body = body.into();
        self
    }

    /// The same delivery with another `Content-Type`.
    pub fn with_content_type(mut self, content_type: &str) -> Delivery {
        self.content_type = content_type.to_string();
        self
    }

    /// The `order` field of the body, URL-decoded; `None` when the body has none.
    pub fn order_json(&self) -> Option<String> {
        form_urlencoded::parse(&self.body)
            .find(|(k, _)| k == "order")
            .map(|(_, v)| v.into_owned())
    }
}

/// POSTs `delivery` to `url` (which must be `http://` on a loopback address) and returns the
/// answer's status and body. One connection per delivery, closed afterwards.
pub async fn post(url: &str, delivery: &Delivery) -> anyhow::Result<(u16, String)> {
    let (host, port, path) = loopback_target(url)?;
    let stream = TcpStream::connect((host, port))
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake")?;
    let driver = tokio::spawn(connection);
    let mut request = Request::post(path)
        .header("host", format!("{host}:{port}"))
        .header("content-type", &delivery.content_type)
        .header("user-agent", "OrderDesk-fake-webhook/1");
    if let Some(store) = &delivery.store_id {
        request = request.header(STORE_HEADER, store);
    }
    if let Some(hash) = &delivery.signature {
        request = request.header(HASH_HEADER, hash);
    }
    let request = request.body(Full::new(Bytes::from(delivery.body.clone())))?;
    let response = sender.send_request(request).await.context("sending")?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    drop(sender);
    driver.abort();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Host, port and path of an `http://` URL on a loopback address; anything else is refused.
fn loopback_target(url: &str) -> anyhow::Result<(IpAddr, u16, String)> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("{url}: only http:// URLs are posted to");
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once("]:") {
            Some((host, port)) => (host, port.parse::<u16>().context("port")?),
            None => (v6.trim_end_matches(']'), 80),
        },
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().context("port")?),
            None => (authority, 80),
        },
    };
    let ip: IpAddr = match host {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        other => other
            .parse()
            .with_context(|| format!("{url}: the host must be a loopback address"))?,
    };
    if !ip.is_loopback() {
        bail!("{url}: webhooks are only posted over loopback");
    }
    Ok((ip, port, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("what do ya want for nothing?", "Jefe"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_form_body_round_trips_the_exact_json() {
        let json = r#"{"id":"100001","email":"a+b@example.com","note":"50% & more = ok"}"#;
        let delivery = Delivery::signed("10001", "key", json);
        let body = String::from_utf8(delivery.body.clone()).unwrap();
        assert!(body.starts_with("order=%7B%22id%22"), "{body}");
        assert!(!body.contains('&') && !body.contains(' '), "{body}");
        assert_eq!(delivery.order_json().as_deref(), Some(json));
        assert_eq!(delivery.signature, Some(signature(json, "key")));
        assert_eq!(delivery.store_id.as_deref(), Some("10001"));
        let unsigned = delivery.with_signature(None).with_body("x=1");
        assert_eq!(unsigned.signature, None);
        assert_eq!(unsigned.order_json(), None);
    }

    #[test]
    fn only_loopback_is_posted_to() {
        let ok = loopback_target("http://127.0.0.1:8080/webhooks/orderdesk").unwrap();
        assert_eq!(ok.1, 8080);
        assert_eq!(ok.2, "/webhooks/orderdesk");
        assert!(loopback_target("http://localhost:1/").is_ok());
        assert!(loopback_target("http://[::1]:9/x").is_ok());
        assert!(loopback_target("http://10.0.0.1:80/x").is_err());
        assert!(loopback_target("http://example.com/x").is_err());
        assert!(loopback_target("https://127.0.0.1/x").is_err());
    }

    #[tokio::test]
    async fn a_posted_delivery_arrives_as_orderdesk_sends_it() {
        use axum::http::HeaderMap;
        use axum::routing::post as route_post;

        let app = axum::Router::new().route(
            "/hook",
            route_post(|headers: HeaderMap, body: Bytes| async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default()
                };
                let order = form_urlencoded::parse(&body)
                    .find(|(k, _)| k == "order")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let valid = header(HASH_HEADER) == signature(&order, "k3y");
                format!(
                    "{}|{}|{}|{valid}",
                    header("content-type"),
                    header(STORE_HEADER),
                    order
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let json = r#"{"id":"7","email":"x@example.com"}"#;
        let (status, body) = post(&url, &Delivery::signed("42", "k3y", json))
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, format!("{FORM}|42|{json}|true"));
        let forged = Delivery::signed("42", "other", json);
        let (_, body) = post(&url, &forged).await.unwrap();
        assert!(body.ends_with("|false"), "{body}");
        server.abort();
    }
}
