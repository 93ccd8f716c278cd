//! A state store that stops answering (Redis down, a full disk) fails calls with
//! `STATE_UNAVAILABLE`: retryable when nothing went to OrderDesk, not when a write may have.

use super::{CallError, Caller, call};
use crate::error::{ErrorCode, ToolError};
use crate::testing::ScriptedHost;

fn failure(result: Result<super::Output, CallError>) -> ToolError {
    match result {
        Err(CallError::Failed(e)) => e,
        other => panic!("expected a tool error, got {other:?}"),
    }
}

fn caller() -> Caller {
    Caller {
        request_id: "r".into(),
        ..Caller::default()
    }
}

#[test]
fn a_store_that_refuses_writes_before_any_request_is_a_retryable_outage() {
    let host = ScriptedHost::configured();
    host.writes_left.set(Some(0));
    let e = failure(call(&host, &caller(), "orders_get", r#"{"order_id":"5"}"#));
    assert_eq!(e.code, ErrorCode::StateUnavailable, "{e:?}");
    assert!(
        e.retryable,
        "nothing was sent: the call may simply be sent again"
    );
    assert!(host.requests.borrow().is_empty());
}

#[test]
fn an_outage_once_a_write_began_is_not_retryable_and_other_errors_keep_their_flag() {
    let outage = ToolError::new(ErrorCode::StateUnavailable, "state storage failed: down");
    let before = super::outage_during_write(outage.clone(), false);
    assert!(before.retryable);
    assert!(before.details.is_null());
    let after = super::outage_during_write(outage, true);
    assert!(!after.retryable);
    assert_eq!(after.details["write_outcome"], "unknown");
    let other = ToolError::new(ErrorCode::ConcurrentUpdate, "kept changing");
    assert!(super::outage_during_write(other, true).retryable);
}
