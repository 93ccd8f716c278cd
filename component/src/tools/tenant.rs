//! Tenant binding: `tenant_use_master_key`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::args::Text;
use super::{Annotations, Ctx, Tool, Validate};
use crate::error::ToolError;
use crate::services::tenants;

pub const TOOLS: &[Tool] = &[tool!(
    "tenant_use_master_key",
    "Sign in as a tenant",
    "Bind this connection to a tenant with its master key (from `orderdesk-mcp tenant \
     create`). Afterwards the stores_* tools manage that tenant's OrderDesk stores and \
     every store tool acts on them. Over HTTP, send the key as a bearer token instead.",
    Annotations {
        read_only: true,
        open_world: false,
        ..Annotations::LOCAL
    },
    use_master_key,
)];

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MasterKeyArgs {
    /// The tenant master key (`odmk_…`).
    pub master_key: Text<100>,
}

impl Validate for MasterKeyArgs {}

#[derive(Serialize, JsonSchema)]
pub struct BoundOut {
    pub tenant_id: String,
    pub tenant_name: String,
    /// Registered stores.
    pub stores: usize,
}

fn use_master_key(ctx: &Ctx, args: MasterKeyArgs) -> Result<BoundOut, ToolError> {
    let signed_in = tenants::sign_in(ctx.host, args.master_key.as_str())?;
    ctx.bind_credential(args.master_key.0);
    Ok(BoundOut {
        tenant_id: signed_in.tenant_id,
        tenant_name: signed_in.name,
        stores: signed_in.stores,
    })
}
