//! The listener, the connection loop and the gate every API request passes: counters,
//! latency, the refusal of chunked bodies, scheduled rules and injected faults (with their
//! outside edits), authentication (which picks the store), the store's rate limiter and
//! OrderDesk's GET rules.
//!
//! Connections are served with hyper directly rather than `axum::serve`, because a dropped
//! connection fault needs the service to fail: hyper then closes the connection without
//! writing a response, which is exactly what a client sees when a server dies mid-request.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use axum::http::{HeaderValue, Method, Request, Response, StatusCode};
use axum::response::IntoResponse;
use hyper::body::{Body as _, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::Shared;
use crate::edits::Target;
use crate::routes::{self, error};
use crate::schedule::{Edit, Respond};
use crate::tenant::Tenant;

/// Where the API lives on the server.
pub const API_PREFIX: &str = "/api/v2";
/// Pending connections the listener queues, so benchmarks can open many at once.
const BACKLOG: u32 = 1024;
/// The largest request body read; OrderDesk's own limit is in the same range.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// The header reporting the tokens left in the store's bucket.
const TOKENS: &str = "X-Tokens-Remaining";

/// Binds a listener with a deep backlog.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Lets a fixed port be reused right after a previous fake on it stopped.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Accepts and serves connections until the task is aborted.
pub async fn run(listener: TcpListener, shared: Arc<Shared>) {
    let router = routes::router(Arc::clone(&shared));
    // Owning the connection tasks means aborting this task aborts them all.
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Usually EMFILE under heavy load: back off instead of spinning.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let router = router.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&shared), router.clone(), req));
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(err) = served {
                tracing::debug!(%peer, %err, "connection closed");
            }
        });
    }
}

/// The error a request's service returns to make hyper close the connection unanswered.
#[derive(Debug)]
pub struct DropConnection;

impl fmt::Display for DropConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DropConnection {}

/// Answers one request, or fails it to drop the connection.
///
/// The gate, in order: count the request; wait the latency; refuse a body without
/// `Content-Length` (411, as the proxy in front of OrderDesk does); pick what the request
/// suffers (a scheduled rule, else a one-shot fault); then serve it (authentication, bucket,
/// GET rules, routing) as that says, with any outside edit before or after.
async fn handle(
    shared: Arc<Shared>,
    router: Router,
    req: Request<Incoming>,
) -> Result<Response<Body>, DropConnection> {
    let Some(route) = route_key(req.method(), req.uri().path()) else {
        // Outside the API: not counted and never faulted.
        return Ok(error(StatusCode::NOT_FOUND, "Not found"));
    };
    let tenant = shared.tenants.authenticate(req.headers());
    shared
        .stats()
        .record_request(&route, tenant.as_ref().map(|t| t.id.as_str()));
    let latency = shared.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if shared.config.reject_chunked && chunked(&req) {
        // Read the body away (unapplied) so closing the connection cannot reset it
        // before the client has read the answer.
        let _ = axum::body::to_bytes(Body::new(req.into_body()), MAX_BODY).await;
        let tokens = store_of(&shared, tenant.as_ref()).bucket().remaining();
        let message = "Length Required: request bodies must be sent with a Content-Length header";
        let response = with_tokens(error(StatusCode::LENGTH_REQUIRED, message), tokens);
        shared.stats().record_outcome(Some(411));
        tracing::debug!(%route, "refusing a chunked body");
        return Ok(response);
    }
    let action = shared.faults.action(req.method(), &route);
    let (respond, edit) = action.map_or((Respond::Normal, None), |a| (a.respond, a.edit));
    let target = edit.and(tenant.clone()).zip(Target::of(req.uri().path()));
    let outside_edit = |when: Edit| {
        if edit == Some(when)
            && let Some((tenant, target)) = &target
            && target.edit(&mut tenant.data())
        {
            shared.stats().external_edits += 1;
            tracing::debug!(%route, ?target, ?when, "outside edit (fault)");
        }
    };
    if let Respond::Slow(wait) = respond {
        tokio::time::sleep(wait).await;
    }
    outside_edit(Edit::BeforeServing);
    let answer = match respond {
        Respond::Drop => None,
        Respond::Status(status) => {
            let tokens = store_of(&shared, tenant.as_ref()).bucket().remaining();
            Some(with_tokens(injected(status, "injected fault"), tokens))
        }
        Respond::RateLimited(secs) => Some(rate_limited(secs)),
        Respond::Normal
        | Respond::Slow(_)
        | Respond::DropAfterApply
        | Respond::FailAfterApply(_)
        | Respond::SlowAfterApply(_) => Some(serve(&shared, tenant, router, req).await),
    };
    outside_edit(Edit::AfterServing);
    let response = match (respond, answer) {
        (Respond::Drop | Respond::DropAfterApply, applied) | (_, applied @ None) => {
            shared.stats().record_outcome(None);
            let applied = applied.map(|r| r.status().as_u16());
            tracing::debug!(%route, ?applied, "dropping connection (fault)");
            return Err(DropConnection);
        }
        (Respond::FailAfterApply(status), Some(applied)) => {
            tracing::debug!(%route, status = %applied.status(), "replacing the answer (fault)");
            let mut response = injected(status, "injected fault after applying the request");
            if let Some(tokens) = applied.headers().get(TOKENS) {
                response.headers_mut().insert(TOKENS, tokens.clone());
            }
            response
        }
        (Respond::SlowAfterApply(wait), Some(applied)) => {
            tracing::debug!(%route, ?wait, "delaying the answer after applying (fault)");
            tokio::time::sleep(wait).await;
            applied
        }
        (_, Some(response)) => response,
    };
    let status = response.status().as_u16();
    shared.stats().record_outcome(Some(status));
    tracing::debug!(%route, status, "answered");
    Ok(response)
}

/// Whether the request carries a body without `Content-Length` (`Transfer-Encoding:
/// chunked`, the only other way an HTTP/1.1 request can have one).
fn chunked(req: &Request<Incoming>) -> bool {
    let headers = req.headers();
    !headers.contains_key(CONTENT_LENGTH)
        && (headers.contains_key(TRANSFER_ENCODING) || !req.body().is_end_stream())
}

/// An injected error answer with this status.
fn injected(status: u16, what: &str) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = status.canonical_reason().unwrap_or("Server Error");
    error(status, &format!("{reason} ({what})"))
}

/// The store whose bucket `X-Tokens-Remaining` reports: the request's, else the default.
fn store_of(shared: &Shared, tenant: Option<&Arc<Tenant>>) -> Arc<Tenant> {
    tenant.cloned().unwrap_or_else(|| shared.default_tenant())
}

/// Applies OrderDesk's checks, then routes the request to the store it authenticated as.
async fn serve(
    shared: &Shared,
    tenant: Option<Arc<Tenant>>,
    router: Router,
    req: Request<Incoming>,
) -> Response<Body> {
    let Some(tenant) = tenant else {
        let tokens = shared.default_tenant().bucket().remaining();
        return with_tokens(
            error(StatusCode::UNAUTHORIZED, "Invalid Store ID or API Key"),
            tokens,
        );
    };
    // Bind the result first so the bucket's lock is released before any await.
    let taken = tenant.bucket().take();
    let tokens = match taken {
        Ok(tokens) => tokens,
        Err(wait) => return rate_limited(wait),
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(Body::new(body), MAX_BODY).await else {
        let response = error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body too large or unreadable",
        );
        return with_tokens(response, tokens);
    };
    let bodiless = parts.method == Method::GET || parts.method == Method::DELETE;
    if bodiless && (parts.headers.contains_key(CONTENT_TYPE) || !bytes.is_empty()) {
        let message = format!(
            "{} requests must not include a Content-Type header or a body",
            parts.method
        );
        return with_tokens(error(StatusCode::BAD_REQUEST, &message), tokens);
    }
    let mut request = Request::from_parts(parts, Body::from(bytes));
    request.extensions_mut().insert(tenant);
    let response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    with_tokens(response, tokens)
}

/// OrderDesk's answer when the bucket is empty.
fn rate_limited(retry_after_secs: u32) -> Response<Body> {
    let mut response = error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
    response
        .headers_mut()
        .insert("X-Retry-After", HeaderValue::from(retry_after_secs));
    with_tokens(response, 0)
}

/// Adds the `X-Tokens-Remaining` header OrderDesk sends on every answer.
fn with_tokens(response: impl IntoResponse, tokens: u32) -> Response<Body> {
    let mut response = response.into_response();
    response
        .headers_mut()
        .insert(TOKENS, HeaderValue::from(tokens));
    response
}

/// The stats key of an API request, such as `"GET /orders/{id}"`; `None` outside the API.
///
/// Numeric path segments become `{id}`, so every order counts under one template.
pub fn route_key(method: &Method, path: &str) -> Option<String> {
    let rest = path.strip_prefix(API_PREFIX)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let template: Vec<&str> = rest
        .split('/')
        .skip(1)
        .map(|seg| {
            if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                seg
            }
        })
        .collect();
    Some(format!("{method} /{}", template.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_keys_use_templates() {
        let key = |m: Method, p: &str| route_key(&m, p);
        assert_eq!(
            key(Method::GET, "/api/v2/orders").as_deref(),
            Some("GET /orders")
        );
        assert_eq!(
            key(Method::GET, "/api/v2/orders/100001").as_deref(),
            Some("GET /orders/{id}")
        );
        assert_eq!(
            key(Method::POST, "/api/v2/orders/7/shipments").as_deref(),
            Some("POST /orders/{id}/shipments")
        );
        assert_eq!(key(Method::GET, "/api/v2").as_deref(), Some("GET /"));
        assert_eq!(key(Method::GET, "/api/v20/orders"), None);
        assert_eq!(key(Method::GET, "/health"), None);
    }
}
