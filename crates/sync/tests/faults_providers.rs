//! Issue 7's provider faults through a whole sync, on both stores, against the sandbox over real HTTP: one
//! account's positions slower than the client's timeout, and one account's positions answered with a body
//! that does not parse or does not convert. The account that failed is recorded failed with its typed error
//! and keeps what was stored for it; every other account syncs and is written.
#![cfg(all(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use rust_decimal::Decimal;
use support::World;
use tributary_domain::{
    AccountContribution, AccountId, ConnectionType, Holding, InvestmentAccount, Provider,
    SyncStatus,
};
use tributary_provider::ProviderError;
use tributary_provider::capability::PositionSide;
use tributary_repo::Store;
use tributary_sync::{AccountReport, FetchFailure, Outcome, SyncReport};

tributary_testdb::require_database!();

/// The SnapTrade client's timeout in the slow-account test: short, so the test is quick, yet far above what
/// the sandbox needs to answer on a loaded machine (and a call that still overruns it once is retried).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the sandbox holds the slow account's positions: well past the timeout.
const SLOW_ANSWER: Duration = Duration::from_secs(30);
/// SnapTrade's name for the positions call, as errors name it.
const POSITIONS_CALL: &str = "getAllAccountPositions";

/// The user's SnapTrade accounts, as stored.
async fn snaptrade_accounts<S: Store + 'static>(world: &World<S>) -> Vec<InvestmentAccount> {
    let accounts = world.store().list_accounts(world.user).await.unwrap();
    let snaptrade: Vec<_> = accounts
        .into_iter()
        .filter(|a| a.provider == Provider::SnapTrade)
        .collect();
    assert!(snaptrade.len() >= 2, "the portal connects two accounts");
    snaptrade
}

/// The path the client asked for `account`'s positions on, as the sandbox logged it.
fn positions_path<S>(world: &World<S>, account: &InvestmentAccount) -> String {
    let suffix = format!(
        "/accounts/{}/positions/all",
        account.provider_account_id.as_str()
    );
    world
        .sandbox
        .snaptrade()
        .log()
        .all()
        .into_iter()
        .map(|request| request.path)
        .find(|path| path.ends_with(&suffix))
        .expect("a clean sync asked for the account's positions")
}

/// One account's part of each holding, by symbol.
fn contributions_of(
    holdings: &[Holding],
    account: AccountId,
) -> BTreeMap<String, AccountContribution> {
    holdings
        .iter()
        .flat_map(|holding| {
            holding
                .account_contributions
                .iter()
                .filter(move |c| c.account_id == account)
                .map(move |c| (holding.symbol.as_str().to_owned(), c.clone()))
        })
        .collect()
}

/// Units held per symbol in each account: what the sandbox holds now (long positions, as holdings keep them)
/// and what the stored holdings say, keyed by the stored account.
async fn units_at_sandbox_and_in_store<S: Store + 'static>(
    world: &World<S>,
) -> (UnitsByAccount, UnitsByAccount) {
    let accounts = world.store().list_accounts(world.user).await.unwrap();
    let stored_id = |provider: Provider, id: &str| {
        accounts
            .iter()
            .find(|a| a.provider == provider && a.provider_account_id.as_str() == id)
            .map(|a| a.id)
            .expect("every account the sandbox holds is stored")
    };
    let mut at_sandbox = UnitsByAccount::new();
    for (provider, position) in world.sandbox_positions().await {
        if position.side != PositionSide::Long {
            continue;
        }
        let account = stored_id(provider, position.provider_account_id.as_str());
        *at_sandbox
            .entry(account)
            .or_default()
            .entry(position.symbol.as_str().to_owned())
            .or_default() += position.quantity.get();
    }
    let mut in_store = UnitsByAccount::new();
    for holding in world.store().list_holdings(world.user).await.unwrap() {
        for contribution in &holding.account_contributions {
            *in_store
                .entry(contribution.account_id)
                .or_default()
                .entry(holding.symbol.as_str().to_owned())
                .or_default() += contribution.quantity.get();
        }
    }
    (at_sandbox, in_store)
}

type UnitsByAccount = BTreeMap<AccountId, BTreeMap<String, Decimal>>;

/// The report's entry for a stored account.
fn entry(report: &SyncReport, account: AccountId) -> &AccountReport {
    report
        .accounts
        .iter()
        .find(|a| a.account_id == Some(account))
        .expect("the sync reports every account it fetched")
}

/// The typed error behind the account's failed positions.
fn positions_error(report: &SyncReport, account: AccountId) -> &ProviderError {
    let entry = entry(report, account);
    let failure = entry
        .positions_failure
        .as_ref()
        .unwrap_or_else(|| panic!("the account's positions did not fail: {entry:?}"));
    assert_eq!(
        entry.positions,
        Outcome::failed(failure),
        "the outcome says what the typed error says"
    );
    failure
        .provider_error()
        .unwrap_or_else(|| panic!("untyped failure: {failure:?}"))
}

/// Every provider synced, only `failed`'s positions failed, and every other account's positions synced.
fn only_this_account_failed(report: &SyncReport, failed: AccountId) {
    assert!(
        report
            .providers
            .iter()
            .all(|p| p.outcome == Outcome::Synced),
        "a provider that answered for its other accounts is synced: {:?}",
        report.providers
    );
    assert_eq!(report.failures().len(), 1, "{:?}", report.failures());
    for account in report
        .accounts
        .iter()
        .filter(|a| a.account_id != Some(failed))
    {
        assert_eq!(account.positions, Outcome::Synced, "{account:?}");
        assert_eq!(account.positions_failure, None, "{account:?}");
    }
}

/// The failed account's sync state is `error` with the failure's message; every other account's `success`.
async fn stored_states_say_only_this_account_failed<S: Store + 'static>(
    world: &World<S>,
    failed: AccountId,
    message_names: &str,
) {
    for account in world.store().list_accounts(world.user).await.unwrap() {
        if account.id == failed {
            assert_eq!(account.sync_status, SyncStatus::Error, "{account:?}");
            let message = account
                .sync_error_message
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            assert!(message.contains(message_names), "{message}");
        } else {
            assert_eq!(account.sync_status, SyncStatus::Success, "{account:?}");
            assert_eq!(account.sync_error_message, None, "{account:?}");
        }
    }
}

/// Every account but `failed` holds in the store exactly what the sandbox holds for it now.
async fn the_other_accounts_hold_what_the_sandbox_holds<S: Store + 'static>(
    world: &World<S>,
    failed: AccountId,
) {
    let (mut at_sandbox, mut in_store) = units_at_sandbox_and_in_store(world).await;
    at_sandbox.remove(&failed);
    in_store.remove(&failed);
    assert!(!at_sandbox.is_empty());
    assert_eq!(in_store, at_sandbox);
}

/// One SnapTrade account's positions answer long after the client's timeout; a Plaid Item and an Alpaca account
/// are linked since the last (clean) sync, so their holdings reach the store only through this one.
async fn a_slow_account_past_the_timeout_is_recorded_failed_and_the_rest_synced<
    S: Store + 'static,
>(
    world: World<S>,
) {
    world.connect_snaptrade(ConnectionType::Trade).await;
    let clean = world.engine.sync_user(world.user).await.unwrap();
    assert!(!clean.has_failures(), "{:?}", clean.failures());
    let snaptrade = snaptrade_accounts(&world).await;
    let slow = &snaptrade[0];
    let slow_before = contributions_of(
        &world.store().list_holdings(world.user).await.unwrap(),
        slow.id,
    );
    assert!(!slow_before.is_empty(), "the slow account held positions");
    // Linked after the clean sync: their holdings are in the store only if the slow sync writes them.
    world.link_plaid();
    world.link_alpaca().await;
    let knobs = world.sandbox.snaptrade().knobs();
    knobs.set_path_latency(&positions_path(&world, slow), SLOW_ANSWER);

    let report = world.engine.sync_user(world.user).await.unwrap();
    knobs.reset();

    match positions_error(&report, slow.id) {
        ProviderError::Timeout { provider, endpoint } => {
            assert_eq!(*provider, Provider::SnapTrade);
            assert_eq!(*endpoint, POSITIONS_CALL);
        }
        other => panic!("expected a Timeout, got {other:?}"),
    }
    only_this_account_failed(&report, slow.id);
    for provider in [Provider::Plaid, Provider::Alpaca] {
        assert!(
            report.accounts.iter().any(|a| a.provider == provider),
            "{provider}'s accounts were fetched and reported"
        );
    }
    stored_states_say_only_this_account_failed(&world, slow.id, POSITIONS_CALL).await;
    let holdings = world.store().list_holdings(world.user).await.unwrap();
    assert_eq!(
        contributions_of(&holdings, slow.id),
        slow_before,
        "the slow account keeps what the clean sync stored"
    );
    the_other_accounts_hold_what_the_sandbox_holds(&world, slow.id).await;
}

/// A body that is cut off mid-way, one whose second position's instrument is a string where an object
/// belongs, and one whose second position has no symbol; each starts with a well-formed position of a
/// symbol the account does not hold, which must not be written either.
const TRUNCATED: &str =
    r#"{"results": [{"instrument": {"symbol": "ZZZZ"}, "units": 5, "price": 1}, {"instrument": "#;
const WRONG_TYPE: &str = r#"{"results": [{"instrument": {"symbol": "ZZZZ"}, "units": 5, "price": 1}, {"instrument": "YYYY", "units": 3, "price": 1}]}"#;
const MISSING_SYMBOL: &str = r#"{"results": [{"instrument": {"symbol": "ZZZZ"}, "units": 5, "price": 1}, {"instrument": {"description": "no symbol"}, "units": 3, "price": 1}]}"#;

/// After a clean sync, one SnapTrade account's positions are answered with each bad body in turn.
async fn a_malformed_provider_answer_writes_nothing_from_that_answer<S: Store + 'static>(
    world: World<S>,
) {
    world.link_everything().await;
    let clean = world.engine.sync_user(world.user).await.unwrap();
    assert!(!clean.has_failures(), "{:?}", clean.failures());
    let garbled = &snaptrade_accounts(&world).await[0];
    let holdings_before = world.store().list_holdings(world.user).await.unwrap();
    let garbled_before = contributions_of(&holdings_before, garbled.id);
    assert!(!garbled_before.is_empty(), "the account held positions");
    let path = positions_path(&world, garbled);
    let knobs = world.sandbox.snaptrade().knobs();

    for body in [TRUNCATED, WRONG_TYPE, MISSING_SYMBOL] {
        knobs.replace_body(&path, body);
        let report = world.engine.sync_user(world.user).await.unwrap();

        match positions_error(&report, garbled.id) {
            ProviderError::Decode {
                provider,
                endpoint,
                raw_body,
                ..
            } => {
                assert_ne!(
                    body, MISSING_SYMBOL,
                    "a missing symbol parses, then fails to convert"
                );
                assert_eq!(*provider, Provider::SnapTrade);
                assert_eq!(*endpoint, POSITIONS_CALL);
                assert_eq!(raw_body, body, "the raw body is kept for diagnosis");
            }
            ProviderError::InvalidData {
                provider, field, ..
            } => {
                assert_eq!(
                    body, MISSING_SYMBOL,
                    "only a body that parses gets to conversion"
                );
                assert_eq!(*provider, Provider::SnapTrade);
                assert_eq!(field, "positions[1].instrument.symbol");
            }
            other => panic!("expected Decode or InvalidData, got {other:?}"),
        }
        only_this_account_failed(&report, garbled.id);
        let failure = entry(&report, garbled.id).positions_failure.clone();
        let message = failure
            .as_ref()
            .map(FetchFailure::reason)
            .unwrap_or_default();
        stored_states_say_only_this_account_failed(&world, garbled.id, message).await;
        let holdings = world.store().list_holdings(world.user).await.unwrap();
        assert!(
            holdings.iter().all(|h| h.symbol.as_str() != "ZZZZ"),
            "nothing of the answer is written, not even its well-formed position"
        );
        assert_eq!(
            contributions_of(&holdings, garbled.id),
            garbled_before,
            "the account keeps what the clean sync stored"
        );
        knobs.reset();
        the_other_accounts_hold_what_the_sandbox_holds(&world, garbled.id).await;
    }
}

/// The world of the slow-account test: its SnapTrade client times out after [`CLIENT_TIMEOUT`].
async fn with_short_timeout<S: Store + 'static>(
    store: S,
    user: tributary_domain::UserId,
) -> World<S> {
    World::start_with_snaptrade_config(store, user, |config| config.with_timeout(CLIENT_TIMEOUT))
        .await
}

/// The world of the other tests, with the clients' usual timeouts.
async fn as_usual<S: Store + 'static>(store: S, user: tributary_domain::UserId) -> World<S> {
    World::start(store, user).await
}

macro_rules! cases {
    ($($case:ident in $world:ident),* $(,)?) => {
        mod memory {
            use tributary_repo::MemoryStore;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let store = MemoryStore::new();
                    let user = store.create_user();
                    super::$case(super::$world(store, user).await).await;
                }
            )*
        }

        mod postgres {
            use sqlx::PgPool;
            use tributary_domain::UserId;
            use tributary_repo::{Keyring, PgStore, SecretKey};

            $(
                #[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
                async fn $case(pool: PgPool) {
                    let user = tributary_testdb::create_auth_user(&pool)
                        .await
                        .expect("a user in auth.users");
                    let store = PgStore::new(pool, Keyring::new(SecretKey::generate()));
                    super::$case(super::$world(store, UserId::new(user)).await).await;
                }
            )*
        }
    };
}

cases!(
    a_slow_account_past_the_timeout_is_recorded_failed_and_the_rest_synced in with_short_timeout,
    a_malformed_provider_answer_writes_nothing_from_that_answer in as_usual,
);
