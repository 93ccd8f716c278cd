//! The OrderDesk component: every piece of OrderDesk logic an MCP server needs (HTTP client,
//! retries, read-through cache, tool catalog and dispatch), written once and run sandboxed.
//!
//! The logic is plain Rust over one trait, [`host::Host`], which is everything the component
//! needs from outside: HTTP, key-value buckets, configuration, clocks, randomness and logs.
//!
//! 1. Inside WebAssembly (`wasm32-wasip2`), the `bindings` module implements [`host::Host`]
//!    over standard WASI imports and exports `orderdesk:mcp/tools` (see `wit/orderdesk.wit`).
//! 2. Natively, tests implement [`host::Host`] with scripted responses and call
//!    [`tools::call`] directly, so `cargo test` covers the logic without a wasm runtime.
//!
//! Data flows one way, floor by floor; nothing below `tools` knows MCP:
//!
//! - front doors: [`tools`] (MCP tool catalog and dispatch), [`admin`] (the operator CLI),
//!   [`intake`] (webhook deliveries, sync runs), [`console`] (links, tenant profiles, store
//!   health, traces); they import only [`services`] (and the shared [`error`] and [`host`]);
//! - [`services`]: who a call acts for, tenants and their stores, orders, products, the
//!   store, the update cycle, the write policy, the journal and the audit trail, each over
//!   an explicit tenant + store context;
//! - infrastructure: [`client`] (OrderDesk HTTP), [`retry`], [`ratelimit`], [`cache`],
//!   [`lock`], [`kv`], [`crypto`], [`tenancy`], [`audit`], [`merge`], [`resource`], and
//!   [`trace`], the one hook through which they record a call's steps;
//! - [`host`]: the one trait the runtime implements.

pub mod admin;
pub mod audit;
pub mod cache;
pub mod client;
pub mod config;
pub mod console;
pub mod crypto;
pub mod envelope;
pub mod error;
pub mod host;
pub mod intake;
pub mod kv;
pub mod lock;
pub mod merge;
pub mod ratelimit;
pub mod resource;
pub mod retry;
pub mod services;
pub mod tenancy;
pub mod tools;
pub mod trace;
pub mod unattended;

#[cfg(test)]
mod console_tests;
#[cfg(test)]
mod floors;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod testing;

#[cfg(target_arch = "wasm32")]
mod bindings;
