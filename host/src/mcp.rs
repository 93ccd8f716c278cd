//! The MCP face of the component (rmcp `ServerHandler`): `tools/list` from the component's
//! catalog, `tools/call` run in the sandbox (cancelled with its request, its progress
//! events sent as `notifications/progress` when the request carries a progress token),
//! errors shaped as MCP expects, and the state one session binds (credential, default
//! store), which belongs to that session alone.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeRequestParams, InitializeResult, ListToolsResult, PaginatedRequestParams,
    ProgressNotificationParam, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Map, Value, json};
use tracing::Instrument as _;

use crate::admission::{Lane, Ticket};
use crate::auth::Principal;
use crate::bindings::exports::orderdesk::mcp::tools::{
    CallError, Caller, ToolDescriptor, ToolOutput,
};
use crate::capability::{CallHooks, Progress};
use crate::runtime::{Runtime, SandboxError};
use crate::throttle::Throttle;

/// The tenant of calls without one: single-store mode (the component's name for it).
const SINGLE_STORE_TENANT: &str = "_";
/// The largest arguments object a call may carry; larger ones are refused before they
/// reach the component (whose memory is capped).
pub const MAX_ARGUMENTS_BYTES: usize = 1 << 20;

/// What a call that must not run sends the component instead of its arguments: not an
/// object, so the component refuses it without running the tool, and charges it to the
/// caller's budget like any malformed call.
const MALFORMED: &str = "[]";

/// A call's arguments as they arrived.
pub(crate) enum Arguments {
    Object(Map<String, Value>),
    /// Not acceptable (too large, or not an object); the message says why.
    Malformed(String),
}

/// Progress events waiting to be sent for one call; more are dropped (progress is advisory).
const PROGRESS_BACKLOG: usize = 64;

/// The longest tool name there can be (`^[a-z0-9_]{1,64}$`); longer names are cut before
/// they reach the sandbox, which then answers them as unknown (and charges the caller).
const MAX_TOOL_NAME: usize = 64;

/// The tool catalog as MCP lists it, read once from the component.
struct Catalog {
    tools: Vec<Tool>,
    /// Every listed name: the only tool names that reach a metric label or a log field.
    names: HashSet<String>,
    /// Tools that change nothing: their sandbox failures may be retried.
    read_only: HashSet<String>,
}

impl Catalog {
    /// The listed name a requested name (or its dotted alias) stands for, or `unknown`.
    fn label(&self, requested: &str) -> &str {
        let canonical = requested.replace('.', "_");
        self.names.get(&canonical).map_or("unknown", String::as_str)
    }
}

/// What one connection (stdio) or MCP session has bound: memory only, never logged, never
/// shared with another session.
#[derive(Default)]
struct Session {
    /// The tenant master key bound by `tenant_use_master_key`.
    credential: Option<String>,
    /// The tenant that key names (asked of the component when it was bound).
    credential_tenant: Option<String>,
    /// The store picked with `stores_use`.
    default_store: Option<String>,
    /// Over HTTP: the tenant whose bearer key opened this session. Requests of another
    /// tenant are refused, so sessions of different tenants share nothing.
    tenant: Option<String>,
    /// The `logging/setLevel` of this session: tool-call outcomes at or above it are sent
    /// as `notifications/message` (session-era clients; the 2026-07-28 revision has no
    /// logging).
    log_level: Option<u8>,
}

/// Severity rank of an MCP logging level (RFC 5424 order: debug lowest).
#[allow(deprecated)] // logging is gone from 2026-07-28 (SEP-2577), still in 2025-11-25
fn rank(level: &rmcp::model::LoggingLevel) -> u8 {
    use rmcp::model::LoggingLevel as L;
    match level {
        L::Debug => 0,
        L::Info => 1,
        L::Notice => 2,
        L::Warning => 3,
        L::Error => 4,
        L::Critical => 5,
        L::Alert => 6,
        L::Emergency => 7,
    }
}

/// One MCP session's handler: the shared runtime and catalog, and this session's own state.
pub struct OrderDeskMcp {
    runtime: Arc<Runtime>,
    catalog: Arc<Catalog>,
    throttle: Arc<Throttle>,
    session: Mutex<Session>,
}

impl OrderDeskMcp {
    pub fn new(runtime: Arc<Runtime>, descriptors: &[ToolDescriptor]) -> anyhow::Result<Self> {
        let tools = descriptors
            .iter()
            .map(to_mcp_tool)
            .collect::<anyhow::Result<_>>()?;
        let read_only = descriptors
            .iter()
            .filter(|d| d.annotations.read_only)
            .map(|d| d.name.clone())
            .collect();
        let names = descriptors.iter().map(|d| d.name.clone()).collect();
        Ok(Self {
            runtime,
            throttle: Arc::default(),
            catalog: Arc::new(Catalog {
                tools,
                names,
                read_only,
            }),
            session: Mutex::new(Session::default()),
        })
    }

    /// A handler for a new session (or, in the stateless revision, one request): the same
    /// runtime and catalog, nothing bound.
    pub fn new_session(&self) -> Self {
        Self {
            runtime: self.runtime.clone(),
            catalog: self.catalog.clone(),
            throttle: self.throttle.clone(),
            session: Mutex::new(Session::default()),
        }
    }

    /// The tool catalog as `tools/list` publishes it.
    pub fn tools(&self) -> &[Tool] {
        &self.catalog.tools
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Check that an HTTP request's principal may use this session; binds the session to
    /// the tenant of its first request.
    fn admit(&self, principal: Option<&Principal>) -> Result<(), McpError> {
        let Some(tenant) = principal.and_then(|p| p.tenant.as_deref()) else {
            return Ok(());
        };
        let mut session = self.session();
        match &session.tenant {
            None => {
                session.tenant = Some(tenant.to_string());
                Ok(())
            }
            Some(own) if own == tenant => Ok(()),
            Some(_) => Err(McpError::invalid_request(
                "this MCP session belongs to another tenant; start a new session",
                None,
            )),
        }
    }

    /// Run one tool call: the answer (the result text as the component wrote it, or an
    /// error body) and its outcome label; `Err` is a JSON-RPC error (unknown tool, a
    /// session of another tenant).
    pub(crate) async fn call(
        &self,
        name: &str,
        arguments: Arguments,
        principal: Option<&Principal>,
        hooks: CallHooks,
    ) -> Result<(ToolAnswer, String), McpError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        self.call_as(request_id, name, arguments, principal, hooks)
            .await
    }

    /// [`Self::call`] under a request id the caller chose (the console links the answer to
    /// its trace by it).
    pub(crate) async fn call_as(
        &self,
        request_id: String,
        name: &str,
        arguments: Arguments,
        principal: Option<&Principal>,
        hooks: CallHooks,
    ) -> Result<(ToolAnswer, String), McpError> {
        self.admit(principal)?;
        let args = CallArguments::from(arguments);
        let Who {
            caller,
            bearer,
            ticket,
            tenant,
            store,
        } = self.who(principal, &args, &request_id);
        // Client strings stop here: labels and log fields use the catalog's name.
        let tool = self.catalog.label(name).to_string();
        // Inside a wait the component advised, the answer is known: no instance for it,
        // and no log line (a runaway client would otherwise write thousands a second).
        if let Some(wait) = self.throttle.remaining(&ticket.tenant) {
            let ms = (wait.as_millis() as u64).max(1);
            crate::metrics::get().tool_call(&tool, "RATE_LIMITED", Duration::ZERO);
            let result = error_result(
                "RATE_LIMITED",
                &format!("too many tool calls for this tenant; retry in {ms} ms"),
                json!({ "retry_after_ms": ms }),
                true,
                &request_id,
            );
            return Ok((result, "RATE_LIMITED".into()));
        }
        let log = CallLog {
            request_id: request_id.clone(),
            requested: (tool == "unknown").then(|| crate::logging::clip(name, MAX_TOOL_NAME)),
            tenant,
            store,
            tool,
        };
        let throttle_key = ticket.tenant.clone();
        let settle = !self.catalog.read_only.contains(&log.tool);
        let sent_name: String = name.chars().take(MAX_TOOL_NAME + 1).collect();
        // Debug, like the success line: at the default filter a span costs what the line
        // does (component events carry the request id themselves).
        let span = tracing::debug_span!(
            "call",
            request_id,
            tool = log.tool,
            tenant = log.tenant,
            store = log.store
        );
        let started = Instant::now();
        let outcome = self
            .runtime
            .call_tool(caller, &sent_name, &args.json, hooks, ticket, settle)
            .instrument(span)
            .await;
        let elapsed = started.elapsed();
        let label = outcome_label(&outcome, args.refused.is_some());
        crate::metrics::get().tool_call(&log.tool, &label, elapsed);
        crate::history::get().record(&throttle_key, |c| {
            if label == "ok" {
                c.calls_ok += 1;
            } else {
                c.calls_failed += 1;
            }
            crate::history::latency(c, elapsed);
        });
        if let Some(ms) = advised_wait(&outcome) {
            self.throttle.told(&throttle_key, Duration::from_millis(ms));
        }
        let result = match outcome {
            Ok(Err(CallError::Failed(e)))
                if e.code != "RATE_LIMITED"
                    && let Some(why) = &args.refused =>
            {
                // Charged by the component; answered with what was really wrong.
                log.write(&label, elapsed, None);
                error_result("INVALID_ARGUMENT", why, Value::Null, false, &request_id)
            }
            Ok(Ok(output)) => {
                if bearer.is_some()
                    && output.bind_credential.is_some()
                    && output.bind_credential != bearer
                {
                    let result = error_result(
                        "INVALID_ARGUMENT",
                        "over HTTP the tenant is the `Authorization: Bearer` key of each \
                         request; connect with that tenant's key instead",
                        Value::Null,
                        false,
                        &request_id,
                    );
                    return Ok((result, "INVALID_ARGUMENT".into()));
                }
                log.write("ok", elapsed, None);
                let over_http = bearer.is_some();
                let bound_tenant = match &output.bind_credential {
                    Some(key) if !over_http => self.runtime.tenant_of_key(key).await,
                    _ => None,
                };
                self.bind(&output, over_http, bound_tenant);
                ToolAnswer {
                    text: output.structured,
                    is_error: false,
                }
            }
            Ok(Err(CallError::UnknownTool(unknown))) => {
                log.write("unknown_tool", elapsed, None);
                let unknown = crate::logging::clip(&unknown, MAX_TOOL_NAME);
                return Err(McpError::invalid_params(
                    format!("unknown tool: {unknown}"),
                    Some(json!({ "tool": unknown })),
                ));
            }
            Ok(Err(CallError::Failed(e))) => {
                log.write(&label, elapsed, None);
                let details = e
                    .details
                    .as_deref()
                    .and_then(|d| serde_json::from_str::<Value>(d).ok())
                    .unwrap_or(Value::Null);
                error_result(&e.code, &e.message, details, e.retryable, &request_id)
            }
            Err(SandboxError::Busy {
                reason,
                retry_after_ms,
            }) => {
                // Nothing ran: the same call may simply be sent again, later.
                log.write("BUSY", elapsed, None);
                error_result(
                    "BUSY",
                    &reason,
                    json!({ "retry_after_ms": retry_after_ms }),
                    true,
                    &request_id,
                )
            }
            Err(sandbox) => {
                log.write(sandbox.code(), elapsed, Some(&sandbox));
                // A write stopped midway may already have reached OrderDesk.
                let details = if settle {
                    json!({ "write_outcome": "unknown" })
                } else {
                    Value::Null
                };
                error_result(
                    sandbox.code(),
                    &sandbox.to_string(),
                    details,
                    !settle,
                    &request_id,
                )
            }
        };
        Ok((result, label))
    }

    /// Who calls (the bearer over HTTP, else the session's bound key), and the ticket
    /// naming the tenant and store admission shares the instances by.
    fn who(&self, principal: Option<&Principal>, args: &CallArguments, request_id: &str) -> Who {
        let bearer = principal.and_then(|p| p.credential.clone());
        let (caller, tenant) = {
            let session = self.session();
            let caller = Caller {
                // Over HTTP the bearer key is the tenant, on every request.
                credential: bearer.clone().or_else(|| session.credential.clone()),
                default_store: session.default_store.clone(),
                request_id: request_id.to_string(),
            };
            let tenant = principal
                .and_then(|p| p.tenant.clone())
                .or_else(|| session.credential_tenant.clone());
            (caller, tenant)
        };
        let store = args
            .store
            .clone()
            .or_else(|| caller.default_store.clone())
            .map(|s| crate::logging::clip(&s, 64));
        let ticket = Ticket::new(
            Lane::Calls,
            tenant.as_deref().unwrap_or(SINGLE_STORE_TENANT),
            store.as_deref().unwrap_or(""),
        );
        Who {
            caller,
            bearer,
            ticket,
            tenant,
            store,
        }
    }

    /// Keep what a successful call bound to this connection (a tenant key over stdio, a
    /// default store).
    fn bind(&self, output: &ToolOutput, over_http: bool, bound_tenant: Option<String>) {
        let mut session = self.session();
        if let Some(bound) = &output.bind_credential
            && !over_http
        {
            session.credential = Some(bound.clone());
            session.credential_tenant = bound_tenant;
            session.default_store = None;
        }
        if let Some(store) = &output.bind_default_store {
            session.default_store = Some(store.clone());
        }
    }
}

/// A call's caller, its bearer (over HTTP), its admission ticket, and the tenant and store
/// it names (clipped, for logs).
struct Who {
    caller: Caller,
    bearer: Option<String>,
    ticket: Ticket,
    tenant: Option<String>,
    store: Option<String>,
}

/// A call's arguments as the component gets them: JSON text (`[]` when they were refused
/// before the call, so the component charges it and fails it unrun), the `store` they name,
/// and why they were refused.
struct CallArguments {
    json: String,
    store: Option<String>,
    refused: Option<String>,
}

impl From<Arguments> for CallArguments {
    fn from(arguments: Arguments) -> Self {
        match arguments {
            Arguments::Object(arguments) => {
                let store = match arguments.get("store") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                };
                let json = Value::Object(arguments).to_string();
                if json.len() > MAX_ARGUMENTS_BYTES {
                    let why = format!(
                        "the arguments are {} bytes; at most {MAX_ARGUMENTS_BYTES} are accepted",
                        json.len()
                    );
                    Self {
                        json: MALFORMED.to_string(),
                        store,
                        refused: Some(why),
                    }
                } else {
                    Self {
                        json,
                        store,
                        refused: None,
                    }
                }
            }
            Arguments::Malformed(why) => Self {
                json: MALFORMED.to_string(),
                store: None,
                refused: Some(why),
            },
        }
    }
}

/// The outcome label of a call for metrics and logs: `ok`, `unknown_tool`, or a code from
/// the closed set.
fn outcome_label(
    outcome: &Result<Result<ToolOutput, CallError>, SandboxError>,
    refused: bool,
) -> String {
    match outcome {
        Ok(Ok(_)) => "ok".to_string(),
        Ok(Err(CallError::UnknownTool(_))) => "unknown_tool".to_string(),
        Ok(Err(CallError::Failed(e))) if refused && e.code != "RATE_LIMITED" => {
            "INVALID_ARGUMENT".to_string()
        }
        Ok(Err(CallError::Failed(e))) => crate::metrics::code_label(&e.code).to_string(),
        Err(sandbox) => sandbox.code().to_string(),
    }
}

/// The wait the component advised with `RATE_LIMITED`, if it did.
fn advised_wait(outcome: &Result<Result<ToolOutput, CallError>, SandboxError>) -> Option<u64> {
    match outcome {
        Ok(Err(CallError::Failed(e))) if e.code == "RATE_LIMITED" => e
            .details
            .as_deref()
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
            .and_then(|d| d["retry_after_ms"].as_u64()),
        _ => None,
    }
}

/// The fields of a call's one log line, all from closed sets or clipped.
struct CallLog {
    request_id: String,
    tool: String,
    /// The name as asked (clipped), only for an unknown tool.
    requested: Option<String>,
    tenant: Option<String>,
    store: Option<String>,
}

impl CallLog {
    /// The call's line: debug for a success, info for a failure the component answered,
    /// warn with the reason when the sandbox stopped it. Successes are off at the default
    /// filter: a JSON line per cache hit cost 35–58 µs of a 130–200 µs call (bench/RESULTS.md),
    /// and `/metrics` counts every call by tool and outcome with its latency anyway; the
    /// calls worth a look (failures) stay in the log. `--log info,orderdesk_mcp::mcp=debug`
    /// turns the full access log on.
    fn write(&self, outcome: &str, elapsed: Duration, stopped: Option<&SandboxError>) {
        let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
        let (request_id, tool) = (&self.request_id, &self.tool);
        let (requested, tenant, store) = (&self.requested, &self.tenant, &self.store);
        // One field list for the three levels (a tracing level must be a constant).
        macro_rules! line {
            ($level:expr, $($message:tt)+) => {
                tracing::event!(
                    $level, request_id, tool, requested, tenant, store, outcome, elapsed_ms,
                    $($message)+
                )
            };
        }
        match stopped {
            None if outcome == "ok" => line!(tracing::Level::DEBUG, "tool call"),
            None => line!(tracing::Level::INFO, "tool call"),
            Some(why) => line!(
                tracing::Level::WARN,
                "tool call failed in the sandbox: {why}"
            ),
        }
    }
}

/// A tool call's answer as text: on success the component's structured result, exactly as
/// it wrote it (the text content and `structuredContent` both); on failure the error body.
pub(crate) struct ToolAnswer {
    pub text: String,
    pub is_error: bool,
}

impl ToolAnswer {
    /// As rmcp's result type: success carries the text as content and, parsed, as
    /// `structuredContent`; an error only the text, with `isError: true`.
    fn into_result(self) -> Result<CallToolResult, McpError> {
        if self.is_error {
            return Ok(CallToolResult::error(vec![ContentBlock::text(self.text)]));
        }
        let value: Value = serde_json::from_str(&self.text).map_err(|e| {
            McpError::internal_error(format!("component returned invalid JSON: {e}"), None)
        })?;
        let mut result = CallToolResult::success(vec![ContentBlock::text(self.text)]);
        result.structured_content = Some(value);
        Ok(result)
    }
}

/// A failed call's answer: the error body of [`orderdesk_mcp_shapes::tool_error_body`].
fn error_result(
    code: &str,
    message: &str,
    details: Value,
    retryable: bool,
    request_id: &str,
) -> ToolAnswer {
    ToolAnswer {
        text: orderdesk_mcp_shapes::tool_error_body(code, message, details, retryable, request_id),
        is_error: true,
    }
}

/// The principal the HTTP transport attached to this request (none over stdio).
fn principal_of(context: &RequestContext<RoleServer>) -> Option<Principal> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>())
        .cloned()
}

fn to_mcp_tool(d: &ToolDescriptor) -> anyhow::Result<Tool> {
    let schema = |text: &str| -> anyhow::Result<Arc<Map<String, Value>>> {
        match serde_json::from_str(text)? {
            Value::Object(map) => Ok(Arc::new(map)),
            _ => anyhow::bail!("tool {} has a schema that is not an object", d.name),
        }
    };
    let mut tool = Tool::new(
        Cow::Owned(d.name.clone()),
        Cow::Owned(d.description.clone()),
        schema(&d.input_schema)?,
    );
    tool.title = Some(d.title.clone());
    tool.output_schema = Some(schema(&d.output_schema)?);
    let a = &d.annotations;
    tool.annotations = Some(
        ToolAnnotations::with_title(d.title.clone())
            .read_only(a.read_only)
            .destructive(a.destructive)
            .idempotent(a.idempotent)
            .open_world(a.open_world),
    );
    Ok(tool)
}

impl ServerHandler for OrderDeskMcp {
    #[allow(deprecated)] // `logging` is gone from 2026-07-28 (SEP-2577), still in 2025-11-25
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_logging()
                .build(),
        )
        .with_server_info(Implementation::new(
            "orderdesk-mcp",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(orderdesk_mcp_shapes::instructions::SERVER)
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        // A session belongs to the tenant whose key opened it.
        self.admit(principal_of(&context).as_ref())?;
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        self.admit(principal_of(&context).as_ref())?;
        Ok(ListToolsResult::with_all_items(self.catalog.tools.clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let principal = principal_of(&context);
        let started = Instant::now();
        let (progress, forwarder) = match context.meta.get_progress_token() {
            Some(token) => {
                let (tx, rx) = tokio::sync::mpsc::channel(PROGRESS_BACKLOG);
                let peer = context.peer.clone();
                (
                    Some(tx),
                    Some(tokio::spawn(forward_progress(peer, token, rx))),
                )
            }
            None => (None, None),
        };
        let hooks = CallHooks {
            cancel: Some(context.ct.clone()),
            progress,
        };
        let arguments = Arguments::Object(request.arguments.unwrap_or_default());
        let called = self
            .call(&request.name, arguments, principal.as_ref(), hooks)
            .await;
        // The call's store (and so every progress sender) is gone: the forwarder ends once
        // it has sent what is queued, and the result goes after the last notification.
        if let Some(forwarder) = forwarder {
            let _ = forwarder.await;
        }
        let (answer, outcome) = called?;
        let tool = self.catalog.label(&request.name).to_string();
        self.notify_outcome(
            &tool,
            answer.is_error,
            &outcome,
            started.elapsed(),
            &context,
        )
        .await;
        Ok(answer.into_result()?.into())
    }

    /// rmcp hands a request whose params do not fit its method's shape here, as a custom
    /// request. A `tools/call` whose `arguments` is not an object is still the caller's
    /// tool call: refused as `INVALID_ARGUMENT` (and charged, like any malformed call);
    /// any other known method with bad params is `-32602`, not "method not found".
    async fn on_custom_request(
        &self,
        request: rmcp::model::CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CustomResult, McpError> {
        let params = request.params.unwrap_or(Value::Null);
        if request.method == "tools/call"
            && let Some(name) = params.get("name").and_then(Value::as_str)
        {
            let principal = principal_of(&context);
            let why = "`arguments` must be a JSON object of the tool's parameters".to_string();
            let (answer, _) = self
                .call(
                    name,
                    Arguments::Malformed(why),
                    principal.as_ref(),
                    CallHooks::default(),
                )
                .await?;
            let value = serde_json::to_value(answer.into_result()?)
                .map_err(|e| McpError::internal_error(e.to_string(), None))?;
            return Ok(rmcp::model::CustomResult::new(value));
        }
        const KNOWN: [&str; 8] = [
            "initialize",
            "ping",
            "tools/list",
            "tools/call",
            "logging/setLevel",
            "server/discover",
            "resources/list",
            "prompts/list",
        ];
        let method = crate::logging::clip(&request.method, 64);
        if KNOWN.contains(&request.method.as_str()) {
            Err(McpError::invalid_params(
                format!("the params of {method} do not have the shape MCP defines"),
                None,
            ))
        } else {
            Err(McpError::new(
                rmcp::model::ErrorCode::METHOD_NOT_FOUND,
                format!("no such method: {method}"),
                None,
            ))
        }
    }

    #[allow(deprecated)] // logging is gone from 2026-07-28 (SEP-2577), still in 2025-11-25
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.admit(principal_of(&context).as_ref())?;
        self.session().log_level = Some(rank(&request.level));
        Ok(())
    }
}

/// Send a call's progress events as `notifications/progress` with the request's token.
async fn forward_progress(
    peer: rmcp::Peer<RoleServer>,
    token: rmcp::model::ProgressToken,
    mut events: tokio::sync::mpsc::Receiver<Progress>,
) {
    while let Some(event) = events.recv().await {
        let mut param = ProgressNotificationParam::new(token.clone(), event.progress);
        param.total = event.total;
        param.message = event.message;
        if let Err(e) = peer.notify_progress(param).await {
            tracing::debug!("could not send a progress notification: {e}");
        }
    }
}

impl OrderDeskMcp {
    /// After `logging/setLevel`: one `notifications/message` per tool call whose outcome is
    /// at or above the level (info for successes, warning for failures), with the tool,
    /// the outcome code and the duration; never arguments or results.
    #[allow(deprecated)] // logging is gone from 2026-07-28 (SEP-2577), still in 2025-11-25
    async fn notify_outcome(
        &self,
        tool: &str,
        failed: bool,
        outcome: &str,
        elapsed: Duration,
        context: &RequestContext<RoleServer>,
    ) {
        use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam};
        let Some(wanted) = self.session().log_level else {
            return;
        };
        let level = if failed {
            LoggingLevel::Warning
        } else {
            LoggingLevel::Info
        };
        if rank(&level) < wanted {
            return;
        }
        let data = json!({
            "tool": tool,
            "outcome": outcome,
            "elapsed_ms": (elapsed.as_secs_f64() * 1000.0).round(),
        });
        let message = LoggingMessageNotificationParam::new(level, data).with_logger("orderdesk");
        if let Err(e) = context.peer.notify_logging_message(message).await {
            tracing::debug!("could not send a log notification: {e}");
        }
    }
}
