//! The API's routes, OrderDesk's response envelopes and the helpers handlers share.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use crate::data::folders_json;
use crate::tenant::Tenant;
use crate::{Shared, clock, inventory, order_items, orders, shipments};

/// Handlers' shared state.
pub type AppState = State<Arc<Shared>>;
/// The store the request's credentials chose, put there by the gate in `server`.
pub type StoreCtx = Extension<Arc<Tenant>>;
/// Query parameters, or the reason they could not be parsed.
pub type QueryParams = Result<Query<HashMap<String, String>>, QueryRejection>;

/// The largest page OrderDesk serves.
pub const MAX_LIMIT: usize = 500;
/// The page size when a request names none.
pub const DEFAULT_LIMIT: usize = 50;

/// Every API route; requests reach it only through the gate in `server`.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v2/test", get(test))
        .route("/api/v2/store", get(store))
        .route("/api/v2/orders", get(orders::list).post(orders::create))
        .route(
            "/api/v2/orders/{id}",
            get(orders::show)
                .put(orders::replace)
                .delete(orders::delete),
        )
        .route(
            "/api/v2/orders/{id}/order-history",
            post(orders::add_history),
        )
        .route(
            "/api/v2/orders/{id}/order-items",
            get(order_items::list).post(order_items::add),
        )
        .route(
            "/api/v2/orders/{id}/order-items/{item_id}",
            get(order_items::show)
                .put(order_items::replace)
                .delete(order_items::delete),
        )
        .route(
            "/api/v2/orders/{id}/shipments",
            get(shipments::list).post(shipments::add),
        )
        .route(
            "/api/v2/orders/{id}/shipments/{shipment_id}",
            get(shipments::show)
                .put(shipments::update)
                .delete(shipments::delete),
        )
        .route("/api/v2/batch-shipments", post(shipments::batch))
        .route("/api/v2/move-orders", post(orders::move_orders))
        .route(
            "/api/v2/inventory-items",
            get(inventory::list).post(inventory::create),
        )
        .route(
            "/api/v2/inventory-items/{id}",
            get(inventory::show)
                .put(inventory::replace)
                .delete(inventory::delete),
        )
        .route(
            "/api/v2/batch-inventory-items",
            put(inventory::batch_update),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared)
}

/// An error answer in OrderDesk's envelope.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// A 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// A 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// The message the error envelope carries.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.status, &self.message)
    }
}

/// What handlers return.
pub type ApiResult = Result<Response, ApiError>;

/// `{"status":"error","message":...}` with `status`.
pub fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "status": "error", "message": message })),
    )
        .into_response()
}

/// A success envelope: `status` and `execution_time`, then the fields of `body`.
pub fn success(status: StatusCode, started: Instant, body: Value) -> Response {
    let mut map = Map::new();
    map.insert("status".into(), "success".into());
    map.insert(
        "execution_time".into(),
        format!("{:.4} seconds", started.elapsed().as_secs_f64()).into(),
    );
    if let Value::Object(fields) = body {
        map.extend(fields);
    }
    (status, Json(Value::Object(map))).into_response()
}

/// The requested page of a list.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    /// Records to skip.
    pub offset: usize,
    /// Records to return at most.
    pub limit: usize,
}

impl Page {
    /// Reads `limit` (1..=500, default 50) and `offset` (default 0).
    pub fn from_query(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let number = |key: &str, default: usize| match query.get(key).map(|v| v.trim()) {
            None | Some("") => Ok(default),
            Some(raw) => raw.parse::<usize>().map_err(|_| {
                ApiError::bad_request(format!("{key} must be a non-negative integer"))
            }),
        };
        let limit = number("limit", DEFAULT_LIMIT)?;
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::bad_request(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        Ok(Self {
            offset: number("offset", 0)?,
            limit,
        })
    }

    /// The list envelope for `records` (already filtered and sorted) under `key`.
    pub fn respond(self, started: Instant, key: &str, records: Vec<Value>) -> Response {
        let borrowed: Vec<&Value> = records.iter().collect();
        self.respond_page(started, key, &borrowed)
    }

    /// [`Page::respond`] for borrowed records: only the page is cloned.
    pub fn respond_page(self, started: Instant, key: &str, records: &[&Value]) -> Response {
        let total = records.len();
        let page: Vec<Value> = records
            .iter()
            .skip(self.offset)
            .take(self.limit)
            .map(|r| (*r).clone())
            .collect();
        let mut body = Map::new();
        body.insert("total_records".into(), total.into());
        body.insert("records_returned".into(), page.len().into());
        body.insert("offset".into(), self.offset.into());
        body.insert("limit".into(), self.limit.into());
        body.insert(key.into(), page.into());
        success(StatusCode::OK, started, Value::Object(body))
    }
}

/// The query parameters, or a 400 in OrderDesk's envelope.
pub fn query_params(query: QueryParams) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(params)| params)
        .map_err(|err| ApiError::bad_request(format!("Invalid query string: {err}")))
}

/// The request body as JSON, or a 400.
pub fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("A JSON request body is required"));
    }
    serde_json::from_slice(body)
        .map_err(|err| ApiError::bad_request(format!("Invalid JSON: {err}")))
}

/// The request body as a JSON object, or a 400.
pub fn json_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match json_body(body)? {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request(
            "The request body must be a JSON object",
        )),
    }
}

/// A numeric id from the path; anything else cannot name a record, hence `missing`.
pub fn path_id(raw: &str, missing: &str) -> Result<u64, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found(missing))
}

/// An id given in JSON either as a number or as a numeric string, as OrderDesk accepts.
pub fn json_id(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `GET /test`: checks credentials and reports the server's time.
async fn test() -> Response {
    Json(json!({
        "status": "success",
        "message": "Connection Successful",
        "current_date_time": clock::now_string(),
    }))
    .into_response()
}

/// `GET /store`: the store's settings and folders.
async fn store(Extension(tenant): StoreCtx) -> Response {
    // OrderDesk store ids are numbers; a non-numeric configured id is echoed as a string.
    let id = match tenant.id.parse::<u64>() {
        Ok(n) => Value::from(n),
        Err(_) => Value::from(tenant.id.as_str()),
    };
    Json(json!({
        "status": "success",
        "store": {
            "id": id,
            "name": tenant.name,
            "email": "owner@fake-store.test",
            "timezone": "UTC",
            "currency": "USD",
            "folders": folders_json(),
        },
    }))
    .into_response()
}

/// Unknown routes.
async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Resource not found")
}

/// Known routes with the wrong method.
async fn method_not_allowed() -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
}
