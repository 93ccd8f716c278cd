//! Order items and shipments: `order_items_add|update|delete`, `shipments_add`,
//! `shipments_list`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::args::check_id;
use super::{Annotations, Ctx, StoreCtx, Tool, Validate};
use crate::cache::Family;
use crate::envelope;
use crate::error::{ErrorCode, ToolError};
use crate::host::Method;

pub fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "order_items_add",
            "Add items to an order",
            "Add one or more line items ({name, code, price, quantity, …}) to an order.",
            Annotations::WRITE,
            items_add,
        ),
        Tool::new(
            "order_items_update",
            "Replace an order item",
            "Replace one line item of an order (by its item id from the order's order_items).",
            Annotations::IDEMPOTENT_WRITE,
            items_update,
        ),
        Tool::new(
            "order_items_delete",
            "Remove an order item",
            "Remove one line item (by its item id from the order's order_items) from an order.",
            Annotations {
                idempotent: true,
                ..Annotations::DESTRUCTIVE
            },
            items_delete,
        ),
        Tool::new(
            "shipments_add",
            "Add shipments",
            "Record shipments (tracking_number, carrier_code, shipment_method, …). Give \
             order_id + shipment for one order, or shipments (each with its order_id) to add \
             many at once in one request.",
            Annotations::WRITE,
            shipments_add,
        ),
        Tool::new(
            "shipments_list",
            "List an order's shipments",
            "The shipments recorded for an order, with tracking numbers.",
            Annotations::READ,
            shipments_list,
        ),
    ]
}

fn done(ctx: &Ctx, sc: &StoreCtx) {
    ctx.cache(sc).invalidate(Family::Orders);
}

#[derive(Serialize, JsonSchema)]
pub struct OrderOut {
    /// The order after the change, when OrderDesk returns it.
    pub order: Option<Map<String, Value>>,
}

fn order_of(body: &Value) -> OrderOut {
    OrderOut {
        order: body.get("order").and_then(Value::as_object).cloned(),
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemsAddArgs {
    pub order_id: String,
    /// Items to add.
    pub items: Vec<Map<String, Value>>,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for ItemsAddArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("order_id", &self.order_id)?;
        if self.items.is_empty() || self.items.len() > 100 {
            return Err(ToolError::invalid_argument("items", "needs 1-100 items"));
        }
        Ok(())
    }
}

fn items_add(ctx: &Ctx, args: ItemsAddArgs) -> Result<OrderOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    ctx.audit_target(None, args.order_id.clone());
    let body = Value::Array(args.items.into_iter().map(Value::Object).collect());
    let result = ctx.client(&sc.creds).write(
        Method::Post,
        &format!("/orders/{}/order-items", args.order_id),
        Some(&body),
    );
    done(ctx, &sc);
    Ok(order_of(&result.map_err(|e| {
        e.into_tool_error(ErrorCode::OrderNotFound)
    })?))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemUpdateArgs {
    pub order_id: String,
    pub item_id: String,
    /// The complete item as it should be.
    pub item: Map<String, Value>,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for ItemUpdateArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_item_ref(&self.order_id, &self.item_id)
    }
}

fn check_item_ref(order_id: &str, item_id: &str) -> Result<(), ToolError> {
    check_id("order_id", order_id)?;
    check_id("item_id", item_id)
}

/// PUT or DELETE one order item; OrderDesk answers with the order.
fn item_write(
    ctx: &Ctx,
    store: Option<&str>,
    (order_id, item_id): (&str, &str),
    method: Method,
    body: Option<Value>,
) -> Result<OrderOut, ToolError> {
    let sc = ctx.store(store)?;
    ctx.audit_target(None, format!("{order_id}/{item_id}"));
    let path = format!("/orders/{order_id}/order-items/{item_id}");
    let result = ctx.client(&sc.creds).write(method, &path, body.as_ref());
    done(ctx, &sc);
    let body = result.map_err(|e| e.into_tool_error(ErrorCode::OrderNotFound))?;
    Ok(order_of(&body))
}

fn items_update(ctx: &Ctx, args: ItemUpdateArgs) -> Result<OrderOut, ToolError> {
    let item = Some(Value::Object(args.item));
    let ids = (args.order_id.as_str(), args.item_id.as_str());
    item_write(ctx, args.store.as_deref(), ids, Method::Put, item)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRefArgs {
    pub order_id: String,
    pub item_id: String,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for ItemRefArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_item_ref(&self.order_id, &self.item_id)
    }
}

fn items_delete(ctx: &Ctx, args: ItemRefArgs) -> Result<OrderOut, ToolError> {
    let ids = (args.order_id.as_str(), args.item_id.as_str());
    item_write(ctx, args.store.as_deref(), ids, Method::Delete, None)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentsAddArgs {
    /// The order, for a single shipment.
    pub order_id: Option<String>,
    /// One shipment for order_id: {tracking_number, carrier_code, shipment_method, …}.
    pub shipment: Option<Map<String, Value>>,
    /// Several shipments, each with its own order_id (sent as one batch).
    pub shipments: Option<Vec<Map<String, Value>>>,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for ShipmentsAddArgs {
    fn validate(&self) -> Result<(), ToolError> {
        match (&self.order_id, &self.shipment, &self.shipments) {
            (Some(id), Some(_), None) => check_id("order_id", id),
            (None, None, Some(list)) if !list.is_empty() && list.len() <= 100 => {
                for (i, s) in list.iter().enumerate() {
                    let id = s
                        .get("order_id")
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
                    check_id(
                        &format!("shipments[{i}].order_id"),
                        id.as_deref().unwrap_or(""),
                    )?;
                }
                Ok(())
            }
            _ => Err(ToolError::invalid_argument(
                "shipment",
                "give order_id + shipment, or shipments (1-100, each with order_id)",
            )),
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct ShipmentsOut {
    /// Shipments as OrderDesk recorded them.
    pub shipments: Vec<Map<String, Value>>,
    /// Per-shipment problems OrderDesk reported for a batch.
    pub errors: Vec<Value>,
}

fn shipments_add(ctx: &Ctx, args: ShipmentsAddArgs) -> Result<ShipmentsOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    let client = ctx.client(&sc.creds);
    let result = match (args.order_id, args.shipment, args.shipments) {
        (Some(order_id), Some(shipment), _) => {
            ctx.audit_target(None, order_id.clone());
            client
                .write(
                    Method::Post,
                    &format!("/orders/{order_id}/shipments"),
                    Some(&Value::Object(shipment)),
                )
                .map(|b| {
                    let one = b.get("shipment").and_then(Value::as_object).cloned();
                    ShipmentsOut {
                        shipments: one.into_iter().collect(),
                        errors: Vec::new(),
                    }
                })
        }
        (_, _, Some(list)) => {
            ctx.audit_target(None, format!("batch of {}", list.len()));
            let body = Value::Array(list.into_iter().map(Value::Object).collect());
            client
                .write(Method::Post, "/batch-shipments", Some(&body))
                .map(|b| ShipmentsOut {
                    shipments: envelope::objects(&b, "shipments").unwrap_or_default(),
                    errors: b
                        .get("errors")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                })
        }
        _ => unreachable!("validated"),
    };
    done(ctx, &sc);
    result.map_err(|e| e.into_tool_error(ErrorCode::OrderNotFound))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentsListArgs {
    pub order_id: String,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for ShipmentsListArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("order_id", &self.order_id)
    }
}

fn shipments_list(ctx: &Ctx, args: ShipmentsListArgs) -> Result<ShipmentsOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    let body = ctx
        .client(&sc.creds)
        .get(&format!("/orders/{}/shipments", args.order_id), &[])
        .map_err(|e| e.into_tool_error(ErrorCode::OrderNotFound))?;
    Ok(ShipmentsOut {
        shipments: envelope::objects(&body, "shipments")?,
        errors: Vec::new(),
    })
}
