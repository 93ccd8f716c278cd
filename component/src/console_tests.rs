//! The console's behaviour over the scripted host: one-time links, the sign-up policy,
//! disabled tenants, e-mail uniqueness, and the traces tool calls leave.

use serde_json::{Value, json};

use crate::admin;
use crate::console::{self, Decision, Outcome, Purpose, SignupMode, SignupPolicy, TraceFilter};
use crate::error::ErrorCode;
use crate::testing::ScriptedHost;
use crate::tools::{CallError, Caller, call};

const ORDER: &str = r#"{"status":"success","order":{"id":"5","email":"a@b.c"}}"#;

fn code<T>(r: Result<T, crate::error::ToolError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code.as_str(),
    }
}

fn token(d: Decision) -> String {
    match d {
        Decision::Send(g) => g.token,
        other => panic!("expected a link, got {other:?}"),
    }
}

fn run(
    host: &ScriptedHost,
    key: Option<&str>,
    id: &str,
    tool: &str,
    args: Value,
) -> Result<Value, CallError> {
    let caller = Caller {
        credential: key.map(str::to_string),
        request_id: id.into(),
        ..Caller::default()
    };
    call(host, &caller, tool, &args.to_string()).map(|o| o.value())
}

fn all(limit: u32) -> TraceFilter {
    TraceFilter {
        limit,
        ..TraceFilter::default()
    }
}

#[test]
fn a_sign_up_link_creates_a_tenant_once_and_is_stored_only_as_a_hash() {
    let host = ScriptedHost::configured();
    let link =
        token(console::link_request(&host, Purpose::SignUp, "  Ann@Example.COM ", "Ann").unwrap());
    assert_eq!(link.len(), 64, "256 bits, hex");
    let dump = format!("{:?}", host.kv.borrow());
    assert!(!dump.contains(&link), "the raw token is never stored");
    let Outcome::Created(t, key) = console::link_redeem(&host, &link).unwrap() else {
        panic!("a sign-up link creates a tenant");
    };
    assert_eq!(t.record.email.as_deref(), Some("ann@example.com"));
    assert_eq!(t.record.name, "Ann");
    assert_eq!(
        admin::authenticate(&host, &key).unwrap().record.id,
        t.record.id
    );
    assert_eq!(
        code(console::link_redeem(&host, &link)),
        "LINK_INVALID",
        "used once"
    );
    assert_eq!(code(console::link_redeem(&host, "nope")), "LINK_INVALID");
    // The address now signs in, and cannot sign up again.
    let again = console::link_request(&host, Purpose::SignUp, "ann@example.com", "A").unwrap();
    assert_eq!(again, Decision::Quiet);
    let sign_in =
        token(console::link_request(&host, Purpose::SignIn, "ANN@example.com", "").unwrap());
    let Outcome::SignedIn(who) = console::link_redeem(&host, &sign_in).unwrap() else {
        panic!("a sign-in link signs in");
    };
    assert_eq!(who.record.id, t.record.id);
    assert_eq!(
        console::tenant_profile(&host, &t.record.id)
            .unwrap()
            .summary
            .record
            .email
            .as_deref(),
        Some("ann@example.com")
    );
}

#[test]
fn an_expired_link_is_refused() {
    let host = ScriptedHost::configured();
    let link =
        token(console::link_request(&host, Purpose::Invite, "bo@example.com", "Bo").unwrap());
    host.now.set(host.now.get() + 15 * 60_000);
    assert_eq!(code(console::link_redeem(&host, &link)), "LINK_EXPIRED");
    assert!(admin::list(&host).unwrap().is_empty(), "no tenant made");
}

#[test]
fn unknown_and_known_addresses_get_the_same_answers_and_a_fourth_request_is_refused() {
    let host = ScriptedHost::configured();
    // Sign-in for an unknown address, sign-up for a known one: both quiet.
    assert_eq!(
        console::link_request(&host, Purpose::SignIn, "nobody@example.com", "").unwrap(),
        Decision::Quiet
    );
    let (t, _) = admin::create(&host, "Cy").unwrap();
    console::tenant_set_email(&host, &t.record.id, "cy@example.com").unwrap();
    assert_eq!(
        console::link_request(&host, Purpose::SignUp, "cy@example.com", "Cy").unwrap(),
        Decision::Quiet
    );
    assert_eq!(
        console::link_request(&host, Purpose::Invite, "cy@example.com", "Cy").unwrap(),
        Decision::Quiet
    );
    // Three requests per address per window, then too many, known address or not.
    for _ in 0..2 {
        assert_eq!(
            console::link_request(&host, Purpose::SignIn, "nobody@example.com", "").unwrap(),
            Decision::Quiet
        );
    }
    assert_eq!(
        console::link_request(&host, Purpose::SignIn, "nobody@example.com", "").unwrap(),
        Decision::TooMany
    );
    assert!(matches!(
        console::link_request(&host, Purpose::SignIn, "cy@example.com", "").unwrap(),
        Decision::Send(_)
    ));
    assert_eq!(
        console::link_request(&host, Purpose::SignIn, "cy@example.com", "").unwrap(),
        Decision::TooMany
    );
    host.now.set(host.now.get() + 15 * 60_000);
    assert!(matches!(
        console::link_request(&host, Purpose::SignIn, "cy@example.com", "").unwrap(),
        Decision::Send(_)
    ));
    for bad in ["", "a@b", "@b.c", "a b@c.d", "a@@b.c", "a\u{0}b@c.d"] {
        assert_eq!(
            code(console::link_request(&host, Purpose::SignUp, bad, "x")),
            "INVALID_ARGUMENT",
            "{bad:?}"
        );
    }
}

#[test]
fn the_sign_up_policy_closes_sign_up_and_limits_domains() {
    let host = ScriptedHost::configured();
    assert_eq!(
        console::signup_policy_get(&host).unwrap(),
        SignupPolicy::default()
    );
    for mode in [SignupMode::Closed, SignupMode::InviteOnly] {
        let policy = SignupPolicy {
            mode,
            allowed_domains: vec![],
        };
        console::signup_policy_set(&host, policy).unwrap();
        assert_eq!(
            code(console::link_request(
                &host,
                Purpose::SignUp,
                "d@example.com",
                "D"
            )),
            "SIGNUP_CLOSED"
        );
        // The operator still invites.
        assert!(matches!(
            console::link_request(&host, Purpose::Invite, "d@example.com", "D").unwrap(),
            Decision::Send(_)
        ));
    }
    let policy = SignupPolicy {
        mode: SignupMode::Open,
        allowed_domains: vec![" Example.COM ".into()],
    };
    console::signup_policy_set(&host, policy).unwrap();
    assert_eq!(
        console::signup_policy_get(&host).unwrap().allowed_domains,
        ["example.com"]
    );
    assert!(matches!(
        console::link_request(&host, Purpose::SignUp, "e@example.com", "E").unwrap(),
        Decision::Send(_)
    ));
    assert_eq!(
        console::link_request(&host, Purpose::SignUp, "e@other.org", "E").unwrap(),
        Decision::Quiet
    );
    let bad = SignupPolicy {
        mode: SignupMode::Open,
        allowed_domains: vec!["not a domain".into()],
    };
    assert_eq!(
        code(console::signup_policy_set(&host, bad)),
        "INVALID_ARGUMENT"
    );
}

#[test]
fn a_disabled_tenant_is_refused_until_enabled_again() {
    let host = ScriptedHost::configured();
    let (t, key) = admin::create(&host, "Di").unwrap();
    let id = t.record.id.clone();
    console::tenant_set_disabled(&host, &id, true).unwrap();
    let e = admin::authenticate(&host, &key).err().unwrap();
    assert_eq!(e.code, ErrorCode::TenantDisabled);
    match run(&host, Some(&key), "r1", "stores_list", json!({})) {
        Err(CallError::Failed(e)) => assert_eq!(e.code, ErrorCode::TenantDisabled),
        other => panic!("a disabled tenant's call ran: {other:?}"),
    }
    assert!(
        console::tenant_profile(&host, &id)
            .unwrap()
            .summary
            .record
            .disabled
    );
    console::tenant_set_disabled(&host, &id, false).unwrap();
    assert!(admin::authenticate(&host, &key).is_ok());
    run(&host, Some(&key), "r2", "stores_list", json!({})).unwrap();
    let (entries, _) = crate::services::audit::page(&host, admin::ADMIN_TRAIL, 10, None).unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.tool.as_str()).collect();
    assert_eq!(actions[..2], ["tenant_enable", "tenant_disable"]);
}

#[test]
fn an_address_belongs_to_one_tenant() {
    let host = ScriptedHost::configured();
    let (a, _) = admin::create(&host, "A").unwrap();
    let (b, _) = admin::create(&host, "B").unwrap();
    console::tenant_set_email(&host, &a.record.id, "x@example.com").unwrap();
    assert_eq!(
        code(console::tenant_set_email(
            &host,
            &b.record.id,
            " X@Example.com"
        )),
        "EMAIL_TAKEN"
    );
    // A moves to another address; the old one is free again.
    console::tenant_set_email(&host, &a.record.id, "y@example.com").unwrap();
    console::tenant_set_email(&host, &b.record.id, "x@example.com").unwrap();
    admin::delete(&host, &b.record.id).unwrap();
    console::tenant_set_email(&host, &a.record.id, "x@example.com").unwrap();
}

#[test]
fn a_read_is_traced_with_its_cache_miss_and_upstream_request_then_as_a_hit() {
    let host = ScriptedHost::configured();
    host.answer(200, &[("X-Tokens-Remaining", "19")], ORDER);
    run(&host, None, "r1", "orders_get", json!({"order_id": "5"})).unwrap();
    run(&host, None, "r2", "orders_get", json!({"order_id": "5"})).unwrap();
    let listed = console::traces(&host, Some("_"), &all(10)).unwrap();
    let ids: Vec<&str> = listed.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["r2", "r1"], "newest first");
    let first = console::trace(&host, Some("_"), "r1").unwrap().unwrap();
    assert_eq!(first.summary.outcome, "ok");
    assert_eq!(first.summary.store.as_deref(), Some("7"));
    let kinds: Vec<(&str, &str)> = first
        .steps
        .iter()
        .map(|s| (s.kind.as_str(), s.label.as_str()))
        .collect();
    assert!(kinds.contains(&("cache", "miss orders")), "{kinds:?}");
    let upstream: Vec<_> = first
        .steps
        .iter()
        .filter(|s| s.kind == "upstream")
        .collect();
    assert_eq!(upstream.len(), 1, "{kinds:?}");
    assert_eq!(upstream[0].label, "GET /orders/{id}");
    assert_eq!(upstream[0].status, Some(200));
    assert_eq!(upstream[0].detail.as_ref().unwrap()["tokens_left"], "19");
    let second = console::trace(&host, Some("_"), "r2").unwrap().unwrap();
    assert!(
        second
            .steps
            .iter()
            .any(|s| s.kind == "cache" && s.label == "hit orders")
    );
    assert!(
        second.steps.iter().all(|s| s.kind != "upstream"),
        "{:?}",
        second.steps
    );
}

#[test]
fn an_update_that_meets_a_conflict_records_it_and_the_retry() {
    let host = ScriptedHost::configured();
    host.answer(200, &[], ORDER)
        .answer(409, &[], r#"{"status":"error","message":"conflict"}"#)
        .answer(200, &[], ORDER)
        .answer(
            200,
            &[],
            r#"{"status":"success","order":{"id":"5","email":"n@b.c"}}"#,
        );
    run(
        &host,
        None,
        "u1",
        "orders_update",
        json!({"order_id": "5", "changes": {"email": "n@b.c"}}),
    )
    .unwrap();
    let t = console::trace(&host, None, "u1").unwrap().unwrap();
    let kinds: Vec<&str> = t.steps.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "conflict").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "upstream").count(),
        4,
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"recheck") && kinds.contains(&"lock") && kinds.contains(&"invalidate"),
        "{kinds:?}"
    );
    let conflict = kinds.iter().position(|k| *k == "conflict").unwrap();
    assert!(
        kinds[conflict + 1..].contains(&"wait"),
        "the cycle is redone after a wait: {kinds:?}"
    );
    let statuses: Vec<Option<u16>> = t
        .steps
        .iter()
        .filter(|s| s.kind == "upstream")
        .map(|s| s.status)
        .collect();
    assert_eq!(statuses, [Some(200), Some(409), Some(200), Some(200)]);
}

#[test]
fn secrets_in_arguments_are_redacted_and_tenants_see_only_their_traces() {
    let host = ScriptedHost::configured();
    let (a, key_a) = admin::create(&host, "A").unwrap();
    let (b, key_b) = admin::create(&host, "B").unwrap();
    host.answer(200, &[], r#"{"status":"success"}"#);
    run(
        &host,
        Some(&key_a),
        "ra",
        "stores_register",
        json!({"store_id": "9", "api_key": "sekrit-api-key", "name": "Nine"}),
    )
    .unwrap();
    run(&host, Some(&key_b), "rb", "stores_list", json!({})).unwrap();
    let t = console::trace(&host, Some(&a.record.id), "ra")
        .unwrap()
        .unwrap();
    let args: Value = serde_json::from_str(&t.arguments).unwrap();
    assert_eq!(args["api_key"], "[redacted]");
    assert_eq!(args["name"], "Nine");
    assert!(!format!("{:?}", host.kv.borrow()).contains("sekrit-api-key"));
    assert!(
        console::trace(&host, Some(&a.record.id), "rb")
            .unwrap()
            .is_none()
    );
    assert!(
        console::trace(&host, Some(&b.record.id), "rb")
            .unwrap()
            .is_some()
    );
    assert_eq!(
        console::trace(&host, None, "rb")
            .unwrap()
            .unwrap()
            .summary
            .tenant,
        b.record.id
    );
    let everyone = console::traces(&host, None, &all(10)).unwrap();
    assert_eq!(everyone.len(), 2);
    let last = console::tenant_profile(&host, &a.record.id)
        .unwrap()
        .last_active_ms;
    assert_eq!(last, Some(host.now.get()));
    // A call whose key fails is not traced.
    let _ = run(&host, Some("odmk_bad"), "rx", "stores_list", json!({}));
    assert!(console::trace(&host, None, "rx").unwrap().is_none());
    // Deleting a tenant deletes its traces.
    admin::delete(&host, &a.record.id).unwrap();
    let prefix = format!("trace/{}/", a.record.id);
    assert!(
        host.kv
            .borrow()
            .keys()
            .all(|(_, k)| !k.starts_with(&prefix) && !k.ends_with(&a.record.id))
    );
    assert!(console::trace(&host, None, "ra").unwrap().is_none());
}

#[test]
fn each_tenant_keeps_its_newest_traces_within_the_age_bound() {
    let mut host = ScriptedHost::configured();
    host.config.insert("trace_keep".into(), "3".into());
    host.config
        .insert("trace_max_age_minutes".into(), "10".into());
    host.fallback = Some(crate::testing::response(200, &[], ORDER));
    for i in 1..=5 {
        run(
            &host,
            None,
            &format!("c{i}"),
            "orders_get",
            json!({"order_id": i}),
        )
        .unwrap();
    }
    let ids: Vec<String> = console::traces(&host, Some("_"), &all(100))
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, ["c5", "c4", "c3"]);
    let filtered = TraceFilter {
        outcome: Some("error".into()),
        ..all(100)
    };
    assert!(
        console::traces(&host, Some("_"), &filtered)
            .unwrap()
            .is_empty()
    );
    host.now.set(host.now.get() + 10 * 60_000 + 1);
    assert!(
        console::traces(&host, Some("_"), &all(100))
            .unwrap()
            .is_empty()
    );
    assert!(
        host.kv
            .borrow()
            .keys()
            .all(|(_, k)| !k.starts_with("trace/_/")),
        "expired traces are deleted"
    );
}
