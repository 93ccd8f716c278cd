//! Orders: what every record shares (get, list, merge, JSON Patch, delete: see
//! [`records`]), duplicate-free creates, moves between folders, history notes, line items
//! and shipments.

use serde_json::{Map, Value, json};

use super::StoreCtx;
use super::records::{self, write_once};
use super::store::{self, Folder};
use super::write::{self, Sent, outcome_unknown};
use crate::client::{Client, OdError};
use crate::envelope;
use crate::error::{ErrorCode, ToolError};
use crate::host::{Level, Method};
use crate::lock::{LEASE_MS, Lease};
use crate::resource::ORDER;

pub use super::records::{CacheStatus, Listed, RawRecord};
pub use super::update::Updated;
pub use crate::merge::patch_targets;

/// How long a create waits for another create of the same `source_id` to finish.
const CREATE_LOCK_WAIT_MS: u64 = 15_000;
/// Lookups by `source_id` after a create whose answer was lost.
const RECOVERY_LOOKUPS: u32 = 2;

/// The result of [`create`].
#[derive(Debug)]
pub struct Created {
    pub order: Map<String, Value>,
    /// The `source_id` the order has: the one given, or the one generated for it.
    pub source_id: String,
    /// An order with this `source_id` existed already; nothing was created.
    pub already_existed: bool,
    /// The answer was lost and the order was found by its `source_id`.
    pub recovered: bool,
    pub upstream_calls: u32,
}

/// The `source_id` a create uses: the one given (a string or a number, kept as given in
/// the order) or a generated one, written into the order.
pub fn source_id_of(ctx: &StoreCtx, order: &mut Map<String, Value>) -> String {
    match order.get("source_id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            let generated = format!("odmcp-{}", hex::encode(ctx.host.random_bytes(8)));
            order.insert("source_id".into(), Value::String(generated.clone()));
            generated
        }
    }
}

/// Create an order, idempotent per `source_id`: under a lock of (store, source_id), an
/// existing order with that `source_id` is returned instead of a duplicate; a create
/// whose answer is lost is looked up by `source_id`, and when that cannot tell, the call
/// answers `WRITE_OUTCOME_UNKNOWN` with the `source_id` to retry with. Every error names
/// the `source_id`, so a retry never makes a second order.
pub fn create(ctx: &StoreCtx, mut order: Map<String, Value>) -> Result<Created, ToolError> {
    let source_id = source_id_of(ctx, &mut order);
    let tag = |e: ToolError| e.with_detail("source_id", json!(source_id));
    create_as(ctx, order, &source_id).map_err(tag)
}

fn create_as(
    ctx: &StoreCtx,
    order: Map<String, Value>,
    source_id: &str,
) -> Result<Created, ToolError> {
    ctx.note_target(&format!("source_id:{source_id}"));
    let lock = format!("create/{}/{source_id}", ctx.store_id());
    let _lease =
        Lease::acquire(ctx.host, &lock, LEASE_MS, CREATE_LOCK_WAIT_MS)?.ok_or_else(|| {
            ToolError::new(
                ErrorCode::ConcurrentUpdate,
                "another create with this source_id did not finish in time; nothing was created",
            )
        })?;
    let client = ctx.client();
    let done = |order: Map<String, Value>, already_existed, recovered| {
        if let Some(id) = order.get("id") {
            ctx.note_target(&id_text(id));
        }
        Created {
            order,
            source_id: source_id.to_string(),
            already_existed,
            recovered,
            upstream_calls: client.sent(),
        }
    };
    if let Some(existing) = find_by_source_id(&client, source_id)? {
        return Ok(done(existing, true, false));
    }
    ctx.begin_write(ORDER.family, &format!("source_id:{source_id}"))?;
    let recover = || -> Result<Option<Value>, ToolError> {
        let mut last = Ok(None);
        for attempt in 1..=RECOVERY_LOOKUPS {
            let policy = client.retry_policy();
            ctx.host
                .sleep_ms(policy.backoff(attempt, ctx.host.random_u64()));
            match find_by_source_id(&client, source_id) {
                Ok(Some(found)) => {
                    ctx.host.log(
                        Level::Info,
                        "orders",
                        "create answer lost; found the order by source_id",
                    );
                    return Ok(Some(json!({ "order": found })));
                }
                // Not there yet, or the search failed: look once more before giving up.
                other => last = other.map(|_| None),
            }
        }
        last
    };
    let (answer, recovered) = write_once(
        ctx,
        &ORDER,
        (Method::Post, "/orders"),
        &Value::Object(order),
        Some(&recover),
        (
            "Call orders_create again with the same order and this source_id (in details): it \
             returns the order if OrderDesk has it and creates it only if not.",
            json!({ "source_id": source_id }),
        ),
    )?;
    Ok(done(
        envelope::object(&answer, ORDER.envelope)?,
        false,
        recovered,
    ))
}

/// The store's order with exactly this `source_id`, if any.
pub fn find_by_source_id(
    client: &Client,
    source_id: &str,
) -> Result<Option<Map<String, Value>>, ToolError> {
    let query = [
        ("source_id".to_string(), source_id.to_string()),
        ("limit".to_string(), "1".to_string()),
    ];
    let body = client
        .read("/orders", &query)
        .map_err(|e| e.into_tool_error(ErrorCode::OdApiError))?;
    Ok(envelope::objects(&body, ORDER.list_envelope)?
        .into_iter()
        .find(|o| o.get("source_id").map(id_text).as_deref() == Some(source_id)))
}

/// An id OrderDesk may send as a string or a number, as text.
pub fn id_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// Where to move orders: a folder by id or by name.
#[derive(Debug, Clone)]
pub enum FolderRef {
    Id(u64),
    Name(String),
}

/// Move orders to a folder; OrderDesk runs the folder's rules on arrival, so a lost answer
/// is never settled by moving again: the orders are read back instead (a few), or the
/// outcome is unknown.
pub fn move_to(ctx: &StoreCtx, ids: &[String], to: &FolderRef) -> Result<Folder, ToolError> {
    ctx.note_target(&ids.join(","));
    let folders = store::settings(ctx)?.folders;
    let folder = match to {
        FolderRef::Id(id) => folders.iter().find(|f| f.id == *id),
        FolderRef::Name(name) => folders
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name.trim())),
    }
    .cloned()
    .ok_or_else(|| {
        ToolError::new(
            ErrorCode::InvalidArgument,
            "no such folder in this store; store_info lists the folders",
        )
        .with_details(json!({ "folders": folders }))
    })?;
    ctx.begin_write(ORDER.family, &ids.join(","))?;
    let client = ctx.client();
    let body = json!({ "destination_folder_id": folder.id, "orders": ids });
    let moved = || -> Result<Option<Value>, ToolError> {
        if ids.len() > 10 {
            return Ok(None);
        }
        for id in ids {
            let order = envelope::object(
                &client
                    .read(&ORDER.path(id), &[])
                    .map_err(|e| e.into_tool_error(ErrorCode::OrderNotFound))?,
                ORDER.envelope,
            )?;
            if order.get("folder_id").map(id_text) != Some(folder.id.to_string()) {
                return Ok(None);
            }
        }
        Ok(Some(Value::Null))
    };
    write_once(
        ctx,
        &ORDER,
        (Method::Post, "/move-orders"),
        &body,
        Some(&moved),
        (
            "Moving again would run the folder's rules again: check each order's folder_id \
             with orders_get first.",
            json!({ "order_ids": ids, "folder_id": folder.id }),
        ),
    )?;
    Ok(folder)
}

/// Add a note to an order's history. Not idempotent: a lost answer is reported, not
/// repeated.
pub fn add_note(ctx: &StoreCtx, id: &str, note: &str) -> Result<(), ToolError> {
    ctx.begin_write(ORDER.family, id)?;
    write_once(
        ctx,
        &ORDER,
        (Method::Post, &format!("{}/order-history", ORDER.path(id))),
        &json!({ "note": note }),
        None,
        (
            "Check the order's history in OrderDesk before adding the note again.",
            json!({ "order_id": id }),
        ),
    )
    .map(drop)
}

/// Add line items; answers the order when OrderDesk returns it.
pub fn add_items(
    ctx: &StoreCtx,
    id: &str,
    items: Vec<Map<String, Value>>,
) -> Result<Option<Map<String, Value>>, ToolError> {
    ctx.begin_write(ORDER.family, id)?;
    let body = Value::Array(items.into_iter().map(Value::Object).collect());
    let (answer, _) = write_once(
        ctx,
        &ORDER,
        (Method::Post, &format!("{}/order-items", ORDER.path(id))),
        &body,
        None,
        (
            "Get the order and look at its order_items before adding them again.",
            json!({ "order_id": id }),
        ),
    )?;
    Ok(answer.get("order").and_then(Value::as_object).cloned())
}

/// Replace one line item (the complete item as it should be).
pub fn replace_item(
    ctx: &StoreCtx,
    id: &str,
    item_id: &str,
    item: Map<String, Value>,
) -> Result<Option<Map<String, Value>>, ToolError> {
    let target = format!("{id}/{item_id}");
    ctx.begin_write(ORDER.family, &target)?;
    let (answer, _) = write_once(
        ctx,
        &ORDER,
        (Method::Put, &item_path(id, item_id)),
        &Value::Object(item),
        None,
        (
            "Get the order to see whether the item changed.",
            json!({ "order_id": id, "item_id": item_id }),
        ),
    )?;
    Ok(answer.get("order").and_then(Value::as_object).cloned())
}

fn item_path(id: &str, item_id: &str) -> String {
    format!("{}/order-items/{item_id}", ORDER.path(id))
}

/// Remove one line item; a lost answer is settled by deleting again (404 = gone).
pub fn delete_item(
    ctx: &StoreCtx,
    id: &str,
    item_id: &str,
) -> Result<Option<Map<String, Value>>, ToolError> {
    ctx.begin_write(ORDER.family, &format!("{id}/{item_id}"))?;
    let client = ctx.client();
    let path = item_path(id, item_id);
    let missing = || {
        ToolError::new(
            ErrorCode::OrderNotFound,
            format!("order {id} has no item {item_id}"),
        )
        .with_details(json!({ "order_id": id, "item_id": item_id }))
    };
    let answer = match write::send(ctx.host, &client, Method::Delete, &path, None) {
        Sent::Done(answer) => answer,
        Sent::Refused(OdError::NotFound(_)) => return Err(missing()),
        Sent::Refused(e) => return Err(e.into_tool_error(ErrorCode::OrderNotFound)),
        Sent::Unknown(first) => match write::send(ctx.host, &client, Method::Delete, &path, None) {
            Sent::Done(answer) => answer,
            Sent::Refused(OdError::NotFound(_)) => Value::Null,
            Sent::Refused(e) => return Err(e.into_tool_error(ErrorCode::OrderNotFound)),
            Sent::Unknown(_) => {
                return Err(outcome_unknown(
                    &first,
                    "Get the order to see whether the item is still there.",
                    json!({ "order_id": id, "item_id": item_id }),
                ));
            }
        },
    };
    Ok(answer.get("order").and_then(Value::as_object).cloned())
}

/// Shipments recorded by [`add_shipments`], and per-shipment problems of a batch.
#[derive(Debug)]
pub struct Shipped {
    pub shipments: Vec<Map<String, Value>>,
    pub errors: Vec<Value>,
}

/// One shipment for one order, or a batch of shipments (each naming its order) in one
/// request. Not idempotent: a lost answer is reported, not repeated.
pub fn add_shipments(
    ctx: &StoreCtx,
    one: Option<(&str, Map<String, Value>)>,
    batch: Vec<Map<String, Value>>,
) -> Result<Shipped, ToolError> {
    let check = (
        "List the order's shipments (shipments_list) before adding them again.",
        json!({}),
    );
    if let Some((id, shipment)) = one {
        ctx.begin_write(ORDER.family, id)?;
        let path = format!("{}/shipments", ORDER.path(id));
        let (answer, _) = write_once(
            ctx,
            &ORDER,
            (Method::Post, &path),
            &Value::Object(shipment),
            None,
            (check.0, json!({ "order_id": id })),
        )?;
        let one = answer.get("shipment").and_then(Value::as_object).cloned();
        return Ok(Shipped {
            shipments: one.into_iter().collect(),
            errors: Vec::new(),
        });
    }
    ctx.begin_write(ORDER.family, &format!("batch of {}", batch.len()))?;
    let body = Value::Array(batch.into_iter().map(Value::Object).collect());
    let (answer, _) = write_once(
        ctx,
        &ORDER,
        (Method::Post, "/batch-shipments"),
        &body,
        None,
        check,
    )?;
    Ok(Shipped {
        shipments: envelope::objects(&answer, "shipments").unwrap_or_default(),
        errors: answer
            .get("errors")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    })
}

/// An order's shipments (never cached: tracking changes as carriers report).
pub fn shipments(ctx: &StoreCtx, id: &str) -> Result<Vec<Map<String, Value>>, ToolError> {
    let body = ctx
        .client()
        .read(&format!("{}/shipments", ORDER.path(id)), &[])
        .map_err(|e| ORDER.od_error(id, e))?;
    envelope::objects(&body, "shipments")
}

/// One order by id, through the cache (see [`records::get`]).
pub fn get(ctx: &StoreCtx, id: &str) -> Result<(RawRecord, CacheStatus), ToolError> {
    records::get(ctx, &ORDER, id)
}

/// A filtered page of orders, through the cache; `query` goes to OrderDesk as it is.
pub fn list(ctx: &StoreCtx, query: &[(String, String)]) -> Result<Listed, ToolError> {
    records::list(ctx, &ORDER, query)
}

/// Merge `changes` into an order (see [`records::merge`]).
pub fn update(
    ctx: &StoreCtx,
    id: &str,
    changes: &Map<String, Value>,
) -> Result<Updated, ToolError> {
    records::merge(ctx, &ORDER, id, changes)
}

/// Apply JSON Patch `operations` to an order, all or none (see [`records::patch`]); the
/// paths they write are [`patch_targets`].
pub fn mutate(ctx: &StoreCtx, id: &str, operations: &[Value]) -> Result<Updated, ToolError> {
    records::patch(ctx, &ORDER, id, operations)
}

/// Delete an order (idempotent; see [`records::delete`]).
pub fn delete(ctx: &StoreCtx, id: &str) -> Result<(), ToolError> {
    records::delete(ctx, &ORDER, id)
}
