//! SnapTrade's request signature, computed exactly as the official SDKs compute it.
//!
//! Every request carries a `Signature` header: base64(HMAC-SHA256(consumer key, canonical JSON of
//! `{"content": body or null, "path": path as sent, "query": query as sent}`)). SnapTrade's reference is
//! Python's `json.dumps(obj, separators=(",", ":"), sort_keys=True)`, so the canonical form here is the
//! same: keys sorted at every level, no whitespace, and every character outside printable ASCII escaped as
//! `\uXXXX` (Python's default `ensure_ascii`). A signature that differs by one byte is a 401 with code 1076,
//! which is why this is done by serde_json (sorted maps) with a formatter that adds that escaping, never by hand.
//!
//! Webhooks are signed the same way over the parsed payload; see [`super::webhook`].

use std::io;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;
use serde_json::ser::Formatter;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The canonical JSON SnapTrade signs: sorted keys at every level, no whitespace, non-ASCII and DEL
/// escaped as `\uXXXX` (UTF-16 surrogate pairs beyond the BMP), as Python's `json.dumps` writes it.
pub fn canonical_json(value: &Value) -> String {
    to_canonical(value)
}

/// What a request's signature covers: `{"content": …, "path": …, "query": …}`.
///
/// `content` is `null` for no body, and for an empty object, as the SDKs send it.
pub fn signature_payload(path: &str, query: &str, body: Option<&Value>) -> String {
    let content = match body {
        Some(Value::Object(map)) if map.is_empty() => None,
        other => other,
    };
    // Fields in sorted order; the body is written from where it is, not copied into a new document first.
    #[derive(Serialize)]
    struct Payload<'a> {
        content: Option<&'a Value>,
        path: &'a str,
        query: &'a str,
    }
    to_canonical(&Payload {
        content,
        path,
        query,
    })
}

/// Compact JSON through [`PythonAscii`]. serde_json is built without `preserve_order`, so every object is a
/// BTreeMap and serializes with its keys sorted.
fn to_canonical(value: &impl Serialize) -> String {
    let mut out = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonAscii);
    value
        .serialize(&mut serializer)
        .expect("JSON values and strings always serialize into memory");
    String::from_utf8(out).expect("serde_json writes UTF-8, and PythonAscii only ASCII")
}

/// serde_json's compact format, with what Python's `ensure_ascii` escapes beyond it: every character outside
/// printable ASCII (DEL included) as `\uXXXX`. Only string contents reach this, so the JSON stays valid.
struct PythonAscii;

impl Formatter for PythonAscii {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut plain = 0;
        for (at, character) in fragment.char_indices() {
            if character.is_ascii() && character != '\u{7f}' {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[plain..at])?;
            let mut units = [0u16; 2];
            for unit in character.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            plain = at + character.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[plain..])
    }
}

/// base64(HMAC-SHA256(`consumer_key`, `message`)), standard alphabet with padding.
pub fn sign(consumer_key: &SecretString, message: &str) -> String {
    STANDARD.encode(mac(consumer_key, message).finalize().into_bytes())
}

/// The `Signature` header for a request to `path?query` with `body`.
pub fn request_signature(
    consumer_key: &SecretString,
    path: &str,
    query: &str,
    body: Option<&Value>,
) -> String {
    sign(consumer_key, &signature_payload(path, query, body))
}

/// Whether `signature` (base64) is the HMAC of `message`, compared in constant time.
pub fn verify(consumer_key: &SecretString, message: &str, signature: &str) -> bool {
    let Ok(expected) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    mac(consumer_key, message).verify_slice(&expected).is_ok()
}

fn mac(consumer_key: &SecretString, message: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(consumer_key.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(message.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    #[test]
    fn vector_a_from_the_typescript_sdk_signs_to_the_published_signature() {
        let message = signature_payload("/accounts", "timestamp=1700000000", None);
        assert_eq!(
            message,
            r#"{"content":null,"path":"/accounts","query":"timestamp=1700000000"}"#
        );
        assert_eq!(
            sign(&key("consumer_key"), &message),
            "3VkE1AkN6sr1yxWbl8JA7v9O9MFXfMFDVgzhC9GhptU="
        );
    }

    #[test]
    fn vector_b_with_a_body_and_the_legacy_path_signs_to_the_published_signature() {
        let body = serde_json::json!({ "userId": "edge-user" });
        let message = signature_payload("/api/v1/accounts", "foo=bar", Some(&body));
        assert_eq!(
            message,
            r#"{"content":{"userId":"edge-user"},"path":"/api/v1/accounts","query":"foo=bar"}"#
        );
        assert_eq!(
            sign(&key("snaptrade%20key%20with%20spaces"), &message),
            "PsA/IdYSyOLLDgBauwvqzsnIUmgIzt9NtsvZSOsBFcM="
        );
    }

    #[test]
    fn nested_keys_are_sorted_at_every_level_without_whitespace() {
        let value =
            serde_json::json!({ "b": { "z": 1, "a": [ { "y": true, "x": null } ] }, "a": "s" });
        assert_eq!(
            canonical_json(&value),
            r#"{"a":"s","b":{"a":[{"x":null,"y":true}],"z":1}}"#
        );
    }

    #[test]
    fn non_ascii_text_is_escaped_like_pythons_ensure_ascii() {
        let value = serde_json::json!({ "name": "Zoë 📈\u{7f}" });
        assert_eq!(
            canonical_json(&value),
            r#"{"name":"Zo\u00eb \ud83d\udcc8\u007f"}"#
        );
    }

    #[test]
    fn an_empty_object_body_is_signed_as_null_content() {
        let empty = serde_json::json!({});
        assert_eq!(
            signature_payload("/p", "q=1", Some(&empty)),
            signature_payload("/p", "q=1", None)
        );
    }

    #[test]
    fn decimal_numbers_keep_their_text_in_the_signed_body() {
        let value: Value = serde_json::from_str(r#"{"price":150.25,"units":1e-06}"#).unwrap();
        assert_eq!(canonical_json(&value), r#"{"price":150.25,"units":1e-06}"#);
    }

    #[test]
    fn verification_accepts_the_right_signature_and_refuses_a_forged_one() {
        let key = key("consumer_key");
        let message = r#"{"content":null}"#;
        let good = sign(&key, message);
        assert!(verify(&key, message, &good));
        assert!(!verify(
            &key,
            message,
            "3VkE1AkN6sr1yxWbl8JA7v9O9MFXfMFDVgzhC9GhptU="
        ));
        assert!(!verify(&key, message, "not base64!"));
    }

    /// The formatter against the plainest statement of the rule: serde_json's compact text, then every
    /// character outside printable ASCII replaced by its UTF-16 escapes.
    fn escaped_after_the_fact(value: &Value) -> String {
        value
            .to_string()
            .chars()
            .map(|character| {
                if character.is_ascii() && character != '\u{7f}' {
                    character.to_string()
                } else {
                    let mut units = [0u16; 2];
                    let units = character.encode_utf16(&mut units);
                    units.iter().map(|unit| format!("\\u{unit:04x}")).collect()
                }
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn the_canonical_form_is_compact_json_with_non_ascii_escaped(
            entries in proptest::collection::btree_map(".{0,8}", ".{0,16}", 0..6),
            nested in ".{0,16}",
            number in proptest::prelude::any::<i64>(),
        ) {
            let mut body: serde_json::Map<String, Value> =
                entries.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            body.insert(nested.clone(), serde_json::json!([{ nested.clone(): number }, null, true]));
            let body = Value::Object(body);
            proptest::prop_assert_eq!(canonical_json(&body), escaped_after_the_fact(&body));
            let payload = signature_payload(&nested, "q=1", Some(&body));
            // Never empty (it holds `nested`), so it is signed as it is.
            let expected = serde_json::json!({ "content": body, "path": nested, "query": "q=1" });
            proptest::prop_assert_eq!(payload, escaped_after_the_fact(&expected));
        }
    }
}
