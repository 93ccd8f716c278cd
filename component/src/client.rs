//! The OrderDesk API v2 client: auth headers, envelopes, error mapping and read retries.

use serde_json::{Value, json};

use crate::config::Secret;
use crate::error::{ErrorCode, ToolError};
use crate::host::{Host, HttpRequest, HttpResponse, Level, Method, NetError};
use crate::ratelimit::{Shape, Upstream};
use crate::retry::{Attempt, Decision, RetryPolicy, parse_retry_after};

/// One OrderDesk store's credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub store_id: String,
    pub api_key: Secret,
}

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
}

impl OdError {
    /// A write that failed this way may or may not have been applied.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, OdError::Server { .. } | OdError::Unreachable { .. })
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
            OdError::Denied => ToolError::new(
                ErrorCode::HttpRequestDenied,
                "the host's egress policy refused the OrderDesk URL; check api_url",
            ),
        }
    }
}

/// A client bound to one store.
pub struct Client<'a> {
    host: &'a dyn Host,
    base_url: &'a str,
    creds: &'a Credentials,
    retry: RetryPolicy,
    upstream: Shape,
}

impl<'a> Client<'a> {
    pub fn new(
        host: &'a dyn Host,
        base_url: &'a str,
        creds: &'a Credentials,
        retry: RetryPolicy,
        upstream: Shape,
    ) -> Self {
        Self {
            host,
            base_url,
            creds,
            retry,
            upstream,
        }
    }

    pub fn store_id(&self) -> &str {
        &self.creds.store_id
    }

    /// GET `path` with `query`, retrying as reads may, and return the success envelope.
    pub fn get(&self, path: &str, query: &[(String, String)]) -> Result<Value, OdError> {
        let request = HttpRequest {
            method: Method::Get,
            url: self.url(path, query),
            headers: self.auth_headers(),
            body: None,
        };
        self.send(&request, self.retry)
    }

    /// A write. Only 429s are retried (OrderDesk refused those unprocessed); after a 5xx
    /// or a lost connection the write may have happened, so the caller decides
    /// ([`OdError::is_ambiguous`]).
    pub fn write(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, OdError> {
        let request = HttpRequest {
            method,
            url: self.url(path, &[]),
            headers: self.auth_headers(),
            body: body.map(|b| b.to_string().into_bytes()),
        };
        self.send(
            &request,
            RetryPolicy {
                max_tries: 1,
                ..self.retry
            }
            .with_rate_limit_retries(self.retry.max_tries),
        )
    }

    fn send(&self, request: &HttpRequest, retry: RetryPolicy) -> Result<Value, OdError> {
        let path = request
            .url
            .strip_prefix(self.base_url)
            .unwrap_or(&request.url)
            .to_string();
        let path = path.split('?').next().unwrap_or_default().to_string();
        let limiter = Upstream::new(self.host, &self.creds.store_id, self.upstream);
        let mut tries = 0;
        let mut last_status = 0;
        loop {
            tries += 1;
            if let Err(e) = limiter.acquire() {
                self.host.log(
                    Level::Warn,
                    "ratelimit",
                    &format!("limiter unavailable: {e}"),
                );
            }
            let attempt = match self.host.http(request) {
                Ok(response) => {
                    limiter.observe(&response);
                    self.log_response(request, &response, tries);
                    last_status = response.status;
                    match classify(&response) {
                        Ok(verdict) => return verdict,
                        Err(attempt) => attempt,
                    }
                }
                Err(NetError::Denied) => return Err(OdError::Denied),
                Err(err) => {
                    self.host.log(
                        Level::Warn,
                        "client",
                        &format!(
                            "{} {path} try {tries}: no response: {err}",
                            request.method.as_str()
                        ),
                    );
                    Attempt::Network
                }
            };
            match retry.decide(tries, attempt, self.host.random_u64()) {
                Decision::RetryAfter(ms) => self.host.sleep_ms(ms),
                Decision::GiveUp => return Err(give_up(attempt, tries, last_status)),
            }
        }
    }

    fn url(&self, path: &str, query: &[(String, String)]) -> String {
        let mut url = format!("{}{}", self.base_url, path);
        if !query.is_empty() {
            let encoded = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish();
            url.push('?');
            url.push_str(&encoded);
        }
        url
    }

    fn auth_headers(&self) -> Vec<(String, String)> {
        vec![
            ("ORDERDESK-STORE-ID".into(), self.creds.store_id.clone()),
            ("ORDERDESK-API-KEY".into(), self.creds.api_key.0.clone()),
            ("Accept".into(), "application/json".into()),
        ]
    }

    fn log_response(&self, request: &HttpRequest, response: &HttpResponse, tries: u32) {
        let path = request
            .url
            .strip_prefix(self.base_url)
            .unwrap_or(&request.url);
        let path = path.split('?').next().unwrap_or(path);
        self.host.log(
            Level::Debug,
            "client",
            &format!(
                "{} {path} -> {} (try {tries}, tokens left {})",
                request.method.as_str(),
                response.status,
                response.header("X-Tokens-Remaining").unwrap_or("?")
            ),
        );
    }
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
