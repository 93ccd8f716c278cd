//! Order writes: create (never duplicated by a retry), update (safe merge), mutate (JSON
//! Patch), delete, move between folders, add a note.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::args::{
    Id, NAME_MAX, NOTE_MAX, NumericId, StoreRef, Text, check_id, check_prose, check_text,
};
use super::{Annotations, Ctx, Tool, Validate};
use crate::error::{ErrorCode, ToolError};
use crate::services::orders::{self, FolderRef, Updated};

pub const TOOLS: &[Tool] = &[
    tool!(
        "orders_create",
        "Create an order",
        "Create an OrderDesk order. Needs at least one item in order_items and a first/last \
         name or company in shipping or customer. Give source_id (the cart's order id, a \
         string or a number) when you have one; otherwise one is generated and returned. \
         Safe to retry with the same source_id: if the store already has an order with \
         it, that order is returned (already_existed) instead of a duplicate. If the \
         answer is lost and the order cannot be found, the error is \
         WRITE_OUTCOME_UNKNOWN with details.source_id: call again with that source_id.",
        Annotations::WRITE,
        create,
    ),
    tool!(
        "orders_update",
        "Update an order (safe merge)",
        "Change fields of an order without losing anything else. `changes` merge into the \
         current order: fields you give override, arrays (e.g. order_items) replace the \
         whole list, null removes a field, nested objects such as shipping merge field by \
         field, everything you omit stays. If someone else edits the order meanwhile, the \
         update is redone on the fresh copy (CONCURRENT_UPDATE after 5 tries); the result \
         counts conflicts and retries. To change the folder use orders_move.",
        Annotations::IDEMPOTENT_WRITE,
        update_order,
    ),
    tool!(
        "orders_mutate",
        "Patch an order (JSON Patch)",
        "Apply RFC 6902 JSON Patch operations (add, remove, replace, move, copy, test) to \
         the current order, e.g. to append one item: {\"op\":\"add\",\"path\":\"/order_items/-\",\
         \"value\":{…}}. All operations apply or none; a failing one is reported as \
         INVALID_MUTATION with its index. Same conflict protection as orders_update.",
        Annotations::WRITE,
        mutate,
    ),
    tool!(
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
    tool!(
        "orders_move",
        "Move orders to a folder",
        "Move one or more orders to a folder, by folder id or exact name (store_info lists \
         folders). OrderDesk runs the destination folder's automation rules on arrival, \
         which may e.g. email customers or send orders to a fulfiller, so a move is never \
         repeated blindly: if its answer is lost, the orders are read back, else the \
         error is WRITE_OUTCOME_UNKNOWN.",
        Annotations::DESTRUCTIVE,
        move_orders,
    ),
    tool!(
        "orders_add_note",
        "Add a note to an order",
        "Append a note (up to 1,800 characters) to an order's history.",
        Annotations::WRITE,
        add_note,
    ),
];

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArgs {
    /// The order in OrderDesk's format: email, shipping, customer, order_items
    /// ([{name, code, price, quantity}]), source_id, totals, checkout_data, order_metadata…
    pub order: Map<String, Value>,
    pub store: Option<StoreRef>,
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
        match self.order.get("source_id") {
            None | Some(Value::Null) => Ok(()),
            // It is looked up in a query string before and after the create.
            Some(Value::String(s)) if !s.trim().is_empty() => {
                check_text("order.source_id", s.trim(), NAME_MAX)
            }
            Some(Value::Number(n)) if n.is_u64() => Ok(()),
            Some(other) => Err(ToolError::invalid_argument(
                "order.source_id",
                format!("must be a non-empty string or a whole number, got {other}"),
            )),
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct CreateOut {
    /// The order as OrderDesk has it.
    pub order: Map<String, Value>,
    /// The order's source_id: the one given, or the one generated. Retry with it.
    pub source_id: String,
    /// True when an order with this source_id already existed; nothing was created.
    pub already_existed: bool,
    /// True when the answer was lost and the order was found by its source_id.
    pub recovered: bool,
    /// Requests sent to OrderDesk for this call.
    pub upstream_calls: u32,
}

fn create(ctx: &Ctx, args: CreateArgs) -> Result<CreateOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let created = orders::create(&sc, args.order)?;
    Ok(CreateOut {
        order: created.order,
        source_id: created.source_id,
        already_existed: created.already_existed,
        recovered: created.recovered,
        upstream_calls: created.upstream_calls,
    })
}

#[derive(Serialize, JsonSchema)]
pub struct UpdateOut {
    /// The order as OrderDesk now has it.
    pub order: Map<String, Value>,
    /// False when the change left the order as it was (nothing was sent).
    pub changed: bool,
    /// Cycles redone because the order changed underneath (someone else's edit, or 409).
    pub conflicts: u32,
    /// Cycles redone because OrderDesk refused or lost a request (429, 5xx, no answer).
    pub retries: u32,
    /// True when the PUT's answer was lost and reading the order back showed it landed.
    pub recovered: bool,
    /// Requests sent to OrderDesk for this call.
    pub upstream_calls: u32,
}

impl From<Updated> for UpdateOut {
    fn from(u: Updated) -> Self {
        Self {
            order: u.record,
            changed: u.changed,
            conflicts: u.conflicts,
            retries: u.retries,
            recovered: u.recovered,
            upstream_calls: u.upstream_calls,
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArgs {
    /// OrderDesk order id.
    pub order_id: Id,
    /// Fields to change (merge rules in the description).
    pub changes: Map<String, Value>,
    pub store: Option<StoreRef>,
}

impl Validate for UpdateArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("order_id", self.order_id.as_str())?;
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

fn update_order(ctx: &Ctx, args: UpdateArgs) -> Result<UpdateOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let done = orders::update(&sc, args.order_id.as_str(), &args.changes)?;
    Ok(done.into())
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MutateArgs {
    /// OrderDesk order id.
    pub order_id: Id,
    /// RFC 6902 operations, applied in order.
    pub operations: Vec<Value>,
    pub store: Option<StoreRef>,
}

impl Validate for MutateArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("order_id", self.order_id.as_str())?;
        if self.operations.is_empty() {
            return Err(ToolError::invalid_argument("operations", "is empty"));
        }
        for (i, path) in orders::patch_targets(&self.operations).iter().enumerate() {
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

fn mutate(ctx: &Ctx, args: MutateArgs) -> Result<UpdateOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let done = orders::mutate(&sc, args.order_id.as_str(), &args.operations)?;
    Ok(done.into())
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRefArgs {
    /// OrderDesk order id.
    pub order_id: Id,
    pub store: Option<StoreRef>,
}

impl Validate for OrderRefArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("order_id", self.order_id.as_str())
    }
}

#[derive(Serialize, JsonSchema)]
pub struct DeletedOut {
    pub deleted: bool,
    pub order_id: String,
}

fn delete(ctx: &Ctx, args: OrderRefArgs) -> Result<DeletedOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    orders::delete(&sc, args.order_id.as_str())?;
    Ok(DeletedOut {
        deleted: true,
        order_id: args.order_id.0,
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveArgs {
    /// Orders to move (1-100 ids).
    pub order_ids: Vec<Id>,
    /// Destination folder id.
    pub folder_id: Option<NumericId>,
    /// Destination folder name (exact, case-insensitive), instead of folder_id.
    pub folder_name: Option<Text<NAME_MAX>>,
    pub store: Option<StoreRef>,
}

impl Validate for MoveArgs {
    fn validate(&self) -> Result<(), ToolError> {
        if self.order_ids.is_empty() || self.order_ids.len() > 100 {
            return Err(ToolError::invalid_argument("order_ids", "needs 1-100 ids"));
        }
        for id in &self.order_ids {
            check_id("order_ids", id.as_str())?;
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
    let sc = ctx.store(args.store.as_ref())?;
    let ids: Vec<String> = args.order_ids.into_iter().map(|id| id.0).collect();
    let to = match (args.folder_id, args.folder_name) {
        (Some(id), _) => FolderRef::Id(id.0),
        (None, Some(name)) => FolderRef::Name(name.0),
        (None, None) => unreachable!("validated"),
    };
    let folder = orders::move_to(&sc, &ids, &to)?;
    Ok(MovedOut {
        moved: ids,
        folder_id: folder.id,
        folder_name: Some(folder.name),
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteArgs {
    /// OrderDesk order id.
    pub order_id: Id,
    /// The note text, up to 1,800 characters.
    #[schemars(length(min = 1, max = NOTE_MAX))]
    pub note: String,
    pub store: Option<StoreRef>,
}

impl Validate for NoteArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("order_id", self.order_id.as_str())?;
        if self.note.is_empty() {
            return Err(ToolError::invalid_argument("note", "must not be empty"));
        }
        check_prose("note", &self.note, NOTE_MAX)
    }
}

#[derive(Serialize, JsonSchema)]
pub struct NoteOut {
    pub added: bool,
    pub order_id: String,
}

fn add_note(ctx: &Ctx, args: NoteArgs) -> Result<NoteOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    orders::add_note(&sc, args.order_id.as_str(), &args.note)?;
    Ok(NoteOut {
        added: true,
        order_id: args.order_id.0,
    })
}
