//! Inventory items: what every record shares (get, list, merge, delete: see
//! [`records`]), creates recovered by SKU, and batch updates
//! (`PUT /batch-inventory-items`).

use serde_json::{Map, Value, json};

use super::StoreCtx;
use super::records::{self, write_once};
use crate::envelope;
use crate::error::{ErrorCode, ToolError};
use crate::host::Method;
use crate::resource::PRODUCT;

pub use super::records::{CacheStatus, Listed, RawRecord};
pub use super::update::Updated;

/// One inventory item by id, through the cache (see [`records::get`]).
pub fn get(ctx: &StoreCtx, id: &str) -> Result<(RawRecord, CacheStatus), ToolError> {
    records::get(ctx, &PRODUCT, id)
}

/// A filtered page of inventory items, through the cache; `query` goes to OrderDesk as it
/// is.
pub fn list(ctx: &StoreCtx, query: &[(String, String)]) -> Result<Listed, ToolError> {
    records::list(ctx, &PRODUCT, query)
}

/// Merge `changes` into an inventory item (PUT replaces the whole item; see
/// [`records::merge`]).
pub fn update(
    ctx: &StoreCtx,
    id: &str,
    changes: &Map<String, Value>,
) -> Result<Updated, ToolError> {
    records::merge(ctx, &PRODUCT, id, changes)
}

/// Delete an inventory item (idempotent; see [`records::delete`]).
pub fn delete(ctx: &StoreCtx, id: &str) -> Result<(), ToolError> {
    records::delete(ctx, &PRODUCT, id)
}

/// Create an inventory item. A lost answer is settled by looking the item up by its code
/// (SKU); `recovered` says so.
pub fn create(
    ctx: &StoreCtx,
    product: Map<String, Value>,
) -> Result<(Map<String, Value>, bool), ToolError> {
    let code = product
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    ctx.begin_write(PRODUCT.family, &code)?;
    let client = ctx.client();
    let by_code = || -> Result<Option<Value>, ToolError> {
        let query = [("code".to_string(), code.clone())];
        let body = client
            .read(PRODUCT.collection, &query)
            .map_err(|e| e.into_tool_error(ErrorCode::OdApiError))?;
        Ok(envelope::objects(&body, PRODUCT.list_envelope)?
            .into_iter()
            .find(|p| p.get("code").and_then(Value::as_str) == Some(code.as_str()))
            .map(|p| json!({ PRODUCT.envelope: p })))
    };
    let (answer, recovered) = write_once(
        ctx,
        &PRODUCT,
        (Method::Post, PRODUCT.collection),
        &Value::Object(product),
        Some(&by_code),
        (
            "List products with this code before creating it again.",
            json!({ "code": code }),
        ),
    )?;
    Ok((envelope::object(&answer, PRODUCT.envelope)?, recovered))
}

/// Update many items in one request, each `{id, fields…}`; OrderDesk sets the fields given
/// and keeps the rest. Returns the items when OrderDesk sends them back.
pub fn batch_update(
    ctx: &StoreCtx,
    items: Vec<Map<String, Value>>,
) -> Result<Vec<Map<String, Value>>, ToolError> {
    ctx.begin_write(PRODUCT.family, &format!("batch of {}", items.len()))?;
    let body = Value::Array(items.into_iter().map(Value::Object).collect());
    let (answer, _) = write_once(
        ctx,
        &PRODUCT,
        (Method::Put, "/batch-inventory-items"),
        &body,
        None,
        (
            "Get the items to see which values they hold before sending the batch again.",
            json!({}),
        ),
    )?;
    envelope::objects(&answer, PRODUCT.list_envelope)
}
