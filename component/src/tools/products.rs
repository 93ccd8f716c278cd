//! Inventory reads: `products_get` and `products_list` over OrderDesk's `/inventory-items`
//! (OrderDesk has no /products endpoint: products are inventory items).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::args::{CODE_MAX, Id, StoreRef, Text, check_id, check_limit};
use super::page::{Page, default_limit};
use super::{Annotations, Ctx, Tool, Validate};
use crate::error::ToolError;
use crate::services::products::{self, CacheStatus, RawRecord};

pub const TOOLS: &[Tool] = &[
    tool!(
        "products_get",
        "Get one inventory item",
        "Get one product (an OrderDesk inventory item) by its OrderDesk id: code (SKU), \
         name, price, stock, location and variations. To look a product up by SKU, use \
         products_list with code. Cached for 60 s.",
        Annotations::READ,
        products_get,
    ),
    tool!(
        "products_list",
        "List inventory items",
        "List products (OrderDesk inventory items), optionally filtered by exact code \
         (SKU) or name. Pages of 1-100 (default 50): when has_more is true, call again \
         with offset = next_offset. Cached for 60 s.",
        Annotations::READ,
        products_list,
    ),
];

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductsGetArgs {
    /// OrderDesk's inventory item id.
    pub product_id: Id,
    pub store: Option<StoreRef>,
}

impl Validate for ProductsGetArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("product_id", self.product_id.as_str())
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProductOut {
    /// The inventory item exactly as OrderDesk returns it.
    pub product: RawRecord,
    /// Whether this answer came from the cache.
    pub cache: CacheStatus,
}

fn products_get(ctx: &Ctx, args: ProductsGetArgs) -> Result<ProductOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let (product, cache) = products::get(&sc, args.product_id.as_str())?;
    Ok(ProductOut { product, cache })
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
    pub code: Option<Text<CODE_MAX>>,
    /// Only items with exactly this name.
    pub name: Option<Text<CODE_MAX>>,
    pub store: Option<StoreRef>,
}

impl Validate for ProductsListArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_limit(self.limit)
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProductsListOut {
    /// Inventory items as OrderDesk returns them.
    pub products: Vec<RawRecord>,
    #[serde(flatten)]
    pub page: Page,
    /// Whether this answer came from the cache.
    pub cache: CacheStatus,
}

fn products_list(ctx: &Ctx, args: ProductsListArgs) -> Result<ProductsListOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let mut query = vec![
        ("limit".to_string(), args.limit.to_string()),
        ("offset".to_string(), args.offset.to_string()),
    ];
    if let Some(code) = &args.code {
        query.push(("code".into(), code.0.clone()));
    }
    if let Some(name) = &args.name {
        query.push(("name".into(), name.0.clone()));
    }
    let listed = products::list(&sc, &query)?;
    Ok(ProductsListOut {
        page: Page::new(
            listed.total,
            args.offset,
            args.limit,
            listed.records.len() as u64,
        ),
        products: listed.records,
        cache: listed.cache,
    })
}
