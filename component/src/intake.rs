//! The front doors the host drives with no MCP caller (`orderdesk:mcp/intake`): OrderDesk
//! webhook deliveries and the polling-sync scheduler. Both act for every tenant that opted
//! the store in, with the store key's unattended copy (see [`background`]).

use serde_json::{Map, Value};

use crate::error::{ErrorCode, ToolError};
use crate::host::{Host, Level};
use crate::services::sync::{self, RunOptions, SyncConfig, SyncState};
use crate::services::traces::{self, CallKind};
use crate::services::webhooks::{self, Outcome};
use crate::services::{Journal, background, load_settings, mirror};

/// A delivery of OrderDesk's "Post Order JSON" rule action.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub store_id: String,
    pub signature: Option<String>,
    pub order: String,
    pub request_id: String,
}

/// What became of an accepted delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub outcome: &'static str,
    pub order_id: String,
    pub registrations: u32,
}

/// A store of a tenant with polling sync on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tenant: String,
    pub store_id: String,
}

fn unauthorized(store_id: &str) -> ToolError {
    // The same answer for an unknown store and a wrong signature: a caller learns nothing
    // about which stores are registered.
    ToolError::new(
        ErrorCode::WebhookUnauthorized,
        format!("the delivery's X-ORDER-DESK-HASH matches no store {store_id} opted into webhooks"),
    )
}

/// Verify, store, dedupe and apply one delivery.
pub fn webhook_deliver(host: &dyn Host, delivery: Delivery) -> Result<Receipt, ToolError> {
    let settings = load_settings(host)?;
    traces::begin(host, CallKind::Webhook, "webhook", &delivery.request_id);
    traces::note_store(delivery.store_id.trim());
    let mut tenants = Vec::new();
    let result = deliver(host, &settings, &delivery, &mut tenants);
    let arguments = serde_json::json!({
        "store_id": delivery.store_id.trim(),
        "order_id": result.as_ref().map(|r| r.order_id.as_str()).ok(),
    });
    let tenants: Vec<&str> = tenants.iter().map(String::as_str).collect();
    traces::finish(
        host,
        &settings,
        &tenants,
        Some(&arguments),
        result.as_ref().map(drop),
    );
    result
}

/// [`webhook_deliver`] once the settings are read; `tenants` learns each registration the
/// signature verified against (the delivery is traced under each).
fn deliver(
    host: &dyn Host,
    settings: &crate::services::Settings,
    delivery: &Delivery,
    tenants: &mut Vec<String>,
) -> Result<Receipt, ToolError> {
    let store_id = delivery.store_id.trim();
    crate::tools::check_id("X-ORDER-DESK-STORE-ID", store_id)?;
    let order: Map<String, Value> = match serde_json::from_str::<Value>(&delivery.order) {
        Ok(Value::Object(map)) => map,
        Ok(_) => {
            return Err(ToolError::invalid_argument(
                "order",
                "must be a JSON object (the order)",
            ));
        }
        Err(e) => {
            return Err(ToolError::invalid_argument(
                "order",
                format!("is not JSON: {e}"),
            ));
        }
    };
    let order_id = mirror::order_id(&order);
    crate::tools::check_id("order.id", &order_id)?;
    let Some(signature) = delivery
        .signature
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    else {
        return Err(ToolError::new(
            ErrorCode::WebhookUnauthorized,
            "the delivery has no X-ORDER-DESK-HASH; OrderDesk signs deliveries of stores with \
             an API key",
        ));
    };
    // Check every registration, then act on those that matched.
    let matched = background::signed_registrations(
        host,
        settings,
        store_id,
        delivery.order.as_bytes(),
        signature,
    )?;
    if matched.is_empty() {
        return Err(unauthorized(store_id));
    }
    tenants.extend(matched.iter().map(|s| s.tenant.clone()));
    let mut accepted = false;
    for signed in &matched {
        let (outcome, change) = webhooks::deliver(
            host,
            &signed.tenant,
            store_id,
            &order,
            &order_id,
            &delivery.order,
            &signed.cancelled_folders,
            &delivery.request_id,
        )?;
        accepted |= outcome == Outcome::Accepted;
        host.log(
            Level::Info,
            "webhook",
            &format!("store {store_id} order {order_id}: {outcome:?}, {change:?}"),
        );
    }
    Ok(Receipt {
        outcome: if accepted { "accepted" } else { "duplicate" },
        order_id,
        registrations: matched.len() as u32,
    })
}

/// Every store with polling sync turned on.
pub fn sync_targets(host: &dyn Host) -> Result<Vec<Target>, ToolError> {
    targets_where(host, |_| Ok(true))
}

/// The targets whose poll is due now.
pub fn sync_due(host: &dyn Host) -> Result<Vec<Target>, ToolError> {
    targets_where(host, |(state, config)| state.due(config))
}

/// The configured stores with polling on that `keep` keeps (each config read once).
fn targets_where(
    host: &dyn Host,
    keep: impl Fn((&SyncState, &SyncConfig)) -> Result<bool, ToolError>,
) -> Result<Vec<Target>, ToolError> {
    let mut out = Vec::new();
    for (tenant, store_id) in sync::configured_targets(host)? {
        let state = SyncState::new(host, &tenant, &store_id);
        if let Some(config) = state.config()?.filter(|c| c.enabled)
            && keep((&state, &config))?
        {
            out.push(Target { tenant, store_id });
        }
    }
    Ok(out)
}

/// Poll one store now (the scheduler and `orderdesk-mcp sync`).
pub fn sync_run(
    host: &dyn Host,
    target: &Target,
    options_json: &str,
    request_id: &str,
) -> Result<String, ToolError> {
    let settings = load_settings(host)?;
    traces::begin(host, CallKind::Sync, "sync_run", request_id);
    traces::note_store(&target.store_id);
    let raw = crate::tools::raw_json(options_json);
    let result = raw.clone().and_then(|raw| {
        let options: RunOptions = crate::tools::parse(raw)?;
        let journal = Journal::new(host, "sync", request_id);
        let ctx = background::run_ctx(host, &settings, &target.tenant, &target.store_id, &journal)?;
        let report = sync::run(&ctx, &options, None)?;
        serde_json::to_string(&report).map_err(|e| {
            ToolError::new(ErrorCode::Internal, format!("report not serializable: {e}"))
        })
    });
    traces::finish(
        host,
        &settings,
        &[target.tenant.as_str()],
        raw.as_ref().ok(),
        result.as_ref().map(drop),
    );
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::SINGLE_STORE_TENANT;
    use crate::testing::ScriptedHost;
    use crate::tools::{CallError, Caller, call};
    use serde_json::json;

    const STORE: &str =
        r#"{"status":"success","store":{"name":"S","folders":{"1":"New","4":"Cancelled"}}}"#;

    fn sign(key: &str, body: &str) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn tool(host: &ScriptedHost, name: &str, args: serde_json::Value) -> Result<Value, CallError> {
        let caller = Caller {
            request_id: "r".into(),
            ..Caller::default()
        };
        call(host, &caller, name, &args.to_string()).map(|o| o.value())
    }

    fn delivery(order: &str, signature: Option<String>) -> Delivery {
        Delivery {
            store_id: "7".into(),
            signature,
            order: order.into(),
            request_id: "wh-1".into(),
        }
    }

    /// Single-store mode: store 7, key "k" (ScriptedHost::configured).
    fn opted_in() -> ScriptedHost {
        let host = ScriptedHost::configured();
        host.answer(200, &[], STORE);
        tool(
            &host,
            "sync_configure",
            json!({"store": 7, "enabled": false}),
        )
        .unwrap();
        host
    }

    #[test]
    fn a_signed_delivery_lands_in_the_mirror_and_a_redelivery_is_acknowledged() {
        let host = opted_in();
        let order =
            r#"{"id":"100001","email":"a@b.c","folder_id":1,"date_updated":"2026-03-01 10:00:00"}"#;
        let receipt = webhook_deliver(&host, delivery(order, Some(sign("k", order)))).unwrap();
        assert_eq!(
            receipt,
            Receipt {
                outcome: "accepted",
                order_id: "100001".into(),
                registrations: 1
            }
        );
        let again = webhook_deliver(&host, delivery(order, Some(sign("k", order)))).unwrap();
        assert_eq!(again.outcome, "duplicate");
        let found = tool(&host, "mirror_orders_query", json!({"text": "100001"})).unwrap();
        assert_eq!(found["total_count"], 1);
        assert_eq!(found["orders"][0]["via"], "webhook");
        let listed = tool(&host, "webhooks_list", json!({})).unwrap();
        assert_eq!(listed["events"][0]["deliveries"], 2);
        let text = listed.to_string();
        assert!(
            !text.contains(&sign("k", order)),
            "no signature in the list"
        );
    }

    #[test]
    fn deliveries_that_do_not_verify_are_refused_and_change_nothing() {
        let host = opted_in();
        let order = r#"{"id":"100001","date_updated":"2026-03-01 10:00:00"}"#;
        let code = |d: Delivery| webhook_deliver(&host, d).unwrap_err().code;
        assert_eq!(code(delivery(order, None)), ErrorCode::WebhookUnauthorized);
        assert_eq!(
            code(delivery(order, Some(sign("wrong", order)))),
            ErrorCode::WebhookUnauthorized
        );
        // Signed for another body.
        assert_eq!(
            code(delivery(order, Some(sign("k", "{}")))),
            ErrorCode::WebhookUnauthorized
        );
        let mut unknown = delivery(order, Some(sign("k", order)));
        unknown.store_id = "8".into();
        assert_eq!(code(unknown), ErrorCode::WebhookUnauthorized);
        assert_eq!(
            code(delivery("not json", Some(sign("k", "not json")))),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            code(delivery("[1]", Some(sign("k", "[1]")))),
            ErrorCode::InvalidArgument
        );
        let mut odd = delivery(order, Some(sign("k", order)));
        odd.store_id = "../7".into();
        assert_eq!(code(odd), ErrorCode::InvalidArgument);
        let found = tool(&host, "mirror_orders_query", json!({})).unwrap();
        assert_eq!(found["total_count"], 0);
    }

    #[test]
    fn a_store_not_opted_in_or_opted_out_refuses_deliveries() {
        let host = ScriptedHost::configured();
        let order = r#"{"id":"1","date_updated":"2026-03-01 10:00:00"}"#;
        let e = webhook_deliver(&host, delivery(order, Some(sign("k", order)))).unwrap_err();
        assert_eq!(e.code, ErrorCode::WebhookUnauthorized, "never configured");
        host.answer(200, &[], STORE);
        tool(&host, "sync_configure", json!({"webhooks": false})).unwrap();
        let e = webhook_deliver(&host, delivery(order, Some(sign("k", order)))).unwrap_err();
        assert_eq!(e.code, ErrorCode::WebhookUnauthorized);
    }

    #[test]
    fn sync_configure_checks_its_arguments() {
        let host = ScriptedHost::configured();
        for bad in [
            json!({"interval_minutes": 30, "lookback_minutes": 30}),
            json!({"interval_minutes": 0}),
            json!({"batch_size": 501}),
            json!({"max_pages": 0}),
            json!({"lookback_minutes": 600_000}),
            json!({"surprise": true}),
        ] {
            match tool(&host, "sync_configure", bad.clone()) {
                Err(CallError::Failed(e)) => {
                    assert_eq!(e.code, ErrorCode::InvalidArgument, "{bad}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(
            host.requests.borrow().is_empty(),
            "refused before any upstream call"
        );
        // Folder names resolve through the store's folders; unknown ones are named.
        host.answer(200, &[], STORE);
        match tool(&host, "sync_configure", json!({"folders": ["Shipped"]})) {
            Err(CallError::Failed(e)) => {
                assert_eq!(e.code, ErrorCode::InvalidArgument);
                assert!(e.message.contains("New, Cancelled"), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
        let ok = tool(
            &host,
            "sync_configure",
            json!({"folders": ["new", 4], "interval_minutes": "5"}),
        );
        // "5" is not an integer: the schema says integer.
        assert!(ok.is_err());
        let ok = tool(
            &host,
            "sync_configure",
            json!({"folders": ["new", 4], "interval_minutes": 5}),
        )
        .unwrap();
        assert_eq!(ok["config"]["folders"], json!([1, 4]));
        assert_eq!(ok["config"]["cancelled_folders"], json!([4]));
        assert_eq!(ok["config"]["lookback_minutes"], 10);
    }

    #[test]
    fn the_scheduler_sees_enabled_stores_when_due() {
        let host = ScriptedHost::configured();
        assert!(sync_due(&host).unwrap().is_empty());
        host.answer(200, &[], STORE);
        tool(&host, "sync_configure", json!({"interval_minutes": 10})).unwrap();
        let target = Target {
            tenant: SINGLE_STORE_TENANT.into(),
            store_id: "7".into(),
        };
        assert_eq!(sync_targets(&host).unwrap(), vec![target.clone()]);
        assert_eq!(sync_due(&host).unwrap(), vec![target.clone()]);
        host.answer(
            200,
            &[],
            r#"{"status":"success","total_records":1,"orders":[{"id":"1","folder_id":1,"date_updated":"2026-03-01 10:00:00"}]}"#,
        );
        let report: Value =
            serde_json::from_str(&sync_run(&host, &target, "{}", "tick-1").unwrap()).unwrap();
        assert_eq!(report["status"], "done");
        assert_eq!(report["counts"]["created"], 1);
        assert!(sync_due(&host).unwrap().is_empty(), "just ran");
        host.now.set(host.now.get() + 10 * 60_000);
        assert_eq!(sync_due(&host).unwrap(), vec![target.clone()]);
        let e = sync_run(&host, &target, r#"{"bogus": 1}"#, "tick-2").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        let other = Target {
            tenant: "0123456789abcdef".into(),
            store_id: "7".into(),
        };
        let e = sync_run(&host, &other, "{}", "tick-3").unwrap_err();
        assert_eq!(e.code, ErrorCode::SyncNotConfigured);
    }
}
