//! Inventory reads: `products_get` and `products_list` over OrderDesk's `/inventory-items`
//! (OrderDesk has no /products endpoint: products are inventory items).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::args::{check_id, check_limit};
use super::orders::Page;
use super::{Annotations, Ctx, Tool, Validate};
use crate::cache::{CacheStatus, Family};
use crate::envelope;
use crate::error::{ErrorCode, ToolError};

pub fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "products_get",
            "Get one inventory item",
            "Get one product (an OrderDesk inventory item) by its OrderDesk id: code (SKU), \
             name, price, stock, location and variations. To look a product up by SKU, use \
             products_list with code. Cached for 60 s.",
            Annotations::READ,
            products_get,
        ),
        Tool::new(
            "products_list",
            "List inventory items",
            "List products (OrderDesk inventory items), optionally filtered by exact code \
             (SKU) or name. Pages of 1-100 (default 50): when has_more is true, call again \
             with offset = next_offset. Cached for 60 s.",
            Annotations::READ,
            products_list,
        ),
    ]
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductsGetArgs {
    /// OrderDesk's inventory item id.
    pub product_id: String,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for ProductsGetArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("product_id", &self.product_id)
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProductOut {
    /// The inventory item exactly as OrderDesk returns it.
    pub product: Map<String, Value>,
    /// Whether this answer came from the cache.
    pub cache: CacheStatus,
}

fn products_get(ctx: &Ctx, args: ProductsGetArgs) -> Result<ProductOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    let creds = &sc.creds;
    let client = ctx.client(creds);
    let path = format!("/inventory-items/{}", args.product_id);
    let key = [("id".to_string(), args.product_id.clone())];
    let (body, cache) = ctx
        .cache(&sc)
        .read_through(Family::Products, &key, || client.get(&path, &[]))
        .map_err(|e| match e.into_tool_error(ErrorCode::ProductNotFound) {
            err if err.code == ErrorCode::ProductNotFound => ToolError::new(
                ErrorCode::ProductNotFound,
                format!(
                    "no inventory item with id {} in this store",
                    args.product_id
                ),
            )
            .with_details(serde_json::json!({ "product_id": args.product_id })),
            err => err,
        })?;
    Ok(ProductOut {
        product: envelope::object(&body, "inventory_item")?,
        cache,
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductsListArgs {
    /// Items per page, 1-100.
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = 100), default = "default_limit")]
    pub limit: u32,
    /// Items to skip; pass the previous page's next_offset.
    #[serde(default)]
    pub offset: u64,
    /// Only the item with exactly this code (SKU).
    pub code: Option<String>,
    /// Only items with exactly this name.
    pub name: Option<String>,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

fn default_limit() -> u32 {
    50
}

impl Validate for ProductsListArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_limit(self.limit)
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProductsListOut {
    /// Inventory items as OrderDesk returns them.
    pub products: Vec<Map<String, Value>>,
    #[serde(flatten)]
    pub page: Page,
    /// Whether this answer came from the cache.
    pub cache: CacheStatus,
}

fn products_list(ctx: &Ctx, args: ProductsListArgs) -> Result<ProductsListOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    let creds = &sc.creds;
    let client = ctx.client(creds);
    let mut query = vec![
        ("limit".to_string(), args.limit.to_string()),
        ("offset".to_string(), args.offset.to_string()),
    ];
    if let Some(code) = &args.code {
        query.push(("code".into(), code.clone()));
    }
    if let Some(name) = &args.name {
        query.push(("name".into(), name.clone()));
    }
    let (body, cache) = ctx
        .cache(&sc)
        .read_through(Family::Products, &query, || {
            client.get("/inventory-items", &query)
        })
        .map_err(|e| e.into_tool_error(ErrorCode::OdApiError))?;
    let products = envelope::objects(&body, "inventory_items")?;
    let total = envelope::total_records(&body);
    Ok(ProductsListOut {
        page: Page::new(total, args.offset, args.limit, products.len() as u64),
        products,
        cache,
    })
}
