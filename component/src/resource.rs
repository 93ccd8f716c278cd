//! Descriptors of the OrderDesk records the services read and write: where a record lives,
//! the envelope key it comes under, the error a missing one is, its cache family and its
//! lock. Services take a descriptor instead of repeating these per tool.

use serde_json::json;

use crate::client::OdError;
use crate::error::{ErrorCode, ToolError};
use crate::host::Family;

/// One kind of OrderDesk record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// What a person calls it, for messages: "order", "inventory item".
    pub noun: &'static str,
    /// The collection path, e.g. `/orders`.
    pub collection: &'static str,
    /// Envelope key of one record, e.g. `order`.
    pub envelope: &'static str,
    /// Envelope key of a list, e.g. `orders`.
    pub list_envelope: &'static str,
    /// The argument that names a record, e.g. `order_id` (for errors' details).
    pub id_argument: &'static str,
    /// The code of a missing record.
    pub not_found: ErrorCode,
    /// The cache family its reads belong to and its writes invalidate.
    pub family: Family,
}

pub const ORDER: Resource = Resource {
    noun: "order",
    collection: "/orders",
    envelope: "order",
    list_envelope: "orders",
    id_argument: "order_id",
    not_found: ErrorCode::OrderNotFound,
    family: Family::Orders,
};

/// OrderDesk has no `/products`: products are inventory items.
pub const PRODUCT: Resource = Resource {
    noun: "inventory item",
    collection: "/inventory-items",
    envelope: "inventory_item",
    list_envelope: "inventory_items",
    id_argument: "product_id",
    not_found: ErrorCode::ProductNotFound,
    family: Family::Products,
};

impl Resource {
    /// The path of one record.
    pub fn path(&self, id: &str) -> String {
        format!("{}/{id}", self.collection)
    }

    /// The lock every updater of this record in this store agrees on.
    pub fn lock_name(&self, store_id: &str, id: &str) -> String {
        format!("{}/{store_id}/{id}", self.envelope)
    }

    /// The tool error for an OrderDesk failure reading or writing record `id`.
    pub fn od_error(&self, id: &str, e: OdError) -> ToolError {
        match e {
            OdError::NotFound(_) => self.missing(id),
            e => e.into_tool_error(self.not_found),
        }
    }

    /// The error for a record that does not exist.
    pub fn missing(&self, id: &str) -> ToolError {
        ToolError::new(
            self.not_found,
            format!("no {} with id {id} in this store", self.noun),
        )
        .with_details(json!({ self.id_argument: id }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_locks_and_errors() {
        assert_eq!(ORDER.path("5"), "/orders/5");
        assert_eq!(PRODUCT.path("9"), "/inventory-items/9");
        assert_ne!(ORDER.lock_name("1", "5"), PRODUCT.lock_name("1", "5"));
        assert_ne!(ORDER.lock_name("1", "5"), ORDER.lock_name("2", "5"));
        let e = ORDER.missing("42");
        assert_eq!(e.code, ErrorCode::OrderNotFound);
        assert_eq!(e.details["order_id"], "42");
    }
}
