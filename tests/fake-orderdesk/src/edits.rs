//! Outside edits: what "someone else editing in OrderDesk" does to a record.
//!
//! An edit bumps a counter on the record (`order_metadata.external_edits` on an order,
//! `external_edits` on an inventory item, both starting at 1) and sets its `date_updated`
//! to now. `date_updated` has one-second resolution, so two edits within the same second can
//! leave it unchanged; the counter goes up by one on every edit, so two successive edits
//! always leave distinguishable records.

use serde_json::{Value, json};

use crate::clock;
use crate::data::StoreData;
use crate::server::API_PREFIX;

/// The record a request path addresses, for an outside edit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// `/orders/{id}` and everything under it (`/orders/{id}/shipments`, ...).
    Order(u64),
    /// `/inventory-items/{id}` and everything under it.
    Product(u64),
}

impl Target {
    /// The record `path` (a full request path, `/api/v2/...`) addresses, if any.
    pub(crate) fn of(path: &str) -> Option<Target> {
        let rest = path.strip_prefix(API_PREFIX)?;
        let mut segments = rest.strip_prefix('/')?.split('/');
        let kind = segments.next()?;
        let id: u64 = segments.next()?.parse().ok()?;
        match kind {
            "orders" => Some(Target::Order(id)),
            "inventory-items" => Some(Target::Product(id)),
            _ => None,
        }
    }

    /// Edits the record in `data`: whether it existed (a missing record is left alone).
    pub(crate) fn edit(self, data: &mut StoreData) -> bool {
        let now = clock::now_string();
        match self {
            Target::Order(id) => data
                .orders
                .get_mut(&id)
                .map(|order| edit_order(order, &now))
                .is_some(),
            Target::Product(id) => data
                .products
                .get_mut(&id)
                .map(|item| edit_product(item, &now))
                .is_some(),
        }
    }
}

/// Someone else's edit of an order: `order_metadata.external_edits` goes up by one
/// (starting at 1) and `date_updated` becomes `now`.
pub(crate) fn edit_order(order: &mut Value, now: &str) {
    if !order["order_metadata"].is_object() {
        order["order_metadata"] = json!({});
    }
    let edits = order["order_metadata"]["external_edits"]
        .as_u64()
        .unwrap_or(0);
    order["order_metadata"]["external_edits"] = (edits + 1).into();
    order["date_updated"] = now.into();
}

/// Someone else's edit of an inventory item: `external_edits` goes up by one (starting at
/// 1) and `date_updated`, if the item has one, becomes `now`.
fn edit_product(item: &mut Value, now: &str) {
    let edits = item["external_edits"].as_u64().unwrap_or(0);
    item["external_edits"] = (edits + 1).into();
    if item.get("date_updated").is_some() {
        item["date_updated"] = now.into();
    }
}

/// The outside edits an order has had (`order_metadata.external_edits`, 0 when absent).
pub(crate) fn order_edits(order: &Value) -> u64 {
    order["order_metadata"]["external_edits"]
        .as_u64()
        .unwrap_or(0)
}

/// The outside edits an inventory item has had (`external_edits`, 0 when absent).
pub(crate) fn product_edits(item: &Value) -> u64 {
    item["external_edits"].as_u64().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_come_from_the_path() {
        let of = Target::of;
        assert_eq!(of("/api/v2/orders/7"), Some(Target::Order(7)));
        assert_eq!(of("/api/v2/orders/7/shipments/3"), Some(Target::Order(7)));
        assert_eq!(
            of("/api/v2/inventory-items/5001"),
            Some(Target::Product(5001))
        );
        assert_eq!(of("/api/v2/orders"), None);
        assert_eq!(of("/api/v2/orders/abc"), None);
        assert_eq!(of("/api/v2/batch-shipments"), None);
        assert_eq!(of("/api/v20/orders/7"), None);
    }

    #[test]
    fn successive_edits_differ_within_a_second() {
        let mut data = StoreData::seeded(1, 1);
        let before = data.orders[&100_001].clone();
        assert!(Target::Order(100_001).edit(&mut data));
        let once = data.orders[&100_001].clone();
        assert!(Target::Order(100_001).edit(&mut data));
        let twice = data.orders[&100_001].clone();
        assert!(before != once && once != twice);
        assert_eq!((order_edits(&once), order_edits(&twice)), (1, 2));

        assert!(Target::Product(5001).edit(&mut data));
        assert!(Target::Product(5001).edit(&mut data));
        assert_eq!(product_edits(&data.products[&5001]), 2);
        assert!(!Target::Order(1).edit(&mut data));
        assert!(!Target::Product(1).edit(&mut data));
    }
}
