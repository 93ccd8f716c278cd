//! `POST /webhooks/orderdesk`: OrderDesk's "Post Order JSON" rule action, routed to the
//! component's `intake.webhook-deliver`. The HMAC in `X-ORDER-DESK-HASH` is the
//! authentication (OrderDesk sends no bearer, `Origin` or known `Host`), and the component
//! checks it; the host only bounds the body, decodes the form and maps the outcome to the
//! status OrderDesk acts on (it retries a delivery that did not get a 2xx).

use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;

use crate::bindings::exports::orderdesk::mcp::tools::ToolError;
use crate::runtime::{Runtime, SandboxError, WebhookDelivery, WebhookReceipt};

pub const PATH: &str = "/webhooks/orderdesk";
const STORE_HEADER: &str = "x-order-desk-store-id";
const HASH_HEADER: &str = "x-order-desk-hash";
const FORM: &str = "application/x-www-form-urlencoded";

/// Why a delivery was turned away before it reached the component.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    TooLarge(usize),
    Invalid(&'static str),
}

/// Handle one delivery; one log line and one metric per delivery, never the hash or body.
pub async fn deliver(
    runtime: &Runtime,
    draining: bool,
    max_body_bytes: usize,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let given = header_text(&headers, STORE_HEADER).unwrap_or_default();
    // Only a well-formed store id goes anywhere whole (the component, the log); anything
    // else is refused below and logged cut and escaped.
    let well_formed = is_store_id(&given);
    let store_id = if well_formed {
        given.clone()
    } else {
        crate::logging::clip(&given, 32)
    };
    let (status, outcome, body) = if draining {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "failed",
            error_body("shutting down; deliver again later"),
        )
    } else {
        match read(&headers, body, max_body_bytes).await {
            Err(Refusal::TooLarge(max)) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid",
                error_body(&format!("the body is over {max} bytes")),
            ),
            Err(Refusal::Invalid(why)) => (StatusCode::BAD_REQUEST, "invalid", error_body(why)),
            Ok(order) => {
                let delivery = WebhookDelivery {
                    store_id: store_id.clone(),
                    signature: header_text(&headers, HASH_HEADER),
                    order,
                    request_id: request_id.clone(),
                };
                answer(runtime.webhook_deliver(delivery).await)
            }
        }
    };
    let elapsed = started.elapsed();
    crate::metrics::get().webhook(outcome);
    crate::history::get().record(crate::history::SERVER, |c| c.webhooks += 1);
    let status_code = status.as_u16();
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::warn!(
            request_id,
            store_id,
            outcome,
            status = status_code,
            elapsed_ms,
            "webhook"
        );
    } else {
        tracing::info!(
            request_id,
            store_id,
            outcome,
            status = status_code,
            elapsed_ms,
            "webhook"
        );
    }
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

/// The `order` form field of a body within `max` bytes, or why there is none.
async fn read(headers: &HeaderMap, body: Body, max: usize) -> Result<String, Refusal> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(Refusal::TooLarge(max));
    }
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if !media.is_some_and(|m| m.eq_ignore_ascii_case(FORM)) {
        return Err(Refusal::Invalid(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    match header_text(headers, STORE_HEADER) {
        None => {
            return Err(Refusal::Invalid(
                "the X-ORDER-DESK-STORE-ID header is missing",
            ));
        }
        Some(id) if !is_store_id(&id) => {
            return Err(Refusal::Invalid(
                "the X-ORDER-DESK-STORE-ID header is not a store id (1-20 digits)",
            ));
        }
        Some(_) => {}
    }
    let bytes = match http_body_util::Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(Refusal::TooLarge(max));
        }
        Err(_) => return Err(Refusal::Invalid("the body did not arrive whole")),
    };
    form_field(&bytes, "order")
}

/// The one value of `name` in a URL-encoded form (`+` is a space, `%XX` a byte), which
/// must be UTF-8. Missing, repeated or undecodable: refused.
fn form_field(body: &[u8], name: &str) -> Result<String, Refusal> {
    let mut found = None;
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        if percent_decode(key).as_deref() != Some(name.as_bytes()) {
            continue;
        }
        if found.is_some() {
            return Err(Refusal::Invalid("the form field `order` is given twice"));
        }
        let value = percent_decode(value)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(Refusal::Invalid(
                "the form field `order` is not valid URL-encoded UTF-8",
            ))?;
        found = Some(value);
    }
    found.ok_or(Refusal::Invalid("the form field `order` is missing"))
}

/// `application/x-www-form-urlencoded` decoding; `None` on a broken `%` escape.
fn percent_decode(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let text = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(text, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

/// An OrderDesk store id: digits, at most 20 of them.
fn is_store_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
}

/// The component's answer as status, metric outcome and body.
fn answer(
    outcome: Result<Result<WebhookReceipt, ToolError>, SandboxError>,
) -> (StatusCode, &'static str, serde_json::Value) {
    match outcome {
        Ok(Ok(receipt)) => {
            let label = if receipt.outcome == "duplicate" {
                "duplicate"
            } else {
                "accepted"
            };
            let body = serde_json::json!({
                "status": "success",
                "outcome": receipt.outcome,
                "order_id": receipt.order_id,
            });
            (StatusCode::OK, label, body)
        }
        Ok(Err(e)) => {
            let (status, label) = status_of(&e.code);
            (status, label, error_body(&e.message))
        }
        Err(sandbox) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "failed",
            error_body(&format!("{}: {sandbox}", sandbox.code())),
        ),
    }
}

/// A refusal OrderDesk should not retry (401, 400), or anything else, worth a retry (503).
fn status_of(code: &str) -> (StatusCode, &'static str) {
    match code {
        "WEBHOOK_UNAUTHORIZED" => (StatusCode::UNAUTHORIZED, "unauthorized"),
        "INVALID_ARGUMENT" => (StatusCode::BAD_REQUEST, "invalid"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "failed"),
    }
}

fn error_body(message: &str) -> serde_json::Value {
    serde_json::json!({ "status": "error", "message": message })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn the_order_field_is_decoded_exactly_once() {
        let order = form_field(
            b"order=%7B%22id%22%3A%221%22%2C%22n%22%3A%22a+b%25%22%7D",
            "order",
        );
        assert_eq!(order, Ok(r#"{"id":"1","n":"a b%"}"#.to_string()));
        assert_eq!(
            form_field(b"x=1&order=%C3%A9t%C3%A9&y", "order"),
            Ok("été".to_string())
        );
        assert_eq!(form_field(b"ord%65r=ok", "order"), Ok("ok".to_string()));
        assert_eq!(form_field(b"order=", "order"), Ok(String::new()));
        for broken in [
            &b"orders=1"[..],
            b"",
            b"order=%ZZ",
            b"order=%4",
            b"order=%+1",
            b"order=%FF%FE",
            b"order=1&order=2",
        ] {
            assert!(form_field(broken, "order").is_err(), "{broken:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..Default::default()
        })]

        /// Whatever bytes arrive, the form parser answers (never panics), and a value
        /// encoded as a form field decodes to exactly itself among any other fields.
        #[test]
        fn any_body_parses_or_is_refused_and_encoded_values_round_trip(
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            value in ".{0,200}",
            other in "[a-z]{1,8}",
        ) {
            let _ = form_field(&noise, "order");
            let _ = percent_decode(&noise);
            let encoded: String = form_urlencoded::Serializer::new(String::new())
                .append_pair(&other, "x")
                .append_pair("order", &value)
                .finish();
            let decoded = form_field(encoded.as_bytes(), "order");
            if other == "order" {
                proptest::prop_assert!(decoded.is_err(), "a repeated field is refused");
            } else {
                proptest::prop_assert_eq!(decoded, Ok(value));
            }
        }

        /// Store ids are digits only, so nothing else reaches a log or the component whole.
        #[test]
        fn only_digit_store_ids_pass(id in ".{0,40}") {
            let digits = !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit());
            proptest::prop_assert_eq!(is_store_id(&id), digits);
        }
    }

    #[tokio::test]
    async fn bodies_are_bounded_typed_and_need_a_store_id() {
        let form = [
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("x-order-desk-store-id", "10001"),
        ];
        let ok = read(&headers(&form), Body::from("order=%7B%7D"), 64).await;
        assert_eq!(ok, Ok("{}".to_string()));
        let big = "order=".to_string() + &"x".repeat(100);
        assert_eq!(
            read(&headers(&form), Body::from(big.clone()), 64).await,
            Err(Refusal::TooLarge(64)),
            "counted while reading, whatever Content-Length says"
        );
        let declared = [form[0], form[1], ("content-length", "1000000")];
        assert_eq!(
            read(&headers(&declared), Body::from("order=1"), 64).await,
            Err(Refusal::TooLarge(64))
        );
        let json = [("content-type", "application/json"), form[1]];
        assert!(matches!(
            read(&headers(&json), Body::from("order=1"), 64).await,
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            read(&headers(&form[..1]), Body::from("order=1"), 64).await,
            Err(Refusal::Invalid(m)) if m.contains("STORE-ID")
        ));
    }

    #[test]
    fn outcomes_map_to_the_statuses_orderdesk_acts_on() {
        assert_eq!(
            status_of("WEBHOOK_UNAUTHORIZED"),
            (StatusCode::UNAUTHORIZED, "unauthorized")
        );
        assert_eq!(
            status_of("INVALID_ARGUMENT"),
            (StatusCode::BAD_REQUEST, "invalid")
        );
        for retry in ["INTERNAL", "STATE_UNAVAILABLE", "SYNC_BUSY"] {
            assert_eq!(status_of(retry).0, StatusCode::SERVICE_UNAVAILABLE);
        }
        let receipt = |outcome: &str| {
            Ok(Ok(WebhookReceipt {
                outcome: outcome.into(),
                order_id: "7".into(),
                registrations: 1,
            }))
        };
        let (status, label, body) = answer(receipt("duplicate"));
        assert_eq!((status, label), (StatusCode::OK, "duplicate"));
        assert_eq!(
            body,
            serde_json::json!({"status":"success","outcome":"duplicate","order_id":"7"})
        );
        assert_eq!(answer(receipt("accepted")).1, "accepted");
        let trapped = answer(Err(SandboxError::Trap("boom".into())));
        assert_eq!(
            (trapped.0, trapped.1),
            (StatusCode::SERVICE_UNAVAILABLE, "failed")
        );
        let refused = answer(Ok(Err(ToolError {
            code: "WEBHOOK_UNAUTHORIZED".into(),
            message: "bad signature".into(),
            details: None,
            retryable: false,
        })));
        assert_eq!(refused.0, StatusCode::UNAUTHORIZED);
        assert_eq!(
            refused.2,
            serde_json::json!({"status":"error","message":"bad signature"})
        );
    }
}
