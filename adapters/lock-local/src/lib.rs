//! `orderdesk:mcp/lock` from an in-memory map, for composing the OrderDesk component into a
//! self-contained component (`compose/*.wac`).
//!
//! The map lives in this adapter's linear memory, so it is shared by exactly the instances
//! composed with it: one instance of the composed component. That is right for runtimes that
//! run one instance per request and share no state between them (`wasmtime serve`, `wasmtime
//! run`, a jco embedding): there is nobody else to exclude, and every lock the component
//! takes during a request is free at its start. It is not a lock between instances or
//! machines: where several instances share durable state (a real key-value store), give the
//! component a lock from that backend instead (the host's SQLite or Redis lock).
//!
//! Leases run on `wasi:clocks/monotonic-clock` (through `std::time::Instant`).

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "orderdesk:lock-local/lock-local",
});

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use exports::orderdesk::mcp::lock::Guest;

struct Lease {
    owner: String,
    until: Instant,
}

thread_local! {
    static LEASES: RefCell<HashMap<String, Lease>> = RefCell::new(HashMap::new());
}

fn until(ttl_ms: u64) -> Instant {
    let now = Instant::now();
    now.checked_add(Duration::from_millis(ttl_ms))
        .unwrap_or(now + Duration::from_secs(u32::MAX.into()))
}

struct LockLocal;

impl Guest for LockLocal {
    fn acquire(name: String, owner: String, ttl_ms: u64) -> Result<bool, String> {
        LEASES.with_borrow_mut(|leases| {
            let free = leases
                .get(&name)
                .is_none_or(|l| l.owner == owner || l.until <= Instant::now());
            if free {
                leases.insert(
                    name,
                    Lease {
                        owner,
                        until: until(ttl_ms),
                    },
                );
            }
            Ok(free)
        })
    }

    fn renew(name: String, owner: String, ttl_ms: u64) -> Result<bool, String> {
        LEASES.with_borrow_mut(|leases| match leases.get_mut(&name) {
            Some(l) if l.owner == owner && l.until > Instant::now() => {
                l.until = until(ttl_ms);
                Ok(true)
            }
            _ => Ok(false),
        })
    }

    fn release(name: String, owner: String) -> Result<bool, String> {
        LEASES.with_borrow_mut(|leases| match leases.get(&name) {
            Some(l) if l.owner == owner => {
                leases.remove(&name);
                Ok(true)
            }
            _ => Ok(false),
        })
    }
}

export!(LockLocal);
