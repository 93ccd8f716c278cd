//! Inventory writes over `/inventory-items`: create, update (fetch → merge → PUT, since PUT
//! replaces the item), delete, and batch update (`PUT /batch-inventory-items`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::args::check_id;
use super::{Annotations, Ctx, StoreCtx, Tool, Validate};
use crate::cache::Family;
use crate::envelope;
use crate::error::{ErrorCode, ToolError};
use crate::host::Method;
use crate::merge;
use crate::update::{self, Target};

pub fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "products_create",
            "Create an inventory item",
            "Create a product (OrderDesk inventory item): name and code (SKU) are required; \
             price, stock, location, weight and variation fields are optional.",
            Annotations::WRITE,
            create,
        ),
        Tool::new(
            "products_update",
            "Update an inventory item (safe merge)",
            "Change fields of a product, e.g. {\"stock\": 12}. Same merge rules as \
             orders_update (omitted fields are kept; null removes), with conflict protection.",
            Annotations::IDEMPOTENT_WRITE,
            update_product,
        ),
        Tool::new(
            "products_delete",
            "Delete an inventory item",
            "Permanently delete a product from OrderDesk's inventory.",
            Annotations {
                idempotent: true,
                ..Annotations::DESTRUCTIVE
            },
            delete,
        ),
        Tool::new(
            "products_batch_update",
            "Update many inventory items",
            "Update several products in one request, e.g. stock levels after a count: each \
             entry needs the item's id plus the fields to set. OrderDesk applies the fields \
             given and keeps the rest.",
            Annotations::IDEMPOTENT_WRITE,
            batch_update,
        ),
    ]
}

fn done(ctx: &Ctx, sc: &StoreCtx) {
    ctx.cache(sc).invalidate(Family::Products);
}

#[derive(Serialize, JsonSchema)]
pub struct ProductOut {
    /// The inventory item as OrderDesk now has it.
    pub product: Map<String, Value>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArgs {
    /// The item: name, code, price, stock, location, …
    pub product: Map<String, Value>,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for CreateArgs {
    fn validate(&self) -> Result<(), ToolError> {
        for field in ["name", "code"] {
            let given = self.product.get(field).and_then(Value::as_str);
            if given.is_none_or(|s| s.trim().is_empty()) {
                return Err(ToolError::invalid_argument(
                    &format!("product.{field}"),
                    "is required",
                ));
            }
        }
        Ok(())
    }
}

fn create(ctx: &Ctx, args: CreateArgs) -> Result<ProductOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    ctx.audit_target(
        None,
        args.product
            .get("code")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    );
    let result = ctx.client(&sc.creds).write(
        Method::Post,
        "/inventory-items",
        Some(&Value::Object(args.product)),
    );
    done(ctx, &sc);
    let body = result.map_err(|e| e.into_tool_error(ErrorCode::OdApiError))?;
    Ok(ProductOut {
        product: envelope::object(&body, "inventory_item")?,
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArgs {
    pub product_id: String,
    /// Fields to change.
    pub changes: Map<String, Value>,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for UpdateArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("product_id", &self.product_id)?;
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

fn update_product(ctx: &Ctx, args: UpdateArgs) -> Result<ProductOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    ctx.audit_target(None, args.product_id.clone());
    let target = Target {
        path: format!("/inventory-items/{}", args.product_id),
        envelope: "inventory_item",
        lock: format!("product/{}/{}", sc.creds.store_id, args.product_id),
        not_found: ErrorCode::ProductNotFound,
    };
    let changes = args.changes;
    let result = update::update(ctx.host, &ctx.client(&sc.creds), &target, &|base| {
        Ok(merge::merge(base, &changes))
    });
    done(ctx, &sc);
    Ok(ProductOut {
        product: result?.record,
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductRefArgs {
    pub product_id: String,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for ProductRefArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("product_id", &self.product_id)
    }
}

#[derive(Serialize, JsonSchema)]
pub struct DeletedOut {
    pub deleted: bool,
    pub product_id: String,
}

fn delete(ctx: &Ctx, args: ProductRefArgs) -> Result<DeletedOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    ctx.audit_target(None, args.product_id.clone());
    let result = ctx.client(&sc.creds).write(
        Method::Delete,
        &format!("/inventory-items/{}", args.product_id),
        None,
    );
    done(ctx, &sc);
    result.map_err(|e| e.into_tool_error(ErrorCode::ProductNotFound))?;
    Ok(DeletedOut {
        deleted: true,
        product_id: args.product_id,
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchArgs {
    /// Items to update (1-100), each with `id` and the fields to set.
    pub products: Vec<Map<String, Value>>,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for BatchArgs {
    fn validate(&self) -> Result<(), ToolError> {
        if self.products.is_empty() || self.products.len() > 100 {
            return Err(ToolError::invalid_argument("products", "needs 1-100 items"));
        }
        for (i, p) in self.products.iter().enumerate() {
            let id = p
                .get("id")
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
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
    let sc = ctx.store(args.store.as_deref())?;
    let n = args.products.len();
    ctx.audit_target(None, format!("batch of {n}"));
    let body = Value::Array(args.products.into_iter().map(Value::Object).collect());
    let result = ctx
        .client(&sc.creds)
        .write(Method::Put, "/batch-inventory-items", Some(&body));
    done(ctx, &sc);
    let body = result.map_err(|e| e.into_tool_error(ErrorCode::ProductNotFound))?;
    Ok(BatchOut {
        products: envelope::objects(&body, "inventory_items")?,
        updated: n,
    })
}
