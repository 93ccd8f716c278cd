//! Store tools: `store_test` (GET /test) and `store_info` (GET /store: settings + folders).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::args::StoreRef;
use super::{Annotations, Ctx, Tool, Validate};
use crate::error::ToolError;
use crate::services::store::{self, CacheStatus, Folder};

pub const TOOLS: &[Tool] = &[
    tool!(
        "store_test",
        "Test the OrderDesk connection",
        "Check that the configured OrderDesk store id and API key work by calling \
         OrderDesk's /test endpoint. Use it first when other tools fail with OD_API_401 \
         or UPSTREAM_UNREACHABLE. Never cached.",
        Annotations::READ,
        store_test,
    ),
    tool!(
        "store_info",
        "Store settings and folders",
        "Get the OrderDesk store's settings and its folders (id and name). Orders live in \
         folders (e.g. 'New', 'Prepared', 'Shipped'); use this to turn a folder name into \
         the folder_id that orders_list filters on. Cached for an hour.",
        Annotations::READ,
        store_info,
    ),
];

/// Only the store to act on.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreArgs {
    pub store: Option<StoreRef>,
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
    let sc = ctx.store(args.store.as_ref())?;
    let tested = store::test(&sc)?;
    Ok(StoreTestOut {
        ok: true,
        store_id: sc.store_id().to_string(),
        message: tested
            .message
            .unwrap_or_else(|| "Connection Successful".into()),
        server_time: tested.server_time,
    })
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
    let sc = ctx.store(args.store.as_ref())?;
    let settings = store::settings(&sc)?;
    Ok(StoreInfoOut {
        store: settings.store,
        folders: settings.folders,
        cache: settings.cache,
    })
}
