//! The OrderDesk API v2 client: auth headers, envelopes, error mapping, read retries, and
//! single-shot writes whose failures the caller decides about.

use std::cell::Cell;

use serde_json::{Value, json};

use crate::config::{Secret, Settings};
use crate::error::{ErrorCode, ToolError};
use crate::host::{Host, HttpRequest, HttpResponse, Level, Method, NetError};
use crate::ratelimit::{Account, Upstream};
use crate::retry::{Attempt, Decision, RetryPolicy, parse_retry_after};
use crate::trace;

/// One OrderDesk store's credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub store_id: String,
    pub api_key: Secret,
}

impl Credentials {
    /// The store configured through `wasi:config` (single-store mode), if there is one.
    /// Credentials that cannot travel in a header are the operator's to fix: a
    /// `NOT_CONFIGURED` error, never a retried request.
    pub fn configured(settings: &Settings) -> Result<Option<Self>, ToolError> {
        let (Some(id), Some(key)) = (&settings.store_id, &settings.api_key) else {
            return Ok(None);
        };
        for (setting, value) in [("store_id", id), ("api_key", &key.0)] {
            if value.chars().any(char::is_control) {
                return Err(ToolError::new(
                    ErrorCode::NotConfigured,
                    format!(
                        "setting {setting} contains a control character (CR, LF, NUL, TAB, …); \
                         fix the server's configuration"
                    ),
                )
                .with_details(json!({ "setting": setting })));
            }
        }
        Ok(Some(Self {
            store_id: id.clone(),
            api_key: key.clone(),
        }))
    }
}

/// The longest URL sent upstream; longer ones are refused before sending (servers and
/// proxies commonly cut off at 8 KiB).
pub const MAX_URL_BYTES: usize = 8_000;

/// Why an OrderDesk call failed, before it becomes a tool error.
#[derive(Debug, Clone, PartialEq)]
pub enum OdError {
    /// 404: the record does not exist.
    NotFound(String),
    /// 401/403: bad store id or API key.
    Unauthorized(String),
    /// 429 that we did not (or could no longer) wait out.
    RateLimited {
        retry_after_ms: Option<u64>,
        tries: u32,
    },
    /// 5xx after every try.
    Server { status: u16, tries: u32 },
    /// Another 4xx, or an error envelope on a 2xx.
    Rejected { status: u16, message: String },
    /// Not OrderDesk's JSON envelope.
    BadResponse(String),
    /// No response after every try.
    Unreachable { reason: String, tries: u32 },
    /// The host refused the destination.
    Denied,
    /// 409: OrderDesk saw a conflicting change (not documented, handled if it comes).
    Conflict(String),
    /// The caller cancelled the call; the host refused the request before sending it.
    Cancelled,
    /// The request could not be sent as built (a header value with CR, LF or NUL, or a URL
    /// over [`MAX_URL_BYTES`]); nothing went out and repeating it cannot help.
    Unsendable(String),
}

impl OdError {
    /// A write that failed this way may or may not have been applied.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, OdError::Server { .. } | OdError::Unreachable { .. })
    }

    /// OrderDesk refused it before doing anything (429): the advised wait, if any.
    pub fn rate_limited(&self) -> Option<Option<u64>> {
        match self {
            OdError::RateLimited { retry_after_ms, .. } => Some(*retry_after_ms),
            _ => None,
        }
    }

    /// The tool error for this failure; `not_found` names what was missing.
    pub fn into_tool_error(self, not_found: ErrorCode) -> ToolError {
        match self {
            OdError::NotFound(message) => ToolError::new(not_found, message),
            OdError::Unauthorized(message) => ToolError::new(
                ErrorCode::OdApi401,
                format!("OrderDesk refused the store id or API key: {message}"),
            ),
            OdError::RateLimited {
                retry_after_ms,
                tries,
            } => ToolError::new(
                ErrorCode::OdApi429,
                "OrderDesk's rate limit is exhausted; try again after the advised wait",
            )
            .with_details(json!({ "retry_after_ms": retry_after_ms, "tries": tries })),
            OdError::Server { status, tries } => ToolError::new(
                ErrorCode::OdApi5xx,
                format!("OrderDesk failed with HTTP {status} on each of {tries} tries"),
            )
            .with_details(json!({ "status": status, "tries": tries })),
            OdError::Rejected { status, message } => ToolError::new(
                ErrorCode::OdApiError,
                format!("OrderDesk rejected the request (HTTP {status}): {message}"),
            )
            .with_details(json!({ "status": status })),
            OdError::BadResponse(reason) => ToolError::new(
                ErrorCode::OdApiBadResponse,
                format!("OrderDesk's answer could not be read: {reason}"),
            ),
            OdError::Unreachable { reason, tries } => ToolError::new(
                ErrorCode::UpstreamUnreachable,
                format!("OrderDesk could not be reached after {tries} tries: {reason}"),
            )
            .with_details(json!({ "tries": tries })),
            OdError::Conflict(message) => ToolError::new(
                ErrorCode::ConcurrentUpdate,
                format!("OrderDesk reported a conflicting change: {message}"),
            ),
            OdError::Cancelled => ToolError::new(
                ErrorCode::Cancelled,
                "the call was cancelled before this OrderDesk request went out",
            ),
            OdError::Denied => ToolError::new(
                ErrorCode::HttpRequestDenied,
                "the host's egress policy refused the OrderDesk URL; check api_url",
            ),
            OdError::Unsendable(reason) => ToolError::new(
                ErrorCode::InvalidArgument,
                format!("the OrderDesk request was not sent: {reason}"),
            )
            .with_details(json!({ "reason": reason })),
        }
    }
}

/// Tokens taken ahead for requests that must follow each other with no wait between
/// them (the read and the PUT of an update).
#[derive(Debug, Default)]
pub struct Reservation {
    left: u64,
}

/// A client bound to one store.
pub struct Client<'a> {
    host: &'a dyn Host,
    base_url: &'a str,
    creds: &'a Credentials,
    retry: RetryPolicy,
    timeout_ms: u64,
    limiter: Upstream<'a>,
    sent: Cell<u32>,
}

impl<'a> Client<'a> {
    /// A client for `creds`, drawing upstream tokens from `account`'s bucket.
    pub fn new(
        host: &'a dyn Host,
        settings: &'a Settings,
        creds: &'a Credentials,
        account: &Account,
    ) -> Self {
        Self {
            host,
            base_url: &settings.api_url,
            creds,
            retry: settings.retry,
            timeout_ms: settings.upstream_timeout_ms,
            limiter: Upstream::new(host, account, settings.upstream),
            sent: Cell::new(0),
        }
    }

    /// The same client drawing `reserve` fewer tokens from the store's bucket than
    /// interactive callers may: a background poller that leaves them room.
    pub fn leaving(mut self, reserve: u64) -> Self {
        self.limiter = self.limiter.leaving(reserve);
        self
    }

    /// Requests sent so far (every try counts).
    pub fn sent(&self) -> u32 {
        self.sent.get()
    }

    pub fn store_id(&self) -> &str {
        &self.creds.store_id
    }

    /// The host this client sends through (for callers that record trace steps).
    pub fn host(&self) -> &'a dyn Host {
        self.host
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// GET `path` with `query`, retrying as reads may (429: the advised wait; 5xx and
    /// network errors: back-off with jitter), and return the success envelope.
    pub fn read(&self, path: &str, query: &[(String, String)]) -> Result<Value, OdError> {
        let request = self.request(Method::Get, path, query, None);
        sendable(&request)?;
        let mut tries = 0;
        let mut last_status = 0;
        loop {
            tries += 1;
            self.admit(None);
            let attempt = match self.exchange(&request, tries) {
                Ok(response) => {
                    last_status = response.status;
                    match classify(&response) {
                        Ok(verdict) => return verdict,
                        Err(attempt) => attempt,
                    }
                }
                Err(NetError::Denied) => return Err(OdError::Denied),
                Err(NetError::Cancelled) => return Err(OdError::Cancelled),
                Err(_) => Attempt::Network,
            };
            match self.retry.decide(tries, attempt, self.host.random_u64()) {
                Decision::RetryAfter(ms) => {
                    let reason = match attempt {
                        Attempt::RateLimited { .. } => "429",
                        Attempt::ServerError => "5xx",
                        Attempt::Network => "network",
                    };
                    self.host.metric("upstream_retry", &[("reason", reason)]);
                    let span = trace::start(self.host);
                    self.host.sleep_ms(ms);
                    span.end(
                        self.host,
                        trace::kind::WAIT,
                        || format!("retry after {reason}"),
                        None,
                        || Some(json!({ "wait_ms": ms, "try": tries })),
                    );
                }
                Decision::GiveUp => return Err(give_up(attempt, tries, last_status)),
            }
        }
    }

    /// Take `n` upstream tokens now, waiting if the bucket needs it, for requests that
    /// must then go out with no wait between them.
    pub fn reserve(&self, n: u64) -> Reservation {
        let span = trace::start(self.host);
        match self.limiter.acquire(n) {
            Ok(0) => {}
            Ok(waited_ms) => span.end(
                self.host,
                trace::kind::WAIT,
                || "upstream bucket".into(),
                None,
                || Some(json!({ "wait_ms": waited_ms, "tokens": n })),
            ),
            Err(e) => self.host.log(
                Level::Warn,
                "ratelimit",
                &format!("limiter unavailable: {e}"),
            ),
        }
        Reservation { left: n }
    }

    /// Exactly one request, never retried: the caller owns what happens after a failure
    /// (a 429 was refused unprocessed; a 5xx or a lost answer may have been applied).
    /// With a reservation holding tokens, it goes out without waiting for the bucket.
    pub fn send_once(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        reservation: Option<&mut Reservation>,
    ) -> Result<Value, OdError> {
        let body = body.map(|b| b.to_string().into_bytes());
        let request = self.request(method, path, &[], body);
        sendable(&request)?;
        self.admit(reservation);
        match self.exchange(&request, 1) {
            Ok(response) => match classify(&response) {
                Ok(verdict) => verdict,
                Err(attempt) => Err(give_up(attempt, 1, response.status)),
            },
            Err(NetError::Denied) => Err(OdError::Denied),
            Err(NetError::Cancelled) => Err(OdError::Cancelled),
            Err(err) => Err(OdError::Unreachable {
                reason: err.to_string(),
                tries: 1,
            }),
        }
    }

    /// Wait for an upstream token, unless a reservation already holds one.
    fn admit(&self, reservation: Option<&mut Reservation>) {
        if let Some(r) = reservation
            && r.left > 0
        {
            r.left -= 1;
            return;
        }
        self.reserve(1);
    }

    fn exchange(&self, request: &HttpRequest, tries: u32) -> Result<HttpResponse, NetError> {
        self.sent.set(self.sent.get() + 1);
        let span = trace::start(self.host);
        let result = self.host.http(request);
        let path = self.path_of(request);
        let method = request.method.as_str();
        span.end(
            self.host,
            trace::kind::UPSTREAM,
            || format!("{method} {}", trace::route_template(path)),
            result.as_ref().ok().map(|r| r.status),
            || Some(upstream_detail(&result, tries)),
        );
        match &result {
            Ok(response) => {
                self.limiter.observe(response);
                self.host.log(
                    Level::Debug,
                    "client",
                    &format!(
                        "{method} {path} -> {} (try {tries}, tokens left {})",
                        response.status,
                        response.header("X-Tokens-Remaining").unwrap_or("?")
                    ),
                );
            }
            Err(NetError::Denied | NetError::Cancelled) => {}
            Err(err) => self.host.log(
                Level::Warn,
                "client",
                &format!("{method} {path} try {tries}: no response: {err}"),
            ),
        }
        result
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<Vec<u8>>,
    ) -> HttpRequest {
        let mut url = format!("{}{}", self.base_url, path);
        if !query.is_empty() {
            let encoded = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish();
            url.push('?');
            url.push_str(&encoded);
        }
        let mut headers = vec![
            ("ORDERDESK-STORE-ID".into(), self.creds.store_id.clone()),
            ("ORDERDESK-API-KEY".into(), self.creds.api_key.0.clone()),
            ("Accept".into(), "application/json".into()),
        ];
        // Only requests with a body declare one (OrderDesk refuses a GET with a
        // Content-Type), and always with its length: some servers and proxies answer 411
        // to chunked bodies.
        if let Some(body) = &body {
            headers.push(("Content-Type".into(), "application/json".into()));
            headers.push(("Content-Length".into(), body.len().to_string()));
        }
        HttpRequest {
            method,
            url,
            headers,
            body,
            timeout_ms: self.timeout_ms,
        }
    }

    /// The request's path below the base URL, without the query (which may carry PII).
    fn path_of<'r>(&self, request: &'r HttpRequest) -> &'r str {
        let path = request
            .url
            .strip_prefix(self.base_url)
            .unwrap_or(&request.url);
        path.split('?').next().unwrap_or(path)
    }
}

/// What a trace keeps of one exchange: the try, the tokens OrderDesk says are left, a
/// 429's advised wait, or why no answer came.
fn upstream_detail(result: &Result<HttpResponse, NetError>, tries: u32) -> Value {
    let mut detail = json!({ "try": tries });
    match result {
        Ok(response) => {
            if let Some(left) = response.header("X-Tokens-Remaining") {
                detail["tokens_left"] = json!(left.trim());
            }
            if let Some(wait) = response
                .header("X-Retry-After")
                .or_else(|| response.header("Retry-After"))
            {
                detail["retry_after"] = json!(wait.trim());
            }
        }
        Err(e) => detail["error"] = json!(e.to_string()),
    }
    detail
}

/// Refuse, before it takes a token or goes out, a request no server should see: a header
/// value that would split the header block, or a URL longer than servers accept. The
/// message names the header, never its value (it may be the API key).
fn sendable(request: &HttpRequest) -> Result<(), OdError> {
    if let Some((name, _)) = request
        .headers
        .iter()
        .find(|(_, value)| value.contains(['\r', '\n', '\0']))
    {
        return Err(OdError::Unsendable(format!(
            "header {name} contains CR, LF or NUL"
        )));
    }
    if request.url.len() > MAX_URL_BYTES {
        return Err(OdError::Unsendable(format!(
            "the URL is {} bytes, over the {MAX_URL_BYTES}-byte limit; narrow the filters",
            request.url.len()
        )));
    }
    Ok(())
}

/// Final verdict for a response, or the retryable attempt it represents.
fn classify(response: &HttpResponse) -> Result<Result<Value, OdError>, Attempt> {
    let status = response.status;
    match status {
        429 => Err(Attempt::RateLimited {
            retry_after_ms: response
                .header("X-Retry-After")
                .or_else(|| response.header("Retry-After"))
                .and_then(parse_retry_after),
        }),
        500..=599 => Err(Attempt::ServerError),
        200..=299 => Ok(parse_success(response)),
        401 | 403 => Ok(Err(OdError::Unauthorized(error_message(response)))),
        409 => Ok(Err(OdError::Conflict(error_message(response)))),
        404 => Ok(Err(OdError::NotFound(error_message(response)))),
        _ => Ok(Err(OdError::Rejected {
            status,
            message: error_message(response),
        })),
    }
}

fn parse_success(response: &HttpResponse) -> Result<Value, OdError> {
    let body: Value = serde_json::from_slice(&response.body)
        .map_err(|e| OdError::BadResponse(format!("not JSON ({e})")))?;
    if !body.is_object() {
        return Err(OdError::BadResponse("not a JSON object".into()));
    }
    match body.get("status").and_then(Value::as_str) {
        Some("error") => Err(OdError::Rejected {
            status: response.status,
            message: body
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("unspecified error")
                .to_string(),
        }),
        _ => Ok(body),
    }
}

/// The envelope's `message`, or a short excerpt of whatever came back.
fn error_message(response: &HttpResponse) -> String {
    serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&response.body);
            let text: String = text.chars().take(200).collect();
            if text.trim().is_empty() {
                format!("HTTP {}", response.status)
            } else {
                text
            }
        })
}

fn give_up(attempt: Attempt, tries: u32, last_status: u16) -> OdError {
    match attempt {
        Attempt::RateLimited { retry_after_ms } => OdError::RateLimited {
            retry_after_ms,
            tries,
        },
        Attempt::ServerError => OdError::Server {
            status: last_status,
            tries,
        },
        Attempt::Network => OdError::Unreachable {
            reason: "connection failed, timed out or dropped".into(),
            tries,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::Account;
    use crate::services::write::{self, Sent};
    use crate::testing::ScriptedHost;

    fn creds(api_key: &str) -> Credentials {
        Credentials {
            store_id: "7".into(),
            api_key: Secret(api_key.into()),
        }
    }

    fn unsendable(result: Result<Value, OdError>) -> String {
        match result {
            Err(OdError::Unsendable(reason)) => reason,
            other => panic!("expected an unsendable request, got {other:?}"),
        }
    }

    #[test]
    fn a_header_value_with_cr_lf_or_nul_is_never_sent_nor_retried() {
        for key in ["k\r\nX-Injected: 1", "k\nX", "k\0"] {
            let host = ScriptedHost::configured();
            let settings = Settings::load(&host).unwrap();
            let creds = creds(key);
            let client = Client::new(&host, &settings, &creds, &Account::Store("7".into()));
            let reason = unsendable(client.read("/test", &[]));
            assert!(reason.contains("ORDERDESK-API-KEY"), "{reason}");
            assert!(!reason.contains("Injected"), "the value is never shown");
            unsendable(client.send_once(Method::Post, "/orders", Some(&json!({})), None));
            assert!(matches!(
                write::send(&host, &client, Method::Post, "/orders", Some(&json!({}))),
                Sent::Refused(OdError::Unsendable(_))
            ));
            assert!(host.requests.borrow().is_empty(), "nothing sent");
            assert!(host.sleeps.borrow().is_empty(), "nothing waited for");
            assert_eq!(client.sent(), 0);
            assert!(
                host.trace
                    .borrow()
                    .iter()
                    .all(|op| !op.contains("rl/upstream")),
                "no upstream token taken"
            );
        }
    }

    #[test]
    fn a_url_over_the_limit_is_never_sent_and_one_at_it_is() {
        let host = ScriptedHost::configured();
        let settings = Settings::load(&host).unwrap();
        let creds = creds("k");
        let client = Client::new(&host, &settings, &creds, &Account::Store("7".into()));
        // "http://od.test/api/v2/orders?q=" is 31 bytes.
        let query = |n: usize| vec![("q".to_string(), "a".repeat(n))];
        unsendable(client.read("/orders", &query(MAX_URL_BYTES - 30)));
        assert!(host.requests.borrow().is_empty());
        host.answer(200, &[], r#"{"status":"success"}"#);
        client.read("/orders", &query(MAX_URL_BYTES - 31)).unwrap();
        assert_eq!(host.requests.borrow()[0].url.len(), MAX_URL_BYTES);
    }

    #[test]
    fn an_unsendable_request_is_an_input_error_that_is_not_retryable() {
        let e = OdError::Unsendable("header X contains CR, LF or NUL".into())
            .into_tool_error(ErrorCode::OrderNotFound);
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        assert!(!e.retryable);
        assert!(!OdError::Unsendable(String::new()).is_ambiguous());
    }
}
