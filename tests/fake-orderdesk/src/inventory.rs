//! Inventory item routes: `/inventory-items` and `/batch-inventory-items`.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Extension, Path};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::clock;
use crate::data::StoreData;
use crate::routes::{
    ApiError, ApiResult, Page, QueryParams, StoreCtx, json_body, json_id, json_object, path_id,
    query_params, success,
};

const NOT_FOUND: &str = "Inventory item not found";

/// `GET /inventory-items`: paged by id, filtered by exact `code` and `name`.
pub async fn list(Extension(tenant): StoreCtx, query: QueryParams) -> ApiResult {
    let started = Instant::now();
    let query = query_params(query)?;
    let page = Page::from_query(&query)?;
    let wanted = |key: &str| {
        query
            .get(key)
            .filter(|v| !v.is_empty())
            .map(|v| v.to_lowercase())
    };
    let (code, name) = (wanted("code"), wanted("name"));
    let field_is = |item: &Value, key: &str, want: &Option<String>| {
        want.as_ref().is_none_or(|w| {
            item[key]
                .as_str()
                .is_some_and(|have| have.to_lowercase() == *w)
        })
    };
    let matching: Vec<Value> = tenant
        .data()
        .products
        .values()
        .filter(|item| field_is(item, "code", &code) && field_is(item, "name", &name))
        .cloned()
        .collect();
    Ok(page.respond(started, "inventory_items", matching))
}

/// `GET /inventory-items/{id}`.
pub async fn show(Extension(tenant): StoreCtx, Path(id): Path<String>) -> ApiResult {
    let started = Instant::now();
    let id = path_id(&id, NOT_FOUND)?;
    let item = tenant.data().products.get(&id).cloned();
    let item = item.ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(success(
        StatusCode::OK,
        started,
        json!({ "inventory_item": item }),
    ))
}

/// `POST /inventory-items`: a new item; `name` and a unique `code` are required.
pub async fn create(Extension(tenant): StoreCtx, body: Bytes) -> ApiResult {
    let started = Instant::now();
    let fields = json_object(&body)?;
    let now = clock::now_string();
    let item = {
        let mut store = tenant.data();
        let id = store.next_product_id;
        let item = complete_item(&store, fields, id, &now, &now)?;
        store.next_product_id += 1;
        store.products.insert(id, item.clone());
        item
    };
    let body = json!({ "message": "Inventory item created", "inventory_item": item });
    Ok(success(StatusCode::CREATED, started, body))
}

/// `PUT /inventory-items/{id}`: replaces the whole item but its id and `date_added`.
pub async fn replace(
    Extension(tenant): StoreCtx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let started = Instant::now();
    let id = path_id(&id, NOT_FOUND)?;
    let fields = json_object(&body)?;
    let item = {
        let mut store = tenant.data();
        let old = store
            .products
            .get(&id)
            .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
        let added = old["date_added"].as_str().unwrap_or_default().to_string();
        let item = complete_item(&store, fields, id, &added, &clock::now_string())?;
        store.products.insert(id, item.clone());
        item
    };
    let body = json!({ "message": "Inventory item updated", "inventory_item": item });
    Ok(success(StatusCode::OK, started, body))
}

/// `DELETE /inventory-items/{id}`.
pub async fn delete(Extension(tenant): StoreCtx, Path(id): Path<String>) -> ApiResult {
    let started = Instant::now();
    let id = path_id(&id, NOT_FOUND)?;
    let removed = tenant.data().products.remove(&id);
    removed.ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(success(
        StatusCode::OK,
        started,
        json!({ "message": "Inventory item deleted" }),
    ))
}

/// `PUT /batch-inventory-items`: a list of partial items, each with its `id`; the given
/// fields are merged into the stored items. One unknown id fails the whole batch.
pub async fn batch_update(Extension(tenant): StoreCtx, body: Bytes) -> ApiResult {
    let started = Instant::now();
    let updates = match json_body(&body)? {
        Value::Array(items) if !items.is_empty() => items,
        _ => {
            return Err(ApiError::bad_request(
                "The body must be a non-empty list of inventory items",
            ));
        }
    };
    let mut changes: Vec<(u64, Map<String, Value>)> = Vec::with_capacity(updates.len());
    for update in updates {
        let Value::Object(fields) = update else {
            return Err(ApiError::bad_request(
                "Each inventory item must be a JSON object",
            ));
        };
        let id = fields
            .get("id")
            .and_then(json_id)
            .ok_or_else(|| ApiError::bad_request("Each inventory item needs its id"))?;
        changes.push((id, fields));
    }
    let now = clock::now_string();
    let updated: Vec<Value> = {
        let mut store = tenant.data();
        // Check every id first so a bad one changes nothing.
        if let Some((missing, _)) = changes
            .iter()
            .find(|(id, _)| !store.products.contains_key(id))
        {
            return Err(ApiError::not_found(format!(
                "Inventory item {missing} not found"
            )));
        }
        changes
            .into_iter()
            .filter_map(|(id, fields)| {
                let item = store.products.get_mut(&id)?.as_object_mut()?;
                for (key, value) in fields {
                    if key != "id" && key != "date_added" {
                        item.insert(key, value);
                    }
                }
                item.insert("date_updated".into(), now.clone().into());
                Some(Value::Object(item.clone()))
            })
            .collect()
    };
    let body = json!({
        "message": format!("{} inventory item(s) updated", updated.len()),
        "inventory_items": updated,
    });
    Ok(success(StatusCode::OK, started, body))
}

/// Turns a request body into a stored item; the server owns `id` and the dates.
fn complete_item(
    store: &StoreData,
    mut fields: Map<String, Value>,
    id: u64,
    date_added: &str,
    date_updated: &str,
) -> Result<Value, ApiError> {
    let code = fields
        .get("code")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    if code.is_empty() {
        return Err(ApiError::bad_request("An inventory item needs a code"));
    }
    let name = fields
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::bad_request("An inventory item needs a name"));
    }
    let taken = store
        .products
        .iter()
        .any(|(other, item)| *other != id && item["code"].as_str() == Some(code));
    if taken {
        return Err(ApiError::bad_request(format!(
            "An inventory item with code {code} already exists"
        )));
    }
    let defaults = [
        ("price", json!(0)),
        ("cost", json!(0)),
        ("weight", json!(0)),
        ("stock", json!(0)),
        ("location", json!("")),
        ("manufacturer_sku", json!("")),
        ("variation_list", json!({})),
        ("metadata", json!({})),
    ];
    for (key, value) in defaults {
        fields.entry(key).or_insert(value);
    }
    fields.insert("id".into(), id.to_string().into());
    fields.insert("date_added".into(), date_added.into());
    fields.insert("date_updated".into(), date_updated.into());
    Ok(Value::Object(fields))
}
