//! The fake store's contents and its deterministic seed data.
//!
//! Every seeded record is derived from its own id with a xorshift generator, so order
//! 100001 looks the same whether the store holds 10 orders or 10 000, and no run of the
//! fake ever differs from another.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::clock::format_unix;

/// The store's folders, id and name, as `GET /store` lists them.
pub const FOLDERS: [(u64, &str); 4] = [
    (1, "New"),
    (2, "Prepared"),
    (3, "Shipped"),
    (4, "Cancelled"),
];
/// The id of the first seeded order.
pub const FIRST_ORDER_ID: u64 = 100_001;
/// The id of the first seeded inventory item.
pub const FIRST_PRODUCT_ID: u64 = 5001;
/// The id of the first shipment created through the API.
const FIRST_SHIPMENT_ID: u64 = 900_001;
/// The id of the first order item created through the API (seeded items have ids
/// `{order id}{line:02}`, far below this).
const FIRST_ITEM_ID: u64 = 800_000_001;
/// 2026-01-01 00:00:00 UTC: seeded orders are added from then on.
const SEED_EPOCH: i64 = 1_767_225_600;
/// Seeded orders are this far apart, plus up to an hour of jitter, so ids and dates agree.
const ORDER_SPACING_SECS: i64 = 4 * 3600;

const FIRST_NAMES: [&str; 20] = [
    "Alice", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Kara", "Liam", "Maya", "Nikos", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tara",
];
const LAST_NAMES: [&str; 16] = [
    "Anders", "Baker", "Castro", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen",
    "Kowalski", "Lopez", "Moreau", "Novak", "Okafor", "Patel",
];
/// How many distinct customers the seeded orders share, so an email matches several orders.
const CUSTOMERS: u64 = 40;
const CITIES: [(&str, &str, &str); 6] = [
    ("Portland", "OR", "97201"),
    ("Austin", "TX", "73301"),
    ("Denver", "CO", "80202"),
    ("Madison", "WI", "53703"),
    ("Raleigh", "NC", "27601"),
    ("Tucson", "AZ", "85701"),
];
const STREETS: [&str; 5] = ["Main St", "Oak Ave", "Pine Rd", "Maple Dr", "Cedar Ln"];
const SOURCES: [&str; 3] = ["Shopify", "Amazon", "eBay"];
const ADJECTIVES: [&str; 10] = [
    "Classic", "Deluxe", "Compact", "Rugged", "Organic", "Vintage", "Smart", "Portable", "Premium",
    "Eco",
];
const NOUNS: [&str; 10] = [
    "Mug",
    "Backpack",
    "Lamp",
    "Notebook",
    "Water Bottle",
    "Headphones",
    "T-Shirt",
    "Candle",
    "Phone Case",
    "Tea Sampler",
];
const LOCATIONS: [&str; 3] = ["Warehouse A", "Warehouse B", "Dropship"];

/// A tiny xorshift64 generator: deterministic, good enough for fake data.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded from `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        // Mixing spreads nearby seeds apart; `| 1` keeps the state away from the fixed point 0.
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next pseudo-random value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// An element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        // The index is below `items.len()`, so it fits in usize.
        &items[self.below(items.len() as u64) as usize]
    }
}

/// An amount of money in cents as the JSON number OrderDesk sends (dollars).
pub fn money(cents: i64) -> Value {
    json!(cents as f64 / 100.0)
}

/// Everything the fake store holds; lives behind one lock.
#[derive(Debug, Default)]
pub struct StoreData {
    /// Orders by id, as JSON objects.
    pub orders: BTreeMap<u64, Value>,
    /// Inventory items by id, as JSON objects.
    pub products: BTreeMap<u64, Value>,
    /// Shipments by order id.
    pub shipments: BTreeMap<u64, Vec<Value>>,
    /// Order history notes by order id.
    pub history: BTreeMap<u64, Vec<Value>>,
    /// The ids the store was seeded with.
    pub seeded_orders: Vec<u64>,
    /// The inventory item ids the store was seeded with.
    pub seeded_products: Vec<u64>,
    /// The id the next created order gets.
    pub next_order_id: u64,
    /// The id the next created inventory item gets.
    pub next_product_id: u64,
    /// The id the next created shipment gets.
    pub next_shipment_id: u64,
    /// The id the next order item created through the API gets.
    pub next_item_id: u64,
}

impl StoreData {
    /// The default store, seeded with `orders` orders and `products` inventory items.
    pub fn seeded(orders: usize, products: usize) -> Self {
        Self::seeded_for(None, orders, products)
    }

    /// A store seeded like the default one; with a `tag` (an added store's id) its order
    /// emails and source ids and its product codes include the tag, so stores differ.
    pub fn seeded_for(tag: Option<&str>, orders: usize, products: usize) -> Self {
        let product_ids: Vec<u64> = (FIRST_PRODUCT_ID..).take(products).collect();
        let order_ids: Vec<u64> = (FIRST_ORDER_ID..).take(orders).collect();
        Self {
            products: product_ids
                .iter()
                .map(|&id| (id, seed_product(id, tag)))
                .collect(),
            orders: order_ids
                .iter()
                .map(|&id| (id, seed_order(id, products as u64, tag)))
                .collect(),
            next_order_id: FIRST_ORDER_ID + orders as u64,
            next_product_id: FIRST_PRODUCT_ID + products as u64,
            next_shipment_id: FIRST_SHIPMENT_ID,
            next_item_id: FIRST_ITEM_ID,
            seeded_orders: order_ids,
            seeded_products: product_ids,
            ..Self::default()
        }
    }
}

/// `{prefix}-{id}`, or `{prefix}-{tag}-{id}` in a tagged store.
fn tagged(prefix: &str, tag: Option<&str>, id: u64) -> String {
    match tag {
        None => format!("{prefix}-{id}"),
        Some(tag) => format!("{prefix}-{tag}-{id}"),
    }
}

impl StoreData {
    /// A fresh order item id.
    pub fn take_item_id(&mut self) -> u64 {
        let id = self.next_item_id;
        self.next_item_id += 1;
        id
    }

    /// Adds an order as if a customer had just placed it: shaped like a seeded order (same
    /// generator, its own id), in folder "New", added and updated at `now`; returns its id.
    pub fn add_order(&mut self, tag: Option<&str>, now: &str) -> u64 {
        let id = self.next_order_id;
        self.next_order_id += 1;
        let mut order = seed_order(id, self.seeded_products.len() as u64, tag);
        order["folder_id"] = 1.into();
        order["date_added"] = now.into();
        order["date_updated"] = now.into();
        self.orders.insert(id, order);
        id
    }

    /// A fresh shipment id.
    pub fn take_shipment_id(&mut self) -> u64 {
        let id = self.next_shipment_id;
        self.next_shipment_id += 1;
        id
    }
}

/// The seeded inventory item with this id.
fn seed_product(id: u64, tag: Option<&str>) -> Value {
    let mut rng = XorShift::new(id);
    let price = 500 + rng.below(9500) as i64;
    let added = SEED_EPOCH - 30 * 86_400 + (id - FIRST_PRODUCT_ID) as i64 * 3600;
    json!({
        "id": id.to_string(),
        "name": format!("{} {}", rng.pick(&ADJECTIVES), rng.pick(&NOUNS)),
        "code": tagged("SKU", tag, id),
        "price": money(price),
        "cost": money(price * 2 / 5),
        "weight": money(10 + rng.below(490) as i64),
        "stock": rng.below(200),
        "location": *rng.pick(&LOCATIONS),
        "manufacturer_sku": tagged("MFR", tag, id),
        "date_added": format_unix(added),
        "date_updated": format_unix(added + rng.below(86_400) as i64),
        "variation_list": {},
        "metadata": {},
    })
}

/// The seeded order with this id, its items drawn from the first `products` inventory items.
fn seed_order(id: u64, products: u64, tag: Option<&str>) -> Value {
    let index = id - FIRST_ORDER_ID;
    let mut rng = XorShift::new(id.wrapping_add(0x5EED));
    let customer = rng.below(CUSTOMERS);
    let first = FIRST_NAMES[(customer % FIRST_NAMES.len() as u64) as usize];
    let last = LAST_NAMES[(customer % LAST_NAMES.len() as u64) as usize];
    let email = format!(
        "{}.{}{}@example.com",
        first.to_lowercase(),
        last.to_lowercase(),
        tag.map(|t| format!(".{t}")).unwrap_or_default()
    );
    // One order in five ships to someone else, so shipping and customer names can differ.
    let (ship_first, ship_last) = if rng.below(5) == 0 {
        (*rng.pick(&FIRST_NAMES), *rng.pick(&LAST_NAMES))
    } else {
        (first, last)
    };
    let (city, state, zip) = *rng.pick(&CITIES);
    let address1 = format!("{} {}", 100 + rng.below(9900), rng.pick(&STREETS));
    let company = if customer.is_multiple_of(7) {
        format!("{last} Trading Co")
    } else {
        String::new()
    };

    let added = SEED_EPOCH + index as i64 * ORDER_SPACING_SECS + rng.below(3600) as i64;
    let updated = added + rng.below(72 * 3600) as i64;

    let mut subtotal = 0;
    let items: Vec<Value> = (0..1 + rng.below(3))
        .map(|line| {
            let quantity = 1 + rng.below(3);
            let (name, code, price) = if products == 0 {
                ("Gift Card".to_string(), "GIFT-CARD".to_string(), 2500)
            } else {
                let product = seed_product(FIRST_PRODUCT_ID + rng.below(products), tag);
                let price = (product["price"].as_f64().unwrap_or(0.0) * 100.0).round() as i64;
                let text = |key: &str| product[key].as_str().unwrap_or_default().to_string();
                (text("name"), text("code"), price)
            };
            subtotal += price * quantity as i64;
            json!({
                "id": format!("{id}{:02}", line + 1),
                "name": name,
                "code": code,
                "price": money(price),
                "quantity": quantity,
                "weight": 1,
                "variation_list": {},
                "metadata": {},
            })
        })
        .collect();
    let shipping = [0, 499, 999][rng.below(3) as usize];
    let tax = (subtotal * 8 + 50) / 100;

    json!({
        "id": id.to_string(),
        "email": email,
        "shipping_method": if shipping == 999 { "Express" } else { "Standard" },
        "quantity_total": items.iter().map(|i| i["quantity"].as_u64().unwrap_or(0)).sum::<u64>(),
        "weight_total": items.len(),
        "product_total": money(subtotal),
        "shipping_total": money(shipping),
        "handling_total": 0,
        "tax_total": money(tax),
        "discount_total": 0,
        "order_total": money(subtotal + shipping + tax),
        "order_shipping": money(shipping),
        "order_tax": money(tax),
        "payment_type": "Credit Card",
        "payment_status": "Approved",
        "source_id": tagged("SRC", tag, id),
        "source_name": SOURCES[(index % SOURCES.len() as u64) as usize],
        "folder_id": index % FOLDERS.len() as u64 + 1,
        "date_added": format_unix(added),
        "date_updated": format_unix(updated),
        "shipping": {
            "first_name": ship_first,
            "last_name": ship_last,
            "company": company,
            "address1": address1,
            "address2": "",
            "city": city,
            "state": state,
            "postal_code": zip,
            "country": "US",
            "phone": format!("555-{:04}", rng.below(10_000)),
        },
        "customer": { "first_name": first, "last_name": last, "company": company },
        "order_items": items,
        "checkout_data": {},
        "order_metadata": {},
        "order_notes": [],
    })
}

/// The store's folders as the JSON object `GET /store` returns: id (as a string) → name.
pub fn folders_json() -> Value {
    let map: Map<String, Value> = FOLDERS
        .iter()
        .map(|(id, name)| (id.to_string(), Value::from(*name)))
        .collect();
    Value::Object(map)
}

/// The id of the folder with this exact name.
pub fn folder_by_name(name: &str) -> Option<u64> {
    FOLDERS.iter().find(|(_, n)| *n == name).map(|(id, _)| *id)
}

/// Whether a folder with this id exists.
pub fn folder_exists(id: u64) -> bool {
    FOLDERS.iter().any(|(f, _)| *f == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_is_deterministic_and_prefix_stable() {
        let small = StoreData::seeded(5, 10);
        let large = StoreData::seeded(50, 10);
        assert_eq!(small.orders[&100_003], large.orders[&100_003]);
        assert_eq!(
            small.seeded_orders,
            vec![100_001, 100_002, 100_003, 100_004, 100_005]
        );
        assert_eq!(large.next_order_id, 100_051);
        let order = &large.orders[&100_001];
        assert_eq!(order["id"], "100001");
        assert_eq!(order["source_id"], "SRC-100001");
        assert_eq!(order["folder_id"], 1);
        assert!(
            order["date_added"]
                .as_str()
                .unwrap()
                .starts_with("2026-01-01 0")
        );
        assert_eq!(large.products[&5001]["code"], "SKU-5001");
    }

    #[test]
    fn tagged_stores_differ_only_where_tagged() {
        let plain = StoreData::seeded(3, 5);
        let tagged = StoreData::seeded_for(Some("777"), 3, 5);
        let (a, b) = (&plain.orders[&100_001], &tagged.orders[&100_001]);
        assert_eq!(b["source_id"], "SRC-777-100001");
        assert!(b["email"].as_str().unwrap().ends_with(".777@example.com"));
        assert_eq!(a["order_total"], b["order_total"]);
        assert_eq!(tagged.products[&5002]["code"], "SKU-777-5002");
        assert!(
            b["order_items"][0]["code"]
                .as_str()
                .unwrap()
                .starts_with("SKU-777-")
        );
    }

    #[test]
    fn added_orders_are_new_and_dated_now() {
        let mut store = StoreData::seeded(3, 5);
        let id = store.add_order(Some("9"), "2026-12-01 10:00:00");
        assert_eq!(id, 100_004);
        assert_eq!(store.next_order_id, 100_005);
        let order = &store.orders[&id];
        assert_eq!(order["id"], "100004");
        assert_eq!(order["folder_id"], 1);
        assert_eq!(order["date_added"], "2026-12-01 10:00:00");
        assert_eq!(order["date_updated"], "2026-12-01 10:00:00");
        assert_eq!(order["source_id"], "SRC-9-100004");
        assert_eq!(store.seeded_orders.len(), 3, "not a seeded order");
    }

    #[test]
    fn orders_without_products_still_have_items() {
        let store = StoreData::seeded(3, 0);
        assert_eq!(
            store.orders[&100_002]["order_items"][0]["code"],
            "GIFT-CARD"
        );
    }
}
