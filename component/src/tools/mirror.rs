//! The local order mirror, searched without calling OrderDesk.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::args::{CODE_MAX, EMAIL_MAX, FolderRef, StoreRef, Text, check_date, check_limit};
use super::page::Page;
use super::sync::resolve_folders;
use super::{Annotations, Ctx, Tool, Validate};
use crate::error::ToolError;
use crate::services::mirror::{Entry, Filter, Mirror, SortBy, Status};

pub const TOOLS: &[Tool] = &[tool!(
    "mirror_orders_query",
    "Search the local order mirror",
    "Search the orders this server has mirrored from OrderDesk (by sync or webhook) \
     without calling OrderDesk or using its rate limit (a folder name is looked up in the \
     store's folder list, cached for an hour): filter by folder (id or name), \
     status (active or cancelled), customer email, text (part of the id, email, names \
     or source id), and added/modified date ranges (UTC, 'YYYY-MM-DD' or \
     'YYYY-MM-DD HH:MM:SS'). Pages of 1-100 (default 50); sorted by date_updated \
     newest first unless order_by/order say otherwise. As fresh as the last sync or \
     webhook: use orders_get for the live record.",
    Annotations::LOCAL_READ,
    query,
)];

/// Sort direction.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Asc,
    Desc,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryArgs {
    pub store: Option<StoreRef>,
    /// Only orders in this folder (id or exact name).
    pub folder: Option<FolderRef>,
    /// Only active or only cancelled orders.
    pub status: Option<Status>,
    /// Only orders with this customer email (any case).
    pub email: Option<Text<EMAIL_MAX>>,
    /// Only orders whose id, email, names or source id contain this text (any case).
    pub text: Option<Text<CODE_MAX>>,
    /// Added at or after (UTC).
    #[schemars(length(max = 19))]
    pub added_from: Option<String>,
    /// Added at or before (UTC; a date alone covers the whole day).
    #[schemars(length(max = 19))]
    pub added_to: Option<String>,
    /// Modified at or after (UTC).
    #[schemars(length(max = 19))]
    pub modified_from: Option<String>,
    /// Modified at or before (UTC; a date alone covers the whole day).
    #[schemars(length(max = 19))]
    pub modified_to: Option<String>,
    /// Orders per page, 1-100.
    #[serde(default = "super::page::default_limit")]
    pub limit: u32,
    /// Orders to skip; pass the previous page's next_offset.
    #[serde(default)]
    pub offset: u64,
    /// Sort field (default date_updated).
    pub order_by: Option<SortBy>,
    /// Sort direction (default desc).
    pub order: Option<Direction>,
}

impl Validate for QueryArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_limit(self.limit)?;
        for (field, value) in [
            ("added_from", &self.added_from),
            ("added_to", &self.added_to),
            ("modified_from", &self.modified_from),
            ("modified_to", &self.modified_to),
        ] {
            if let Some(v) = value {
                check_date(field, v.trim())?;
            }
        }
        Ok(())
    }
}

/// A date bound in OrderDesk's format; an end date alone covers its whole day.
fn bound(value: &Option<String>, end: bool) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .map(|v| match (v.len(), end) {
            (10, true) => format!("{v} 23:59:59"),
            (10, false) => format!("{v} 00:00:00"),
            _ => v.to_string(),
        })
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct QueryOut {
    pub store_id: String,
    pub orders: Vec<Entry>,
    #[serde(flatten)]
    pub page: Page,
}

fn query(ctx: &Ctx, args: QueryArgs) -> Result<QueryOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let folders = match &args.folder {
        None => None,
        Some(FolderRef::Id(id)) => Some(vec![id.0]),
        Some(name) => Some(resolve_folders(&sc, "folder", std::slice::from_ref(name))?),
    };
    let filter = Filter {
        folders,
        status: args.status,
        email: args.email.map(|e| e.0).filter(|e| !e.is_empty()),
        text: args.text.map(|t| t.0).filter(|t| !t.is_empty()),
        added: (bound(&args.added_from, false), bound(&args.added_to, true)),
        modified: (
            bound(&args.modified_from, false),
            bound(&args.modified_to, true),
        ),
    };
    let descending = !matches!(args.order, Some(Direction::Asc));
    let (total, orders) = Mirror::new(ctx.host, ctx.tenant(), sc.store_id()).query(
        &filter,
        args.order_by.unwrap_or(SortBy::DateUpdated),
        descending,
        args.offset,
        args.limit,
    )?;
    Ok(QueryOut {
        store_id: sc.store_id().to_string(),
        page: Page::new(Some(total), args.offset, args.limit, orders.len() as u64),
        orders,
    })
}
