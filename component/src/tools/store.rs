//! Store tools: `store_test` (GET /test) and `store_info` (GET /store: settings + folders).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Annotations, Ctx, StoreCtx, Tool, Validate};
use crate::cache::{CacheStatus, Family};
use crate::envelope;
use crate::error::{ErrorCode, ToolError};

pub fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "store_test",
            "Test the OrderDesk connection",
            "Check that the configured OrderDesk store id and API key work by calling \
             OrderDesk's /test endpoint. Use it first when other tools fail with OD_API_401 \
             or UPSTREAM_UNREACHABLE. Never cached.",
            Annotations::READ,
            store_test,
        ),
        Tool::new(
            "store_info",
            "Store settings and folders",
            "Get the OrderDesk store's settings and its folders (id and name). Orders live in \
             folders (e.g. 'New', 'Prepared', 'Shipped'); use this to turn a folder name into \
             the folder_id that orders_list filters on. Cached for an hour.",
            Annotations::READ,
            store_info,
        ),
    ]
}

/// Only the store to act on.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreArgs {
    /// Store id or name (after tenant_use_master_key); default: the default store.
    pub store: Option<String>,
}

impl Validate for StoreArgs {}

#[derive(Debug, Serialize, JsonSchema)]
pub struct StoreTestOut {
    /// True when OrderDesk accepted the credentials.
    pub ok: bool,
    /// The store the credentials belong to.
    pub store_id: String,
    /// OrderDesk's own message, e.g. "Connection Successful".
    pub message: String,
    /// OrderDesk's clock at the time of the test, when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_time: Option<String>,
}

fn store_test(ctx: &Ctx, args: StoreArgs) -> Result<StoreTestOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    let creds = &sc.creds;
    let body = ctx
        .client(creds)
        .get("/test", &[])
        .map_err(|e| e.into_tool_error(ErrorCode::OdApiError))?;
    Ok(StoreTestOut {
        ok: true,
        store_id: creds.store_id.clone(),
        message: str_field(&body, "message").unwrap_or_else(|| "Connection Successful".into()),
        server_time: str_field(&body, "current_date_time"),
    })
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Folder {
    /// Folder id, as orders_list's folder_id filter takes it.
    pub id: u64,
    /// Folder name as shown in OrderDesk.
    pub name: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct StoreInfoOut {
    /// Store settings as OrderDesk returns them (name, email, timezone, …), folders removed.
    pub store: Map<String, Value>,
    /// The store's folders, by id.
    pub folders: Vec<Folder>,
    /// Whether this answer came from the cache.
    pub cache: CacheStatus,
}

fn store_info(ctx: &Ctx, args: StoreArgs) -> Result<StoreInfoOut, ToolError> {
    let sc = ctx.store(args.store.as_deref())?;
    store_settings(ctx, &sc)
}

/// `GET /store` through the cache, folders split from the other settings. Shared by
/// `store_info` and by tools that resolve folder names.
pub fn store_settings(ctx: &Ctx, sc: &StoreCtx) -> Result<StoreInfoOut, ToolError> {
    let client = ctx.client(&sc.creds);
    let (body, cache) = ctx
        .cache(sc)
        .read_through(Family::Store, &[], || client.get("/store", &[]))
        .map_err(|e| e.into_tool_error(ErrorCode::OdApiError))?;
    let mut store = envelope::object(&body, "store")?;
    let folders = parse_folders(store.remove("folders"));
    Ok(StoreInfoOut {
        store,
        folders,
        cache,
    })
}

/// OrderDesk lists folders as an object `{ "id": "name" }`; some clients see an array of
/// `{id, name}`. Accept both and sort by id.
fn parse_folders(raw: Option<Value>) -> Vec<Folder> {
    let mut folders: Vec<Folder> = match raw {
        Some(Value::Object(map)) => map
            .into_iter()
            .filter_map(|(id, name)| {
                Some(Folder {
                    id: id.parse().ok()?,
                    name: name.as_str()?.to_string(),
                })
            })
            .collect(),
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|item| {
                let id = item.get("id")?;
                let id = id.as_u64().or_else(|| id.as_str()?.parse().ok())?;
                let name = item.get("name")?.as_str()?.to_string();
                Some(Folder { id, name })
            })
            .collect(),
        _ => Vec::new(),
    };
    folders.sort_by_key(|f| f.id);
    folders
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn folders_from_object_or_array() {
        let a = parse_folders(Some(json!({"2": "Prepared", "1": "New", "x": "bad"})));
        assert_eq!(
            a.iter()
                .map(|f| (f.id, f.name.as_str()))
                .collect::<Vec<_>>(),
            vec![(1, "New"), (2, "Prepared")]
        );
        let b = parse_folders(Some(
            json!([{"id": "7", "name": "Shipped"}, {"id": 3, "name": "Hold"}]),
        ));
        assert_eq!(b.iter().map(|f| f.id).collect::<Vec<_>>(), vec![3, 7]);
        assert!(parse_folders(None).is_empty());
    }
}
