//! Shipment routes: `/orders/{id}/shipments[/{shipment_id}]` and `/batch-shipments`.

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

const SHIPMENT_NOT_FOUND: &str = "Shipment not found";
/// Fields the server owns: a `PUT` cannot change them.
const OWNED: [&str; 4] = ["id", "order_id", "store_id", "date_added"];

/// `GET /orders/{id}/shipments`.
pub async fn list(Extension(tenant): StoreCtx, Path(id): Path<String>) -> ApiResult {
    let started = Instant::now();
    let id = path_id(&id, NOT_FOUND)?;
    let shipments = {
        let store = tenant.data();
        if !store.orders.contains_key(&id) {
            return Err(ApiError::not_found(NOT_FOUND));
        }
        store.shipments.get(&id).cloned().unwrap_or_default()
    };
    Ok(success(
        StatusCode::OK,
        started,
        json!({ "shipments": shipments }),
    ))
}

/// `POST /orders/{id}/shipments`: records a shipment (a `tracking_number` is required).
pub async fn add(Extension(tenant): StoreCtx, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let started = Instant::now();
    let id = path_id(&id, NOT_FOUND)?;
    let fields = json_object(&body)?;
    let shipment = {
        let mut store = tenant.data();
        insert(&mut store, &tenant.id, id, fields)?
    };
    let body = json!({ "message": "Shipment added", "shipment": shipment });
    Ok(success(StatusCode::CREATED, started, body))
}

/// `GET /orders/{id}/shipments/{shipment_id}`.
pub async fn show(
    Extension(tenant): StoreCtx,
    Path((id, shipment_id)): Path<(String, String)>,
) -> ApiResult {
    let started = Instant::now();
    let (id, shipment_id) = ids(&id, &shipment_id)?;
    let shipment = {
        let mut store = tenant.data();
        find(&mut store, id, shipment_id)?.clone()
    };
    Ok(success(
        StatusCode::OK,
        started,
        json!({ "shipment": shipment }),
    ))
}

/// `PUT /orders/{id}/shipments/{shipment_id}`: sets the given fields of the shipment.
pub async fn update(
    Extension(tenant): StoreCtx,
    Path((id, shipment_id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let started = Instant::now();
    let (id, shipment_id) = ids(&id, &shipment_id)?;
    let fields = json_object(&body)?;
    let now = clock::now_string();
    let shipment = {
        let mut store = tenant.data();
        let shipment = find(&mut store, id, shipment_id)?;
        let map = shipment
            .as_object_mut()
            .ok_or_else(|| ApiError::not_found(SHIPMENT_NOT_FOUND))?;
        for (key, value) in fields {
            if !OWNED.contains(&key.as_str()) {
                map.insert(key, value);
            }
        }
        let shipment = shipment.clone();
        touch(&mut store, id, &now);
        shipment
    };
    let body = json!({ "message": "Shipment updated", "shipment": shipment });
    Ok(success(StatusCode::OK, started, body))
}

/// `DELETE /orders/{id}/shipments/{shipment_id}`.
pub async fn delete(
    Extension(tenant): StoreCtx,
    Path((id, shipment_id)): Path<(String, String)>,
) -> ApiResult {
    let started = Instant::now();
    let (id, shipment_id) = ids(&id, &shipment_id)?;
    {
        let mut store = tenant.data();
        find(&mut store, id, shipment_id)?;
        if let Some(list) = store.shipments.get_mut(&id) {
            list.retain(|s| json_id(&s["id"]) != Some(shipment_id));
        }
        touch(&mut store, id, &clock::now_string());
    }
    Ok(success(
        StatusCode::OK,
        started,
        json!({ "message": "Shipment deleted" }),
    ))
}

/// `POST /batch-shipments`: a list of shipments (or `{"shipments": [...]}`), each naming
/// its `order_id`. Good ones are added; each bad one (unknown order, no tracking number) is
/// reported under `errors` with its index, and the answer is still 200.
pub async fn batch(Extension(tenant): StoreCtx, body: Bytes) -> ApiResult {
    let started = Instant::now();
    let list = match json_body(&body)? {
        Value::Array(list) => list,
        Value::Object(mut map) => match map.remove("shipments") {
            Some(Value::Array(list)) => list,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    if list.is_empty() {
        return Err(ApiError::bad_request(
            "The body must be a non-empty list of shipments",
        ));
    }
    let mut added = Vec::new();
    let mut errors = Vec::new();
    {
        let mut store = tenant.data();
        for (index, entry) in list.into_iter().enumerate() {
            let order_id = entry.get("order_id").cloned().unwrap_or(Value::Null);
            let outcome = match entry {
                Value::Object(fields) => match json_id(&order_id) {
                    Some(id) => insert(&mut store, &tenant.id, id, fields),
                    None => Err(ApiError::bad_request("An order_id is required")),
                },
                _ => Err(ApiError::bad_request("Each shipment must be a JSON object")),
            };
            match outcome {
                Ok(shipment) => added.push(shipment),
                Err(err) => errors.push(json!({
                    "index": index,
                    "order_id": order_id,
                    "message": err.message(),
                })),
            }
        }
    }
    let mut body = json!({
        "message": format!("{} shipment(s) added", added.len()),
        "shipments": added,
    });
    if !errors.is_empty() {
        body["errors"] = errors.into();
    }
    Ok(success(StatusCode::OK, started, body))
}

/// Adds a shipment to order `id` of the store and bumps the order's `date_updated`.
fn insert(
    store: &mut StoreData,
    store_id: &str,
    id: u64,
    fields: Map<String, Value>,
) -> Result<Value, ApiError> {
    let tracking = fields
        .get("tracking_number")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if tracking.trim().is_empty() {
        return Err(ApiError::bad_request("A tracking_number is required"));
    }
    if !store.orders.contains_key(&id) {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    let now = clock::now_string();
    touch(store, id, &now);
    let shipment_id = store.take_shipment_id();
    let mut shipment = json!({
        "carrier_code": "",
        "shipment_method": "",
        "weight": 0,
        "cost": 0,
        "status": "",
        "tracking_url": "",
        "cart_shipment_id": "",
        "date_shipped": &now[..10],
    });
    let map = shipment.as_object_mut().expect("a json! object literal");
    map.extend(fields);
    map.insert("id".into(), shipment_id.to_string().into());
    map.insert("order_id".into(), id.to_string().into());
    map.insert("store_id".into(), store_id.into());
    map.insert("date_added".into(), now.into());
    store
        .shipments
        .entry(id)
        .or_default()
        .push(shipment.clone());
    Ok(shipment)
}

/// The order and shipment ids of a path; non-numeric ones name nothing.
fn ids(id: &str, shipment_id: &str) -> Result<(u64, u64), ApiError> {
    Ok((
        path_id(id, NOT_FOUND)?,
        path_id(shipment_id, SHIPMENT_NOT_FOUND)?,
    ))
}

/// The shipment `shipment_id` of order `id`, or the 404 for whichever is missing.
fn find(store: &mut StoreData, id: u64, shipment_id: u64) -> Result<&mut Value, ApiError> {
    if !store.orders.contains_key(&id) {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    store
        .shipments
        .get_mut(&id)
        .and_then(|list| {
            list.iter_mut()
                .find(|s| json_id(&s["id"]) == Some(shipment_id))
        })
        .ok_or_else(|| ApiError::not_found(SHIPMENT_NOT_FOUND))
}

/// Sets order `id`'s `date_updated` to `now`.
pub fn touch(store: &mut StoreData, id: u64, now: &str) {
    if let Some(order) = store.orders.get_mut(&id) {
        order["date_updated"] = now.into();
    }
}
