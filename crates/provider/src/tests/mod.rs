//! The tests that need more than one provider (the HTTP edges every client shares, secrets kept out of
//! errors and logs) and the support every provider's tests share.

mod http_edges;
mod secrecy;
pub(crate) mod support;
