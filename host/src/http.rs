//! MCP over streamable HTTP (`orderdesk-mcp serve`), with rmcp's server transport:
//! `POST/GET/DELETE /mcp` in both eras of the protocol (sessions for 2025-06-18 and
//! 2025-11-25 clients; stateless requests for 2026-07-28), plus OrderDesk's
//! `POST /webhooks/orderdesk` ([`crate::webhook`]), `GET /health`, `GET /ready` and
//! `GET /metrics`.
//!
//! Around rmcp: the bearer check ([`crate::auth`]) on every `/mcp` request, a body cap
//! (413), header and body timeouts for slow clients, `Origin` (403) and `Host` checks, and a
//! graceful shutdown: stop accepting and polling, let in-flight calls and polls finish
//! (bounded), exit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;
use tower_http::timeout::RequestBodyTimeout;

use crate::auth::{Authenticator, Refusal};
use crate::mcp::OrderDeskMcp;
use crate::runtime::Runtime;
use crate::scheduler::Scheduler;
use crate::state::{Backend, Bucket, Keep};

/// How `serve` listens and guards `/mcp`.
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub allowed_origins: Vec<String>,
    /// `None`: any `Host`.
    pub allowed_hosts: Option<Vec<String>>,
    pub max_body_bytes: usize,
    pub webhook_max_body_bytes: usize,
    pub client_timeout: Duration,
    pub shutdown_grace: Duration,
}

/// What the routes share.
struct App {
    auth: Authenticator,
    runtime: Arc<Runtime>,
    backend: Arc<dyn Backend>,
    sessions: Arc<LocalSessionManager>,
    draining: AtomicBool,
    webhook_max_body_bytes: usize,
}

/// Serve until SIGTERM or Ctrl-C; then drain (the scheduler's polls too) and return.
pub async fn serve(
    handler: OrderDeskMcp,
    runtime: Arc<Runtime>,
    backend: Arc<dyn Backend>,
    auth: Authenticator,
    scheduler: Option<Scheduler>,
    options: ServeOptions,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", options.listen))?;
    let local = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let sessions = Arc::new(LocalSessionManager::default());
    let app = Arc::new(App {
        auth,
        runtime: runtime.clone(),
        backend,
        sessions: sessions.clone(),
        draining: AtomicBool::new(false),
        webhook_max_body_bytes: options.webhook_max_body_bytes,
    });

    let mut config = StreamableHttpServerConfig::default()
        .with_json_response(true)
        .with_max_request_body_bytes(options.max_body_bytes)
        .with_cancellation_token(shutdown.child_token())
        .with_allowed_origins(options.allowed_origins.clone())
        .enforce_origin_validation();
    config = match &options.allowed_hosts {
        Some(hosts) => config.with_allowed_hosts(hosts.clone()),
        None => config.disable_allowed_hosts(),
    };
    let handler = Arc::new(handler);
    let mcp = StreamableHttpService::new(move || Ok(handler.new_session()), sessions, config);
    let router = Router::new()
        .route_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(app.clone(), authenticate))
        // OrderDesk sends no bearer, Origin or known Host: the HMAC is the authentication.
        .route(crate::webhook::PATH, post(webhook))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(app.clone());

    tracing::info!(
        listen = %local,
        auth = if app.auth.required() { "bearer" } else { "none (loopback, single store)" },
        "serving MCP over HTTP at /mcp"
    );
    // The line tests and scripts wait for, on stderr whatever the log format.
    eprintln!("orderdesk-mcp listening on http://{local}/mcp");

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.client_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let stop = crate::stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, keep serving.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                // A client that stalls mid-body is cut off like one that stalls in headers.
                let service = TowerToHyperService::new(RequestBodyTimeout::new(
                    router.clone(),
                    options.client_timeout,
                ));
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            signal = &mut stop => {
                tracing::info!(signal, "shutting down: no new connections");
                break;
            }
        }
    }
    drop(listener);
    app.draining.store(true, Ordering::SeqCst);
    if let Some(scheduler) = &scheduler {
        scheduler.stop_ticking();
    }

    // In-flight tool calls, deliveries and polls finish (bounded by the grace period); a
    // poll still running then is cancelled and winds up; then sessions and their streams
    // are closed and the connections drained.
    let deadline = Instant::now() + options.shutdown_grace;
    while runtime.calls_in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(scheduler) = scheduler {
        scheduler.shutdown(deadline).await;
    }
    let unfinished = runtime.calls_in_flight();
    shutdown.cancel();
    let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
    if tokio::time::timeout(left, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open at exit");
    }
    tracing::info!(unfinished, "stopped");
    Ok(())
}

/// The bearer check in front of `/mcp`: 401 with `WWW-Authenticate` when missing or wrong;
/// otherwise the request goes on carrying its [`crate::auth::Principal`].
async fn authenticate(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    if app.draining.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match app.auth.check(authorization).await {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            let delete = request.method() == axum::http::Method::DELETE;
            let mut response = as_the_spec_says(next.run(request).await).await;
            // rmcp ends a session with 202; clients (the Python SDK among them) expect a
            // plain success for DELETE.
            if delete && response.status() == StatusCode::ACCEPTED {
                *response.status_mut() = StatusCode::OK;
            }
            response
        }
        Err(refusal) => refused(refusal),
    }
}

/// rmcp answers a body that is not a JSON-RPC message with 415, and a body that stopped
/// arriving (our client timeout) with 500; MCP and JSON-RPC say 400 with a parse error
/// (-32700), and a timeout is the client's 408.
async fn as_the_spec_says(response: Response) -> Response {
    let status = response.status();
    if status != StatusCode::UNSUPPORTED_MEDIA_TYPE && status != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (status, "").into_response();
    };
    let text = String::from_utf8_lossy(&bytes);
    let rpc_error = |status: StatusCode, code: i64, message: String| {
        let body = serde_json::json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": { "code": code, "message": message },
        });
        (status, axum::Json(body)).into_response()
    };
    if text.starts_with("fail to deserialize request body") {
        let detail = text
            .trim_start_matches("fail to deserialize request body")
            .trim();
        return rpc_error(
            StatusCode::BAD_REQUEST,
            -32700,
            format!("Parse error: not a JSON-RPC message ({detail})"),
        );
    }
    if text.starts_with("Failed to read request body") {
        return rpc_error(
            StatusCode::REQUEST_TIMEOUT,
            -32600,
            "the request body did not arrive in time".into(),
        );
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

fn refused(refusal: Refusal) -> Response {
    let (status, challenge) = match refusal {
        Refusal::Missing => (StatusCode::UNAUTHORIZED, r#"Bearer realm="orderdesk-mcp""#),
        Refusal::Invalid => (
            StatusCode::UNAUTHORIZED,
            r#"Bearer realm="orderdesk-mcp", error="invalid_token""#,
        ),
        Refusal::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, ""),
    };
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": -32001, "message": refusal.to_string() },
    });
    let mut response = (status, axum::Json(body)).into_response();
    if !challenge.is_empty() {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    response
}

/// `POST /webhooks/orderdesk`, answered 503 while draining (OrderDesk delivers again).
async fn webhook(State(app): State<Arc<App>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    crate::webhook::deliver(
        &app.runtime,
        app.draining.load(Ordering::SeqCst),
        app.webhook_max_body_bytes,
        parts.headers,
        body,
    )
    .await
}

/// Alive: the process answers.
async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// Ready: not draining, and the state backend answers (the component was loaded before
/// the listener opened).
async fn ready(State(app): State<Arc<App>>) -> Response {
    if app.draining.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "status": "draining" })),
        )
            .into_response();
    }
    const PROBE: Bucket = Bucket {
        name: "state",
        keep: Keep::Durable,
    };
    match app.backend.exists(PROBE, "ready-probe").await {
        Ok(_) => axum::Json(serde_json::json!({
            "status": "ready",
            "calls_in_flight": app.runtime.calls_in_flight(),
        }))
        .into_response(),
        Err(e) => {
            tracing::warn!("readiness: state backend failed: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({ "status": "state backend unavailable" })),
            )
                .into_response()
        }
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let open = app.sessions.sessions.read().await.len();
    let metrics = crate::metrics::get();
    metrics.sessions.set(open as i64);
    let (in_use, max) = app.runtime.instances();
    metrics.instances_in_use.set(in_use as i64);
    metrics.instances_max.set(max as i64);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}
