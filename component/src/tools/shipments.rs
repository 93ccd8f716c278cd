//! Shipments: `shipments_add` (one, or a batch) and `shipments_list`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::args::{Id, StoreRef, check_id};
use super::{Annotations, Ctx, Tool, Validate};
use crate::error::ToolError;
use crate::services::orders::{self, id_text};

pub const TOOLS: &[Tool] = &[
    tool!(
        "shipments_add",
        "Add shipments",
        "Record shipments (tracking_number, carrier_code, shipment_method, …). Give \
         order_id + shipment for one order, or shipments (each with its order_id) to add \
         many at once in one request. Not repeated on a lost answer: \
         WRITE_OUTCOME_UNKNOWN then means check shipments_list before adding again.",
        Annotations::WRITE,
        shipments_add,
    ),
    tool!(
        "shipments_list",
        "List an order's shipments",
        "The shipments recorded for an order, with tracking numbers. Never cached.",
        Annotations::READ,
        shipments_list,
    ),
];

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentsAddArgs {
    /// The order, for a single shipment.
    pub order_id: Option<Id>,
    /// One shipment for order_id: {tracking_number, carrier_code, shipment_method, …}.
    pub shipment: Option<Map<String, Value>>,
    /// Several shipments, each with its own order_id (sent as one batch).
    pub shipments: Option<Vec<Map<String, Value>>>,
    pub store: Option<StoreRef>,
}

impl Validate for ShipmentsAddArgs {
    fn validate(&self) -> Result<(), ToolError> {
        match (&self.order_id, &self.shipment, &self.shipments) {
            (Some(id), Some(_), None) => check_id("order_id", id.as_str()),
            (None, None, Some(list)) if !list.is_empty() && list.len() <= 100 => {
                for (i, s) in list.iter().enumerate() {
                    let id = s.get("order_id").map(id_text);
                    check_id(
                        &format!("shipments[{i}].order_id"),
                        id.as_deref().unwrap_or(""),
                    )?;
                }
                Ok(())
            }
            _ => Err(ToolError::invalid_argument(
                "shipment",
                "give order_id + shipment, or shipments (1-100, each with order_id)",
            )),
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct ShipmentsOut {
    /// Shipments as OrderDesk recorded them.
    pub shipments: Vec<Map<String, Value>>,
    /// Per-shipment problems OrderDesk reported for a batch.
    pub errors: Vec<Value>,
}

fn shipments_add(ctx: &Ctx, args: ShipmentsAddArgs) -> Result<ShipmentsOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    let one = match (&args.order_id, args.shipment) {
        (Some(id), Some(shipment)) => Some((id.as_str(), shipment)),
        _ => None,
    };
    let shipped = orders::add_shipments(&sc, one, args.shipments.unwrap_or_default())?;
    Ok(ShipmentsOut {
        shipments: shipped.shipments,
        errors: shipped.errors,
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentsListArgs {
    pub order_id: Id,
    pub store: Option<StoreRef>,
}

impl Validate for ShipmentsListArgs {
    fn validate(&self) -> Result<(), ToolError> {
        check_id("order_id", self.order_id.as_str())
    }
}

fn shipments_list(ctx: &Ctx, args: ShipmentsListArgs) -> Result<ShipmentsOut, ToolError> {
    let sc = ctx.store(args.store.as_ref())?;
    Ok(ShipmentsOut {
        shipments: orders::shipments(&sc, args.order_id.as_str())?,
        errors: Vec::new(),
    })
}
