//! Issue 7's provider faults through a whole sync, on both stores, against the sandbox over real HTTP: one
//! account's positions (or one Plaid Item's holdings) slower than the client's timeout, one account's
//! positions answered with a body that does not parse or does not convert, and one call answered 410 Gone.
//! The accounts that failed are recorded failed with their typed error and keep what was stored for them;
//! every other account syncs and is written.
#![cfg(all(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]

use std::collections::BTreeMap;
use std::time::Duration;

use rust_decimal::Decimal;
use tributary_domain::{
    AccountContribution, AccountId, ConnectionType, Holding, InvestmentAccount, Provider,
    SyncStatus,
};
use tributary_provider::capability::PositionSide;
use tributary_provider::{ErrorDetail, ProviderError};
use tributary_repo::Store;
use tributary_sandbox::RequestLog;
use tributary_sync::{AccountReport, Outcome, SyncReport};

use crate::support::World;

/// The SnapTrade and Plaid clients' timeout in the slow tests: short, so the tests are quick, yet far above
/// what the sandbox needs to answer on a loaded machine (and a call that still overruns it once is retried).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the sandbox holds the slow answer: well past the timeout (15 times it).
const SLOW_ANSWER: Duration = Duration::from_secs(30);
/// SnapTrade's name for the positions call, as errors name it.
const POSITIONS_CALL: &str = "getAllAccountPositions";
/// Plaid's holdings call, per Item: its path is its name in errors.
const PLAID_HOLDINGS_CALL: &str = "/investments/holdings/get";
/// Alpaca's name for the positions call, as errors name it.
const ALPACA_POSITIONS_CALL: &str = "getPositionsForAccount";

/// The user's stored accounts at `provider`.
async fn accounts_at<S: Store + 'static>(
    world: &World<S>,
    provider: Provider,
) -> Vec<InvestmentAccount> {
    let accounts = world.store().list_accounts(world.user).await.unwrap();
    accounts
        .into_iter()
        .filter(|a| a.provider == provider)
        .collect()
}

/// The user's SnapTrade accounts, as stored.
async fn snaptrade_accounts<S: Store + 'static>(world: &World<S>) -> Vec<InvestmentAccount> {
    let snaptrade = accounts_at(world, Provider::SnapTrade).await;
    assert!(snaptrade.len() >= 2, "the portal connects two accounts");
    snaptrade
}

/// The stored ids of the user's Plaid Item's accounts.
async fn plaid_item_accounts<S: Store + 'static>(world: &World<S>) -> Vec<AccountId> {
    let item: Vec<_> = accounts_at(world, Provider::Plaid)
        .await
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(item.len(), 2, "the Item has two investment accounts");
    item
}

/// The first path in `log` ending with `suffix`: the exact path the client asked for.
fn logged_path(log: &RequestLog, suffix: &str) -> String {
    log.all()
        .into_iter()
        .map(|request| request.path)
        .find(|path| path.ends_with(suffix))
        .unwrap_or_else(|| panic!("a clean sync asked for {suffix}"))
}

/// The path the client asked for `account`'s positions on, as the sandbox logged it.
fn positions_path<S>(world: &World<S>, account: &InvestmentAccount) -> String {
    let suffix = format!(
        "/accounts/{}/positions/all",
        account.provider_account_id.as_str()
    );
    logged_path(world.sandbox.snaptrade().log(), &suffix)
}

/// The path the Alpaca client asked for the account's positions on, as the sandbox logged it.
fn alpaca_positions_path<S>(world: &World<S>, account: &InvestmentAccount) -> String {
    let suffix = format!(
        "/v1/trading/accounts/{}/positions",
        account.provider_account_id.as_str()
    );
    logged_path(world.sandbox.alpaca().log(), &suffix)
}

/// The path the Plaid client asked for the Item's holdings on, as the sandbox logged it.
fn plaid_holdings_path<S>(world: &World<S>) -> String {
    logged_path(world.sandbox.plaid().log(), PLAID_HOLDINGS_CALL)
}

/// The given accounts' parts of each holding, by account and symbol.
fn contributions_of(
    holdings: &[Holding],
    accounts: &[AccountId],
) -> BTreeMap<(AccountId, String), AccountContribution> {
    holdings
        .iter()
        .flat_map(|holding| {
            holding
                .account_contributions
                .iter()
                .filter(|c| accounts.contains(&c.account_id))
                .map(move |c| {
                    (
                        (c.account_id, holding.symbol.as_str().to_owned()),
                        c.clone(),
                    )
                })
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
        .positions
        .failure()
        .unwrap_or_else(|| panic!("the account's positions did not fail: {entry:?}"));
    failure
        .provider_error()
        .unwrap_or_else(|| panic!("untyped failure: {failure:?}"))
}

/// Every provider synced, only the `failed` accounts' positions failed, and every other account's synced.
fn only_these_accounts_failed(report: &SyncReport, failed: &[AccountId]) {
    assert!(
        report
            .providers
            .iter()
            .all(|p| p.outcome == Outcome::Synced),
        "a provider that answered for its other accounts is synced: {:?}",
        report.providers
    );
    assert_eq!(
        report.failures().len(),
        failed.len(),
        "{:?}",
        report.failures()
    );
    for account in report
        .accounts
        .iter()
        .filter(|a| !a.account_id.is_some_and(|id| failed.contains(&id)))
    {
        assert_eq!(account.positions, Outcome::Synced, "{account:?}");
    }
}

/// The failed accounts' sync state is `error` with a message naming `message_names`; every other account's
/// `success`.
async fn stored_states_say_only_these_accounts_failed<S: Store + 'static>(
    world: &World<S>,
    failed: &[AccountId],
    message_names: &str,
) {
    for account in world.store().list_accounts(world.user).await.unwrap() {
        if failed.contains(&account.id) {
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

/// Every account but the `failed` ones holds in the store exactly what the sandbox holds for it now.
async fn the_other_accounts_hold_what_the_sandbox_holds<S: Store + 'static>(
    world: &World<S>,
    failed: &[AccountId],
) {
    let (mut at_sandbox, mut in_store) = units_at_sandbox_and_in_store(world).await;
    for account in failed {
        at_sandbox.remove(account);
        in_store.remove(account);
    }
    assert!(!at_sandbox.is_empty());
    assert_eq!(in_store, at_sandbox);
}

/// The failed accounts keep, in the store, exactly the parts of the holdings they had before.
async fn the_failed_accounts_keep_what_they_held<S: Store + 'static>(
    world: &World<S>,
    failed: &[AccountId],
    before: &BTreeMap<(AccountId, String), AccountContribution>,
) {
    let holdings = world.store().list_holdings(world.user).await.unwrap();
    assert_eq!(
        &contributions_of(&holdings, failed),
        before,
        "the failed accounts keep what the clean sync stored"
    );
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
        &[slow.id],
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
    only_these_accounts_failed(&report, &[slow.id]);
    for provider in [Provider::Plaid, Provider::Alpaca] {
        assert!(
            report.accounts.iter().any(|a| a.provider == provider),
            "{provider}'s accounts were fetched and reported"
        );
    }
    stored_states_say_only_these_accounts_failed(&world, &[slow.id], POSITIONS_CALL).await;
    the_failed_accounts_keep_what_they_held(&world, &[slow.id], &slow_before).await;
    the_other_accounts_hold_what_the_sandbox_holds(&world, &[slow.id]).await;
}

/// The Plaid Item's holdings call answers long after the Plaid client's timeout; a SnapTrade brokerage and an
/// Alpaca account are linked since the last (clean) sync, so their holdings reach the store only through this
/// one. The Item's accounts themselves (`/accounts/get`) answer at once, so they are reported, each failed.
async fn a_slow_plaid_item_past_the_timeout_is_recorded_failed_and_the_rest_synced<
    S: Store + 'static,
>(
    world: World<S>,
) {
    world.link_plaid();
    let clean = world.engine.sync_user(world.user).await.unwrap();
    assert!(!clean.has_failures(), "{:?}", clean.failures());
    let item = plaid_item_accounts(&world).await;
    let item_before = contributions_of(
        &world.store().list_holdings(world.user).await.unwrap(),
        &item,
    );
    assert!(
        !item_before.is_empty(),
        "the Item's accounts held positions"
    );
    // Linked after the clean sync: their holdings are in the store only if the slow sync writes them.
    world.connect_snaptrade(ConnectionType::Trade).await;
    world.link_alpaca().await;
    let knobs = world.sandbox.plaid().knobs();
    knobs.set_path_latency(&plaid_holdings_path(&world), SLOW_ANSWER);

    let report = world.engine.sync_user(world.user).await.unwrap();
    knobs.reset();

    for account in &item {
        match positions_error(&report, *account) {
            ProviderError::Timeout { provider, endpoint } => {
                assert_eq!(*provider, Provider::Plaid);
                assert_eq!(*endpoint, PLAID_HOLDINGS_CALL);
            }
            other => panic!("expected a Timeout, got {other:?}"),
        }
    }
    only_these_accounts_failed(&report, &item);
    for provider in [Provider::SnapTrade, Provider::Alpaca] {
        assert!(
            report.accounts.iter().any(|a| a.provider == provider),
            "{provider}'s accounts were fetched and reported"
        );
    }
    stored_states_say_only_these_accounts_failed(&world, &item, PLAID_HOLDINGS_CALL).await;
    the_failed_accounts_keep_what_they_held(&world, &item, &item_before).await;
    the_other_accounts_hold_what_the_sandbox_holds(&world, &item).await;
}

/// With a bad answer set on the knobs for `failed`'s positions, a sync records exactly those accounts failed,
/// each error as `expected` wants it, writes nothing of the answer (no `ZZZZ` holding), keeps what they held
/// and writes everyone else's what the sandbox holds.
async fn a_sync_fails_only_these_accounts_and_writes_nothing_of_the_answer<S: Store + 'static>(
    world: &World<S>,
    failed: &[AccountId],
    before: &BTreeMap<(AccountId, String), AccountContribution>,
    expected: impl Fn(&ProviderError),
) {
    let report = world.engine.sync_user(world.user).await.unwrap();
    for account in failed {
        expected(positions_error(&report, *account));
    }
    only_these_accounts_failed(&report, failed);
    let message = entry(&report, failed[0])
        .positions
        .failure()
        .map(ToString::to_string)
        .unwrap_or_default();
    stored_states_say_only_these_accounts_failed(world, failed, &message).await;
    let holdings = world.store().list_holdings(world.user).await.unwrap();
    assert!(
        holdings.iter().all(|h| h.symbol.as_str() != "ZZZZ"),
        "nothing of the answer is written, not even its well-formed position"
    );
    the_failed_accounts_keep_what_they_held(world, failed, before).await;
}

/// Every provider linked and cleanly synced.
async fn a_clean_sync_of_everything<S: Store + 'static>(world: &World<S>) {
    world.link_everything().await;
    let clean = world.engine.sync_user(world.user).await.unwrap();
    assert!(!clean.has_failures(), "{:?}", clean.failures());
}

/// What `accounts` hold in the store now, which must be something.
async fn what_they_hold<S: Store + 'static>(
    world: &World<S>,
    accounts: &[AccountId],
) -> BTreeMap<(AccountId, String), AccountContribution> {
    let holdings = world.store().list_holdings(world.user).await.unwrap();
    let held = contributions_of(&holdings, accounts);
    assert!(!held.is_empty(), "the accounts held positions");
    held
}

/// A body that is cut off mid-way and one whose second position's instrument is a string where an object
/// belongs (neither can be read: the account fails and nothing of the answer is written, not even its
/// well-formed first position of a symbol the account does not hold), and one whose second position has no
/// symbol (it reads: that position is left out, and the rest of the answer is written).
const TRUNCATED: &str =
    r#"{"results": [{"instrument": {"symbol": "ZZZZ"}, "units": 5, "price": 1}, {"instrument": "#;
const WRONG_TYPE: &str = r#"{"results": [{"instrument": {"symbol": "ZZZZ"}, "units": 5, "price": 1}, {"instrument": "YYYY", "units": 3, "price": 1}]}"#;
const MISSING_SYMBOL: &str = r#"{"results": [{"instrument": {"symbol": "ZZZZ"}, "units": 5, "price": 1}, {"instrument": {"description": "no symbol"}, "units": 3, "price": 1}]}"#;

/// After a clean sync, one SnapTrade account's positions are answered with each bad body in turn.
async fn a_malformed_provider_answer_writes_nothing_from_that_answer<S: Store + 'static>(
    world: World<S>,
) {
    a_clean_sync_of_everything(&world).await;
    let garbled = &snaptrade_accounts(&world).await[0];
    let before = what_they_hold(&world, &[garbled.id]).await;
    let path = positions_path(&world, garbled);
    let knobs = world.sandbox.snaptrade().knobs();

    for body in [TRUNCATED, WRONG_TYPE] {
        knobs.replace_body(&path, body);
        a_sync_fails_only_these_accounts_and_writes_nothing_of_the_answer(
            &world,
            &[garbled.id],
            &before,
            |error| match error {
                ProviderError::Decode {
                    provider,
                    endpoint,
                    raw_body,
                    ..
                } => {
                    assert_eq!(*provider, Provider::SnapTrade);
                    assert_eq!(*endpoint, POSITIONS_CALL);
                    assert_eq!(raw_body, body, "the raw body is kept for diagnosis");
                }
                other => panic!("expected Decode, got {other:?}"),
            },
        )
        .await;
        knobs.reset();
        the_other_accounts_hold_what_the_sandbox_holds(&world, &[garbled.id]).await;
    }

    knobs.replace_body(&path, MISSING_SYMBOL);
    one_position_is_left_out_and_the_rest_written(
        &world,
        garbled.id,
        Provider::SnapTrade,
        Some("positions[1].instrument.symbol"),
    )
    .await;
    knobs.reset();
    the_other_accounts_hold_what_the_sandbox_holds(&world, &[garbled.id]).await;
}

/// A sync whose answer for `account` holds one position that cannot be represented: the sync succeeds, the
/// position is reported left out (naming `field`, when given), and the answer's other position (`ZZZZ`) is
/// written.
async fn one_position_is_left_out_and_the_rest_written<S: Store + 'static>(
    world: &World<S>,
    account: AccountId,
    provider: Provider,
    field: Option<&str>,
) {
    let report = world.engine.sync_user(world.user).await.unwrap();
    assert!(!report.has_failures(), "{:?}", report.failures());
    let [left_out] = report.left_out.as_slice() else {
        panic!("one position left out: {:?}", report.left_out)
    };
    assert_eq!(left_out.provider, provider);
    assert!(!left_out.reason.is_empty(), "{left_out}");
    if let Some(field) = field {
        assert_eq!(left_out.field, field);
    }
    let holdings = world.store().list_holdings(world.user).await.unwrap();
    let written = contributions_of(&holdings, &[account]);
    let symbols: Vec<&str> = written.keys().map(|(_, symbol)| symbol.as_str()).collect();
    assert_eq!(symbols, ["ZZZZ"], "the rest of the answer is written");
}

/// Alpaca's positions as its Broker API sends them: a well-formed position of `ZZZZ` (a symbol the account does
/// not hold), then a second one that is broken in each body's own way.
const ALPACA_GOOD_POSITION: &str = r#"{"asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415", "symbol": "ZZZZ", "avg_entry_price": "1", "qty": "5", "side": "long", "current_price": "1", "market_value": "5"}"#;
/// Not JSON at all: what a proxy's error page looks like with a 200.
const ALPACA_NOT_JSON: &str = "<html><body>upstream unavailable</body></html>";
/// The second position's `qty` is an array where a decimal belongs.
const ALPACA_WRONG_TYPE: &str = r#"{"asset_id": "a0b6dd9d-8b9b-48a9-ba46-b9d54906e415", "symbol": "YYYY", "avg_entry_price": "1", "qty": ["3"], "side": "long"}"#;
/// The second position has no `side`, a required field.
const ALPACA_MISSING_SIDE: &str = r#"{"asset_id": "a0b6dd9d-8b9b-48a9-ba46-b9d54906e415", "symbol": "YYYY", "avg_entry_price": "1", "qty": "3"}"#;
/// The second position's symbol is empty: the body parses, the domain refuses the symbol, and that position
/// alone is left out.
const ALPACA_EMPTY_SYMBOL: &str = r#"{"asset_id": "a0b6dd9d-8b9b-48a9-ba46-b9d54906e415", "symbol": "", "avg_entry_price": "1", "qty": "3", "side": "long"}"#;

/// An Alpaca positions body: the well-formed position, then `second` (raw text, so it may be anything).
fn alpaca_positions(second: &str) -> String {
    format!("[{ALPACA_GOOD_POSITION}, {second}]")
}

/// After a clean sync, the Alpaca account's positions are answered with each bad body in turn.
async fn a_malformed_alpaca_answer_writes_nothing_from_that_answer<S: Store + 'static>(
    world: World<S>,
) {
    a_clean_sync_of_everything(&world).await;
    let alpaca = &accounts_at(&world, Provider::Alpaca).await[0];
    let before = what_they_hold(&world, &[alpaca.id]).await;
    let path = alpaca_positions_path(&world, alpaca);
    let knobs = world.sandbox.alpaca().knobs();
    // Not JSON at all: nothing of the answer can be read, so the account fails and keeps what it held.
    knobs.replace_body(&path, ALPACA_NOT_JSON);
    a_sync_fails_only_these_accounts_and_writes_nothing_of_the_answer(
        &world,
        &[alpaca.id],
        &before,
        |error| match error {
            ProviderError::Decode {
                provider,
                endpoint,
                raw_body,
                ..
            } => {
                assert_eq!(*provider, Provider::Alpaca);
                assert_eq!(*endpoint, ALPACA_POSITIONS_CALL);
                assert_eq!(
                    raw_body, ALPACA_NOT_JSON,
                    "the raw body is kept for diagnosis"
                );
            }
            other => panic!("expected Decode, got {other:?}"),
        },
    )
    .await;
    knobs.reset();
    the_other_accounts_hold_what_the_sandbox_holds(&world, &[alpaca.id]).await;

    // A list whose second position does not parse (a wrong type, a required field missing): that position
    // alone is left out, the well-formed one is written.
    for second in [ALPACA_WRONG_TYPE, ALPACA_MISSING_SIDE] {
        knobs.replace_body(&path, alpaca_positions(second));
        one_position_is_left_out_and_the_rest_written(&world, alpaca.id, Provider::Alpaca, None)
            .await;
        knobs.reset();
        the_other_accounts_hold_what_the_sandbox_holds(&world, &[alpaca.id]).await;
    }

    knobs.replace_body(&path, alpaca_positions(ALPACA_EMPTY_SYMBOL));
    one_position_is_left_out_and_the_rest_written(
        &world,
        alpaca.id,
        Provider::Alpaca,
        Some("positions[1].symbol"),
    )
    .await;
    knobs.reset();
    the_other_accounts_hold_what_the_sandbox_holds(&world, &[alpaca.id]).await;
}

/// A 410's detail: who answered, with status 410 and the provider's code.
fn retired(detail: &ErrorDetail, provider: Provider, code: &str) {
    assert_eq!(detail.provider, provider, "{detail}");
    assert_eq!(detail.status, 410, "{detail}");
    assert_eq!(detail.code.as_deref(), Some(code), "{detail}");
}

/// After a clean sync, one call answers 410 Gone during a sync, each provider's in turn: one SnapTrade
/// account's positions, the Plaid Item's holdings, the Alpaca account's positions. SnapTrade and Alpaca's
/// clients say `Gone`; Plaid documents no 410, so its client reads the sandbox's Plaid error body
/// (`ENDPOINT_RETIRED`) as `Rejected`, the status kept.
async fn a_retired_endpoint_through_a_sync_is_gone_and_writes_nothing<S: Store + 'static>(
    world: World<S>,
) {
    a_clean_sync_of_everything(&world).await;
    let snaptrade = &snaptrade_accounts(&world).await[0];
    let alpaca = &accounts_at(&world, Provider::Alpaca).await[0];
    let item = plaid_item_accounts(&world).await;

    let snaptrade_before = what_they_hold(&world, &[snaptrade.id]).await;
    let knobs = world.sandbox.snaptrade().knobs();
    knobs.retire_path(&positions_path(&world, snaptrade));
    a_sync_fails_only_these_accounts_and_writes_nothing_of_the_answer(
        &world,
        &[snaptrade.id],
        &snaptrade_before,
        |error| match error {
            ProviderError::Gone(detail) => {
                assert_eq!(detail.provider, Provider::SnapTrade, "{detail}");
                assert_eq!(detail.status, 410, "{detail}");
            }
            other => panic!("expected Gone, got {other:?}"),
        },
    )
    .await;
    knobs.reset();
    the_other_accounts_hold_what_the_sandbox_holds(&world, &[snaptrade.id]).await;

    let item_before = what_they_hold(&world, &item).await;
    let knobs = world.sandbox.plaid().knobs();
    knobs.retire_path(&plaid_holdings_path(&world));
    a_sync_fails_only_these_accounts_and_writes_nothing_of_the_answer(
        &world,
        &item,
        &item_before,
        |error| match error {
            ProviderError::Rejected(detail) => retired(detail, Provider::Plaid, "ENDPOINT_RETIRED"),
            other => panic!("expected Rejected with the 410, got {other:?}"),
        },
    )
    .await;
    knobs.reset();
    the_other_accounts_hold_what_the_sandbox_holds(&world, &item).await;

    let alpaca_before = what_they_hold(&world, &[alpaca.id]).await;
    let knobs = world.sandbox.alpaca().knobs();
    knobs.retire_path(&alpaca_positions_path(&world, alpaca));
    a_sync_fails_only_these_accounts_and_writes_nothing_of_the_answer(
        &world,
        &[alpaca.id],
        &alpaca_before,
        |error| match error {
            ProviderError::Gone(detail) => retired(detail, Provider::Alpaca, "41010000"),
            other => panic!("expected Gone, got {other:?}"),
        },
    )
    .await;
    knobs.reset();
    the_other_accounts_hold_what_the_sandbox_holds(&world, &[alpaca.id]).await;
}

/// The world of the SnapTrade slow-account test: its SnapTrade client times out after [`CLIENT_TIMEOUT`].
async fn with_short_timeout<S: Store + 'static>(
    store: S,
    user: tributary_domain::UserId,
) -> World<S> {
    World::start_with_snaptrade_config(store, user, |config| config.with_timeout(CLIENT_TIMEOUT))
        .await
}

/// The world of the Plaid slow-Item test: its Plaid client times out after [`CLIENT_TIMEOUT`].
async fn with_short_plaid_timeout<S: Store + 'static>(
    store: S,
    user: tributary_domain::UserId,
) -> World<S> {
    World::start_with_plaid_config(store, user, |config| config.with_timeout(CLIENT_TIMEOUT)).await
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
    a_slow_plaid_item_past_the_timeout_is_recorded_failed_and_the_rest_synced in with_short_plaid_timeout,
    a_malformed_alpaca_answer_writes_nothing_from_that_answer in as_usual,
    a_retired_endpoint_through_a_sync_is_gone_and_writes_nothing in as_usual,
);
