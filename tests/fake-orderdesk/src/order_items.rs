//! Order item routes: `/orders/{id}/order-items[/{item_id}]`.
//!
//! Writes answer with the whole updated order, as OrderDesk does, and bump its
//! `date_updated`. Totals are left as they were: OrderDesk does not recompute them either
//! for items changed through the API.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Extension, Path};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::clock;
use crate::data::StoreData;
use crate::orders::NOT_FOUND;
use crate::routes::{
    ApiError, ApiResult, StoreCtx, json_body, json_id, json_object, path_id, success,
};
use crate::shipments::touch;

const ITEM_NOT_FOUND: &str = "Order item not found";

/// `GET /orders/{id}/order-items`.
pub async fn list(Extension(tenant): StoreCtx, Path(id): Path<String>) -> ApiResult {
    let started = Instant::now();
    let id = path_id(&id, NOT_FOUND)?;
    let items = {
        let mut store = tenant.data();
        items_of(&mut store, id)?.clone()
    };
    Ok(success(
        StatusCode::OK,
        started,
        json!({ "order_items": items }),
    ))
}

/// `GET /orders/{id}/order-items/{item_id}`.
pub async fn show(
    Extension(tenant): StoreCtx,
    Path((id, item_id)): Path<(String, String)>,
) -> ApiResult {
    let started = Instant::now();
    let (id, item_id) = ids(&id, &item_id)?;
    let item = {
        let mut store = tenant.data();
        let items = items_of(&mut store, id)?;
        items[position(items, item_id)?].clone()
    };
    Ok(success(
        StatusCode::OK,
        started,
        json!({ "order_item": item }),
    ))
}

/// `POST /orders/{id}/order-items`: one item object or a non-empty list of them; each gets
/// a fresh id. Answers 201 with the order.
pub async fn add(Extension(tenant): StoreCtx, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let started = Instant::now();
    let id = path_id(&id, NOT_FOUND)?;
    let new: Vec<Map<String, Value>> = match json_body(&body)? {
        Value::Object(item) => vec![item],
        Value::Array(list) if !list.is_empty() => list
            .into_iter()
            .map(|item| match item {
                Value::Object(item) => Ok(item),
                _ => Err(ApiError::bad_request(
                    "Each order item must be a JSON object",
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ApiError::bad_request(
                "The body must be an order item or a non-empty list of them",
            ));
        }
    };
    let order = {
        let mut store = tenant.data();
        items_of(&mut store, id)?;
        let new: Vec<Value> = new
            .into_iter()
            .map(|mut item| {
                item.insert("id".into(), store.take_item_id().to_string().into());
                Value::Object(item)
            })
            .collect();
        items_of(&mut store, id)?.extend(new);
        changed(&mut store, id)
    };
    let body = json!({ "message": "Order items added", "order": order });
    Ok(success(StatusCode::CREATED, started, body))
}

/// `PUT /orders/{id}/order-items/{item_id}`: replaces the item (keeping its id).
pub async fn replace(
    Extension(tenant): StoreCtx,
    Path((id, item_id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let started = Instant::now();
    let (id, item_id) = ids(&id, &item_id)?;
    let mut item = json_object(&body)?;
    item.insert("id".into(), item_id.to_string().into());
    let order = {
        let mut store = tenant.data();
        let items = items_of(&mut store, id)?;
        let at = position(items, item_id)?;
        items[at] = Value::Object(item);
        changed(&mut store, id)
    };
    let body = json!({ "message": "Order item updated", "order": order });
    Ok(success(StatusCode::OK, started, body))
}

/// `DELETE /orders/{id}/order-items/{item_id}`.
pub async fn delete(
    Extension(tenant): StoreCtx,
    Path((id, item_id)): Path<(String, String)>,
) -> ApiResult {
    let started = Instant::now();
    let (id, item_id) = ids(&id, &item_id)?;
    let order = {
        let mut store = tenant.data();
        let items = items_of(&mut store, id)?;
        let at = position(items, item_id)?;
        items.remove(at);
        changed(&mut store, id)
    };
    let body = json!({ "message": "Order item deleted", "order": order });
    Ok(success(StatusCode::OK, started, body))
}

/// The order and item ids of a path; non-numeric ones name nothing.
fn ids(id: &str, item_id: &str) -> Result<(u64, u64), ApiError> {
    Ok((path_id(id, NOT_FOUND)?, path_id(item_id, ITEM_NOT_FOUND)?))
}

/// The items of order `id`, made a list if the order had none.
fn items_of(store: &mut StoreData, id: u64) -> Result<&mut Vec<Value>, ApiError> {
    let order = store
        .orders
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    if !order["order_items"].is_array() {
        order["order_items"] = json!([]);
    }
    Ok(order["order_items"]
        .as_array_mut()
        .expect("order_items was just made a list"))
}

/// Where the item `item_id` is in `items`.
fn position(items: &[Value], item_id: u64) -> Result<usize, ApiError> {
    items
        .iter()
        .position(|item| json_id(&item["id"]) == Some(item_id))
        .ok_or_else(|| ApiError::not_found(ITEM_NOT_FOUND))
}

/// Bumps order `id`'s `date_updated` and returns the order.
fn changed(store: &mut StoreData, id: u64) -> Value {
    touch(store, id, &clock::now_string());
    store.orders.get(&id).cloned().unwrap_or(Value::Null)
}
