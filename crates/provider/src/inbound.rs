//! Refusals of inbound webhook deliveries, whichever provider sent them.
//!
//! A delivery is refused before anything is recorded or applied, and each refusal carries the HTTP status the
//! receiving endpoint answers with: a provider retries a refused delivery, so a forgery or a replay costs it
//! nothing, and a genuine delivery refused by mistake comes again.

use std::time::Duration;

use tributary_domain::Provider;

/// The largest webhook body a receiver reads unless told otherwise: 1 MiB. Providers' deliveries are a few
/// kilobytes at most, so a body near this is not theirs; refusing it before it is parsed or hashed (each costing
/// in proportion to its size) keeps a flood of large bodies from costing memory and CPU.
pub const MAX_WEBHOOK_BODY: usize = 1024 * 1024;

/// Why an inbound webhook delivery was refused, with the status to answer ([`WebhookError::http_status`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The delivery carries no signature: 401.
    #[error("{provider} webhook refused: the {header} header is missing")]
    MissingSignature {
        /// Who the delivery claims to come from.
        provider: Provider,
        /// The header the signature travels in (`Signature` for SnapTrade).
        header: &'static str,
    },
    /// The signature does not match the body: 401.
    #[error("{provider} webhook refused: the signature does not match the payload")]
    BadSignature {
        /// Who the delivery claims to come from.
        provider: Provider,
    },
    /// The signature names a signing key the provider does not know (Plaid's JWT `kid`, looked up again at
    /// the provider before refusing): 401.
    #[error("{provider} webhook refused: the signing key `{kid}` is not one of the provider's")]
    UnknownKey {
        /// Who the delivery claims to come from.
        provider: Provider,
        /// The key id the delivery names.
        kid: String,
    },
    /// The signature was made with a key the provider has retired (Plaid's JWK with `expired_at` set): 401.
    #[error("{provider} webhook refused: the signing key `{kid}` has expired")]
    ExpiredKey {
        /// Who the delivery claims to come from.
        provider: Provider,
        /// The key id the delivery names.
        kid: String,
    },
    /// The signature uses an algorithm the provider does not sign with (`none`, `HS256`… where Plaid signs
    /// `ES256` only): 401. Refused before any key is looked up.
    #[error("{provider} webhook refused: the signature's algorithm `{alg}` is not accepted")]
    UnsupportedAlgorithm {
        /// Who the delivery claims to come from.
        provider: Provider,
        /// The algorithm the delivery names (cut to 32 characters).
        alg: String,
    },
    /// The event's timestamp is further from now than `max_age`, either way: 400. A captured delivery cannot
    /// be replayed later.
    #[error(
        "{provider} webhook refused: the event's timestamp is {}s from now, more than {}s",
        distance.as_secs(),
        max_age.as_secs()
    )]
    Stale {
        /// Who sent it.
        provider: Provider,
        /// How far the timestamp is from now.
        distance: Duration,
        /// The furthest accepted.
        max_age: Duration,
    },
    /// The body is larger than the receiver reads: 413. It was refused unread.
    #[error("{provider} webhook refused: the body is {bytes} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Who it claims to come from.
        provider: Provider,
        /// The body's size: its declared length, or, for a body streamed without one, what was read of it
        /// when it went over the limit.
        bytes: usize,
        /// The largest body read.
        limit: usize,
    },
    /// The body is not an event of the provider's (not JSON, not an object, a required field missing or
    /// unreadable): 400.
    #[error("{provider} webhook refused: the body {reason}")]
    Malformed {
        /// Who it claims to come from.
        provider: Provider,
        /// What is wrong with it.
        reason: String,
    },
}

impl WebhookError {
    /// The HTTP status to answer the delivery with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::MissingSignature { .. }
            | Self::BadSignature { .. }
            | Self::UnknownKey { .. }
            | Self::ExpiredKey { .. }
            | Self::UnsupportedAlgorithm { .. } => 401,
            Self::TooLarge { .. } => 413,
            Self::Stale { .. } | Self::Malformed { .. } => 400,
        }
    }

    /// Who the delivery claims to come from.
    pub fn provider(&self) -> Provider {
        match self {
            Self::MissingSignature { provider, .. }
            | Self::BadSignature { provider }
            | Self::UnknownKey { provider, .. }
            | Self::ExpiredKey { provider, .. }
            | Self::UnsupportedAlgorithm { provider, .. }
            | Self::Stale { provider, .. }
            | Self::TooLarge { provider, .. }
            | Self::Malformed { provider, .. } => *provider,
        }
    }

    /// Refuses a body over `limit` bytes, before it is parsed or hashed (each costs in proportion to its size).
    ///
    /// # Errors
    /// [`WebhookError::TooLarge`] when `body` is longer than `limit`.
    pub fn check_size(provider: Provider, body: &[u8], limit: usize) -> Result<(), Self> {
        if body.len() <= limit {
            return Ok(());
        }
        Err(Self::TooLarge {
            provider,
            bytes: body.len(),
            limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_answers_its_own_status() {
        let provider = Provider::SnapTrade;
        let cases = [
            (
                WebhookError::MissingSignature {
                    provider,
                    header: "Signature",
                },
                401,
            ),
            (WebhookError::BadSignature { provider }, 401),
            (
                WebhookError::UnknownKey {
                    provider,
                    kid: "k".into(),
                },
                401,
            ),
            (
                WebhookError::ExpiredKey {
                    provider,
                    kid: "k".into(),
                },
                401,
            ),
            (
                WebhookError::UnsupportedAlgorithm {
                    provider,
                    alg: "none".into(),
                },
                401,
            ),
            (
                WebhookError::Stale {
                    provider,
                    distance: Duration::from_secs(301),
                    max_age: Duration::from_secs(300),
                },
                400,
            ),
            (
                WebhookError::TooLarge {
                    provider,
                    bytes: 2,
                    limit: 1,
                },
                413,
            ),
            (
                WebhookError::Malformed {
                    provider,
                    reason: "is not JSON".into(),
                },
                400,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(error.http_status(), status, "{error}");
            assert_eq!(error.provider(), provider);
        }
    }

    #[test]
    fn a_body_at_the_limit_is_read_and_one_byte_more_is_refused() {
        assert_eq!(
            WebhookError::check_size(Provider::SnapTrade, b"ab", 2),
            Ok(())
        );
        let refused = WebhookError::check_size(Provider::SnapTrade, b"abc", 2).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "snaptrade webhook refused: the body is 3 bytes, over the 2-byte limit"
        );
    }
}
