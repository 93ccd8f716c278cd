//! Inventory writes over `/inventory-items`: create, update (fetch → merge → PUT, since PUT
//! replaces the item), delete, and batch update (`PUT /batch-inventory-items`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::args::{CODE_MAX, Id, StoreRef, check_id, check_text};
use super::{Annotations, Ctx, Tool, Validate};
use crate::error::ToolError;
use crate::services::orders::id_text;
use crate::services::products;

pub const TOOLS: &[Tool] = &[
    tool!(
        "products_create",
        "Create an inventory item",
        "Create a product (OrderDesk inventory item): name and code (SKU) are required; \
         price, stock, location, weight and variation fields are optional. A lost answer \
         is settled by looking the item up by its code (recovered).",
        Annotations::WRITE,
        create,
    ),
    tool!(
        "products_update",
        "Update an inventory item (safe merge)",
        "Change fields of a product, e.g. {\"stock\": 12}. Same merge rules as \
         orders_update (omitted fields are kept; null removes), with conflict protection.",
        Annotations::IDEMPOTENT_WRITE,
        update_product,
    ),
    tool!(
        "products_delete",
        "Delete an inventory item",
        "Permanently delete a product from OrderDesk's inventory.",
        Annotations {
            idempotent: true,
            ..Annotations::DESTRUCTIVE
        },
        delete,
    ),
    tool!(
        "products_batch_update",
        "Update many inventory items",
        "Update several products in one request, e.g. stock levels after a count: each \
         entry needs the item's id plus the fields to set. OrderDesk applies the fields \
         given and keeps the rest.",
        Annotations::IDEMPOTENT_WRITE,
        batch_update,
    ),
];

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArgs {
    /// The item: name, code, price, stock, location, …
    pub product: Map<String, Value>,
    pub store: Option<StoreRef>,
}

impl Validate for CreateArgs {
    fn validate(&self) -> Result<(), ToolError> {
        for field in ["name", "code"] {
            let given = self.product.get(field).and_then(Value::as_str);
            let field = format!("product.{field}");
            match given.map(str::trim) {
                None | Some("") => return Err(ToolError::invalid_argument(&field, "is required")),
                // The code is looked up in a query string when an answer is lost.
                Some(text) => check_text(&field, text, CODE_MAX)?,
            }
        }
        Ok(())
    }
}

#[derive(Serialize, JsonSchema)]
pub struct CreatedOut {
    /// The inventory item as OrderDesk now has it.
    pub product: Map<String, Value>,
    /// True when the answer was lost and the item was found by its code.
    pub recovered: bool,
}

fn create(ctx: &Ctx, args: CreateArgs) -> Result<CreatedOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let (product, recovered) = products::create(&sc, args.product)?;
    Ok(CreatedOut { product, recovered })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArgs {
    pub product_id: Id,
    /// Fields to change.
    pub changes: Map<String, Value>,
    pub store: Option<StoreRef>,
}

impl Validate for UpdateArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("product_id", self.product_id.as_str())?;
        if self.changes.is_empty() {
            return Err(ToolError::invalid_argument("changes", "is empty"));
        }
        if self.changes.contains_key("id") {
            return Err(ToolError::invalid_argument(
                "changes.id",
                "an item's id cannot change",
            ));
        }
        Ok(())
    }
}

#[derive(Serialize, JsonSchema)]
pub struct UpdatedOut {
    /// The inventory item as OrderDesk now has it.
    pub product: Map<String, Value>,
    /// False when the change left the item as it was (nothing was sent).
    pub changed: bool,
    /// Cycles redone because the item changed underneath.
    pub conflicts: u32,
    /// Cycles redone because OrderDesk refused or lost a request.
    pub retries: u32,
}

fn update_product(ctx: &Ctx, args: UpdateArgs) -> Result<UpdatedOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let done = products::update(&sc, args.product_id.as_str(), &args.changes)?;
    Ok(UpdatedOut {
        product: done.record,
        changed: done.changed,
        conflicts: done.conflicts,
        retries: done.retries,
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductRefArgs {
    pub product_id: Id,
    pub store: Option<StoreRef>,
}

impl Validate for ProductRefArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("product_id", self.product_id.as_str())
    }
}

#[derive(Serialize, JsonSchema)]
pub struct DeletedOut {
    pub deleted: bool,
    pub product_id: String,
}

fn delete(ctx: &Ctx, args: ProductRefArgs) -> Result<DeletedOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    products::delete(&sc, args.product_id.as_str())?;
    Ok(DeletedOut {
        deleted: true,
        product_id: args.product_id.0,
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchArgs {
    /// Items to update (1-100), each with `id` and the fields to set.
    pub products: Vec<Map<String, Value>>,
    pub store: Option<StoreRef>,
}

impl Validate for BatchArgs {
    fn validate(&self) -> Result<(), ToolError> {
        if self.products.is_empty() || self.products.len() > 100 {
            return Err(ToolError::invalid_argument("products", "needs 1-100 items"));
        }
        for (i, p) in self.products.iter().enumerate() {
            let id = p.get("id").map(id_text);
            check_id(&format!("products[{i}].id"), id.as_deref().unwrap_or(""))?;
        }
        Ok(())
    }
}

#[derive(Serialize, JsonSchema)]
pub struct BatchOut {
    /// Items as OrderDesk now has them, when it returns them.
    pub products: Vec<Map<String, Value>>,
    pub updated: usize,
}

fn batch_update(ctx: &Ctx, args: BatchArgs) -> Result<BatchOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let n = args.products.len();
    let products = products::batch_update(&sc, args.products)?;
    Ok(BatchOut {
        products,
        updated: n,
    })
}
