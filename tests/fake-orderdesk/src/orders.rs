//! Order routes: searching, reading, writing, history notes and moving folders.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::clock::{self, parse_bound, parse_datetime};
use crate::data::{StoreData, folder_by_name, folder_exists, money};
use crate::edits::edit_order;
use crate::routes::{
    ApiError, ApiResult, AppState, Page, QueryParams, StoreCtx, json_id, json_object, path_id,
    query_params, success,
};

/// The message of a 404 for an order.
pub const NOT_FOUND: &str = "Order not found";
/// OrderDesk's limit on one history note.
const MAX_NOTE_CHARS: usize = 1800;
/// The fields `order_by` accepts.
const ORDER_BY: [&str; 6] = [
    "id",
    "date_added",
    "date_updated",
    "order_total",
    "email",
    "source_id",
];
/// Exact-match filters: query parameter and the JSON pointer it compares against.
const TEXT_FILTERS: [(&str, &str); 7] = [
    ("email", "/email"),
    ("source_id", "/source_id"),
    ("source_name", "/source_name"),
    ("customer_first_name", "/customer/first_name"),
    ("customer_last_name", "/customer/last_name"),
    ("shipping_first_name", "/shipping/first_name"),
    ("shipping_last_name", "/shipping/last_name"),
];

/// `GET /orders`: filtered, sorted, paged.
pub async fn list(Extension(tenant): StoreCtx, query: QueryParams) -> ApiResult {
    let started = Instant::now();
    let query = query_params(query)?;
    let page = Page::from_query(&query)?;
    let filter = OrderFilter::from_query(&query)?;
    let sort = Sort::from_query(&query)?;
    // Filter and sort borrowed orders and clone only the page: a sync pages through
    // thousands of orders, one page of them per request.
    let store = tenant.data();
    let mut matching: Vec<&Value> = store
        .orders
        .values()
        .filter(|o| filter.matches(o))
        .collect();
    matching.sort_by(|a, b| sort.compare(a, b));
    Ok(page.respond_page(started, "orders", &matching))
}

/// `GET /orders/{id}`; may edit the order right after answering (see
/// [`crate::Faults::concurrent_edits`]).
pub async fn show(
    State(shared): AppState,
    Extension(tenant): StoreCtx,
    Path(id): Path<String>,
) -> ApiResult {
    let started = Instant::now();
    let id = path_id(&id, NOT_FOUND)?;
    let order = {
        let mut store = tenant.data();
        let order = store.orders.get(&id).cloned();
        let order = order.ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
        // The answer is already produced: the edit below makes the client's copy stale.
        if shared.faults.external_edit_due() {
            if let Some(stored) = store.orders.get_mut(&id) {
                edit_order(stored, &clock::now_string());
            }
            drop(store);
            shared.stats().external_edits += 1;
        }
        order
    };
    Ok(success(StatusCode::OK, started, json!({ "order": order })))
}

/// `POST /orders`: stores the body as a new order. Like OrderDesk, a `source_id` that
/// another order already has does not stop it: the order is created again.
pub async fn create(Extension(tenant): StoreCtx, body: Bytes) -> ApiResult {
    let started = Instant::now();
    let fields = json_object(&body)?;
    validate_new_order(&fields)?;
    let now = clock::now_string();
    let order = {
        let mut store = tenant.data();
        let id = store.next_order_id;
        let mut order = complete_order(fields, id, &now, &now, 1)?;
        assign_item_ids(&mut order, &mut store, true);
        store.next_order_id += 1;
        store.orders.insert(id, order.clone());
        order
    };
    let body = json!({ "message": "Order created", "order": order });
    Ok(success(StatusCode::CREATED, started, body))
}

/// OrderDesk's checks on a new order: at least one item, and someone to ship to.
fn validate_new_order(fields: &Map<String, Value>) -> Result<(), ApiError> {
    let has_items = fields
        .get("order_items")
        .and_then(Value::as_array)
        .is_some_and(|items| !items.is_empty());
    if !has_items {
        return Err(ApiError::bad_request(
            "An order needs at least one item in order_items",
        ));
    }
    let named = ["shipping", "customer"].iter().any(|part| {
        ["first_name", "last_name", "company"].iter().any(|key| {
            fields
                .get(*part)
                .and_then(|p| p.get(*key))
                .and_then(Value::as_str)
                .is_some_and(|v| !v.trim().is_empty())
        })
    });
    if !named {
        return Err(ApiError::bad_request(
            "An order needs a first name, last name or company in shipping or customer",
        ));
    }
    Ok(())
}

/// `PUT /orders/{id}`: replaces the whole order but its id, `date_added` and folder (only
/// `/move-orders` moves an order, whatever `folder_id` the body holds).
pub async fn replace(
    Extension(tenant): StoreCtx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let started = Instant::now();
    let id = path_id(&id, NOT_FOUND)?;
    let mut fields = json_object(&body)?;
    fields.remove("folder_id");
    let order = {
        let mut store = tenant.data();
        let old = store
            .orders
            .get(&id)
            .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
        let added = old["date_added"].as_str().unwrap_or_default().to_string();
        let folder = json_id(&old["folder_id"]).unwrap_or(1);
        let mut order = complete_order(fields, id, &added, &clock::now_string(), folder)?;
        assign_item_ids(&mut order, &mut store, false);
        store.orders.insert(id, order.clone());
        order
    };
    let body = json!({ "message": "Order updated", "order": order });
    Ok(success(StatusCode::OK, started, body))
}

/// Gives order items their ids: every item when `fresh` (OrderDesk owns item ids), else
/// only the items without one.
pub fn assign_item_ids(order: &mut Value, store: &mut StoreData, fresh: bool) {
    let Some(items) = order["order_items"].as_array_mut() else {
        return;
    };
    for item in items.iter_mut().filter_map(Value::as_object_mut) {
        if fresh || item.get("id").and_then(json_id).is_none() {
            item.insert("id".into(), store.take_item_id().to_string().into());
        }
    }
}

/// `DELETE /orders/{id}`.
pub async fn delete(Extension(tenant): StoreCtx, Path(id): Path<String>) -> ApiResult {
    let started = Instant::now();
    let id = path_id(&id, NOT_FOUND)?;
    {
        let mut store = tenant.data();
        store
            .orders
            .remove(&id)
            .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
        store.shipments.remove(&id);
        store.history.remove(&id);
    }
    Ok(success(
        StatusCode::OK,
        started,
        json!({ "message": "Order deleted" }),
    ))
}

/// `POST /orders/{id}/order-history`: appends `{"note": ...}` to the order's history.
pub async fn add_history(
    Extension(tenant): StoreCtx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let started = Instant::now();
    let id = path_id(&id, NOT_FOUND)?;
    let fields = json_object(&body)?;
    let note = fields
        .get("note")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    if note.is_empty() {
        return Err(ApiError::bad_request("A note is required"));
    }
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::bad_request(format!(
            "The note cannot be longer than {MAX_NOTE_CHARS} characters"
        )));
    }
    let source = fields
        .get("source_name")
        .and_then(Value::as_str)
        .unwrap_or("API");
    let entry = json!({ "date_added": clock::now_string(), "source_name": source, "note": note });
    {
        let mut store = tenant.data();
        if !store.orders.contains_key(&id) {
            return Err(ApiError::not_found(NOT_FOUND));
        }
        store.history.entry(id).or_default().push(entry.clone());
    }
    let body = json!({ "message": "History note added", "history": entry });
    Ok(success(StatusCode::CREATED, started, body))
}

/// `POST /move-orders`: `{"destination_folder_id": X, "orders": [ids]}`.
pub async fn move_orders(Extension(tenant): StoreCtx, body: Bytes) -> ApiResult {
    let started = Instant::now();
    let fields = json_object(&body)?;
    let folder = match (
        fields.get("destination_folder_id"),
        fields.get("destination_folder_name"),
    ) {
        (Some(id), _) => json_id(id).filter(|id| folder_exists(*id)),
        (None, Some(name)) => name.as_str().and_then(folder_by_name),
        (None, None) => return Err(ApiError::bad_request("destination_folder_id is required")),
    }
    .ok_or_else(|| ApiError::bad_request("Destination folder not found"))?;
    let ids: Vec<u64> = match fields.get("orders") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| {
                json_id(v)
                    .ok_or_else(|| ApiError::bad_request("orders must be a list of order ids"))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ApiError::bad_request(
                "orders must be a non-empty list of order ids",
            ));
        }
    };
    let now = clock::now_string();
    {
        let mut store = tenant.data();
        // Check every id first so a bad one moves nothing.
        if let Some(missing) = ids.iter().find(|id| !store.orders.contains_key(id)) {
            return Err(ApiError::not_found(format!("Order {missing} not found")));
        }
        for id in &ids {
            if let Some(order) = store.orders.get_mut(id) {
                order["folder_id"] = folder.into();
                order["date_updated"] = now.clone().into();
            }
        }
    }
    let moved: Vec<String> = ids.iter().map(u64::to_string).collect();
    let body = json!({
        "message": format!("{} order(s) moved", moved.len()),
        "destination_folder_id": folder,
        "orders": moved,
    });
    Ok(success(StatusCode::OK, started, body))
}

/// Turns a request body into a stored order: the server owns `id` and the dates, and
/// fields OrderDesk always returns get their empty defaults.
fn complete_order(
    mut fields: Map<String, Value>,
    id: u64,
    date_added: &str,
    date_updated: &str,
    default_folder: u64,
) -> Result<Value, ApiError> {
    let folder = match fields.get("folder_id") {
        None | Some(Value::Null) => default_folder,
        Some(value) => json_id(value)
            .filter(|f| folder_exists(*f))
            .ok_or_else(|| ApiError::bad_request("Folder not found"))?,
    };
    if fields
        .get("order_items")
        .is_some_and(|items| !items.is_array())
    {
        return Err(ApiError::bad_request("order_items must be a list"));
    }
    let defaults = [
        ("email", json!("")),
        ("source_id", json!(id.to_string())),
        ("source_name", json!("Order Desk")),
        ("order_shipping", json!(0)),
        ("order_tax", json!(0)),
        ("shipping", json!({})),
        ("customer", json!({})),
        ("order_items", json!([])),
        ("checkout_data", json!({})),
        ("order_metadata", json!({})),
        ("order_notes", json!([])),
    ];
    for (key, value) in defaults {
        fields.entry(key).or_insert(value);
    }
    if !fields.contains_key("order_total") {
        fields.insert("order_total".into(), money(computed_total(&fields)));
    }
    fields.insert("id".into(), id.to_string().into());
    fields.insert("folder_id".into(), folder.into());
    fields.insert("date_added".into(), date_added.into());
    fields.insert("date_updated".into(), date_updated.into());
    Ok(Value::Object(fields))
}

/// Items, shipping and tax, in cents, for an order sent without a total.
fn computed_total(order: &Map<String, Value>) -> i64 {
    let cents = |v: Option<&Value>| (number(v) * 100.0).round() as i64;
    let items: i64 = order
        .get("order_items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|i| cents(i.get("price")) * number(i.get("quantity")).max(0.0) as i64)
                .sum()
        })
        .unwrap_or(0);
    items + cents(order.get("order_shipping")) + cents(order.get("order_tax"))
}

/// A JSON number, or a numeric string, as f64 (0 otherwise).
fn number(value: Option<&Value>) -> f64 {
    match value {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// The filters of `GET /orders`; all must hold.
#[derive(Debug, Default)]
struct OrderFilter {
    /// Allowed folder ids (from `folder_id` and `folder_name`, intersected).
    folders: Option<Vec<u64>>,
    /// JSON pointer and lowercase value that must match exactly.
    text: Vec<(&'static str, String)>,
    added: (Option<i64>, Option<i64>),
    modified: (Option<i64>, Option<i64>),
}

impl OrderFilter {
    fn from_query(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let mut filter = Self::default();
        if let Some(raw) = query.get("folder_id").filter(|v| !v.trim().is_empty()) {
            let ids = raw
                .split(',')
                .map(|part| part.trim().parse::<u64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| {
                    ApiError::bad_request("folder_id must be a comma-separated list of ids")
                })?;
            filter.folders = Some(ids);
        }
        if let Some(name) = query.get("folder_name").filter(|v| !v.is_empty()) {
            // An unknown folder name matches no order, like an empty folder would.
            let named: Vec<u64> = folder_by_name(name).into_iter().collect();
            filter.folders = Some(match filter.folders {
                Some(ids) => named.into_iter().filter(|id| ids.contains(id)).collect(),
                None => named,
            });
        }
        for (param, pointer) in TEXT_FILTERS {
            if let Some(value) = query.get(param).filter(|v| !v.is_empty()) {
                filter.text.push((pointer, value.to_lowercase()));
            }
        }
        filter.added = (
            bound(query, "search_start_date", false)?,
            bound(query, "search_end_date", true)?,
        );
        filter.modified = (
            bound(query, "modified_start_date", false)?,
            bound(query, "modified_end_date", true)?,
        );
        Ok(filter)
    }

    fn matches(&self, order: &Value) -> bool {
        if let Some(folders) = &self.folders {
            match json_id(&order["folder_id"]) {
                Some(folder) if folders.contains(&folder) => {}
                _ => return false,
            }
        }
        let text_ok = self.text.iter().all(|(pointer, wanted)| {
            order
                .pointer(pointer)
                .and_then(text)
                .is_some_and(|have| have.to_lowercase() == *wanted)
        });
        text_ok
            && in_range(order, "date_added", self.added)
            && in_range(order, "date_updated", self.modified)
    }
}

/// A filterable string: JSON strings as they are, numbers as written.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A date query parameter as seconds since the epoch; `end` bounds cover the whole day.
fn bound(query: &HashMap<String, String>, key: &str, end: bool) -> Result<Option<i64>, ApiError> {
    match query.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(raw) => parse_bound(raw, end).map(Some).ok_or_else(|| {
            ApiError::bad_request(format!(
                "{key} must be 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'"
            ))
        }),
    }
}

/// Whether the order's `field` date lies within the inclusive range.
fn in_range(order: &Value, field: &str, (start, end): (Option<i64>, Option<i64>)) -> bool {
    if start.is_none() && end.is_none() {
        return true;
    }
    let Some(at) = order[field].as_str().and_then(parse_datetime) else {
        return false;
    };
    start.is_none_or(|s| at >= s) && end.is_none_or(|e| at <= e)
}

/// `order_by` and `order` of `GET /orders`.
#[derive(Debug)]
struct Sort {
    by: &'static str,
    descending: bool,
}

impl Sort {
    fn from_query(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let by = match query
            .get("order_by")
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            None => "date_added",
            Some(raw) => ORDER_BY
                .iter()
                .copied()
                .find(|f| *f == raw)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "order_by must be one of: {}",
                        ORDER_BY.join(", ")
                    ))
                })?,
        };
        let descending = match query
            .get("order")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("") | Some("desc") => true,
            Some("asc") => false,
            Some(_) => return Err(ApiError::bad_request("order must be 'asc' or 'desc'")),
        };
        Ok(Self { by, descending })
    }

    fn compare(&self, a: &Value, b: &Value) -> Ordering {
        let id = |o: &Value| json_id(&o["id"]).unwrap_or(0);
        let primary = match self.by {
            "id" => Ordering::Equal,
            "order_total" => number(a.get("order_total")).total_cmp(&number(b.get("order_total"))),
            field => text(&a[field])
                .unwrap_or_default()
                .cmp(&text(&b[field]).unwrap_or_default()),
        };
        // Ties fall back to the id so pages never overlap or skip.
        let ordering = primary.then_with(|| id(a).cmp(&id(b)));
        if self.descending {
            ordering.reverse()
        } else {
            ordering
        }
    }
}
