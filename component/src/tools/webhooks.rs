//! The store's received webhook deliveries.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::args::{StoreRef, check_limit};
use super::{Annotations, Ctx, Tool, Validate};
use crate::error::ToolError;
use crate::services::webhooks::{self, Event};

pub const TOOLS: &[Tool] = &[tool!(
    "webhooks_list",
    "Recent webhook deliveries",
    "The store's most recent OrderDesk webhook deliveries, newest first: when, which \
     order, what it changed in the mirror, and how often OrderDesk delivered it. Page \
     with before = next_before.",
    Annotations::LOCAL_READ,
    webhooks_list,
)];

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhooksArgs {
    pub store: Option<StoreRef>,
    /// Events per page, 1-100 (default 20).
    #[serde(default = "default_events")]
    pub limit: u32,
    /// Only events older than this seq (the previous page's next_before).
    pub before: Option<u64>,
}

fn default_events() -> u32 {
    20
}

impl Validate for WebhooksArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_limit(self.limit)
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct WebhooksOut {
    pub store_id: String,
    pub events: Vec<Event>,
    /// Pass as `before` for the next (older) page; null at the end.
    pub next_before: Option<u64>,
}

fn webhooks_list(ctx: &Ctx, args: WebhooksArgs) -> Result<WebhooksOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let (events, next_before) = webhooks::list(
        ctx.host,
        ctx.tenant(),
        sc.store_id(),
        args.limit,
        args.before,
    )?;
    Ok(WebhooksOut {
        store_id: sc.store_id().to_string(),
        events,
        next_before,
    })
}
