//! The MCP face of the component (rmcp `ServerHandler`): `tools/list` from the component's
//! catalog, `tools/call` run in the sandbox, errors shaped as MCP expects.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Map, Value, json};

use crate::bindings::orderdesk::mcp::types::{CallError, Caller, ToolDescriptor};
use crate::runtime::Runtime;

const INSTRUCTIONS: &str = "Tools for OrderDesk stores: read and search orders, create and \
update them (orders_update merges safely; orders_mutate applies JSON Patch), move them between \
folders (store_info lists folders), add notes, items and shipments, and manage inventory \
(products_*). With several stores, call tenant_use_master_key, then stores_list / stores_use, \
or pass `store` to any tool. Failed calls return isError with error.code (e.g. \
ORDER_NOT_FOUND, CONCURRENT_UPDATE, OD_API_429, INVALID_ARGUMENT).";

/// One MCP connection's handler; cheap to clone, shares the runtime.
#[derive(Clone)]
pub struct OrderDeskMcp {
    runtime: Arc<Runtime>,
    tools: Arc<Vec<Tool>>,
    connection_id: String,
    /// The tenant master key bound by `tenant_use_master_key`: memory only, never logged.
    credential: Arc<Mutex<Option<String>>>,
}

impl OrderDeskMcp {
    pub fn new(runtime: Arc<Runtime>, catalog: &[ToolDescriptor]) -> anyhow::Result<Self> {
        let tools = catalog
            .iter()
            .map(to_mcp_tool)
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            runtime,
            tools: Arc::new(tools),
            connection_id: uuid::Uuid::new_v4().to_string(),
            credential: Arc::new(Mutex::new(None)),
        })
    }

    async fn call(
        &self,
        name: &str,
        arguments: Option<Map<String, Value>>,
    ) -> Result<CallToolResult, McpError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let args = Value::Object(arguments.unwrap_or_default()).to_string();
        let caller = Caller {
            credential: self
                .credential
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            session: Some(self.connection_id.clone()),
            request_id: request_id.clone(),
        };
        let started = Instant::now();
        let outcome = self.runtime.call_tool(caller, name, &args).await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let result = match outcome {
            Ok(Ok(output)) => {
                tracing::info!(
                    request_id,
                    tool = name,
                    elapsed_ms,
                    outcome = "ok",
                    "tool call"
                );
                if let Some(bound) = output.bind_credential {
                    *self.credential.lock().unwrap_or_else(|p| p.into_inner()) = Some(bound);
                }
                let value: Value = serde_json::from_str(&output.structured).map_err(|e| {
                    McpError::internal_error(format!("component returned invalid JSON: {e}"), None)
                })?;
                CallToolResult::structured(value)
            }
            Ok(Err(CallError::UnknownTool(unknown))) => {
                tracing::info!(
                    request_id,
                    tool = name,
                    outcome = "unknown_tool",
                    "tool call"
                );
                return Err(McpError::invalid_params(
                    format!("unknown tool: {unknown}"),
                    Some(json!({ "tool": unknown })),
                ));
            }
            Ok(Err(CallError::Failed(e))) => {
                tracing::info!(
                    request_id,
                    tool = name,
                    elapsed_ms,
                    outcome = e.code.as_str(),
                    "tool call"
                );
                let details = e
                    .details
                    .as_deref()
                    .and_then(|d| serde_json::from_str::<Value>(d).ok())
                    .unwrap_or(Value::Null);
                error_result(&e.code, &e.message, details, e.retryable, &request_id)
            }
            Err(sandbox) => {
                tracing::warn!(
                    request_id,
                    tool = name,
                    elapsed_ms,
                    outcome = sandbox.code(),
                    "tool call failed in the sandbox: {sandbox}"
                );
                error_result(
                    sandbox.code(),
                    &sandbox.to_string(),
                    Value::Null,
                    true,
                    &request_id,
                )
            }
        };
        Ok(result)
    }
}

/// `{"error": {code, message, details, request_id, retryable}}` as structured content and
/// as text, with `isError: true`.
fn error_result(
    code: &str,
    message: &str,
    details: Value,
    retryable: bool,
    request_id: &str,
) -> CallToolResult {
    CallToolResult::structured_error(json!({
        "error": {
            "code": code,
            "message": message,
            "details": details,
            "retryable": retryable,
            "request_id": request_id,
        }
    }))
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
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "orderdesk-mcp",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.call(&request.name, request.arguments)
            .await
            .map(Into::into)
    }
}
