//! Order reads: `orders_get` (GET /orders/{id}) and `orders_list` (GET /orders).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::args::{check_date, check_id, check_limit};
use super::{Annotations, Ctx, Tool, Validate};
use crate::cache::{CacheStatus, Family};
use crate::envelope;
use crate::error::{ErrorCode, ToolError};

pub fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "orders_get",
            "Get one order",
            "Get one OrderDesk order by its OrderDesk id, with customer, shipping and billing \
             addresses, items, totals, shipments and folder. To find an order by the id the \
             cart or marketplace gave it, use orders_list with source_id. Cached for 15 s.",
            Annotations::READ,
            orders_get,
        ),
        Tool::new(
            "orders_list",
            "Search orders",
            "List OrderDesk orders, newest first unless order_by/order say otherwise. Filters \
             combine with AND: folder (id or exact name), customer email, source id/name, \
             customer or shipping names, and date ranges on when an order was added or last \
             modified (UTC, 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'). Pages of 1-100 \
             (default 50): when has_more is true, call again with offset = next_offset. \
             Prefer a date range over scanning the whole store. Cached for 15 s.",
            Annotations::READ,
            orders_list,
        ),
    ]
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrdersGetArgs {
    /// OrderDesk's order id (digits), as in an order's `id` field.
    pub order_id: String,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for OrdersGetArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("order_id", &self.order_id)
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OrderOut {
    /// The order exactly as OrderDesk returns it.
    pub order: Map<String, Value>,
    /// Whether this answer came from the cache.
    pub cache: CacheStatus,
}

fn orders_get(ctx: &Ctx, args: OrdersGetArgs) -> Result<OrderOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    let creds = &sc.creds;
    let client = ctx.client(creds);
    let path = format!("/orders/{}", args.order_id);
    let (body, cache) = ctx
        .cache(&sc)
        .read_through(
            Family::Orders,
            &[("id".into(), args.order_id.clone())],
            || client.get(&path, &[]),
        )
        .map_err(|e| {
            let err = e.into_tool_error(ErrorCode::OrderNotFound);
            if err.code == ErrorCode::OrderNotFound {
                ToolError::new(
                    ErrorCode::OrderNotFound,
                    format!("no order with id {} in this store", args.order_id),
                )
                .with_details(serde_json::json!({ "order_id": args.order_id }))
            } else {
                err
            }
        })?;
    Ok(OrderOut {
        order: envelope::object(&body, "order")?,
        cache,
    })
}

/// A folder id filter: one id or several.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FolderIds {
    One(u64),
    Many(Vec<u64>),
}

/// Fields OrderDesk can sort orders by.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderBy {
    Id,
    DateAdded,
    DateUpdated,
    OrderTotal,
    Email,
    SourceId,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrdersListArgs {
    /// Orders per page, 1-100.
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = 100), default = "default_limit")]
    pub limit: u32,
    /// Orders to skip; pass the previous page's next_offset.
    #[serde(default)]
    pub offset: u64,
    /// Only orders in this folder, or in any of these folders (ids from store_info).
    pub folder_id: Option<FolderIds>,
    /// Only orders in the folder with exactly this name.
    pub folder_name: Option<String>,
    /// Only orders with this customer e-mail.
    pub email: Option<String>,
    /// Only the order with this id from the originating cart or marketplace.
    pub source_id: Option<String>,
    /// Only orders from this source (cart or marketplace name).
    pub source_name: Option<String>,
    pub customer_first_name: Option<String>,
    pub customer_last_name: Option<String>,
    pub shipping_first_name: Option<String>,
    pub shipping_last_name: Option<String>,
    /// Added at or after (UTC, YYYY-MM-DD or YYYY-MM-DD HH:MM:SS).
    pub search_start_date: Option<String>,
    /// Added at or before (UTC).
    pub search_end_date: Option<String>,
    /// Last modified at or after (UTC).
    pub modified_start_date: Option<String>,
    /// Last modified at or before (UTC).
    pub modified_end_date: Option<String>,
    /// Sort field (default date_added).
    pub order_by: Option<OrderBy>,
    /// Sort direction (default desc).
    pub order: Option<SortOrder>,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

fn default_limit() -> u32 {
    50
}

impl Validate for OrdersListArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_limit(self.limit)?;
        for (field, value) in [
            ("search_start_date", &self.search_start_date),
            ("search_end_date", &self.search_end_date),
            ("modified_start_date", &self.modified_start_date),
            ("modified_end_date", &self.modified_end_date),
        ] {
            if let Some(v) = value {
                check_date(field, v)?;
            }
        }
        if let Some(FolderIds::Many(ids)) = &self.folder_id
            && ids.is_empty()
        {
            return Err(ToolError::invalid_argument(
                "folder_id",
                "must not be an empty list",
            ));
        }
        Ok(())
    }
}

impl OrdersListArgs {
    /// The OrderDesk query string, in a fixed order.
    fn query(&self) -> Vec<(String, String)> {
        let mut q = vec![
            ("limit".to_string(), self.limit.to_string()),
            ("offset".to_string(), self.offset.to_string()),
        ];
        if let Some(ids) = &self.folder_id {
            let joined = match ids {
                FolderIds::One(id) => id.to_string(),
                FolderIds::Many(ids) => {
                    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
                }
            };
            q.push(("folder_id".into(), joined));
        }
        let text_filters = [
            ("folder_name", &self.folder_name),
            ("email", &self.email),
            ("source_id", &self.source_id),
            ("source_name", &self.source_name),
            ("customer_first_name", &self.customer_first_name),
            ("customer_last_name", &self.customer_last_name),
            ("shipping_first_name", &self.shipping_first_name),
            ("shipping_last_name", &self.shipping_last_name),
            ("search_start_date", &self.search_start_date),
            ("search_end_date", &self.search_end_date),
            ("modified_start_date", &self.modified_start_date),
            ("modified_end_date", &self.modified_end_date),
        ];
        for (name, value) in text_filters {
            if let Some(v) = value {
                q.push((name.into(), v.clone()));
            }
        }
        if let Some(by) = self.order_by {
            q.push(("order_by".into(), enum_str(&by)));
        }
        if let Some(order) = self.order {
            q.push(("order".into(), enum_str(&order)));
        }
        q
    }
}

/// Paging facts shared by list results.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Page {
    /// Records matching the filters in all pages.
    pub total_count: u64,
    /// Offset of this page.
    pub offset: u64,
    /// Page size asked for.
    pub limit: u32,
    /// Records in this page.
    pub returned: u64,
    /// Whether more records follow this page.
    pub has_more: bool,
    /// The offset of the next page, when there is one.
    pub next_offset: Option<u64>,
}

impl Page {
    pub fn new(total: Option<u64>, offset: u64, limit: u32, returned: u64) -> Self {
        let end = offset + returned;
        // Without a total, a full page suggests more.
        let has_more = match total {
            Some(t) => end < t,
            None => returned == u64::from(limit),
        };
        Self {
            total_count: total.unwrap_or(end),
            offset,
            limit,
            returned,
            has_more,
            next_offset: has_more.then_some(end),
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OrdersListOut {
    /// Orders as OrderDesk returns them.
    pub orders: Vec<Map<String, Value>>,
    #[serde(flatten)]
    pub page: Page,
    /// Whether this answer came from the cache.
    pub cache: CacheStatus,
}

fn orders_list(ctx: &Ctx, args: OrdersListArgs) -> Result<OrdersListOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    let creds = &sc.creds;
    let client = ctx.client(creds);
    let query = args.query();
    let (body, cache) = ctx
        .cache(&sc)
        .read_through(Family::Orders, &query, || client.get("/orders", &query))
        .map_err(|e| e.into_tool_error(ErrorCode::OdApiError))?;
    let orders = envelope::objects(&body, "orders")?;
    let total = envelope::total_records(&body);
    Ok(OrdersListOut {
        page: Page::new(total, args.offset, args.limit, orders.len() as u64),
        orders,
        cache,
    })
}

fn enum_str<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_with_total() {
        let p = Page::new(Some(120), 100, 50, 20);
        assert!(!p.has_more);
        assert_eq!(p.next_offset, None);
        let p = Page::new(Some(120), 50, 50, 50);
        assert!(p.has_more);
        assert_eq!(p.next_offset, Some(100));
    }

    #[test]
    fn paging_without_total_uses_a_full_page() {
        assert!(Page::new(None, 0, 10, 10).has_more);
        assert!(!Page::new(None, 0, 10, 9).has_more);
    }

    #[test]
    fn query_carries_every_filter() {
        let args: OrdersListArgs = serde_json::from_value(serde_json::json!({
            "limit": 5, "folder_id": [1, 2], "email": "a@b.c", "order_by": "date_updated", "order": "asc"
        }))
        .unwrap();
        let q = args.query();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("limit"), Some("5"));
        assert_eq!(get("offset"), Some("0"));
        assert_eq!(get("folder_id"), Some("1,2"));
        assert_eq!(get("email"), Some("a@b.c"));
        assert_eq!(get("order_by"), Some("date_updated"));
        assert_eq!(get("order"), Some("asc"));
    }

    #[test]
    fn unknown_and_bad_arguments_are_refused() {
        assert!(serde_json::from_value::<OrdersListArgs>(serde_json::json!({"limt": 5})).is_err());
        let args: OrdersListArgs =
            serde_json::from_value(serde_json::json!({"limit": 101})).unwrap();
        assert_eq!(
            args.validate().unwrap_err().code,
            ErrorCode::InvalidArgument
        );
    }
}
