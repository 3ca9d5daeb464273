//! SnapTrade's request signature, computed the way its servers check it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// The canonical JSON SnapTrade signs: keys sorted at every level, `,` and `:` with no whitespace,
/// non-ASCII escaped as `\uXXXX` (Python's `json.dumps(obj, separators=(",", ":"), sort_keys=True)`).
/// SnapTrade's server parses the body before it re-serializes it, so numbers come out as Python
/// writes them: integers unchanged, anything with a point or exponent as Python's `repr(float)`
/// (`1.50` → `1.5`, `100.0` → `100.0`, `0.00001` → `1e-05`).
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
        Value::Number(number) => out.push_str(&python_number(&number.to_string())),
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

/// How Python's `json.dumps(json.loads(text))` writes the number `text`.
fn python_number(text: &str) -> String {
    if !text.contains(['.', 'e', 'E']) {
        return text.to_owned();
    }
    match text.parse::<f64>() {
        Ok(value) => python_float_repr(value),
        Err(_) => text.to_owned(),
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, fixed notation for exponents -4..16
/// (always with a fractional part), otherwise `d.ddde±XX`.
fn python_float_repr(value: f64) -> String {
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .to_owned();
    }
    // Rust's `{:e}` also prints the shortest round-tripping digits, e.g. `-1.25e-5`.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if mantissa.starts_with('-') { "-" } else { "" };
    let digits = mantissa.trim_start_matches('-').replace('.', "");
    if (-4..16).contains(&exponent) {
        let integer_digits = exponent + 1;
        let body = if integer_digits <= 0 {
            format!(
                "0.{}{digits}",
                "0".repeat(integer_digits.unsigned_abs() as usize)
            )
        } else {
            let split = integer_digits as usize;
            if split >= digits.len() {
                format!("{digits}{}.0", "0".repeat(split - digits.len()))
            } else {
                format!("{}.{}", &digits[..split], &digits[split..])
            }
        };
        return format!("{sign}{body}");
    }
    let (first, rest) = digits.split_at(1);
    let mantissa = if rest.is_empty() {
        first.to_owned()
    } else {
        format!("{first}.{rest}")
    };
    let exponent_sign = if exponent < 0 { '-' } else { '+' };
    format!(
        "{sign}{mantissa}e{exponent_sign}{:02}",
        exponent.unsigned_abs()
    )
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
    fn non_ascii_is_escaped_like_python() {
        let value: Value =
            serde_json::from_str(r#"{"b": "é😀\u007f", "a": [1, 2.50]}"#).expect("valid JSON");
        assert_eq!(
            canonical_json(&value),
            r#"{"a":[1,2.5],"b":"\u00e9\ud83d\ude00\u007f"}"#
        );
    }

    #[test]
    fn numbers_are_written_as_python_writes_them_after_parsing() {
        let cases = [
            ("5", "5"),
            ("-12", "-12"),
            ("1.50", "1.5"),
            ("100.0", "100.0"),
            ("100.00", "100.0"),
            ("2.50E2", "250.0"),
            ("-0.5", "-0.5"),
            ("123.456", "123.456"),
            ("0.0001", "0.0001"),
            ("0.00001", "1e-05"),
            ("0.000123", "0.000123"),
            ("0.0000123", "1.23e-05"),
            ("1234567890123456.0", "1234567890123456.0"),
            ("1e16", "1e+16"),
            ("12345678901234567.0", "1.2345678901234568e+16"),
            ("0.0", "0.0"),
            ("0.1", "0.1"),
            ("1e22", "1e+22"),
        ];
        for (sent, python) in cases {
            assert_eq!(python_number(sent), python, "{sent}");
        }
    }
}
