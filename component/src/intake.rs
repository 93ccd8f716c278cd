//! The front doors the host drives with no MCP caller: OrderDesk webhook deliveries and
//! the polling-sync scheduler (`orderdesk:mcp/intake`).

use crate::error::{ErrorCode, ToolError};
use crate::host::Host;

/// A delivery of OrderDesk's "Post Order JSON" rule action.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub store_id: String,
    pub signature: Option<String>,
    pub order: String,
    pub request_id: String,
}

/// What became of an accepted delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub outcome: &'static str,
    pub order_id: String,
    pub registrations: u32,
}

/// A store of a tenant with polling sync on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tenant: String,
    pub store_id: String,
}

pub fn webhook_deliver(_host: &dyn Host, _delivery: Delivery) -> Result<Receipt, ToolError> {
    Err(ToolError::new(ErrorCode::Internal, "webhooks are being built"))
}

pub fn sync_targets(_host: &dyn Host) -> Result<Vec<Target>, ToolError> {
    Ok(Vec::new())
}

pub fn sync_due(_host: &dyn Host) -> Result<Vec<Target>, ToolError> {
    Ok(Vec::new())
}

pub fn sync_run(
    _host: &dyn Host,
    _target: &Target,
    _options_json: &str,
    _request_id: &str,
) -> Result<String, ToolError> {
    Err(ToolError::new(ErrorCode::Internal, "sync is being built"))
}
