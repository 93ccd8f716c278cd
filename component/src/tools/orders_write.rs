//! Order writes: create (never duplicated by a retry), update (safe merge), mutate (JSON
//! Patch), delete, move between folders, add a note.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::args::check_id;
use super::{Annotations, Ctx, StoreCtx, Tool, Validate};
use crate::cache::Family;
use crate::client::OdError;
use crate::envelope;
use crate::error::{ErrorCode, ToolError};
use crate::host::{Level, Method};
use crate::merge;
use crate::update::{self, Target};

pub fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "orders_create",
            "Create an order",
            "Create an OrderDesk order. Needs at least one item in order_items and a first/last \
             name or company in shipping or customer. Give source_id (the cart's order id) when \
             you have one; otherwise one is generated. Safe to retry: if the store already has \
             an order with that source_id it is returned (already_existed) instead of a \
             duplicate, and a timeout or OrderDesk error is resolved by looking the order up \
             by source_id before trying again.",
            Annotations::IDEMPOTENT_WRITE,
            create,
        ),
        Tool::new(
            "orders_update",
            "Update an order (safe merge)",
            "Change fields of an order without losing anything else. `changes` merge into the \
             current order: fields you give override, arrays (e.g. order_items) replace the \
             whole list, null removes a field, nested objects such as shipping merge field by \
             field, everything you omit stays. If someone else edits the order meanwhile, the \
             update is redone on the fresh copy (CONCURRENT_UPDATE after 5 tries). To change \
             the folder use orders_move.",
            Annotations::IDEMPOTENT_WRITE,
            update_order,
        ),
        Tool::new(
            "orders_mutate",
            "Patch an order (JSON Patch)",
            "Apply RFC 6902 JSON Patch operations (add, remove, replace, move, copy, test) to \
             the current order, e.g. to append one item: {\"op\":\"add\",\"path\":\"/order_items/-\",\
             \"value\":{…}}. All operations apply or none; a failing one is reported as \
             INVALID_MUTATION with its index. Same conflict protection as orders_update.",
            Annotations::WRITE,
            mutate,
        ),
        Tool::new(
            "orders_delete",
            "Delete an order",
            "Permanently delete an order from OrderDesk. Consider orders_move to a cancelled \
             folder instead when the history matters.",
            Annotations {
                idempotent: true,
                ..Annotations::DESTRUCTIVE
            },
            delete,
        ),
        Tool::new(
            "orders_move",
            "Move orders to a folder",
            "Move one or more orders to a folder, by folder id or exact name (store_info lists \
             folders). OrderDesk runs the destination folder's automation rules on arrival, \
             which may e.g. email customers or send orders to a fulfiller.",
            Annotations::DESTRUCTIVE,
            move_orders,
        ),
        Tool::new(
            "orders_add_note",
            "Add a note to an order",
            "Append a note (up to 1,800 characters) to an order's history.",
            Annotations::WRITE,
            add_note,
        ),
    ]
}

fn invalidate_orders(ctx: &Ctx, sc: &StoreCtx) {
    ctx.cache(sc).invalidate(Family::Orders);
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArgs {
    /// The order in OrderDesk's format: email, shipping, customer, order_items
    /// ([{name, code, price, quantity}]), source_id, totals, checkout_data, order_metadata…
    pub order: Map<String, Value>,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for CreateArgs {
    fn validate(&self) -> Result<(), ToolError> {
        let items = self.order.get("order_items").and_then(Value::as_array);
        if items.is_none_or(|i| i.is_empty()) {
            return Err(ToolError::invalid_argument(
                "order.order_items",
                "needs at least one item",
            ));
        }
        let named = |key: &str| {
            self.order
                .get(key)
                .and_then(Value::as_object)
                .is_some_and(|p| {
                    ["first_name", "last_name", "company"].iter().any(|f| {
                        p.get(*f)
                            .and_then(Value::as_str)
                            .is_some_and(|s| !s.trim().is_empty())
                    })
                })
        };
        if !named("shipping") && !named("customer") {
            return Err(ToolError::invalid_argument(
                "order.shipping",
                "needs a first_name, last_name or company in shipping or customer",
            ));
        }
        for field in ["id", "folder_id"] {
            if self.order.contains_key(field) {
                return Err(ToolError::invalid_argument(
                    &format!("order.{field}"),
                    "is set by OrderDesk (use orders_move for folders)",
                ));
            }
        }
        Ok(())
    }
}

#[derive(Serialize, JsonSchema)]
pub struct OrderWriteOut {
    /// The order as OrderDesk now has it.
    pub order: Map<String, Value>,
    /// Requests sent to OrderDesk for this call.
    pub upstream_calls: u32,
    /// Cycles redone because the order changed underneath (updates only).
    pub conflicts: u32,
    /// True when a lost answer was recovered by finding the order OrderDesk had created.
    pub recovered: bool,
    /// True when an order with the given source_id already existed; nothing was created.
    pub already_existed: bool,
}

fn create(ctx: &Ctx, mut args: CreateArgs) -> Result<OrderWriteOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    let client = ctx.client(&sc.creds);
    let mut calls = 0;
    let given = args
        .order
        .get("source_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    let source_id = match given.filter(|s| !s.trim().is_empty()) {
        Some(s) => {
            // Idempotent per source_id: an agent retrying its own call gets the same order.
            calls += 1;
            if let Some(order) = find_by_source_id(&client, &s)? {
                note_order(ctx, &order);
                return Ok(OrderWriteOut {
                    already_existed: true,
                    ..written(order, calls)
                });
            }
            s
        }
        None => {
            let generated = format!("odmcp-{}", hex::encode(ctx.host.random_bytes(8)));
            args.order
                .insert("source_id".into(), Value::String(generated.clone()));
            generated
        }
    };
    ctx.audit_target(None, format!("source_id:{source_id}"));
    let body = Value::Object(args.order);
    let mut last_error = None;
    for _ in 0..3 {
        calls += 1;
        match client.write(Method::Post, "/orders", Some(&body)) {
            Ok(answer) => {
                invalidate_orders(ctx, &sc);
                let order = envelope::object(&answer, "order")?;
                note_order(ctx, &order);
                return Ok(written(order, calls));
            }
            Err(e) if e.is_ambiguous() => {
                // Did OrderDesk create it before the answer was lost?
                calls += 1;
                if let Some(order) = find_by_source_id(&client, &source_id)? {
                    invalidate_orders(ctx, &sc);
                    ctx.host.log(
                        Level::Info,
                        "orders_create",
                        "answer lost; found the order by source_id",
                    );
                    note_order(ctx, &order);
                    return Ok(OrderWriteOut {
                        recovered: true,
                        ..written(order, calls)
                    });
                }
                last_error = Some(e);
                ctx.host
                    .sleep_ms(ctx.settings.retry.backoff(calls, ctx.host.random_u64()));
            }
            Err(e) => return Err(e.into_tool_error(ErrorCode::OdApiError)),
        }
    }
    let e = last_error.expect("the loop ran");
    Err(e.into_tool_error(ErrorCode::OdApiError))
}

fn find_by_source_id(
    client: &crate::client::Client,
    source_id: &str,
) -> Result<Option<Map<String, Value>>, ToolError> {
    let query = [
        ("source_id".to_string(), source_id.to_string()),
        ("limit".to_string(), "1".to_string()),
    ];
    let body = client
        .get("/orders", &query)
        .map_err(|e| e.into_tool_error(ErrorCode::OdApiError))?;
    Ok(envelope::objects(&body, "orders")?.into_iter().next())
}

fn written(order: Map<String, Value>, upstream_calls: u32) -> OrderWriteOut {
    OrderWriteOut {
        order,
        upstream_calls,
        conflicts: 0,
        recovered: false,
        already_existed: false,
    }
}

fn note_order(ctx: &Ctx, order: &Map<String, Value>) {
    if let Some(id) = order
        .get("id")
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
    {
        ctx.audit_target(None, id);
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArgs {
    /// OrderDesk order id.
    pub order_id: String,
    /// Fields to change (merge rules in the description).
    pub changes: Map<String, Value>,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for UpdateArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("order_id", &self.order_id)?;
        if self.changes.is_empty() {
            return Err(ToolError::invalid_argument("changes", "is empty"));
        }
        if self.changes.contains_key("folder_id") {
            return Err(ToolError::invalid_argument(
                "changes.folder_id",
                "folders change only through orders_move (which runs the folder's rules)",
            ));
        }
        if self.changes.contains_key("id") {
            return Err(ToolError::invalid_argument(
                "changes.id",
                "an order's id cannot change",
            ));
        }
        Ok(())
    }
}

fn order_target(sc: &StoreCtx, order_id: &str) -> Target<'static> {
    Target {
        path: format!("/orders/{order_id}"),
        envelope: "order",
        lock: format!("order/{}/{order_id}", sc.creds.store_id),
        not_found: ErrorCode::OrderNotFound,
    }
}

fn finish_update(ctx: &Ctx, sc: &StoreCtx, done: update::Updated) -> OrderWriteOut {
    if done.changed {
        invalidate_orders(ctx, sc);
    }
    OrderWriteOut {
        conflicts: done.conflicts,
        ..written(done.record, done.upstream_calls)
    }
}

fn update_order(ctx: &Ctx, args: UpdateArgs) -> Result<OrderWriteOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    ctx.audit_target(None, args.order_id.clone());
    let client = ctx.client(&sc.creds);
    let changes = args.changes;
    let done = update::update(
        ctx.host,
        &client,
        &order_target(&sc, &args.order_id),
        &|base| Ok(merge::merge(base, &changes)),
    )?;
    Ok(finish_update(ctx, &sc, done))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MutateArgs {
    /// OrderDesk order id.
    pub order_id: String,
    /// RFC 6902 operations, applied in order.
    pub operations: Vec<Value>,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for MutateArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("order_id", &self.order_id)?;
        if self.operations.is_empty() {
            return Err(ToolError::invalid_argument("operations", "is empty"));
        }
        for (i, path) in merge::patch_targets(&self.operations).iter().enumerate() {
            if path == "/folder_id" || path == "/id" || path.is_empty() {
                return Err(ToolError::new(
                    ErrorCode::InvalidMutation,
                    format!("operations may not write {path:?} (use orders_move for folders)"),
                )
                .with_details(json!({ "path": path, "target_index": i })));
            }
        }
        Ok(())
    }
}

fn mutate(ctx: &Ctx, args: MutateArgs) -> Result<OrderWriteOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    ctx.audit_target(None, args.order_id.clone());
    let client = ctx.client(&sc.creds);
    let ops = args.operations;
    let done = update::update(
        ctx.host,
        &client,
        &order_target(&sc, &args.order_id),
        &|base| merge::apply_patch(base, &ops),
    )?;
    Ok(finish_update(ctx, &sc, done))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRefArgs {
    /// OrderDesk order id.
    pub order_id: String,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for OrderRefArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("order_id", &self.order_id)
    }
}

#[derive(Serialize, JsonSchema)]
pub struct DeletedOut {
    pub deleted: bool,
    pub order_id: String,
}

fn delete(ctx: &Ctx, args: OrderRefArgs) -> Result<DeletedOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    ctx.audit_target(None, args.order_id.clone());
    let client = ctx.client(&sc.creds);
    let path = format!("/orders/{}", args.order_id);
    let mut result = client.write(Method::Delete, &path, None);
    // DELETE is idempotent: after an unclear failure, ask again; a 404 then means done.
    for _ in 0..2 {
        match &result {
            Err(e) if e.is_ambiguous() => {
                ctx.host
                    .sleep_ms(ctx.settings.retry.backoff(1, ctx.host.random_u64()));
                result = match client.write(Method::Delete, &path, None) {
                    Err(OdError::NotFound(_)) => Ok(Value::Null),
                    other => other,
                };
            }
            _ => break,
        }
    }
    invalidate_orders(ctx, &sc);
    result.map_err(|e| e.into_tool_error(ErrorCode::OrderNotFound))?;
    Ok(DeletedOut {
        deleted: true,
        order_id: args.order_id,
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveArgs {
    /// Orders to move (1-100 ids).
    pub order_ids: Vec<String>,
    /// Destination folder id.
    pub folder_id: Option<u64>,
    /// Destination folder name (exact, case-insensitive), instead of folder_id.
    pub folder_name: Option<String>,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for MoveArgs {
    fn validate(&self) -> Result<(), ToolError> {
        if self.order_ids.is_empty() || self.order_ids.len() > 100 {
            return Err(ToolError::invalid_argument("order_ids", "needs 1-100 ids"));
        }
        for id in &self.order_ids {
            check_id("order_ids", id)?;
        }
        match (&self.folder_id, &self.folder_name) {
            (Some(_), None) | (None, Some(_)) => Ok(()),
            _ => Err(ToolError::invalid_argument(
                "folder_id",
                "give exactly one of folder_id or folder_name",
            )),
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct MovedOut {
    pub moved: Vec<String>,
    pub folder_id: u64,
    pub folder_name: Option<String>,
}

fn move_orders(ctx: &Ctx, args: MoveArgs) -> Result<MovedOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    ctx.audit_target(None, args.order_ids.join(","));
    let folders = super::store::store_settings(ctx, &sc)?.folders;
    let folder = match (&args.folder_id, &args.folder_name) {
        (Some(id), _) => folders.iter().find(|f| f.id == *id),
        (_, Some(name)) => folders.iter().find(|f| f.name.eq_ignore_ascii_case(name.trim())),
        _ => None,
    }
    .ok_or_else(|| {
        ToolError::new(ErrorCode::InvalidArgument, "no such folder in this store; store_info lists the folders")
            .with_details(json!({ "folders": folders.iter().map(|f| json!({"id": f.id, "name": f.name})).collect::<Vec<_>>() }))
    })?;
    let body = json!({ "destination_folder_id": folder.id, "orders": args.order_ids });
    let result = ctx
        .client(&sc.creds)
        .write(Method::Post, "/move-orders", Some(&body));
    invalidate_orders(ctx, &sc);
    result.map_err(|e| e.into_tool_error(ErrorCode::OrderNotFound))?;
    Ok(MovedOut {
        moved: args.order_ids,
        folder_id: folder.id,
        folder_name: Some(folder.name.clone()),
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteArgs {
    /// OrderDesk order id.
    pub order_id: String,
    /// The note text, up to 1,800 characters.
    pub note: String,
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for NoteArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("order_id", &self.order_id)?;
        let n = self.note.chars().count();
        if n == 0 || n > 1800 {
            return Err(ToolError::invalid_argument(
                "note",
                format!("must be 1-1800 characters, got {n}"),
            ));
        }
        Ok(())
    }
}

#[derive(Serialize, JsonSchema)]
pub struct NoteOut {
    pub added: bool,
    pub order_id: String,
}

fn add_note(ctx: &Ctx, args: NoteArgs) -> Result<NoteOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    ctx.audit_target(None, args.order_id.clone());
    let client = ctx.client(&sc.creds);
    let result = client.write(
        Method::Post,
        &format!("/orders/{}/order-history", args.order_id),
        Some(&json!({ "note": args.note })),
    );
    invalidate_orders(ctx, &sc);
    result.map_err(|e| e.into_tool_error(ErrorCode::OrderNotFound))?;
    Ok(NoteOut {
        added: true,
        order_id: args.order_id,
    })
}
