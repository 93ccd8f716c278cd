//! Reads and writes every kind of record shares: get and list through the cache, safe
//! update, idempotent delete. Which record is a [`Resource`].

use serde_json::{Map, Value, json};

use super::StoreCtx;
use super::update::{self, Change, Updated};
use super::write::{self, Sent, outcome_unknown};
use crate::client::OdError;
use crate::error::{ErrorCode, ToolError};
use crate::host::Method;
use crate::resource::Resource;
use crate::{envelope, merge};

pub use crate::cache::CacheStatus;
pub use crate::envelope::RawRecord;

/// One record by id, through the cache, as the text OrderDesk sent (a hit is never parsed
/// into a `Value`).
pub fn get(
    ctx: &StoreCtx,
    res: &Resource,
    id: &str,
) -> Result<(RawRecord, CacheStatus), ToolError> {
    let client = ctx.client();
    let key = [("id".to_string(), id.to_string())];
    let (body, cache) = ctx
        .cache()
        .read_through_raw(res.family, &key, || client.read(&res.path(id), &[]))
        .map_err(|e| res.od_error(id, e))?;
    Ok((envelope::object_raw(&body, res.envelope)?, cache))
}

/// A page of records, through the cache.
pub struct Listed {
    /// As OrderDesk sent them (a cached page is never built into `Value`s).
    pub records: Vec<RawRecord>,
    /// `total_records`, when OrderDesk says.
    pub total: Option<u64>,
    pub cache: CacheStatus,
}

/// A filtered page of records; `query` goes to OrderDesk as it is.
pub fn list(
    ctx: &StoreCtx,
    res: &Resource,
    query: &[(String, String)],
) -> Result<Listed, ToolError> {
    let client = ctx.client();
    let (body, cache) = ctx
        .cache()
        .read_through_raw(res.family, query, || client.read(res.collection, query))
        .map_err(|e| e.into_tool_error(ErrorCode::OdApiError))?;
    let (records, total) = envelope::page_raw(&body, res.list_envelope)?;
    Ok(Listed {
        records,
        total,
        cache,
    })
}

/// Read → change → PUT, safe against concurrent edits (see [`update`]).
pub fn update(
    ctx: &StoreCtx,
    res: &Resource,
    id: &str,
    change: &Change,
) -> Result<Updated, ToolError> {
    ctx.note_target(id);
    update::update(ctx, res, id, change)
}

/// Merge `changes` into the record (RFC 7386: see [`crate::merge`]) by [`update`].
pub fn merge(
    ctx: &StoreCtx,
    res: &Resource,
    id: &str,
    changes: &Map<String, Value>,
) -> Result<Updated, ToolError> {
    update(ctx, res, id, &|base| Ok(merge::merge(base, changes)))
}

/// Apply RFC 6902 `operations` to the record, all or none, by [`update`].
pub fn patch(
    ctx: &StoreCtx,
    res: &Resource,
    id: &str,
    operations: &[Value],
) -> Result<Updated, ToolError> {
    update(ctx, res, id, &|base| merge::apply_patch(base, operations))
}

/// Delete a record. DELETE is idempotent, so a lost answer is settled by asking again: a
/// 404 then means the first one landed.
pub fn delete(ctx: &StoreCtx, res: &Resource, id: &str) -> Result<(), ToolError> {
    ctx.begin_write(res.family, id)?;
    let client = ctx.client();
    let path = res.path(id);
    match write::send(ctx.host, &client, Method::Delete, &path, None) {
        Sent::Done(_) => Ok(()),
        Sent::Refused(OdError::NotFound(_)) => Err(res.missing(id)),
        Sent::Refused(e) => Err(e.into_tool_error(res.not_found)),
        Sent::Unknown(first) => {
            ctx.host
                .sleep_ms(client.retry_policy().backoff(1, ctx.host.random_u64()));
            match write::send(ctx.host, &client, Method::Delete, &path, None) {
                Sent::Done(_) | Sent::Refused(OdError::NotFound(_)) => Ok(()),
                Sent::Refused(e) => Err(e.into_tool_error(res.not_found)),
                Sent::Unknown(_) => Err(outcome_unknown(
                    &first,
                    &format!("Get the {} to see whether it still exists.", res.noun),
                    json!({ res.id_argument: id }),
                )),
            }
        }
    }
}

/// A single write (POST or PUT) that is not an update cycle: 429s are waited out; a lost
/// answer is settled by `recover` (look the record up), else the outcome is unknown.
pub fn write_once(
    ctx: &StoreCtx,
    res: &Resource,
    (method, path): (Method, &str),
    body: &Value,
    recover: Option<&dyn Fn() -> Result<Option<Value>, ToolError>>,
    unknown: (&str, Value),
) -> Result<(Value, bool), ToolError> {
    let client = ctx.client();
    match write::send(ctx.host, &client, method, path, Some(body)) {
        Sent::Done(answer) => Ok((answer, false)),
        Sent::Refused(e) => Err(e.into_tool_error(res.not_found)),
        Sent::Unknown(e) => {
            if let Some(recover) = recover
                && let Ok(Some(found)) = recover()
            {
                return Ok((found, true));
            }
            Err(outcome_unknown(&e, unknown.0, unknown.1))
        }
    }
}
