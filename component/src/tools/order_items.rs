//! Line items of an order: `order_items_add`, `order_items_update`, `order_items_delete`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::args::{Id, StoreRef, check_id};
use super::{Annotations, Ctx, Tool, Validate};
use crate::error::ToolError;
use crate::services::orders;

pub const TOOLS: &[Tool] = &[
    tool!(
        "order_items_add",
        "Add items to an order",
        "Add one or more line items ({name, code, price, quantity, …}) to an order. Not \
         repeated on a lost answer: WRITE_OUTCOME_UNKNOWN then means check the order's \
         order_items before adding again.",
        Annotations::WRITE,
        items_add,
    ),
    tool!(
        "order_items_update",
        "Replace an order item",
        "Replace one line item of an order (by its item id from the order's order_items) \
         with the complete item given.",
        Annotations::IDEMPOTENT_WRITE,
        items_update,
    ),
    tool!(
        "order_items_delete",
        "Remove an order item",
        "Remove one line item (by its item id from the order's order_items) from an order.",
        Annotations {
            idempotent: true,
            ..Annotations::DESTRUCTIVE
        },
        items_delete,
    ),
];

#[derive(Serialize, JsonSchema)]
pub struct OrderOut {
    /// The order after the change, when OrderDesk returns it.
    pub order: Option<Map<String, Value>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemsAddArgs {
    pub order_id: Id,
    /// Items to add.
    pub items: Vec<Map<String, Value>>,
    pub store: Option<StoreRef>,
}

impl Validate for ItemsAddArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("order_id", self.order_id.as_str())?;
        if self.items.is_empty() || self.items.len() > 100 {
            return Err(ToolError::invalid_argument("items", "needs 1-100 items"));
        }
        Ok(())
    }
}

fn items_add(ctx: &Ctx, args: ItemsAddArgs) -> Result<OrderOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let order = orders::add_items(&sc, args.order_id.as_str(), args.items)?;
    Ok(OrderOut { order })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemUpdateArgs {
    pub order_id: Id,
    pub item_id: Id,
    /// The complete item as it should be.
    pub item: Map<String, Value>,
    pub store: Option<StoreRef>,
}

impl Validate for ItemUpdateArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_item_ref(&self.order_id, &self.item_id)
    }
}

fn check_item_ref(order_id: &Id, item_id: &Id) -> Result<(), ToolError> {
    check_id("order_id", order_id.as_str())?;
    check_id("item_id", item_id.as_str())
}

fn items_update(ctx: &Ctx, args: ItemUpdateArgs) -> Result<OrderOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let order = orders::replace_item(
        &sc,
        args.order_id.as_str(),
        args.item_id.as_str(),
        args.item,
    )?;
    Ok(OrderOut { order })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRefArgs {
    pub order_id: Id,
    pub item_id: Id,
    pub store: Option<StoreRef>,
}

impl Validate for ItemRefArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_item_ref(&self.order_id, &self.item_id)
    }
}

fn items_delete(ctx: &Ctx, args: ItemRefArgs) -> Result<OrderOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let order = orders::delete_item(&sc, args.order_id.as_str(), args.item_id.as_str())?;
    Ok(OrderOut { order })
}
