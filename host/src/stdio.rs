//! MCP over stdio: stdout carries only JSON-RPC; logs go to stderr.

use rmcp::ServiceExt;

use crate::mcp::OrderDeskMcp;

/// Serve one client on stdin/stdout until it disconnects.
pub async fn serve(handler: OrderDeskMcp) -> anyhow::Result<()> {
    let service = handler.serve(rmcp::transport::stdio()).await?;
    tracing::info!("serving MCP on stdio");
    let reason = service.waiting().await?;
    tracing::info!(?reason, "stdio client disconnected");
    Ok(())
}
