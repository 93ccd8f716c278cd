//! The one write-retry policy. OrderDesk answers a 429 before doing anything, so a write
//! refused that way is waited out and sent again as it is. Any other failure ends the
//! request: a 4xx was refused (nothing happened); a 5xx or a lost answer may have been
//! applied, and the service decides (look the record up, or answer
//! `WRITE_OUTCOME_UNKNOWN`). The update cycle has its own, stricter rule: a refused PUT is
//! never re-sent with its old body (see `update`).

use serde_json::{Value, json};

use crate::client::{Client, OdError};
use crate::error::{ErrorCode, ToolError};
use crate::host::{Host, Method};
use crate::retry::{Attempt, Decision};

/// How a write ended.
#[derive(Debug)]
pub enum Sent {
    /// OrderDesk's success envelope.
    Done(Value),
    /// Refused before anything happened (4xx, or 429s for longer than a call may wait).
    Refused(OdError),
    /// 5xx, timeout or dropped connection after the request went out: it may have been
    /// applied.
    Unknown(OdError),
}

/// Send one write, waiting out 429s within the retry policy's limits.
pub fn send(
    host: &dyn Host,
    client: &Client,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Sent {
    let policy = client.retry_policy();
    let mut tries = 0;
    loop {
        tries += 1;
        let error = match client.send_once(method, path, body, None) {
            Ok(answer) => return Sent::Done(answer),
            Err(e) => e,
        };
        let Some(retry_after_ms) = error.rate_limited() else {
            return if error.is_ambiguous() {
                Sent::Unknown(error)
            } else {
                Sent::Refused(error)
            };
        };
        match policy.decide(
            tries,
            Attempt::RateLimited { retry_after_ms },
            host.random_u64(),
        ) {
            Decision::RetryAfter(ms) => host.sleep_ms(ms),
            Decision::GiveUp => {
                return Sent::Refused(OdError::RateLimited {
                    retry_after_ms,
                    tries,
                });
            }
        }
    }
}

/// The error for a write that may or may not have happened. `check` tells the caller how
/// to find out, `details` adds what it needs for that (ids, source_id).
pub fn outcome_unknown(error: &OdError, check: &str, details: Value) -> ToolError {
    let cause = error.clone().into_tool_error(ErrorCode::OdApiError);
    let mut err = ToolError::write_outcome_unknown(
        format!(
            "OrderDesk may or may not have applied the change: {}. {check}",
            cause.message
        ),
        details,
    );
    err = err.with_detail("cause", json!(cause.code.as_str()));
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Credentials;
    use crate::config::{Secret, Settings};
    use crate::host::NetError;
    use crate::ratelimit::Account;
    use crate::testing::ScriptedHost;

    fn run(host: &ScriptedHost) -> Sent {
        let settings = Settings::load(host).unwrap();
        let creds = Credentials {
            store_id: "7".into(),
            api_key: Secret("k".into()),
        };
        let client = Client::new(host, &settings, &creds, &Account::Store("7".into()));
        send(
            host,
            &client,
            Method::Post,
            "/orders",
            Some(&json!({"a": 1})),
        )
    }

    #[test]
    fn a_429_is_waited_out_and_sent_again() {
        let host = ScriptedHost::configured();
        host.answer(429, &[("X-Retry-After", "2")], "{}").answer(
            201,
            &[],
            r#"{"status":"success","order":{"id":"1"}}"#,
        );
        assert!(matches!(run(&host), Sent::Done(_)));
        assert_eq!(host.sent(), ["POST /orders", "POST /orders"]);
        assert_eq!(*host.sleeps.borrow(), [2_000]);
    }

    #[test]
    fn too_long_a_429_is_refused_unsent() {
        let host = ScriptedHost::configured();
        host.answer(429, &[("X-Retry-After", "60")], "{}");
        match run(&host) {
            Sent::Refused(e) => assert!(e.rate_limited().is_some()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_5xx_or_a_lost_answer_is_unknown_and_never_resent() {
        for fail in [
            Box::new(|h: &ScriptedHost| {
                h.answer(502, &[], "");
            }) as Box<dyn Fn(&ScriptedHost)>,
            Box::new(|h: &ScriptedHost| {
                h.fail(NetError::Timeout);
            }),
        ] {
            let host = ScriptedHost::configured();
            fail(&host);
            assert!(matches!(run(&host), Sent::Unknown(_)));
            assert_eq!(host.requests.borrow().len(), 1);
        }
    }

    #[test]
    fn a_4xx_is_refused() {
        let host = ScriptedHost::configured();
        host.answer(400, &[], r#"{"status":"error","message":"bad"}"#);
        assert!(matches!(
            run(&host),
            Sent::Refused(OdError::Rejected { .. })
        ));
    }

    #[test]
    fn unknown_outcomes_are_not_retryable_and_say_how_to_check() {
        let e = outcome_unknown(
            &OdError::Server {
                status: 502,
                tries: 1,
            },
            "Look it up before trying again.",
            json!({"source_id": "S-1"}),
        );
        assert_eq!(e.code, ErrorCode::WriteOutcomeUnknown);
        assert!(!e.retryable);
        assert_eq!(e.details["source_id"], "S-1");
        assert_eq!(e.details["cause"], "OD_API_5XX");
        assert!(e.message.contains("Look it up"));
    }
}
