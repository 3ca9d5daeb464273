//! SnapTrade's request signature, computed the way its servers check it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// The canonical JSON SnapTrade signs: keys sorted at every level, `,` and `:` with no whitespace,
/// non-ASCII escaped as `\uXXXX` (Python's `json.dumps(obj, separators=(",", ":"), sort_keys=True)`).
/// Numbers keep the text they arrived with.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

/// The `Signature` header value for a request: base64 of HMAC-SHA256, keyed with the consumer key, over
/// the canonical JSON of `{"content": body, "path": path, "query": query}`. `body` is the parsed
/// request body; `None`, and an empty object, sign as `null` as SnapTrade's SDKs do.
pub fn signature(consumer_key: &str, path: &str, query: &str, body: Option<&Value>) -> String {
    let content = match body {
        Some(Value::Object(map)) if map.is_empty() => Value::Null,
        Some(value) => value.clone(),
        None => Value::Null,
    };
    let signed = serde_json::json!({ "content": content, "path": path, "query": query });
    sign_text(consumer_key, &canonical_json(&signed))
}

/// base64(HMAC-SHA256(`key`, `message`)), standard alphabet with padding.
pub fn sign_text(key: &str, message: &str) -> String {
    STANDARD.encode(mac(key, message).finalize().into_bytes())
}

/// Whether `claimed` (a base64 signature) is the HMAC of `message`, compared in constant time.
pub(crate) fn verify_text(key: &str, message: &str, claimed: &str) -> bool {
    STANDARD
        .decode(claimed)
        .is_ok_and(|bytes| mac(key, message).verify_slice(&bytes).is_ok())
}

fn mac(key: &str, message: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(message.as_bytes());
    mac
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => out.push_str(&number.to_string()),
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Sorted explicitly: serde_json keeps insertion order when another crate turns on `preserve_order`.
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|left, right| left.0.cmp(right.0));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
    }
}

fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            // Python escapes everything outside printable ASCII (space to `~`), DEL included.
            ch if !(' '..='~').contains(&ch) => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            ch => out.push(ch),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_is_escaped_like_python_and_number_text_is_kept() {
        let value: Value =
            serde_json::from_str(r#"{"b": "é😀\u007f", "a": [1, 2.50]}"#).expect("valid JSON");
        assert_eq!(
            canonical_json(&value),
            r#"{"a":[1,2.50],"b":"\u00e9\ud83d\ude00\u007f"}"#
        );
    }
}
