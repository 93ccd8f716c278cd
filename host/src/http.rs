//! MCP over streamable HTTP (`orderdesk-mcp serve`), with rmcp's server transport:
//! `POST/GET/DELETE /mcp` in both eras of the protocol (sessions for 2025-06-18 and
//! 2025-11-25 clients; stateless requests for 2026-07-28), plus OrderDesk's
//! `POST /webhooks/orderdesk` ([`crate::webhook`]), `GET /health`, `GET /ready` and
//! `GET /metrics`.
//!
//! Around rmcp: the bearer check ([`crate::auth`]) on every `/mcp` request, the session
//! owner check on every request that names a session and the caps on sessions
//! ([`crate::sessions`]), a body cap (413), the `Host` check on every route but the webhook
//! (403), `Origin` (403), the bounds on connections ([`crate::connections`]: caps overall
//! and per address, a timeout on every phase, back-off on accept errors), `/metrics` behind
//! an optional bearer or on a listener of its own, and a graceful shutdown: stop accepting
//! and polling, let in-flight calls and polls finish (bounded), exit.

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
use orderdesk_mcp_shapes::{code, rpc_error};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::RequestBodyTimeout;

use crate::admission::Lane;
use crate::auth::{Authenticator, Refusal};
use crate::connections::{self, AcceptBackoff, Activity, Connections, Peer, Tracked};
use crate::mcp::OrderDeskMcp;
use crate::runtime::Runtime;
use crate::scheduler::Scheduler;
use crate::sessions::{Access, Sessions};
use crate::state::{Backend, Bucket, Keep};
use crate::stateless::{self, Served};

/// The largest request head (request line and headers) accepted; larger ones get 431.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// HTTP/2 streams one connection may have open at once.
const MAX_STREAMS: u32 = 64;

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
    pub connections: connections::Limits,
    pub max_sessions: usize,
    pub max_sessions_per_tenant: usize,
    pub session_idle: Duration,
    /// The bearer `/metrics` needs, if any.
    pub metrics_token: Option<String>,
    /// Serve `/metrics` here instead of on `listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// The web console at `/console` (tenant mode only).
    pub console: Option<ConsoleOptions>,
}

/// What the console needs beyond the server's own parts.
pub struct ConsoleOptions {
    /// `None`: `http://<listen>`.
    pub public_url: Option<String>,
    pub admin_token: Option<String>,
    pub mailer: crate::console::mail::Mailer,
    pub session_lifetime: Duration,
    /// The state backend as the status page names it (no password).
    pub state: String,
    pub scheduler: bool,
}

/// What the routes share.
struct App {
    auth: Arc<Authenticator>,
    runtime: Arc<Runtime>,
    backend: Arc<dyn Backend>,
    sessions: Sessions,
    draining: AtomicBool,
    webhook_max_body_bytes: usize,
    allowed_hosts: Option<Vec<String>>,
    metrics_token: Option<String>,
    connections: Arc<Connections>,
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
    let metrics_listener = match options.metrics_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for /metrics: {e}"))?,
        ),
        None => None,
    };
    let shutdown = CancellationToken::new();
    let mut manager = LocalSessionManager::default();
    manager.session_config.keep_alive = Some(options.session_idle);
    let manager = Arc::new(manager);
    let connections = Connections::new(options.connections);
    let app = Arc::new(App {
        auth: Arc::new(auth),
        runtime: runtime.clone(),
        backend,
        sessions: Sessions::new(
            manager.clone(),
            options.max_sessions,
            options.max_sessions_per_tenant,
        ),
        draining: AtomicBool::new(false),
        webhook_max_body_bytes: options.webhook_max_body_bytes,
        allowed_hosts: options.allowed_hosts.clone(),
        metrics_token: options.metrics_token.clone(),
        connections: connections.clone(),
    });
    let sweeper = tokio::spawn({
        let app = app.clone();
        async move {
            loop {
                tokio::time::sleep(crate::sessions::SWEEP_EVERY).await;
                app.sessions.sweep().await;
                give_back_free_memory();
            }
        }
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
    let console_mcp = handler.new_session();
    let handler = Arc::new(handler);
    let rmcp = {
        let handler = handler.clone();
        StreamableHttpService::new(move || Ok(handler.new_session()), manager, config)
    };
    let mcp = Mcp {
        handler,
        rmcp,
        max_body_bytes: options.max_body_bytes,
    };
    let mut router = Router::new()
        .route_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(app.clone(), authenticate))
        .route("/health", get(health))
        .route("/ready", get(ready));
    if metrics_listener.is_none() {
        router = router.route("/metrics", get(metrics));
    }
    if let Some(options) = options.console {
        let public_url = options
            .public_url
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://{local}"));
        tracing::info!(
            public_url,
            mail = options.mailer.describe(),
            operator_pages = options.admin_token.is_some(),
            "console at {public_url}/console"
        );
        if !options.mailer.is_on() {
            tracing::info!(
                "sign-up and sign-in links are off: no mail server (--smtp-url, or --mail-log \
                 for development)"
            );
        }
        let console = crate::console::Console {
            runtime: runtime.clone(),
            mcp: console_mcp,
            sessions: crate::console::session::Sessions::new(
                app.backend.clone(),
                options.session_lifetime,
            ),
            mailer: options.mailer,
            public_url,
            admin_token: options.admin_token,
            auth: app.auth.clone(),
            attempts: crate::console::Attempts::default(),
            status: crate::console::ServerStatus {
                version: env!("CARGO_PKG_VERSION"),
                state: options.state,
                scheduler: options.scheduler,
                started: Instant::now(),
            },
            local,
        };
        router = router.merge(crate::console::router(Arc::new(console)));
    }
    let router = router
        .layer(middleware::from_fn_with_state(app.clone(), check_host))
        // OrderDesk sends no bearer, Origin or known Host: the HMAC is the authentication.
        .route(crate::webhook::PATH, post(webhook))
        .with_state(app.clone());

    tracing::info!(
        listen = %local,
        auth = if app.auth.required() { "bearer" } else { "none (loopback, single store)" },
        max_connections = options.connections.max_total,
        max_connections_per_ip = options.connections.max_per_ip,
        "serving MCP over HTTP at /mcp"
    );
    let metrics_task = match metrics_listener {
        Some(listener) => {
            let metrics_local = listener.local_addr()?;
            eprintln!("orderdesk-mcp metrics on http://{metrics_local}/metrics");
            let metrics_hosts = loopback_hosts(metrics_local).or(options.allowed_hosts.clone());
            let metrics_app = Arc::new(MetricsOnly {
                app: app.clone(),
                allowed_hosts: metrics_hosts,
            });
            let router = Router::new()
                .route("/metrics", get(metrics_only))
                .with_state(metrics_app);
            let limits = connections::Limits {
                max_total: 64,
                max_per_ip: 16,
                idle: options.client_timeout,
            };
            Some(tokio::spawn(accept_loop(
                listener,
                router,
                Connections::new(limits),
                shutdown.child_token(),
                hyper_util::server::graceful::GracefulShutdown::new(),
            )))
        }
        None => None,
    };
    // The line tests and scripts wait for, on stderr whatever the log format.
    eprintln!("orderdesk-mcp listening on http://{local}/mcp");

    let stop_accepting = CancellationToken::new();
    let accepting = tokio::spawn(accept_loop(
        listener,
        router,
        connections,
        stop_accepting.clone(),
        hyper_util::server::graceful::GracefulShutdown::new(),
    ));
    let signal = crate::stop_signal().await;
    tracing::info!(signal, "shutting down: no new connections");
    stop_accepting.cancel();
    let graceful = accepting.await?;
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
    sweeper.abort();
    if let Some(task) = metrics_task {
        task.abort();
    }
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

/// glibc's malloc keeps what ended sessions and connections freed in its per-thread arenas
/// (2,000 sessions opened and closed left RSS at its 145 MB peak); `malloc_trim` returns
/// it to the system (37 MB after). Elsewhere (musl, macOS) the allocator does its own.
fn give_back_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The loopback names a listener on `addr` answers, when it is a loopback address.
fn loopback_hosts(addr: SocketAddr) -> Option<Vec<String>> {
    addr.ip().is_loopback().then(|| {
        ["localhost", "127.0.0.1", "::1", "[::1]"]
            .map(String::from)
            .to_vec()
    })
}

/// Accept connections until `stop`, each counted against `connections` (refused with a
/// 503 and closed past the caps), served by `router` through hyper (HTTP/1 or HTTP/2),
/// and dropped once idle for `idle` (no request in flight, whatever the client sends).
/// Returns the graceful-shutdown handle watching the connections still open.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    router: Router,
    connections: Arc<Connections>,
    stop: CancellationToken,
    graceful: hyper_util::server::graceful::GracefulShutdown,
) -> hyper_util::server::graceful::GracefulShutdown {
    let idle = connections.idle();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle)
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .keep_alive_interval(Some(idle))
        .keep_alive_timeout(idle.min(Duration::from_secs(20)));
    let mut backoff = AcceptBackoff::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.cancelled() => return graceful,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => {
                backoff.succeeded();
                conn
            }
            Err(e) => {
                // Out of file descriptors and the like: wait, keep serving.
                let wait = backoff.failed(&e);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue,
                    _ = stop.cancelled() => return graceful,
                }
            }
        };
        let slot = match connections.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                crate::metrics::get().connection_refused(refusal.label());
                let _ = stream.try_write(connections::REFUSAL_RESPONSE);
                drop(stream);
                continue;
            }
        };
        crate::metrics::get()
            .connections_open
            .set(connections.open() as i64);
        let _ = stream.set_nodelay(true);
        let activity = Activity::default();
        // A client that stalls mid-body is cut off like one that stalls in headers.
        let service = TowerToHyperService::new(Tracked::new(
            RequestBodyTimeout::new(router.clone(), idle),
            activity.clone(),
            peer.ip(),
        ));
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let conn = graceful.watch(conn.into_owned());
        let connections = connections.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = conn => {}
                // Nothing in flight for too long: drop it, which closes the socket.
                _ = activity.idle_past(idle) => {}
            }
            drop(slot);
            crate::metrics::get()
                .connections_open
                .set(connections.open() as i64);
        });
    }
}

/// The `Host` check of every route but the webhook (DNS-rebinding guard): 403 for a
/// name not in `allowed_hosts` (when there is such a list).
async fn check_host(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    if host_allowed(&request, app.allowed_hosts.as_deref()) {
        next.run(request).await
    } else {
        (
            StatusCode::FORBIDDEN,
            "Forbidden: Host header is not allowed",
        )
            .into_response()
    }
}

/// Whether the request's host (the `Host` header, or the HTTP/2 `:authority`) is one of
/// `allowed` (`name` matches any port, `name:port` that port); `None` allows any.
fn host_allowed(request: &Request, allowed: Option<&[String]>) -> bool {
    let Some(allowed) = allowed.filter(|a| !a.is_empty()) else {
        return true;
    };
    let authority = match request.headers().get(header::HOST) {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.parse::<axum::http::uri::Authority>().ok()),
        None => request.uri().authority().cloned(),
    };
    let Some(authority) = authority else {
        return false;
    };
    let normal = |h: &str| h.trim_matches(['[', ']']).to_ascii_lowercase();
    let host = normal(authority.host());
    allowed.iter().any(|entry| {
        let (name, port) = match entry.parse::<axum::http::uri::Authority>() {
            Ok(a) => (normal(a.host()), a.port_u16()),
            Err(_) => (normal(entry), None),
        };
        name == host && port.is_none_or(|p| authority.port_u16() == Some(p))
    })
}

/// The bearer check in front of `/mcp`: 401 with `WWW-Authenticate` when missing or wrong;
/// otherwise the request goes on carrying its [`crate::auth::Principal`], if it names a
/// session only when that session is the principal's, and a new session only when the
/// session caps allow.
async fn authenticate(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    if app.draining.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let peer = request.extensions().get::<Peer>().map(|p| p.0);
    let principal = match app.auth.check(authorization, peer).await {
        Ok(principal) => principal,
        Err(refusal) => return refused(refusal),
    };
    let owner = principal.tenant.clone().unwrap_or_else(|| "_".to_string());
    let named = request
        .headers()
        .get(SESSION_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    // Someone else's session is answered like one that does not exist (rmcp would answer
    // DELETE of an unknown one with success, telling ids apart).
    if let Some(session) = &named
        && app.sessions.access(session, &owner) != Access::Owner
    {
        return session_not_found();
    }
    request.extensions_mut().insert(principal);
    let delete = request.method() == axum::http::Method::DELETE;
    let mut response = as_the_spec_says(next.run(request).await).await;
    // rmcp ends a session with 202; clients (the Python SDK among them) expect a plain
    // success for DELETE.
    if delete && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::OK;
    }
    if delete && response.status().is_success() {
        if let Some(session) = &named {
            app.sessions.closed(session);
        }
    } else if named.is_none()
        && let Some(created) = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    {
        let evicted_before = app.sessions.count();
        match app.sessions.opened(&created, &owner).await {
            Ok(()) => {
                if app.sessions.count() <= evicted_before {
                    crate::metrics::get().sessions_evicted.inc();
                }
            }
            Err(full) => {
                crate::metrics::get().sessions_refused.inc();
                tracing::warn!(
                    open = full.0,
                    "refused a new MCP session: the server is full"
                );
                let body = rpc_error(Value::Null, code::SERVER_REFUSED, &full.to_string(), None);
                let mut busy = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
                busy.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                return busy;
            }
        }
    }
    response
}

const SESSION_HEADER: &str = "mcp-session-id";

/// What an unknown session gets, and so also someone else's.
fn session_not_found() -> Response {
    let body = rpc_error(
        Value::Null,
        code::SESSION_OR_AUTH,
        "Session not found",
        None,
    );
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
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
    if text.starts_with("fail to deserialize request body") {
        let detail = text
            .trim_start_matches("fail to deserialize request body")
            .trim();
        let message = format!("Parse error: not a JSON-RPC message ({detail})");
        let body = rpc_error(Value::Null, code::PARSE_ERROR, &message, None);
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    if text.starts_with("Failed to read request body") {
        return body_did_not_arrive();
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// What a request whose body stopped arriving (the client timeout) or broke off gets.
fn body_did_not_arrive() -> Response {
    let message = "the request body did not arrive in time";
    let body = rpc_error(Value::Null, code::INVALID_REQUEST, message, None);
    (StatusCode::REQUEST_TIMEOUT, axum::Json(body)).into_response()
}

/// `/mcp`: plain stateless tool calls straight to the handler ([`crate::stateless`]),
/// everything else to rmcp's streamable-HTTP service.
#[derive(Clone)]
struct Mcp {
    handler: Arc<OrderDeskMcp>,
    rmcp: StreamableHttpService<OrderDeskMcp, LocalSessionManager>,
    max_body_bytes: usize,
}

impl tower::Service<Request> for Mcp {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, Self::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let named = (request.method() == axum::http::Method::POST)
                .then(|| stateless::eligible(request.headers(), this.max_body_bytes))
                .flatten();
            let request = match named {
                Some(named) => {
                    let max = this.max_body_bytes;
                    match stateless::serve(&this.handler, request, named, max).await {
                        Served::Answered(response) => return Ok(response),
                        Served::BodyLost => return Ok(body_did_not_arrive()),
                        Served::NotPlain(request) => request,
                    }
                }
                None => request,
            };
            let mut rmcp = this.rmcp;
            let response = tower::ServiceExt::oneshot(&mut rmcp, request).await?;
            Ok(response.map(axum::body::Body::new))
        })
    }
}

fn refused(refusal: Refusal) -> Response {
    let (status, challenge) = match refusal {
        Refusal::Missing => (StatusCode::UNAUTHORIZED, r#"Bearer realm="orderdesk-mcp""#),
        Refusal::Invalid => (
            StatusCode::UNAUTHORIZED,
            r#"Bearer realm="orderdesk-mcp", error="invalid_token""#,
        ),
        Refusal::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, ""),
        Refusal::TooManyFailures(_) => (StatusCode::TOO_MANY_REQUESTS, ""),
    };
    let body = rpc_error(
        Value::Null,
        code::SESSION_OR_AUTH,
        &refusal.to_string(),
        None,
    );
    let mut response = (status, axum::Json(body)).into_response();
    if !challenge.is_empty() {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    if let Refusal::TooManyFailures(secs) = refusal {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
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

/// Whether the state backend serves a read and a write (a full disk or a read-only
/// replica still answers reads): a lease on a name of this process's own, taken and
/// given back.
async fn probe(backend: &dyn Backend) -> Result<(), crate::state::StateError> {
    const PROBE: Bucket = Bucket {
        name: "state",
        keep: Keep::Durable,
    };
    static OWNER: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| uuid::Uuid::new_v4().to_string());
    backend.exists(PROBE, "ready-probe").await?;
    let name = format!("ready-probe/{}", *OWNER);
    backend
        .lock_acquire(&name, &OWNER, Duration::from_secs(5))
        .await?;
    backend.lock_release(&name, &OWNER).await?;
    Ok(())
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
    match probe(app.backend.as_ref()).await {
        Ok(_) => {
            let admission = app.runtime.admission();
            let lanes: serde_json::Map<String, serde_json::Value> = Lane::ALL
                .iter()
                .map(|lane| {
                    let (in_use, capacity) = admission.usage(*lane);
                    let lane_use = serde_json::json!({
                        "in_use": in_use,
                        "capacity": capacity,
                        "waiting": admission.waiting(*lane),
                    });
                    (lane.label().to_string(), lane_use)
                })
                .collect();
            axum::Json(serde_json::json!({
                "status": "ready",
                "calls_in_flight": app.runtime.calls_in_flight(),
                "instances": lanes,
                "connections": app.connections.open(),
                "sessions": app.sessions.count(),
            }))
            .into_response()
        }
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

/// `GET /metrics` on the main listener: the bearer check, when a token is set.
async fn metrics(State(app): State<Arc<App>>, request: Request) -> Response {
    render_metrics(&app, &request)
}

/// The metrics listener's app: the main one's numbers, its own `Host` list.
struct MetricsOnly {
    app: Arc<App>,
    allowed_hosts: Option<Vec<String>>,
}

/// `GET /metrics` on `--metrics-listen`.
async fn metrics_only(State(only): State<Arc<MetricsOnly>>, request: Request) -> Response {
    if !host_allowed(&request, only.allowed_hosts.as_deref()) {
        return (
            StatusCode::FORBIDDEN,
            "Forbidden: Host header is not allowed",
        )
            .into_response();
    }
    render_metrics(&only.app, &request)
}

fn render_metrics(app: &App, request: &Request) -> Response {
    if let Some(token) = &app.metrics_token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::auth::bearer_of(v).ok());
        if !given
            .is_some_and(|g| orderdesk_mcp_shapes::constant_time_eq(g.as_bytes(), token.as_bytes()))
        {
            let mut refused =
                (StatusCode::UNAUTHORIZED, "/metrics needs its bearer token").into_response();
            refused.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="orderdesk-mcp-metrics""#),
            );
            return refused;
        }
    }
    let metrics = crate::metrics::get();
    metrics.sessions.set(app.sessions.count() as i64);
    let (in_use, max) = app.runtime.instances();
    metrics.instances_in_use.set(in_use as i64);
    metrics.instances_max.set(max as i64);
    metrics.connections_open.set(app.connections.open() as i64);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}
