//! What every handler answers: JSON, or a provider-shaped error with its status and headers.

use std::str::FromStr;

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde_json::{Number, Value};

/// A handler's answer.
pub(crate) type Reply = Result<Json<Value>, ApiError>;

/// An error answer in the provider's own body shape.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    pub(crate) headers: Vec<(HeaderName, String)>,
}

impl ApiError {
    /// An error with `status` and a JSON `body`.
    pub(crate) fn new(status: u16, body: Value) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
            headers: Vec::new(),
        }
    }

    /// Adds a response header.
    pub(crate) fn with_header(mut self, name: &'static str, value: impl ToString) -> Self {
        self.headers
            .push((HeaderName::from_static(name), value.to_string()));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

/// A decimal as a JSON number written from its decimal text (never through f64), as Plaid and
/// SnapTrade's numeric fields are sent.
pub(crate) fn number(value: Decimal) -> Value {
    Number::from_str(&value.normalize().to_string()).map_or(Value::Null, Value::Number)
}

/// A decimal as a JSON string, as Alpaca and SnapTrade's newer fields are sent.
pub(crate) fn decimal_text(value: Decimal) -> Value {
    Value::String(value.normalize().to_string())
}
