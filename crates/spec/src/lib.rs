//! Test support (not published): the providers' official OpenAPI specs, kept in the repository's `specs/`
//! folder, as test data. A test asks a [`Spec`] for the examples an operation's responses carry, and checks a
//! body against the schema of an operation's request or response, so the specs' own examples are the first
//! fixtures and a spec update that adds an example is covered without anyone writing a test.
//!
//! ```text
//! let spec = tributary_spec::Spec::load("alpaca-broker-api.yaml");
//! for example in spec.response_examples("get", "/v1/trading/accounts/{account_id}/orders") {
//!     // parse `example.value` as the client would…
//! }
//! spec.validate_request("post", "/v1/trading/accounts/{account_id}/orders", &body).unwrap();
//! ```
//!
//! OpenAPI 3.0's `nullable` and boolean `exclusiveMinimum`/`exclusiveMaximum` are rewritten into JSON Schema
//! (draft 2020-12) before validating; formats (`date-time`, `date`, `uuid`…) are checked.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Map, Value, json};

/// Where the spec files are: `TRIBUTARY_SPECS_DIR` when set, else the repository's `specs/` folder.
pub fn specs_dir() -> PathBuf {
    std::env::var_os("TRIBUTARY_SPECS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../specs"),
        PathBuf::from,
    )
}

/// One example of a response, as the spec gives it.
#[derive(Debug, Clone)]
pub struct Example {
    /// The HTTP status it answers with (`"200"`, `"default"`…).
    pub status: String,
    /// The example's name in the spec (`"example"` for a lone `example`).
    pub name: String,
    /// The body.
    pub value: Value,
}

/// A provider's OpenAPI spec, loaded from [`specs_dir`].
pub struct Spec {
    file: String,
    doc: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec").field("file", &self.file).finish()
    }
}

impl Spec {
    /// Loads `file` (YAML or JSON) from [`specs_dir`].
    ///
    /// # Panics
    /// When the file is missing or not a spec: this is test support, and the message says what to fix.
    pub fn load(file: &str) -> Self {
        let path = specs_dir().join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!(
                "spec {} cannot be read ({error}): the specs live in the repository's specs/ folder, or set \
                 TRIBUTARY_SPECS_DIR",
                path.display()
            )
        });
        let doc: Value = if file.ends_with(".json") {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"))
        } else {
            serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{file} is not YAML: {e}"))
        };
        Self {
            file: file.to_owned(),
            doc,
            validators: Mutex::new(HashMap::new()),
        }
    }

    /// The file the spec was loaded from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The whole document, as parsed.
    pub fn document(&self) -> &Value {
        &self.doc
    }

    /// Every operation the spec defines, as `(method, path)`, methods in lower case.
    pub fn operations(&self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        for (path, item) in self.doc["paths"].as_object().into_iter().flatten() {
            for method in ["get", "put", "post", "delete", "patch"] {
                if item.get(method).is_some() {
                    all.push((method.to_owned(), path.clone()));
                }
            }
        }
        all
    }

    /// The operation at `method` `path` (a path template exactly as the spec writes it).
    ///
    /// # Panics
    /// When the spec has no such operation.
    pub fn operation(&self, method: &str, path: &str) -> &Value {
        self.doc["paths"]
            .get(path)
            .and_then(|item| item.get(method.to_ascii_lowercase()))
            .unwrap_or_else(|| panic!("{} has no operation {method} {path}", self.file))
    }

    /// Follows `$ref`s (within the document) until a value that is not a reference.
    ///
    /// # Panics
    /// On a reference that points nowhere in the document.
    pub fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        while let Some(pointer) = value.get("$ref").and_then(Value::as_str) {
            value = self.pointer(pointer);
        }
        value
    }

    fn pointer(&self, reference: &str) -> &Value {
        let pointer = reference.strip_prefix('#').unwrap_or_else(|| {
            panic!(
                "{}: only local references are supported, not {reference}",
                self.file
            )
        });
        self.doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{}: {reference} points nowhere", self.file))
    }

    /// A named schema of `components/schemas`.
    ///
    /// # Panics
    /// When there is none of that name.
    pub fn schema(&self, name: &str) -> &Value {
        self.doc["components"]["schemas"]
            .get(name)
            .unwrap_or_else(|| panic!("{} has no schema {name}", self.file))
    }

    /// Every example the responses of `method` `path` carry (`example`, and each of `examples`), JSON bodies
    /// only, in the spec's order.
    pub fn response_examples(&self, method: &str, path: &str) -> Vec<Example> {
        let mut found = Vec::new();
        let responses = self.operation(method, path)["responses"].as_object();
        for (status, response) in responses.into_iter().flatten() {
            let response = self.resolve(response);
            for media in json_media(response) {
                for (name, value) in self.examples_of(media) {
                    found.push(Example {
                        status: status.clone(),
                        name,
                        value,
                    });
                }
            }
        }
        found
    }

    /// Every example of a named schema (`example` and `examples` on the schema itself).
    pub fn schema_examples(&self, name: &str) -> Vec<Value> {
        let schema = self.resolve(self.schema(name));
        let mut all: Vec<Value> = schema.get("example").cloned().into_iter().collect();
        if let Some(Value::Array(examples)) = schema.get("examples") {
            all.extend(examples.iter().cloned());
        }
        all
    }

    fn examples_of(&self, media: &Value) -> Vec<(String, Value)> {
        let mut found = Vec::new();
        if let Some(example) = media.get("example") {
            found.push(("example".to_owned(), example.clone()));
        }
        for (name, example) in media
            .get("examples")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if let Some(value) = self.resolve(example).get("value") {
                found.push((name.clone(), value.clone()));
            }
        }
        found
    }

    /// Checks `body` against the JSON schema of the response `method` `path` answers with `status` (or the
    /// `default` response): `Err` lists every violation with its location.
    ///
    /// # Panics
    /// When the spec defines no such response or no JSON schema for it.
    pub fn validate_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), String> {
        let responses = &self.operation(method, path)["responses"];
        let (key, response) = [status.to_string(), "default".to_owned()]
            .into_iter()
            .find_map(|key| responses.get(&key).map(|r| (key, r)))
            .unwrap_or_else(|| panic!("{}: {method} {path} has no {status} response", self.file));
        let schema = json_media(self.resolve(response))
            .into_iter()
            .find_map(|media| media.get("schema"))
            .unwrap_or_else(|| panic!("{}: {method} {path} {key} has no JSON schema", self.file));
        self.validate(&format!("{method} {path} {key}"), schema, body)
    }

    /// Checks `body` against the JSON schema of `method` `path`'s request body.
    ///
    /// # Panics
    /// When the operation takes no JSON body.
    pub fn validate_request(&self, method: &str, path: &str, body: &Value) -> Result<(), String> {
        let request = self
            .operation(method, path)
            .get("requestBody")
            .map(|r| self.resolve(r))
            .unwrap_or_else(|| panic!("{}: {method} {path} takes no request body", self.file));
        let schema = json_media(request)
            .into_iter()
            .find_map(|media| media.get("schema"))
            .unwrap_or_else(|| panic!("{}: {method} {path} has no JSON request schema", self.file));
        self.validate(&format!("{method} {path} request"), schema, body)
    }

    /// Checks `value` against the named schema of `components/schemas`.
    pub fn validate_schema(&self, name: &str, value: &Value) -> Result<(), String> {
        let schema = json!({ "$ref": format!("#/components/schemas/{name}") });
        self.validate(&format!("schema {name}"), &schema, value)
    }

    fn validate(&self, key: &str, schema: &Value, value: &Value) -> Result<(), String> {
        let validator = self.validator(key, schema);
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|error| format!("{}: {error}", error.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{} {key}:\n  {}", self.file, errors.join("\n  ")))
        }
    }

    /// The compiled validator of `schema`, whose references resolve against the spec's `components`.
    fn validator(&self, key: &str, schema: &Value) -> Arc<jsonschema::Validator> {
        let mut cache = self
            .validators
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = cache.get(key) {
            return Arc::clone(found);
        }
        let mut root = match schema.clone() {
            Value::Object(map) => map,
            other => panic!(
                "{}: {key}: a schema must be an object, not {other}",
                self.file
            ),
        };
        root.insert("components".to_owned(), self.doc["components"].clone());
        let mut root = Value::Object(root);
        to_json_schema(&mut root);
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|error| {
                panic!("{}: {key}: the schema does not compile: {error}", self.file)
            });
        let validator = Arc::new(validator);
        cache.insert(key.to_owned(), Arc::clone(&validator));
        validator
    }
}

/// The JSON media types of a response or request body (`application/json`, `application/problem+json`…).
fn json_media(body: &Value) -> Vec<&Value> {
    body.get("content")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(media_type, _)| media_type.contains("json") || media_type.as_str() == "*/*")
        .map(|(_, media)| media)
        .collect()
}

/// Rewrites OpenAPI 3.0's schema dialect into JSON Schema: `nullable: true` becomes "or null", boolean
/// `exclusiveMinimum`/`exclusiveMaximum` become the numeric form.
fn to_json_schema(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(to_json_schema),
        Value::Object(map) => {
            map.values_mut().for_each(to_json_schema);
            exclusive_bound(map, "exclusiveMinimum", "minimum");
            exclusive_bound(map, "exclusiveMaximum", "maximum");
            if map.get("nullable") == Some(&Value::Bool(true)) {
                map.remove("nullable");
                let inner = Value::Object(std::mem::take(map));
                map.insert("anyOf".to_owned(), json!([inner, { "type": "null" }]));
            }
        }
        _ => {}
    }
}

fn exclusive_bound(map: &mut Map<String, Value>, exclusive: &str, inclusive: &str) {
    match map.get(exclusive) {
        Some(Value::Bool(true)) => {
            if let Some(bound) = map.remove(inclusive) {
                map.insert(exclusive.to_owned(), bound);
            } else {
                map.remove(exclusive);
            }
        }
        Some(Value::Bool(false)) => {
            map.remove(exclusive);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nullable_schema_accepts_null_and_its_type() {
        let mut schema = json!({ "type": "string", "nullable": true });
        to_json_schema(&mut schema);
        let validator = jsonschema::validator_for(&schema).unwrap();
        assert!(validator.is_valid(&json!(null)));
        assert!(validator.is_valid(&json!("x")));
        assert!(!validator.is_valid(&json!(1)));
    }

    #[test]
    fn a_boolean_exclusive_minimum_becomes_the_numeric_form() {
        let mut schema = json!({ "type": "number", "minimum": 0, "exclusiveMinimum": true });
        to_json_schema(&mut schema);
        let validator = jsonschema::validator_for(&schema).unwrap();
        assert!(!validator.is_valid(&json!(0)));
        assert!(validator.is_valid(&json!(0.5)));
    }
}
