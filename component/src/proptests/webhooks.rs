//! Webhook signatures: `X-ORDER-DESK-HASH` is the hex HMAC-SHA256 of the raw `order` value
//! keyed by the store's API key. The check never panics, takes the right signature in any
//! case and with surrounding whitespace, and refuses any one-byte change.

use hmac::{Hmac, Mac};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};
use sha2::Sha256;

use super::{config, json};
use crate::crypto::webhook_signature_matches;
use crate::error::ErrorCode;
use crate::intake::{Delivery, webhook_deliver};
use crate::services::mirror::order_id;
use crate::testing::ScriptedHost;
use crate::tools::{Caller, call, check_id};

fn sign(key: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Hex with each digit's case picked by `cases`, wrapped in whitespace.
fn presented(signature: &[u8], cases: &[bool], pad: (&str, &str)) -> String {
    let hex: String = hex::encode(signature)
        .chars()
        .zip(cases.iter().cycle())
        .map(|(c, upper)| if *upper { c.to_ascii_uppercase() } else { c })
        .collect();
    format!("{}{hex}{}", pad.0, pad.1)
}

fn whitespace() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", " ", "\t", "\r\n", "  \n"])
}

/// Store 7 (key "k", single-store mode) opted into webhooks.
fn opted_in() -> ScriptedHost {
    let host = ScriptedHost::configured();
    host.answer(
        200,
        &[],
        r#"{"status":"success","store":{"folders":{"1":"New"}}}"#,
    );
    let caller = Caller {
        request_id: "r".into(),
        ..Caller::default()
    };
    call(&host, &caller, "sync_configure", r#"{"enabled": false}"#).unwrap();
    host
}

fn delivery(store_id: &str, signature: Option<String>, order: &str) -> Delivery {
    Delivery {
        store_id: store_id.into(),
        signature,
        order: order.into(),
        request_id: "wh".into(),
    }
}

/// An order as OrderDesk posts it, with arbitrary extra fields.
fn order() -> impl Strategy<Value = String> {
    (
        1u64..u64::MAX,
        ".{0,20}",
        prop::collection::btree_map("x_[a-z]{1,5}", json(2), 0..4),
    )
        .prop_map(|(id, email, extra)| {
            let mut order = json!({"id": id.to_string(), "email": email, "folder_id": 1,
                "date_updated": "2026-03-01 10:00:00"});
            for (k, v) in extra {
                order[k] = v;
            }
            order.to_string()
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_signatures_never_panic(
        key in ".{0,40}",
        body in prop::collection::vec(any::<u8>(), 0..256),
        signature in prop_oneof![".{0,80}", "[0-9a-fA-F ]{0,70}"],
    ) {
        let _ = webhook_signature_matches(&key, &body, &signature);
    }

    #[test]
    fn the_right_signature_is_taken_in_any_case_and_padding(
        key in ".{0,40}",
        body in prop::collection::vec(any::<u8>(), 0..256),
        cases in prop::collection::vec(any::<bool>(), 1..8),
        pad in (whitespace(), whitespace()),
    ) {
        let shown = presented(&sign(&key, &body), &cases, pad);
        prop_assert!(webhook_signature_matches(&key, &body, &shown), "{shown:?}");
    }

    #[test]
    fn any_one_byte_change_of_body_or_signature_is_refused(
        key in ".{0,40}",
        body in prop::collection::vec(any::<u8>(), 1..256),
        at in any::<Index>(),
        flip in 1u8..=255,
        digit in any::<Index>(),
    ) {
        let signature = sign(&key, &body);
        let mut tampered = body.clone();
        tampered[at.index(body.len())] ^= flip;
        prop_assert!(!webhook_signature_matches(&key, &tampered, &hex::encode(&signature)));

        let mut forged = signature.clone();
        let i = at.index(forged.len());
        forged[i] ^= flip;
        prop_assert!(!webhook_signature_matches(&key, &body, &hex::encode(&forged)));

        // One hex digit swapped for another digit (not merely its other case).
        let mut text: Vec<u8> = hex::encode(&signature).into_bytes();
        let i = digit.index(text.len());
        let other = b"0123456789abcdef"
            .iter()
            .copied()
            .filter(|d| *d != text[i])
            .nth(usize::from(flip) % 15)
            .expect("15 other digits");
        text[i] = other;
        prop_assert!(!webhook_signature_matches(&key, &body, &String::from_utf8(text).unwrap()));
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn arbitrary_deliveries_never_panic_and_are_refused_as_input_or_unauthorized(
        store_id in prop_oneof![Just("7".to_string()), ".{0,12}", "[0-9]{1,3}"],
        signature in prop::option::of(prop_oneof![".{0,70}", "[0-9a-f]{64}"]),
        order in prop_oneof![order(), ".{0,40}", json(3).prop_map(|v| v.to_string())],
    ) {
        let host = opted_in();
        let before = host.requests.borrow().len();
        if let Err(e) = webhook_deliver(&host, delivery(&store_id, signature, &order)) {
            prop_assert!(
                matches!(e.code, ErrorCode::InvalidArgument | ErrorCode::WebhookUnauthorized),
                "{}", e
            );
        }
        prop_assert_eq!(host.requests.borrow().len(), before, "deliveries call no one");
    }

    #[test]
    fn a_signed_delivery_is_accepted_and_a_tampered_one_refused(
        order in order(),
        at in any::<Index>(),
        flip in 1u8..0x7f,
    ) {
        let host = opted_in();
        let signature = Some(hex::encode(sign("k", order.as_bytes())));
        // One ASCII byte changed into another keeps the body text.
        let mut bytes = order.clone().into_bytes();
        let ascii: Vec<usize> = (0..bytes.len()).filter(|i| bytes[*i].is_ascii()).collect();
        let i = ascii[at.index(ascii.len())];
        bytes[i] = (bytes[i] ^ flip) & 0x7f;
        prop_assume!(bytes[i] != order.as_bytes()[i]);
        let tampered = String::from_utf8(bytes).unwrap();
        let e = webhook_deliver(&host, delivery("7", signature.clone(), &tampered)).unwrap_err();
        // Still a readable order: only the signature can refuse it.
        let readable = match serde_json::from_str::<Value>(&tampered) {
            Ok(Value::Object(o)) => check_id("order.id", &order_id(&o)).is_ok(),
            _ => false,
        };
        let expected = if readable { ErrorCode::WebhookUnauthorized } else { ErrorCode::InvalidArgument };
        prop_assert_eq!(e.code, expected, "{}", e);
        let receipt = webhook_deliver(&host, delivery("7", signature, &order)).unwrap();
        prop_assert_eq!(receipt.outcome, "accepted");
    }
}
