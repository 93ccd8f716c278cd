//! The store itself: checking its credentials (`GET /test`) and its settings and folders
//! (`GET /store`, cached for the store family's lifetime).

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use super::StoreCtx;
use crate::envelope;
use crate::error::{ErrorCode, ToolError};
use crate::host::Family;

pub use crate::cache::CacheStatus;

/// What `GET /test` said.
#[derive(Debug)]
pub struct Tested {
    pub message: Option<String>,
    pub server_time: Option<String>,
}

/// Check the store's credentials with OrderDesk (never cached).
pub fn test(ctx: &StoreCtx) -> Result<Tested, ToolError> {
    let body = ctx
        .client()
        .read("/test", &[])
        .map_err(|e| e.into_tool_error(ErrorCode::OdApiError))?;
    Ok(Tested {
        message: str_field(&body, "message"),
        server_time: str_field(&body, "current_date_time"),
    })
}

/// A folder, as orders' `folder_id` names it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Folder {
    /// Folder id, as orders_list's folder_id filter takes it.
    pub id: u64,
    /// Folder name as shown in OrderDesk.
    pub name: String,
}

/// The store's settings, with its folders split out.
#[derive(Debug)]
pub struct StoreSettings {
    pub store: Map<String, Value>,
    pub folders: Vec<Folder>,
    pub cache: CacheStatus,
}

/// `GET /store` through the cache.
pub fn settings(ctx: &StoreCtx) -> Result<StoreSettings, ToolError> {
    let client = ctx.client();
    let (body, cache) = ctx
        .cache()
        .read_through(Family::Store, &[], || client.read("/store", &[]))
        .map_err(|e| e.into_tool_error(ErrorCode::OdApiError))?;
    let mut store = envelope::object(&body, "store")?;
    let folders = parse_folders(store.remove("folders"));
    Ok(StoreSettings {
        store,
        folders,
        cache,
    })
}

/// Forget this tenant's cached reads of the store's `families` (e.g. after edits made in
/// OrderDesk's own UI; writes made here drop what they touch on their own).
pub fn forget_cached(ctx: &StoreCtx, families: &[Family]) {
    let cache = ctx.cache();
    for family in families {
        cache.invalidate(*family);
    }
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
