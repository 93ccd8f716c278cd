//! Polling sync: per store, fetch the orders modified within a lookback window, page by
//! page, into the [`mirror`](super::mirror), and keep cumulative stats.
//!
//! State layout (`state` bucket), for tenant `t` and store `s`: `sync/{t}/{s}/config`,
//! `sync/{t}/{s}/stats`, `sync/{t}/{s}/run` (the current or last run), and the list
//! `sync-targets` (`"{t} {s}"` of every configured store). One instance polls a store at a
//! time: a run holds the lock `sync/{t}/{s}`, renewed every page.
//!
//! Pages are read in id order (`order_by=id&order=asc`): an order edited while a run pages
//! through the window keeps its place, and a newly modified one only shifts later pages
//! by one, so a run sees each order that was in the window when it began at least once.
//! After every page the run's offset and the stats are saved, so a run cut off (a killed
//! process, the call's time budget) is resumed where it stopped; the pages it applied
//! count as `already_synced` when read again.
//!
//! The poller draws from the store's shared upstream bucket with `sync_reserve_tokens`
//! fewer tokens than interactive calls may use, so agents always find room.

/// A sync run's lease: short, so a killed poller's store is free again soon; renewed at
/// every page (a page is one request, plus at most one rate-limit wait).
pub const SYNC_LEASE_MS: u64 = 20_000;

/// Folder names that mean "cancelled" when `cancelled_folders` is not given.
pub const DEFAULT_CANCELLED_FOLDERS: [&str; 2] = ["Cancelled", "Canceled"];

/// How many changes a dry run lists.
const DRY_RUN_CHANGES: usize = 100;

mod calendar;
mod report;
mod run;
mod state;
#[cfg(test)]
mod tests;

pub use calendar::utc_text;
pub use report::{ChangeItem, Counts, RunOptions, RunReport, RunStatus};
pub use run::{cancelled_by_name, run};
pub use state::{Stats, SyncConfig, SyncState, configured_targets};
