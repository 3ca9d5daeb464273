//! An Alpaca client on a wiremock server, and the one brokerage account the Alpaca tests act in.

use secrecy::SecretString;
use tributary_domain::{AccountId, ProviderAccountId, UserId};
use tributary_provider::alpaca::{AlpacaClient, AlpacaConfig, AlpacaEnvironment};
use tributary_provider::capability::AccountRef;
use url::Url;
use wiremock::MockServer;

/// The Broker API account the tests' requests name.
pub const ACCOUNT: &str = "3dcb795c-3ccc-402a-abb9-07e26a1b1326";

/// A sandbox-environment client whose base URL is `server`.
pub fn client(server: &MockServer) -> AlpacaClient {
    let config = AlpacaConfig::new(
        "key-id",
        SecretString::from("secret"),
        AlpacaEnvironment::Sandbox,
    )
    .with_base_url(Url::parse(&server.uri()).unwrap());
    AlpacaClient::new(config).unwrap()
}

/// [`ACCOUNT`] as a stored account of a fresh user.
pub fn account() -> AccountRef {
    AccountRef {
        user_id: UserId::generate(),
        account_id: AccountId::generate(),
        provider_account_id: ProviderAccountId::parse(ACCOUNT).unwrap(),
    }
}
