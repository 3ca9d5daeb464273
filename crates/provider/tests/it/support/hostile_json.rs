//! `proptest` strategies for hostile provider payloads: arbitrary JSON, text with NUL bytes, emoji and
//! 1 MiB runs, decimals at and past `Decimal`'s and the columns' limits, and spec examples with fields
//! replaced or removed at random.

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

/// One mebibyte of text: longer than any column or index entry accepts.
pub fn mebibyte() -> String {
    "A".repeat(1 << 20)
}

/// The largest value of each `NUMERIC(precision, scale)` column shape in the schema, and the smallest
/// past it (by one unit of the scale, and by a digit that rounds up into it).
const COLUMN_LIMITS: &[&str] = &[
    "99999999999999.9999999999", // NUMERIC(24, 10): units, prices
    "100000000000000",
    "99999999999999.99999999995",
    "0.00000000001",    // one decimal past the scale: refused, never rounded
    "9999999999999.99", // NUMERIC(15, 2): notional values
    "10000000000000",
    "9999999999999.995",
    "999999999999999999.9999999999", // NUMERIC(28, 10): quantities, unit costs, amounts
    "1000000000000000000",
    "999999999999999999.99999999995",
    "9999999999999999999999.9999", // NUMERIC(26, 4): percentages
    "10000000000000000000000",
    "9999999999999999999999.99995",
];

/// Decimal text around the limits that matter: `Decimal`'s 96-bit mantissa and 28-digit scale, each of
/// the schema's `NUMERIC` column shapes (at the limit and past it, either sign), exponents, signs, and text
/// that is no number at all.
pub fn decimal_text() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("79228162514264337593543950335".to_owned()), // Decimal::MAX
        1 => Just("79228162514264337593543950336".to_owned()), // one past it
        1 => Just("-79228162514264337593543950336".to_owned()),
        1 => Just("0.0000000000000000000000000001".to_owned()), // the smallest scale Decimal holds
        1 => Just("0.00000000000000000000000000001".to_owned()), // one digit past it
        4 => (prop::sample::select(COLUMN_LIMITS), any::<bool>())
            .prop_map(|(limit, negative)| if negative { format!("-{limit}") } else { limit.to_owned() }),
        1 => Just("1e30".to_owned()),
        1 => Just("-1E-30".to_owned()),
        1 => Just("1E400".to_owned()),
        1 => Just("-0".to_owned()),
        1 => Just("NaN".to_owned()),
        1 => Just("Infinity".to_owned()),
        1 => "-?[0-9]{1,40}(\\.[0-9]{1,40})?",
    ]
}

/// Ids that are not UUIDs: near misses (a digit short, braces, a stray letter, no dashes with a
/// suffix) and plain words, for fields the domain parses as UUIDs.
pub fn not_a_uuid() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("not-a-uuid".to_owned()),
        Just("3dcb795c-3ccc-402a-abb9-07e26a1b132".to_owned()),
        Just("{3dcb795c-3ccc-402a-abb9-07e26a1b1326}".to_owned()),
        Just("3dcb795c-3ccc-402a-abb9-07e26a1b132g".to_owned()),
        Just("3dcb795c3ccc402aabb907e26a1b1326ff".to_owned()),
        Just("00000000-0000-0000-0000-000000000000\0".to_owned()),
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-z]{11,13}",
    ]
}

/// Text a provider might send in any string field.
pub fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        1 => not_a_uuid(),
        1 => Just(String::new()),
        1 => Just("\0".to_owned()),
        1 => Just("AAPL\0DROP".to_owned()),
        1 => Just("📈🚀 Société Générale 株式".to_owned()),
        1 => Just("\u{202e}LPAA".to_owned()),
        1 => Just(mebibyte()),
        2 => decimal_text(),
    ]
}

/// A JSON value with no structure: a scalar of any kind.
pub fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // NaN and infinities become null, as in JSON
        decimal_text().prop_map(|text| number_or_text(&text)),
        hostile_text().prop_map(Value::String),
    ]
}

/// Arbitrary JSON, a few levels deep.
pub fn any_json() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// The text as a JSON number when it is one (arbitrary precision kept), otherwise as a string.
pub fn number_or_text(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(number @ Value::Number(_)) => number,
        _ => Value::String(text.to_owned()),
    }
}

/// One change to a document: the node at a position (among all its nodes) replaced, or removed.
pub type Edit = (Index, Option<Value>);

/// Up to `most` edits, each replacing a node with arbitrary JSON or removing it.
pub fn edits(most: usize) -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(
        (any::<Index>(), prop::option::weighted(0.8, any_json())),
        1..=most,
    )
}

/// Up to `most` edits, each replacing a node with a hostile scalar of a plausible kind (text, or a
/// decimal as a number or as text), which gets past the wire structs more often than arbitrary JSON and
/// so reaches the conversions into domain types.
pub fn scalar_edits(most: usize) -> impl Strategy<Value = Vec<Edit>> {
    let scalar = prop_oneof![
        hostile_text().prop_map(Value::String),
        decimal_text().prop_map(|text| number_or_text(&text)),
        decimal_text().prop_map(Value::String),
    ];
    prop::collection::vec((any::<Index>(), scalar.prop_map(Some)), 1..=most)
}

/// `document` with `edits` applied in turn.
pub fn edited(mut document: Value, edits: &[Edit]) -> Value {
    for (index, replacement) in edits {
        let mut pointers = Vec::new();
        node_pointers(&document, String::new(), &mut pointers);
        if pointers.is_empty() {
            break;
        }
        let pointer = index.get(&pointers);
        match replacement {
            Some(value) => {
                if let Some(node) = document.pointer_mut(pointer) {
                    *node = value.clone();
                }
            }
            None => remove(&mut document, pointer),
        }
    }
    document
}

/// The JSON pointer of every node below `value` (not `value` itself).
fn node_pointers(value: &Value, at: String, out: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(fields) => fields
            .iter()
            .map(|(key, child)| (key.replace('~', "~0").replace('/', "~1"), child))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(position, child)| (position.to_string(), child))
            .collect(),
        _ => Vec::new(),
    };
    for (token, child) in children {
        let pointer = format!("{at}/{token}");
        out.push(pointer.clone());
        node_pointers(child, pointer, out);
    }
}

fn remove(document: &mut Value, pointer: &str) {
    let Some((parent, token)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = token.replace("~1", "/").replace("~0", "~");
    match document.pointer_mut(parent) {
        Some(Value::Object(fields)) => {
            fields.remove(&key);
        }
        Some(Value::Array(items)) => {
            if let Ok(position) = key.parse::<usize>()
                && position < items.len()
            {
                items.remove(position);
            }
        }
        _ => {}
    }
}
