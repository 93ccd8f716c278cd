//! Operations tools: `cache_invalidate` and `audit_list`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::args::StoreRef;
use super::page::default_limit;
use super::{Annotations, Ctx, Tool, Validate};
use crate::error::ToolError;
use crate::host::Family;
use crate::services::audit::{self, AuditEntry};
use crate::services::store;

pub const TOOLS: &[Tool] = &[
    tool!(
        "cache_invalidate",
        "Drop cached reads",
        "Forget this server's cached OrderDesk reads for a store (orders, products, store \
         settings, or all), e.g. after changes made in OrderDesk's own UI. Writes made \
         through this server invalidate what they touch on their own.",
        Annotations::LOCAL,
        invalidate,
    ),
    tool!(
        "audit_list",
        "Audit trail",
        "The caller's audit trail, newest first: every change made through this server \
         (time, store, tool, target, outcome, request id). Page with before = next_before.",
        Annotations {
            read_only: true,
            ..Annotations::LOCAL
        },
        list,
    ),
];

/// What to forget.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    All,
    Orders,
    Products,
    Store,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvalidateArgs {
    /// Which reads to forget (default all).
    #[serde(default = "all")]
    pub scope: Scope,
    pub store: Option<StoreRef>,
}

fn all() -> Scope {
    Scope::All
}

impl Validate for InvalidateArgs {}

#[derive(Serialize, JsonSchema)]
pub struct InvalidatedOut {
    pub scope: Scope,
    pub store_id: String,
}

fn invalidate(ctx: &Ctx, args: InvalidateArgs) -> Result<InvalidatedOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let families: &[Family] = match args.scope {
        Scope::All => &Family::ALL,
        Scope::Orders => &[Family::Orders],
        Scope::Products => &[Family::Products],
        Scope::Store => &[Family::Store],
    };
    store::forget_cached(&sc, families);
    sc.note_target(&format!("cache:{:?}", args.scope).to_lowercase());
    Ok(InvalidatedOut {
        scope: args.scope,
        store_id: sc.store_id().to_string(),
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditArgs {
    /// Entries per page, 1-100.
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Only entries older than this seq (the previous page's next_before).
    pub before: Option<u64>,
}

impl Validate for AuditArgs {
    fn validate(&self) -> Result<(), ToolError> {
        super::args::check_limit(self.limit)
    }
}

#[derive(Serialize, JsonSchema)]
pub struct AuditOut {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; null at the end.
    pub next_before: Option<u64>,
}

fn list(ctx: &Ctx, args: AuditArgs) -> Result<AuditOut, ToolError> {
    let (entries, next_before) = audit::page(ctx.host, ctx.tenant(), args.limit, args.before)?;
    Ok(AuditOut {
        entries,
        next_before,
    })
}
