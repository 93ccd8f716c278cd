//! Order reads: `orders_get` (GET /orders/{id}) and `orders_list` (GET /orders).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::args::{
    EMAIL_MAX, Id, NAME_MAX, NumericId, StoreRef, Text, check_date, check_id, check_limit,
    check_text,
};
use super::page::{Page, default_limit};
use super::{Annotations, Ctx, Tool, Validate};
use crate::error::ToolError;
use crate::services::orders::{self, CacheStatus, RawRecord};

pub const TOOLS: &[Tool] = &[
    tool!(
        "orders_get",
        "Get one order",
        "Get one OrderDesk order by its OrderDesk id, with customer, shipping and billing \
         addresses, items, totals, shipments and folder. To find an order by the id the \
         cart or marketplace gave it, use orders_list with source_id. Cached for 15 s.",
        Annotations::READ,
        orders_get,
    ),
    tool!(
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
];

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrdersGetArgs {
    /// OrderDesk's order id (digits), as in an order's `id` field.
    pub order_id: Id,
    pub store: Option<StoreRef>,
}

impl Validate for OrdersGetArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("order_id", self.order_id.as_str())
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OrderOut {
    /// The order exactly as OrderDesk returns it.
    pub order: RawRecord,
    /// Whether this answer came from the cache.
    pub cache: CacheStatus,
}

fn orders_get(ctx: &Ctx, args: OrdersGetArgs) -> Result<OrderOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let (order, cache) = orders::get(&sc, args.order_id.as_str())?;
    Ok(OrderOut { order, cache })
}

/// A folder id filter: one id or several.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FolderIds {
    One(NumericId),
    Many(Vec<NumericId>),
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
    pub folder_name: Option<Text<NAME_MAX>>,
    /// Only orders with this customer e-mail.
    pub email: Option<Text<EMAIL_MAX>>,
    /// Only the order with this id from the originating cart or marketplace.
    pub source_id: Option<Id>,
    /// Only orders from this source (cart or marketplace name).
    pub source_name: Option<Text<NAME_MAX>>,
    pub customer_first_name: Option<Text<NAME_MAX>>,
    pub customer_last_name: Option<Text<NAME_MAX>>,
    pub shipping_first_name: Option<Text<NAME_MAX>>,
    pub shipping_last_name: Option<Text<NAME_MAX>>,
    /// Added at or after (UTC, YYYY-MM-DD or YYYY-MM-DD HH:MM:SS).
    #[schemars(length(max = 19))]
    pub search_start_date: Option<String>,
    /// Added at or before (UTC).
    #[schemars(length(max = 19))]
    pub search_end_date: Option<String>,
    /// Last modified at or after (UTC).
    #[schemars(length(max = 19))]
    pub modified_start_date: Option<String>,
    /// Last modified at or before (UTC).
    #[schemars(length(max = 19))]
    pub modified_end_date: Option<String>,
    /// Sort field (default date_added).
    pub order_by: Option<OrderBy>,
    /// Sort direction (default desc).
    pub order: Option<SortOrder>,
    pub store: Option<StoreRef>,
}

impl Validate for OrdersListArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_limit(self.limit)?;
        if let Some(source_id) = &self.source_id {
            // Cart and marketplace ids take many forms; they travel in the query string.
            check_text("source_id", source_id.as_str(), NAME_MAX)?;
        }
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
                FolderIds::One(id) => id.0.to_string(),
                FolderIds::Many(ids) => ids
                    .iter()
                    .map(|id| id.0.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            };
            q.push(("folder_id".into(), joined));
        }
        if let Some(source_id) = &self.source_id {
            q.push(("source_id".into(), source_id.0.clone()));
        }
        let text_filters = [
            ("folder_name", self.folder_name.as_ref().map(Text::as_str)),
            ("email", self.email.as_ref().map(Text::as_str)),
            ("source_name", self.source_name.as_ref().map(Text::as_str)),
            (
                "customer_first_name",
                self.customer_first_name.as_ref().map(Text::as_str),
            ),
            (
                "customer_last_name",
                self.customer_last_name.as_ref().map(Text::as_str),
            ),
            (
                "shipping_first_name",
                self.shipping_first_name.as_ref().map(Text::as_str),
            ),
            (
                "shipping_last_name",
                self.shipping_last_name.as_ref().map(Text::as_str),
            ),
            ("search_start_date", self.search_start_date.as_deref()),
            ("search_end_date", self.search_end_date.as_deref()),
            ("modified_start_date", self.modified_start_date.as_deref()),
            ("modified_end_date", self.modified_end_date.as_deref()),
        ];
        for (name, value) in text_filters {
            if let Some(v) = value {
                q.push((name.into(), v.to_string()));
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

#[derive(Debug, Serialize, JsonSchema)]
pub struct OrdersListOut {
    /// Orders as OrderDesk returns them.
    pub orders: Vec<RawRecord>,
    #[serde(flatten)]
    pub page: Page,
    /// Whether this answer came from the cache.
    pub cache: CacheStatus,
}

fn orders_list(ctx: &Ctx, args: OrdersListArgs) -> Result<OrdersListOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let listed = orders::list(&sc, &args.query())?;
    Ok(OrdersListOut {
        page: Page::new(
            listed.total,
            args.offset,
            args.limit,
            listed.records.len() as u64,
        ),
        orders: listed.records,
        cache: listed.cache,
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
    fn query_carries_every_filter() {
        let args: OrdersListArgs = serde_json::from_value(serde_json::json!({
            "limit": 5, "folder_id": [1, "2"], "email": "a@b.c", "source_id": 777, "order_by": "date_updated", "order": "asc"
        }))
        .unwrap();
        let q = args.query();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("limit"), Some("5"));
        assert_eq!(get("offset"), Some("0"));
        assert_eq!(get("folder_id"), Some("1,2"));
        assert_eq!(get("email"), Some("a@b.c"));
        assert_eq!(get("source_id"), Some("777"));
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
            crate::error::ErrorCode::InvalidArgument
        );
    }
}
