//! The one conformance suite: every case is a generic `async fn` over a [`Harness`], run by
//! `conformance_memory.rs` against `MemoryStore` and by `conformance_pg.rs` against `PgStore` (service mode, and
//! user-scoped mode for the cases listed in [`user_scoped_cases!`]). A behaviour that differs between the stores
//! fails one of the runs.

#![allow(dead_code, unused_macros)] // each test binary uses part of the harness

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use tributary_domain::{
    AccountContribution, AccountId, AccountType, Amount, AuthorizationId, BrokerageName,
    BrokerageOrderId, BrokerageSlug, ConnectionStatus, ConnectionType, Currency, ExposeSecret,
    HoldingFigures, InstitutionName, InvestmentAccount, NewBrokerageConnection, NewHolding,
    NewInvestmentAccount, NewOrder, NewSnapTradeUser, OrderAction, OrderId, OrderStatus, OrderType,
    PortfolioMode, Price, Provider, ProviderAccountId, Quantity, SecretString, SnapTradeUserId,
    SnapTradeUserSecret, StatusMessage, Symbol, SyncStatus, Units, UserId,
};
use tributary_repo::{
    AccountRepository, AccountSyncState, ConnectionRepository, ConnectionStatusChange,
    HoldingRepository, LockRepository, MemoryStore, MockHeldLock, NewWebhookDelivery,
    OrderRepository, PortfolioRepository, RepoError, SnapTradeUserRepository, Store, UserLock,
    WebhookKey, WebhookRepository, WebhookStatus,
};

/// A store under test, and how to make users for it.
pub trait Harness {
    /// The store type.
    type Store: Store + Clone;
    /// A new user (a row of `auth.users` on PostgreSQL).
    async fn new_user(&self) -> UserId;
    /// The store a user's own calls go through: scoped to `user` in user-scoped mode.
    fn store_for(&self, user: UserId) -> Self::Store;
    /// The store that sets up what the mode under test may not write itself (accounts, onboarding).
    fn admin(&self) -> Self::Store;
    /// Whether the store acts as the signed-in user (then SnapTrade users are out of reach).
    fn user_scoped(&self) -> bool {
        false
    }
}

/// Every case, for a runner macro that turns a case name into a test.
macro_rules! all_cases {
    ($runner:ident) => {
        $runner!(account_upserts_are_idempotent_on_provider_account_and_user);
        $runner!(a_second_identical_write_changes_nothing);
        $runner!(providers_figures_are_stored_and_read_back_to_the_last_digit);
        $runner!(another_user_never_reads_or_writes_the_first_users_rows);
        $runner!(replacing_holdings_removes_symbols_no_longer_held);
        $runner!(a_symbol_held_in_two_currencies_is_two_rows_each_replaced_on_its_own);
        $runner!(a_reader_never_sees_half_a_holdings_replacement);
        $runner!(portfolio_mode_follows_the_truth_table_for_every_combination);
        $runner!(orders_upsert_by_brokerage_order_and_account_and_take_status_updates);
        $runner!(a_pending_order_is_confirmed_in_place_as_the_providers_order);
        $runner!(connection_status_moves_between_active_disabled_and_error);
        $runner!(unified_accounts_carry_their_connections_health);
        $runner!(missing_rows_and_bad_batches_are_typed_errors);
        $runner!(a_provider_key_held_by_one_user_neither_blocks_nor_captures_anothers);
        $runner!(snaptrade_users_register_once_and_keep_their_secret);
        $runner!(a_sync_outcome_is_recorded_and_a_failure_keeps_the_last_success);
        $runner!(many_sync_outcomes_are_recorded_at_once_and_a_bad_batch_writes_nothing);
        $runner!(a_users_lock_waits_for_its_holder_and_other_users_do_not);
        $runner!(a_unit_of_writes_is_saved_whole_or_not_at_all);
        $runner!(a_store_binds_to_its_own_locks_and_refuses_anothers);
        $runner!(a_webhook_delivery_is_recorded_once_and_a_replay_is_refused);
        $runner!(
            a_failed_delivery_stays_pending_until_applied_and_only_old_applied_ones_are_purged
        );
        $runner!(a_deleted_connection_is_gone_while_its_accounts_and_orders_stay);
    };
}

/// The cases the user-scoped harness runs (reads as the user, writes as the backend): everything but the cases
/// that read a SnapTrade user's secret, which the schema hides from the user.
macro_rules! user_scoped_cases {
    ($runner:ident) => {
        $runner!(a_second_identical_write_changes_nothing);
        $runner!(providers_figures_are_stored_and_read_back_to_the_last_digit);
        $runner!(another_user_never_reads_or_writes_the_first_users_rows);
        $runner!(replacing_holdings_removes_symbols_no_longer_held);
        $runner!(a_reader_never_sees_half_a_holdings_replacement);
        $runner!(portfolio_mode_follows_the_truth_table_for_every_combination);
        $runner!(orders_upsert_by_brokerage_order_and_account_and_take_status_updates);
        $runner!(a_pending_order_is_confirmed_in_place_as_the_providers_order);
        $runner!(connection_status_moves_between_active_disabled_and_error);
        $runner!(unified_accounts_carry_their_connections_health);
        $runner!(a_deleted_connection_is_gone_while_its_accounts_and_orders_stay);
        $runner!(a_provider_key_held_by_one_user_neither_blocks_nor_captures_anothers);
    };
}

// ---------------------------------------------------------------------------------------------------------
// Fixtures

/// A timestamp at PostgreSQL's precision, so values read back equal the values written on both stores.
pub fn at(seconds_ago: i64) -> DateTime<Utc> {
    let time = Utc::now() - Duration::seconds(seconds_ago);
    DateTime::from_timestamp_micros(time.timestamp_micros()).unwrap()
}

pub fn account(
    user: UserId,
    provider: Provider,
    provider_account_id: &str,
) -> NewInvestmentAccount {
    NewInvestmentAccount::new(
        user,
        provider,
        ProviderAccountId::parse(provider_account_id).unwrap(),
        InstitutionName::parse("Charles Schwab").unwrap(),
        AccountType::parse("brokerage").unwrap(),
    )
}

pub fn holding(user: UserId, symbol: &str, quantity: &str, value: &str) -> NewHolding {
    let figures = HoldingFigures::derive(
        Quantity::parse(quantity).unwrap(),
        Amount::parse(value).unwrap(),
        Amount::parse("100").unwrap(),
    )
    .unwrap();
    NewHolding::new(user, Symbol::parse(symbol).unwrap(), figures)
}

pub fn connection(user: UserId, authorization: AuthorizationId) -> NewBrokerageConnection {
    NewBrokerageConnection::new(
        user,
        authorization,
        BrokerageSlug::parse("SCHWAB").unwrap(),
        BrokerageName::parse("Charles Schwab").unwrap(),
        ConnectionType::Trade,
    )
}

pub fn order(user: UserId, account: AccountId, brokerage_order_id: &str) -> NewOrder {
    NewOrder {
        units: Some(Units::parse("10").unwrap()),
        limit_price: Some(Price::parse("187.25").unwrap()),
        raw_order_data: Some(serde_json::json!({ "brokerage_order_id": brokerage_order_id })),
        ..NewOrder::new(
            user,
            account,
            BrokerageOrderId::parse(brokerage_order_id).unwrap(),
            Symbol::parse("AAPL").unwrap(),
            OrderAction::Buy,
            OrderType::Limit,
            OrderStatus::Pending,
            at(60),
        )
    }
}

pub fn snaptrade_user(user: UserId, id: &str, secret: &str) -> NewSnapTradeUser {
    NewSnapTradeUser {
        user_id: user,
        snaptrade_user_id: SnapTradeUserId::parse(id).unwrap(),
        user_secret: SnapTradeUserSecret::new(SecretString::from(secret)).unwrap(),
    }
}

fn message(text: &str) -> StatusMessage {
    StatusMessage::parse(text).unwrap()
}

/// A SnapTrade account set up by the admin store, for orders and connections to hang off.
async fn snaptrade_account<H: Harness>(h: &H, user: UserId, id: &str) -> InvestmentAccount {
    let stored = h
        .admin()
        .upsert_accounts(user, &[account(user, Provider::SnapTrade, id)])
        .await
        .unwrap();
    stored.into_iter().next().unwrap()
}

async fn symbols<H: Harness>(h: &H, user: UserId) -> Vec<String> {
    h.store_for(user)
        .list_holdings(user)
        .await
        .unwrap()
        .into_iter()
        .map(|holding| holding.symbol.to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// Cases

pub async fn account_upserts_are_idempotent_on_provider_account_and_user<H: Harness>(h: &H) {
    let (user, other) = (h.new_user().await, h.new_user().await);
    let store = h.store_for(user);
    let batch = [
        account(user, Provider::Plaid, "acc-1"),
        account(user, Provider::SnapTrade, "acc-1"),
    ];
    let first = store.upsert_accounts(user, &batch).await.unwrap();
    assert_eq!(
        first.len(),
        2,
        "same provider account id under two providers is two accounts"
    );
    assert_eq!(first[0].provider, Provider::Plaid);
    assert_eq!(first[1].provider, Provider::SnapTrade);

    let again = store.upsert_accounts(user, &batch).await.unwrap();
    assert_eq!(
        again, first,
        "an identical upsert returns the same rows, updated_at included"
    );

    let mut renamed = batch[0].clone();
    renamed.institution_name = InstitutionName::parse("Vanguard").unwrap();
    let updated = store.upsert_accounts(user, &[renamed]).await.unwrap();
    assert_eq!(
        updated[0].id, first[0].id,
        "the natural key finds the same row"
    );
    assert_eq!(updated[0].institution_name.as_str(), "Vanguard");
    assert!(updated[0].updated_at > first[0].updated_at);
    assert_eq!(store.list_accounts(user).await.unwrap().len(), 2);

    let theirs = h
        .store_for(other)
        .upsert_accounts(other, &[account(other, Provider::Plaid, "acc-1")])
        .await
        .unwrap();
    assert_ne!(theirs[0].id, first[0].id, "the user is part of the key");
    assert_eq!(
        store
            .get_account(user, first[0].id)
            .await
            .unwrap()
            .institution_name
            .as_str(),
        "Vanguard"
    );
}

pub async fn a_second_identical_write_changes_nothing<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.store_for(user);
    let account = snaptrade_account(h, user, "acc-idem").await;

    let holdings = [
        holding(user, "AAPL", "10", "2291.40"),
        holding(user, "VTI", "42.5", "12346.25"),
    ];
    assert_eq!(
        store
            .replace_holdings(user, &holdings)
            .await
            .unwrap()
            .written,
        2
    );
    let before = store.list_holdings(user).await.unwrap();
    let again = store.replace_holdings(user, &holdings).await.unwrap();
    assert_eq!((again.written, again.removed), (0, 0));
    assert_eq!(store.upsert_holdings(user, &holdings).await.unwrap(), 0);
    assert_eq!(
        store.list_holdings(user).await.unwrap(),
        before,
        "updated_at unchanged"
    );

    let orders = [
        order(user, account.id, "ord-1"),
        order(user, account.id, "ord-2"),
    ];
    let first = store.upsert_orders(user, &orders).await.unwrap();
    assert_eq!(store.upsert_orders(user, &orders).await.unwrap(), first);

    let connections = [connection(user, AuthorizationId::generate())];
    let first = store.upsert_connections(user, &connections).await.unwrap();
    assert_eq!(
        store.upsert_connections(user, &connections).await.unwrap(),
        first
    );
}

/// Alpaca's 9-decimal crypto quantity and a Plaid value past the cent, as the provider clients build them
/// (`exact`), come back from the store to the last digit, and writing them again writes nothing.
pub async fn providers_figures_are_stored_and_read_back_to_the_last_digit<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.store_for(user);
    let account = snaptrade_account(h, user, "acc-exact").await;
    let quantity = Quantity::parse_exact_for("qty", "0.123456789").unwrap();
    let value = Amount::parse_exact_for("institution_value", "16.6665").unwrap();
    let cost = Amount::parse_exact_for("cost_basis", "10.000001").unwrap();
    let mut crypto = NewHolding::new(
        user,
        Symbol::parse("BTC").unwrap(),
        HoldingFigures::derive(quantity, value, cost).unwrap(),
    );
    crypto.account_contributions = vec![AccountContribution {
        account_id: account.id,
        institution: InstitutionName::parse("Alpaca").unwrap(),
        quantity,
        market_value: value,
        cost_basis: cost,
    }];
    store
        .replace_holdings(user, std::slice::from_ref(&crypto))
        .await
        .unwrap();
    let stored = store
        .get_holding(user, &Symbol::parse("BTC").unwrap(), None)
        .await
        .unwrap();
    assert_eq!(stored.figures, crypto.figures);
    assert_eq!(stored.figures.total_quantity.to_string(), "0.1234567890");
    assert_eq!(
        stored.figures.total_market_value.to_string(),
        "16.6665000000"
    );
    assert_eq!(stored.figures.total_cost_basis.to_string(), "10.0000010000");
    // 10.000001 / 0.123456789 is the store's arithmetic, rounded to the column as PostgreSQL would.
    assert_eq!(
        stored.figures.average_cost_basis.to_string(),
        "81.0000088371"
    );
    assert_eq!(stored.account_contributions, crypto.account_contributions);
    assert_eq!(
        stored.institution_breakdown["Alpaca"].quantity,
        quantity.get()
    );
    let again = store
        .replace_holdings(user, std::slice::from_ref(&crypto))
        .await
        .unwrap();
    assert_eq!(
        (again.written, again.removed),
        (0, 0),
        "an unchanged re-sync writes nothing"
    );

    let mut filled = order(user, account.id, "ord-crypto");
    filled.units = Some(Units::parse_exact_for("qty", "0.123456789").unwrap());
    filled.filled_units = Some(Units::parse_exact_for("filled_qty", "0.000000001").unwrap());
    filled.limit_price = Some(Price::parse_exact_for("limit_price", "0.0000123456").unwrap());
    filled.average_fill_price =
        Some(Price::parse_exact_for("filled_avg_price", "64123.123456789").unwrap());
    let placed = store
        .upsert_orders(user, std::slice::from_ref(&filled))
        .await
        .unwrap();
    let read = store.get_order(user, placed[0].id).await.unwrap();
    assert_eq!(
        (
            read.units,
            read.filled_units,
            read.limit_price,
            read.average_fill_price
        ),
        (
            filled.units,
            filled.filled_units,
            filled.limit_price,
            filled.average_fill_price
        )
    );
    assert_eq!(read.units.unwrap().to_string(), "0.1234567890");
    assert_eq!(
        read.average_fill_price.unwrap().to_string(),
        "64123.1234567890"
    );
}

pub async fn another_user_never_reads_or_writes_the_first_users_rows<H: Harness>(h: &H) {
    let (alice, bob) = (h.new_user().await, h.new_user().await);
    let (as_alice, as_bob) = (h.store_for(alice), h.store_for(bob));
    let account = snaptrade_account(h, alice, "alice-acc").await;
    let authorization = AuthorizationId::generate();
    as_alice
        .upsert_connections(alice, &[connection(alice, authorization)])
        .await
        .unwrap();
    as_alice
        .replace_holdings(alice, &[holding(alice, "AAPL", "1", "200")])
        .await
        .unwrap();
    let order = as_alice
        .upsert_orders(alice, &[order(alice, account.id, "ord-a")])
        .await
        .unwrap();
    let order_id = order[0].id;

    assert!(as_bob.list_accounts(bob).await.unwrap().is_empty());
    assert!(as_bob.list_connections(bob).await.unwrap().is_empty());
    assert!(as_bob.list_holdings(bob).await.unwrap().is_empty());
    assert!(as_bob.list_orders(bob, None).await.unwrap().is_empty());
    assert!(as_bob.unified_accounts(bob).await.unwrap().is_empty());
    assert!(matches!(
        as_bob.get_account(bob, account.id).await,
        Err(RepoError::NotFound { entity: "account" })
    ));
    assert!(matches!(
        as_bob.get_order(bob, order_id).await,
        Err(RepoError::NotFound { entity: "order" })
    ));
    assert!(matches!(
        as_bob.get_connection(bob, authorization).await,
        Err(RepoError::NotFound {
            entity: "connection"
        })
    ));
    assert!(matches!(
        as_bob
            .get_holding(bob, &Symbol::parse("AAPL").unwrap(), None)
            .await,
        Err(RepoError::NotFound { entity: "holding" })
    ));

    // Writes aimed at Alice's rows do not reach them.
    assert!(matches!(
        as_bob
            .update_order_status(bob, order_id, OrderStatus::Canceled, None)
            .await,
        Err(RepoError::NotFound { entity: "order" })
    ));
    assert!(matches!(
        as_bob
            .set_connection_status(
                bob,
                authorization,
                ConnectionStatusChange::Error {
                    message: message("x")
                }
            )
            .await,
        Err(RepoError::NotFound {
            entity: "connection"
        })
    ));
    assert!(matches!(
        as_bob
            .upsert_orders(bob, &[order_for_account(bob, account.id)])
            .await,
        Err(RepoError::NotFound { entity: "account" })
    ));
    assert_eq!(as_bob.replace_holdings(bob, &[]).await.unwrap().removed, 0);
    assert!(matches!(
        as_bob
            .upsert_holdings(bob, &[holding(alice, "MSFT", "1", "1")])
            .await,
        Err(RepoError::Forbidden { .. })
    ));

    assert_eq!(
        as_alice.get_order(alice, order_id).await.unwrap().status,
        OrderStatus::Pending
    );
    assert_eq!(
        as_alice
            .get_connection(alice, authorization)
            .await
            .unwrap()
            .status,
        ConnectionStatus::Active
    );
    assert_eq!(symbols(h, alice).await, ["AAPL"]);
}

fn order_for_account(user: UserId, account: AccountId) -> NewOrder {
    order(user, account, "ord-b")
}

pub async fn replacing_holdings_removes_symbols_no_longer_held<H: Harness>(h: &H) {
    let (user, other) = (h.new_user().await, h.new_user().await);
    let store = h.store_for(user);
    h.store_for(other)
        .replace_holdings(other, &[holding(other, "AAPL", "1", "1")])
        .await
        .unwrap();
    let first = [
        holding(user, "AAPL", "10", "2000"),
        holding(user, "MSFT", "5", "2000"),
        holding(user, "VTI", "40", "10000"),
    ];
    let replaced = store.replace_holdings(user, &first).await.unwrap();
    assert_eq!((replaced.written, replaced.removed), (3, 0));
    let before_vti = store
        .get_holding(user, &Symbol::parse("VTI").unwrap(), None)
        .await
        .unwrap();

    let mut spread = holding(user, "VTI", "42.5", "12346.25");
    let (roth, taxable) = (AccountId::generate(), AccountId::generate());
    spread.account_contributions = vec![
        contribution(roth, "Vanguard", "40"),
        contribution(taxable, "Fidelity", "2.5"),
    ];
    let second = [spread, holding(user, "TSLA", "2", "500")];
    let replaced = store.replace_holdings(user, &second).await.unwrap();
    assert_eq!((replaced.written, replaced.removed), (2, 2));
    assert_eq!(symbols(h, user).await, ["TSLA", "VTI"]);
    let vti = store
        .get_holding(user, &Symbol::parse("VTI").unwrap(), None)
        .await
        .unwrap();
    assert_eq!(vti.id, before_vti.id, "a kept symbol is updated in place");
    assert_eq!(vti.figures.total_quantity, Quantity::parse("42.5").unwrap());
    assert_eq!(vti.data_source.as_deref(), Some("aggregated"));
    assert_eq!(vti.account_count, 2);
    assert_eq!(vti.account_contributions[1].account_id, taxable);
    assert_eq!(vti.institution_breakdown["Fidelity"].account_count, 1);

    // A refused replacement changes nothing.
    let duplicated = [
        holding(user, "NVDA", "1", "1"),
        holding(user, "NVDA", "2", "2"),
    ];
    assert!(matches!(
        store.replace_holdings(user, &duplicated).await,
        Err(RepoError::InvalidData { field, .. }) if field == "symbol"
    ));
    assert_eq!(symbols(h, user).await, ["TSLA", "VTI"]);

    let emptied = store.replace_holdings(user, &[]).await.unwrap();
    assert_eq!((emptied.written, emptied.removed), (0, 2));
    assert!(symbols(h, user).await.is_empty());
    assert_eq!(
        symbols(h, other).await,
        ["AAPL"],
        "another user's holdings are untouched"
    );
}

pub async fn a_symbol_held_in_two_currencies_is_two_rows_each_replaced_on_its_own<H: Harness>(
    h: &H,
) {
    let user = h.new_user().await;
    let store = h.store_for(user);
    let (cad, usd) = (Currency::parse("CAD").unwrap(), Currency::usd());
    let btc = Symbol::parse("BTC").unwrap();
    let all = [
        holding(user, "BTC", "0.5", "45000").in_currency(cad.clone()),
        holding(user, "BTC", "0.25", "16000").in_currency(usd.clone()),
        holding(user, "BTC", "0.1", "6000"),
    ];
    let replaced = store.replace_holdings(user, &all).await.unwrap();
    assert_eq!((replaced.written, replaced.removed), (3, 0));
    let listed: Vec<_> = store
        .list_holdings(user)
        .await
        .unwrap()
        .into_iter()
        .map(|h| (h.currency, h.figures.total_market_value.get()))
        .collect();
    assert_eq!(
        listed,
        [
            (None, "6000".parse().unwrap()),
            (Some(cad.clone()), "45000".parse().unwrap()),
            (Some(usd.clone()), "16000".parse().unwrap()),
        ],
        "one row per currency, no currency first, never one sum"
    );
    let in_cad = store
        .get_holding(user, &btc, Some(cad.clone()))
        .await
        .unwrap();
    assert_eq!(
        in_cad.figures.total_quantity,
        Quantity::parse("0.5").unwrap()
    );

    let unchanged = store.replace_holdings(user, &all).await.unwrap();
    assert_eq!((unchanged.written, unchanged.removed), (0, 0));

    // Only the CAD row stays: the USD row and the row in no currency go, the CAD row is kept in place.
    let replaced = store.replace_holdings(user, &all[..1]).await.unwrap();
    assert_eq!((replaced.written, replaced.removed), (0, 2));
    assert_eq!(
        store.get_holding(user, &btc, Some(cad)).await.unwrap().id,
        in_cad.id
    );
    assert!(matches!(
        store.get_holding(user, &btc, Some(usd)).await,
        Err(RepoError::NotFound { entity: "holding" })
    ));
    assert!(matches!(
        store.get_holding(user, &btc, None).await,
        Err(RepoError::NotFound { entity: "holding" })
    ));
}

pub async fn a_reader_never_sees_half_a_holdings_replacement<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let (writer, reader) = (h.store_for(user), h.store_for(user));
    let set = |prefix: &str| -> Vec<NewHolding> {
        (0..30)
            .map(|i| holding(user, &format!("{prefix}{i:02}"), "1", "10"))
            .collect()
    };
    let (odd, even) = (set("ODD"), set("EVEN"));
    let names = |holdings: &[NewHolding]| -> BTreeSet<String> {
        holdings.iter().map(|h| h.symbol.to_string()).collect()
    };
    let (odd_names, even_names) = (names(&odd), names(&even));
    writer.replace_holdings(user, &odd).await.unwrap();

    let writes = async {
        for round in 0..10 {
            let next = if round % 2 == 0 { &even } else { &odd };
            writer.replace_holdings(user, next).await.unwrap();
            tokio::task::yield_now().await;
        }
    };
    let reads = async {
        for _ in 0..40 {
            let seen: BTreeSet<String> = reader
                .list_holdings(user)
                .await
                .unwrap()
                .into_iter()
                .map(|holding| holding.symbol.to_string())
                .collect();
            assert!(
                seen == odd_names || seen == even_names,
                "a mixed set: {seen:?}"
            );
            tokio::task::yield_now().await;
        }
    };
    tokio::join!(writes, reads);
}

pub async fn portfolio_mode_follows_the_truth_table_for_every_combination<H: Harness>(h: &H) {
    for bits in 0..8_u8 {
        let (alpaca, plaid, snaptrade) = (bits & 4 != 0, bits & 2 != 0, bits & 1 != 0);
        let user = h.new_user().await;
        let mut accounts = vec![account(user, Provider::Manual, "manual")];
        for (provider, wanted) in [(Provider::Plaid, plaid), (Provider::SnapTrade, snaptrade)] {
            // An inactive account of a provider the user lacks must not count.
            let mut of_provider = account(user, provider, &format!("{provider}-acc"));
            of_provider.is_active = wanted;
            accounts.push(of_provider);
        }
        h.admin().upsert_accounts(user, &accounts).await.unwrap();
        if alpaca {
            let alpaca_id =
                ProviderAccountId::parse("904837e3-3b76-47ec-b432-046db621571b").unwrap();
            h.admin()
                .set_alpaca_account(user, Some(alpaca_id))
                .await
                .unwrap();
        }

        let summary = h.store_for(user).portfolio_mode(user).await.unwrap();
        let expected = PortfolioMode::from_providers(alpaca, plaid, snaptrade);
        assert_eq!(
            summary.mode, expected,
            "alpaca {alpaca}, plaid {plaid}, snaptrade {snaptrade}"
        );
        assert_eq!(
            (summary.has_alpaca, summary.has_plaid, summary.has_snaptrade),
            (alpaca, plaid, snaptrade)
        );
        assert_eq!(summary.alpaca_account_id.is_some(), alpaca);
        assert_eq!(
            summary.accounts_count,
            1 + u32::from(plaid) + u32::from(snaptrade)
        );
    }

    let user = h.new_user().await;
    let alpaca_id = ProviderAccountId::parse("alpaca-1").unwrap();
    h.admin()
        .set_alpaca_account(user, Some(alpaca_id))
        .await
        .unwrap();
    h.admin().set_alpaca_account(user, None).await.unwrap();
    assert_eq!(
        h.store_for(user).portfolio_mode(user).await.unwrap().mode,
        PortfolioMode::None
    );
}

pub async fn orders_upsert_by_brokerage_order_and_account_and_take_status_updates<H: Harness>(
    h: &H,
) {
    let user = h.new_user().await;
    let store = h.store_for(user);
    let (first_account, second_account) = (
        snaptrade_account(h, user, "acc-o1").await,
        snaptrade_account(h, user, "acc-o2").await,
    );
    let placed = store
        .upsert_orders(
            user,
            &[
                order(user, first_account.id, "ord-1"),
                order(user, second_account.id, "ord-1"),
            ],
        )
        .await
        .unwrap();
    assert_ne!(
        placed[0].id, placed[1].id,
        "the same brokerage order id on two accounts is two orders"
    );

    let mut filled = order(user, first_account.id, "ord-1");
    filled.status = OrderStatus::Filled;
    filled.filled_units = Some(Units::parse("10").unwrap());
    filled.average_fill_price = Some(Price::parse("187.10").unwrap());
    filled.filled_at = Some(at(1));
    let synced = store.upsert_orders(user, &[filled.clone()]).await.unwrap();
    assert_eq!(synced[0].id, placed[0].id);
    assert_eq!(synced[0].status, OrderStatus::Filled);
    assert_eq!(synced[0].average_fill_price, filled.average_fill_price);
    assert_eq!(synced[0].filled_at, filled.filled_at);
    assert_eq!(synced[0].limit_price.unwrap().to_string(), "187.2500000000");

    let canceled = store
        .update_order_status(
            user,
            placed[1].id,
            OrderStatus::Canceled,
            Some(message("user canceled")),
        )
        .await
        .unwrap();
    assert_eq!(canceled.status, OrderStatus::Canceled);
    assert_eq!(
        canceled.status_message.as_ref().map(StatusMessage::as_str),
        Some("user canceled")
    );
    let unchanged = store
        .update_order_status(
            user,
            placed[1].id,
            OrderStatus::Canceled,
            Some(message("user canceled")),
        )
        .await
        .unwrap();
    assert_eq!(unchanged.updated_at, canceled.updated_at);

    let unknown = OrderStatus::parse("DONE_FOR_DAY").unwrap();
    let other = store
        .update_order_status(user, placed[0].id, unknown.clone(), None)
        .await
        .unwrap();
    assert_eq!(
        store.get_order(user, other.id).await.unwrap().status,
        unknown,
        "unknown statuses are kept"
    );

    assert_eq!(store.list_orders(user, None).await.unwrap().len(), 2);
    let of_second = store
        .list_orders(user, Some(second_account.id))
        .await
        .unwrap();
    assert_eq!(
        of_second.iter().map(|o| o.id).collect::<Vec<_>>(),
        [placed[1].id]
    );
    assert!(matches!(
        store
            .update_order_status(user, OrderId::generate(), OrderStatus::Filled, None)
            .await,
        Err(RepoError::NotFound { entity: "order" })
    ));
}

pub async fn a_pending_order_is_confirmed_in_place_as_the_providers_order<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.store_for(user);
    let account = snaptrade_account(h, user, "acc-confirm").await;
    let pending = store
        .upsert_orders(user, &[order(user, account.id, "client-7f3a")])
        .await
        .unwrap()
        .remove(0);

    let mut placed = order(user, account.id, "brk-1001");
    placed.status = OrderStatus::Accepted;
    placed.raw_order_data = Some(serde_json::json!({ "brokerage_order_id": "brk-1001" }));
    let confirmed = store
        .confirm_order(user, pending.id, &placed)
        .await
        .unwrap();
    assert_eq!(
        confirmed.id, pending.id,
        "the pending row becomes the provider's order"
    );
    assert_eq!(confirmed.brokerage_order_id.as_str(), "brk-1001");
    assert_eq!(confirmed.status, OrderStatus::Accepted);
    assert_eq!(confirmed.raw_order_data, placed.raw_order_data);
    let listed = store.list_orders(user, None).await.unwrap();
    assert_eq!(
        listed.iter().map(|o| o.id).collect::<Vec<_>>(),
        [pending.id],
        "one row per placed order"
    );

    let again = store
        .confirm_order(user, pending.id, &placed)
        .await
        .unwrap();
    assert_eq!(
        again.updated_at, confirmed.updated_at,
        "the same answer rewrites nothing"
    );

    // A retry records a second pending row; the provider answers with the order it already has: that row
    // keeps its id and the retry's row folds into it.
    let retry = store
        .upsert_orders(user, &[order(user, account.id, "client-9c1d")])
        .await
        .unwrap()
        .remove(0);
    let mut filled = placed.clone();
    filled.status = OrderStatus::Filled;
    let folded = store.confirm_order(user, retry.id, &filled).await.unwrap();
    assert_eq!(folded.id, pending.id);
    assert_eq!(folded.status, OrderStatus::Filled);
    assert!(matches!(
        store.get_order(user, retry.id).await,
        Err(RepoError::NotFound { entity: "order" })
    ));
    assert_eq!(store.list_orders(user, None).await.unwrap().len(), 1);

    let other_account = snaptrade_account(h, user, "acc-confirm-2").await;
    assert!(matches!(
        store
            .confirm_order(user, pending.id, &order(user, other_account.id, "brk-1001"))
            .await,
        Err(RepoError::InvalidData { field, .. }) if field == "account_id"
    ));
    assert!(matches!(
        store
            .confirm_order(user, OrderId::generate(), &placed)
            .await,
        Err(RepoError::NotFound { entity: "order" })
    ));
    assert_eq!(
        store
            .get_order(user, pending.id)
            .await
            .unwrap()
            .brokerage_order_id
            .as_str(),
        "brk-1001",
        "a refused confirmation writes nothing"
    );
}

pub async fn connection_status_moves_between_active_disabled_and_error<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.store_for(user);
    let authorization = AuthorizationId::generate();
    let created = store
        .upsert_connections(user, &[connection(user, authorization)])
        .await
        .unwrap();
    assert_eq!(created[0].status, ConnectionStatus::Active);

    let broken_at = at(30);
    let disabled = store
        .set_connection_status(
            user,
            authorization,
            ConnectionStatusChange::Disabled {
                at: broken_at,
                message: Some(message("login expired")),
            },
        )
        .await
        .unwrap();
    assert_eq!(disabled.status, ConnectionStatus::Disabled);
    assert_eq!(disabled.disabled_date, Some(broken_at));
    assert!(disabled.updated_at > created[0].updated_at);

    let failing = store
        .set_connection_status(
            user,
            authorization,
            ConnectionStatusChange::Error {
                message: message("timeout"),
            },
        )
        .await
        .unwrap();
    assert_eq!(failing.status, ConnectionStatus::Error);
    assert_eq!(
        failing.disabled_date,
        Some(broken_at),
        "an error keeps the disabled date"
    );
    assert_eq!(
        failing.error_message.as_ref().map(StatusMessage::as_str),
        Some("timeout")
    );

    let active = store
        .set_connection_status(user, authorization, ConnectionStatusChange::Active)
        .await
        .unwrap();
    assert_eq!(
        (
            active.status,
            active.disabled_date,
            active.error_message.clone()
        ),
        (ConnectionStatus::Active, None, None)
    );
    let again = store
        .set_connection_status(user, authorization, ConnectionStatusChange::Active)
        .await
        .unwrap();
    assert_eq!(again.updated_at, active.updated_at, "no change, no write");

    // A sync may also report the state through an upsert.
    let reported = connection(user, authorization).disabled(broken_at, None);
    let upserted = store.upsert_connections(user, &[reported]).await.unwrap();
    assert_eq!(upserted[0].id, created[0].id);
    assert_eq!(
        store
            .get_connection(user, authorization)
            .await
            .unwrap()
            .status,
        ConnectionStatus::Disabled
    );
    assert!(matches!(
        store
            .set_connection_status(
                user,
                AuthorizationId::generate(),
                ConnectionStatusChange::Active
            )
            .await,
        Err(RepoError::NotFound {
            entity: "connection"
        })
    ));
}

pub async fn unified_accounts_carry_their_connections_health<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.store_for(user);
    let authorization = AuthorizationId::generate();
    store
        .upsert_connections(
            user,
            &[connection(user, authorization).failed(message("down"))],
        )
        .await
        .unwrap();
    let mut linked = account(user, Provider::SnapTrade, "linked");
    linked.snaptrade_authorization_id = Some(authorization);
    linked.connection_type = ConnectionType::Trade;
    h.admin()
        .upsert_accounts(user, &[linked, account(user, Provider::Plaid, "plain")])
        .await
        .unwrap();

    let unified = store.unified_accounts(user).await.unwrap();
    let providers: Vec<_> = unified
        .iter()
        .map(|a| (a.provider, a.brokerage_connection_status))
        .collect();
    assert_eq!(
        providers,
        [
            (Provider::Plaid, None),
            (Provider::SnapTrade, Some(ConnectionStatus::Error))
        ]
    );
    assert_eq!(unified[1].connection_type, ConnectionType::Trade);
}

pub async fn a_deleted_connection_is_gone_while_its_accounts_and_orders_stay<H: Harness>(h: &H) {
    let (user, other) = (h.new_user().await, h.new_user().await);
    let store = h.store_for(user);
    let (deleted, kept, others) = (
        AuthorizationId::generate(),
        AuthorizationId::generate(),
        AuthorizationId::generate(),
    );
    store
        .upsert_connections(user, &[connection(user, deleted), connection(user, kept)])
        .await
        .unwrap();
    h.store_for(other)
        .upsert_connections(other, &[connection(other, others)])
        .await
        .unwrap();
    let mut linked = account(user, Provider::SnapTrade, "acc-deleted-connection");
    linked.snaptrade_authorization_id = Some(deleted);
    let linked = h.admin().upsert_accounts(user, &[linked]).await.unwrap();
    let orders = store
        .upsert_orders(user, &[order(user, linked[0].id, "ord-history")])
        .await
        .unwrap();
    let before = store.get_connection(user, deleted).await.unwrap();

    let removed = store.delete_connection(user, deleted).await.unwrap();

    assert_eq!(removed, before, "the row as it was is returned");
    let remaining: Vec<_> = store
        .list_connections(user)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.authorization_id)
        .collect();
    assert_eq!(remaining, [kept]);
    assert!(matches!(
        store.get_connection(user, deleted).await,
        Err(RepoError::NotFound {
            entity: "connection"
        })
    ));
    assert_eq!(store.list_accounts(user).await.unwrap(), linked);
    assert_eq!(store.list_orders(user, None).await.unwrap(), orders);
    let unified = store.unified_accounts(user).await.unwrap();
    assert_eq!(unified[0].snaptrade_authorization_id, Some(deleted));
    assert_eq!(unified[0].brokerage_connection_status, None);

    for (whose, authorization) in [("deleted already", deleted), ("another user's", others)] {
        assert!(
            matches!(
                store.delete_connection(user, authorization).await,
                Err(RepoError::NotFound {
                    entity: "connection"
                })
            ),
            "{whose}"
        );
    }
    assert_eq!(
        h.store_for(other)
            .get_connection(other, others)
            .await
            .unwrap()
            .status,
        ConnectionStatus::Active
    );
}

pub async fn missing_rows_and_bad_batches_are_typed_errors<H: Harness>(h: &H) {
    let (alice, bob) = (h.new_user().await, h.new_user().await);
    let (as_alice, as_bob) = (h.store_for(alice), h.store_for(bob));
    assert!(matches!(
        as_alice.get_account(alice, AccountId::generate()).await,
        Err(RepoError::NotFound { entity: "account" })
    ));

    let twice = [
        connection(alice, AuthorizationId::generate()),
        connection(bob, AuthorizationId::generate()),
    ];
    assert!(matches!(
        as_alice.upsert_connections(alice, &twice).await,
        Err(RepoError::Forbidden { .. })
    ));
    assert!(as_bob.list_connections(bob).await.unwrap().is_empty());

    let twice = [
        account(alice, Provider::Plaid, "dup"),
        account(alice, Provider::Plaid, "dup"),
    ];
    assert!(matches!(
        as_alice.upsert_accounts(alice, &twice).await,
        Err(RepoError::InvalidData { field, .. }) if field == "provider_account_id"
    ));
    let foreign = [
        account(alice, Provider::Plaid, "mine"),
        account(bob, Provider::Plaid, "theirs"),
    ];
    assert!(matches!(
        as_alice.upsert_accounts(alice, &foreign).await,
        Err(RepoError::Forbidden { .. })
    ));
    assert!(as_alice.list_accounts(alice).await.unwrap().is_empty());

    let unknown_user = UserId::generate();
    assert!(matches!(
        h.admin()
            .upsert_accounts(unknown_user, &[account(unknown_user, Provider::Plaid, "x")])
            .await,
        Err(RepoError::NotFound { entity: "user" })
    ));
}

/// Every key a provider supplies is scoped by user (migration 0013): the same authorization id, SnapTrade user
/// id, provider account id or brokerage order id stored for two users is two rows, and a write for one user
/// neither fails on, nor changes, nor reads the other's.
pub async fn a_provider_key_held_by_one_user_neither_blocks_nor_captures_anothers<H: Harness>(
    h: &H,
) {
    let (alice, bob) = (h.new_user().await, h.new_user().await);
    let (as_alice, as_bob) = (h.store_for(alice), h.store_for(bob));

    let authorization = AuthorizationId::generate();
    let alices_connection = as_alice
        .upsert_connections(alice, &[connection(alice, authorization)])
        .await
        .unwrap();
    let mut bobs = connection(bob, authorization);
    bobs.status = ConnectionStatus::Disabled;
    bobs.disabled_date = Some(at(10));
    let bobs_own = AuthorizationId::generate();
    let bobs_connections = as_bob
        .upsert_connections(bob, &[connection(bob, bobs_own), bobs])
        .await
        .unwrap();
    assert_eq!(bobs_connections.len(), 2);
    assert!(bobs_connections.iter().all(|c| c.user_id == bob));
    assert_ne!(bobs_connections[1].id, alices_connection[0].id);
    assert_eq!(
        as_alice.list_connections(alice).await.unwrap(),
        alices_connection,
        "Alice's connection is untouched"
    );
    as_bob.delete_connection(bob, authorization).await.unwrap();
    assert_eq!(
        as_alice.get_connection(alice, authorization).await.unwrap(),
        alices_connection[0]
    );

    let alices_account = snaptrade_account(h, alice, "same-provider-account").await;
    let bobs_account = snaptrade_account(h, bob, "same-provider-account").await;
    assert_ne!(alices_account.id, bobs_account.id);
    assert_eq!(bobs_account.user_id, bob);

    let alices_order = as_alice
        .upsert_orders(
            alice,
            &[order(alice, alices_account.id, "same-brokerage-order")],
        )
        .await
        .unwrap();
    let mut filled = order(bob, bobs_account.id, "same-brokerage-order");
    filled.status = OrderStatus::Filled;
    let bobs_order = as_bob.upsert_orders(bob, &[filled]).await.unwrap();
    assert_ne!(alices_order[0].id, bobs_order[0].id);
    assert_eq!(
        as_alice.list_orders(alice, None).await.unwrap(),
        alices_order,
        "Alice's order is untouched"
    );

    h.admin()
        .upsert_snaptrade_user(alice, &snaptrade_user(alice, "snap-same", "secret-a"))
        .await
        .unwrap();
    let bobs_registration = h
        .admin()
        .upsert_snaptrade_user(bob, &snaptrade_user(bob, "snap-same", "secret-b"))
        .await
        .unwrap();
    assert_eq!(bobs_registration.user_id, bob);
    let alices_registration = h.admin().find_snaptrade_user(alice).await.unwrap().unwrap();
    assert_eq!(alices_registration.user_secret.expose_secret(), "secret-a");
}

pub async fn snaptrade_users_register_once_and_keep_their_secret<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.store_for(user);
    assert!(store.find_snaptrade_user(user).await.unwrap().is_none());

    let registered = store
        .upsert_snaptrade_user(user, &snaptrade_user(user, "snap-1", "first-secret"))
        .await
        .unwrap();
    assert_eq!(registered.user_secret.expose_secret(), "first-secret");
    let again = store
        .upsert_snaptrade_user(user, &snaptrade_user(user, "snap-1", "first-secret"))
        .await
        .unwrap();
    assert_eq!(
        again.updated_at, registered.updated_at,
        "the same secret rewrites nothing"
    );
    assert_eq!(again.id, registered.id);

    let rotated = store
        .upsert_snaptrade_user(user, &snaptrade_user(user, "snap-1", "second-secret"))
        .await
        .unwrap();
    assert_eq!(rotated.id, registered.id);
    assert!(rotated.updated_at > registered.updated_at);
    let found = store.find_snaptrade_user(user).await.unwrap().unwrap();
    assert_eq!(found.user_secret.expose_secret(), "second-secret");
    assert_eq!(found.snaptrade_user_id.as_str(), "snap-1");

    let synced_at = at(5);
    store.record_snaptrade_sync(user, synced_at).await.unwrap();
    let found = store.find_snaptrade_user(user).await.unwrap().unwrap();
    assert_eq!(found.last_sync_at, Some(synced_at));

    store.delete_snaptrade_user(user).await.unwrap();
    assert!(matches!(
        store.record_snaptrade_sync(user, synced_at).await,
        Err(RepoError::NotFound {
            entity: "snaptrade user"
        })
    ));
    assert!(store.find_snaptrade_user(user).await.unwrap().is_none());
    assert!(matches!(
        store.delete_snaptrade_user(user).await,
        Err(RepoError::NotFound {
            entity: "snaptrade user"
        })
    ));
}

/// A contribution, for tests that need holdings spread over accounts.
pub fn contribution(account: AccountId, institution: &str, quantity: &str) -> AccountContribution {
    AccountContribution {
        account_id: account,
        institution: InstitutionName::parse(institution).unwrap(),
        quantity: Quantity::parse(quantity).unwrap(),
        market_value: Amount::parse("100").unwrap(),
        cost_basis: Amount::parse("90").unwrap(),
    }
}

pub async fn a_sync_outcome_is_recorded_and_a_failure_keeps_the_last_success<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.store_for(user);
    let account = snaptrade_account(h, user, "acc-sync").await;
    assert_eq!(account.sync_status, SyncStatus::Pending);

    let succeeded_at = at(120);
    let synced = store
        .record_account_sync(user, account.id, SyncStatus::Success, None, succeeded_at)
        .await
        .unwrap();
    assert_eq!(
        (synced.sync_status, synced.last_synced),
        (SyncStatus::Success, Some(succeeded_at))
    );

    let failed = store
        .record_account_sync(
            user,
            account.id,
            SyncStatus::Error,
            Some(message("rate limited")),
            at(0),
        )
        .await
        .unwrap();
    assert_eq!(failed.sync_status, SyncStatus::Error);
    assert_eq!(
        failed.last_synced,
        Some(succeeded_at),
        "a failure keeps the last success"
    );
    assert_eq!(
        failed
            .sync_error_message
            .as_ref()
            .map(StatusMessage::as_str),
        Some("rate limited")
    );

    let again = store
        .record_account_sync(
            user,
            account.id,
            SyncStatus::Error,
            Some(message("rate limited")),
            at(0),
        )
        .await
        .unwrap();
    assert_eq!(
        again.updated_at, failed.updated_at,
        "the same state rewrites nothing"
    );

    // An account upsert from the next sync leaves the sync bookkeeping alone.
    let resynced = store
        .upsert_accounts(
            user,
            &[self::account(user, Provider::SnapTrade, "acc-sync")],
        )
        .await
        .unwrap();
    assert_eq!(resynced[0].sync_status, SyncStatus::Error);
    assert_eq!(resynced[0].last_synced, Some(succeeded_at));
    assert!(matches!(
        store
            .record_account_sync(
                user,
                AccountId::generate(),
                SyncStatus::Success,
                None,
                at(0)
            )
            .await,
        Err(RepoError::NotFound { entity: "account" })
    ));
}

pub async fn many_sync_outcomes_are_recorded_at_once_and_a_bad_batch_writes_nothing<H: Harness>(
    h: &H,
) {
    let (user, other) = (h.new_user().await, h.new_user().await);
    let store = h.store_for(user);
    let ok = snaptrade_account(h, user, "acc-ok").await;
    let failing = snaptrade_account(h, user, "acc-failing").await;
    let off = snaptrade_account(h, user, "acc-off").await;
    let others = snaptrade_account(h, other, "acc-others").await;
    let state = |account: &InvestmentAccount, status, text: Option<&str>| AccountSyncState {
        account: account.id,
        status,
        error_message: text.map(message),
    };
    let synced_at = at(120);
    let batch = [
        state(&ok, SyncStatus::Success, None),
        state(&failing, SyncStatus::Error, Some("rate limited")),
        state(
            &off,
            SyncStatus::Disabled,
            Some("the connection is disabled"),
        ),
    ];

    assert_eq!(
        store
            .record_account_syncs(user, &batch, synced_at)
            .await
            .unwrap(),
        3
    );

    let read = |account: InvestmentAccount| {
        let store = store.clone();
        async move { store.get_account(user, account.id).await.unwrap() }
    };
    let recorded = [
        read(ok.clone()).await,
        read(failing.clone()).await,
        read(off.clone()).await,
    ];
    let seen: Vec<_> = recorded
        .iter()
        .map(|a| {
            (
                a.sync_status,
                a.sync_error_message.as_ref().map(|m| m.as_str().to_owned()),
                a.last_synced,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (SyncStatus::Success, None, Some(synced_at)),
            (SyncStatus::Error, Some("rate limited".to_owned()), None),
            (
                SyncStatus::Disabled,
                Some("the connection is disabled".to_owned()),
                None
            ),
        ]
    );
    assert_eq!(
        store
            .record_account_syncs(user, &batch, synced_at)
            .await
            .unwrap(),
        0,
        "the same states again rewrite nothing"
    );
    assert_eq!(read(ok.clone()).await.updated_at, recorded[0].updated_at);

    let failed_later = [state(&ok, SyncStatus::Error, Some("timeout"))];
    assert_eq!(
        store
            .record_account_syncs(user, &failed_later, at(0))
            .await
            .unwrap(),
        1
    );
    let after_failure = read(ok.clone()).await;
    assert_eq!(after_failure.sync_status, SyncStatus::Error);
    assert_eq!(
        after_failure.last_synced,
        Some(synced_at),
        "a failure keeps the last success"
    );

    // Refused batches write nothing, not even their valid rows.
    let before = store.list_accounts(user).await.unwrap();
    let unknown = AccountSyncState {
        account: AccountId::generate(),
        ..state(&ok, SyncStatus::Success, None)
    };
    for (what, bad) in [
        (
            "an unknown account",
            vec![state(&ok, SyncStatus::Success, None), unknown],
        ),
        (
            "another user's account",
            vec![
                state(&failing, SyncStatus::Success, None),
                state(&others, SyncStatus::Error, Some("not yours")),
            ],
        ),
    ] {
        assert!(
            matches!(
                store.record_account_syncs(user, &bad, at(0)).await,
                Err(RepoError::NotFound { entity: "account" })
            ),
            "{what}"
        );
    }
    let twice = [
        state(&off, SyncStatus::Success, None),
        state(&off, SyncStatus::Error, Some("which one?")),
    ];
    assert!(matches!(
        store.record_account_syncs(user, &twice, at(0)).await,
        Err(RepoError::InvalidData { field, .. }) if field == "account_id"
    ));
    assert_eq!(store.list_accounts(user).await.unwrap(), before);
    assert_eq!(
        h.admin().get_account(other, others.id).await.unwrap(),
        others
    );
    assert_eq!(
        store.record_account_syncs(user, &[], at(0)).await.unwrap(),
        0
    );
}

pub async fn a_users_lock_waits_for_its_holder_and_other_users_do_not<H: Harness>(h: &H) {
    let (user, other) = (h.new_user().await, h.new_user().await);
    let store = h.admin();
    let held = store.lock_user(user).await.unwrap();
    assert_eq!(held.user(), user);

    let waiting =
        tokio::time::timeout(std::time::Duration::from_millis(300), store.lock_user(user));
    assert!(
        waiting.await.is_err(),
        "a second holder waits for the first"
    );
    let other_lock =
        tokio::time::timeout(std::time::Duration::from_secs(5), store.lock_user(other))
            .await
            .expect("another user's lock is free")
            .unwrap();
    other_lock.release().await.unwrap();

    held.release().await.unwrap();
    let again = tokio::time::timeout(std::time::Duration::from_secs(5), store.lock_user(user))
        .await
        .expect("a released lock is free")
        .unwrap();
    drop(again);
    let after_drop = tokio::time::timeout(std::time::Duration::from_secs(5), store.lock_user(user))
        .await
        .expect("a dropped lock is released too")
        .unwrap();
    after_drop.release().await.unwrap();
}

pub async fn a_store_binds_to_its_own_locks_and_refuses_anothers<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.admin();

    // Its own lock binds it, and its clones and user-scoped twins too.
    let own = store.lock_user(user).await.unwrap();
    let bound = store.within(&own).unwrap();
    assert!(bound.list_accounts(user).await.unwrap().is_empty());
    let twin = h.store_for(user).within(&own).unwrap();
    assert!(twin.list_accounts(user).await.unwrap().is_empty());
    drop((bound, twin));
    own.release().await.unwrap();

    // Another store's lock (a second memory store, whichever store is under test) is a typed error.
    let elsewhere = MemoryStore::new();
    let stranger = elsewhere.create_user();
    let foreign = elsewhere.lock_user(stranger).await.unwrap();
    assert!(matches!(
        store.within(&foreign),
        Err(RepoError::ForeignLock { .. })
    ));
    foreign.release().await.unwrap();

    // So is a lock of a kind the store does not know (here a mock's).
    let mut held = MockHeldLock::new();
    held.expect_user().return_const(user);
    let unknown = UserLock::new(held);
    assert!(matches!(
        store.within(&unknown),
        Err(RepoError::ForeignLock { .. })
    ));
}

pub async fn a_unit_of_writes_is_saved_whole_or_not_at_all<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.admin();
    store
        .replace_holdings(user, &[holding(user, "VTI", "1", "200")])
        .await
        .unwrap();

    // Dropped before it commits: nothing of the unit stays.
    let lock = store.lock_user(user).await.unwrap();
    let bound = store.within(&lock).unwrap();
    lock.begin_writes().await.unwrap();
    bound
        .upsert_accounts(user, &[account(user, Provider::Plaid, "acc-unit")])
        .await
        .unwrap();
    bound
        .replace_holdings(user, &[holding(user, "AAPL", "2", "400")])
        .await
        .unwrap();
    assert_eq!(symbols(h, user).await.len(), 1);
    drop(bound);
    drop(lock);
    assert!(store.list_accounts(user).await.unwrap().is_empty());
    assert_eq!(symbols(h, user).await, ["VTI"]);

    // A deletion is undone with the rest of an unfinished unit.
    let authorization = AuthorizationId::generate();
    store
        .upsert_connections(user, &[connection(user, authorization)])
        .await
        .unwrap();
    let lock = store.lock_user(user).await.unwrap();
    let bound = store.within(&lock).unwrap();
    lock.begin_writes().await.unwrap();
    bound.delete_connection(user, authorization).await.unwrap();
    drop(bound);
    drop(lock);
    assert_eq!(store.list_connections(user).await.unwrap().len(), 1);

    // A write refused inside the unit: the unit does not commit, and its earlier writes are undone.
    let lock = store.lock_user(user).await.unwrap();
    let bound = store.within(&lock).unwrap();
    lock.begin_writes().await.unwrap();
    bound
        .upsert_accounts(user, &[account(user, Provider::Plaid, "acc-unit")])
        .await
        .unwrap();
    let refused = bound
        .upsert_orders(user, &[order(user, AccountId::generate(), "ord-x")])
        .await;
    assert!(matches!(
        refused,
        Err(RepoError::NotFound { entity: "account" })
    ));
    drop(bound);
    lock.release().await.unwrap();
    assert!(store.list_accounts(user).await.unwrap().is_empty());

    // Committed: everything stays.
    let lock = store.lock_user(user).await.unwrap();
    let bound = store.within(&lock).unwrap();
    lock.begin_writes().await.unwrap();
    bound
        .upsert_accounts(user, &[account(user, Provider::Plaid, "acc-unit")])
        .await
        .unwrap();
    bound
        .replace_holdings(user, &[holding(user, "AAPL", "2", "400")])
        .await
        .unwrap();
    lock.commit_writes().await.unwrap();
    drop(bound);
    lock.release().await.unwrap();
    assert_eq!(store.list_accounts(user).await.unwrap().len(), 1);
    assert_eq!(symbols(h, user).await, ["AAPL"]);
}

fn delivery(
    snaptrade_user: &str,
    id: &str,
    event_type: &str,
    user: Option<UserId>,
) -> NewWebhookDelivery {
    NewWebhookDelivery {
        key: WebhookKey {
            snaptrade_user_id: snaptrade_user.to_owned(),
            webhook_id: id.to_owned(),
        },
        event_type: event_type.to_owned(),
        user,
        payload: serde_json::json!({ "eventType": event_type, "webhookId": id }),
        hint_only: false,
    }
}

pub async fn a_webhook_delivery_is_recorded_once_and_a_replay_is_refused<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.admin();
    let scope = user.to_string();
    let broken = delivery(&scope, "id:wh-1", "CONNECTION_BROKEN", Some(user));
    assert!(store.record_webhook(&broken).await.unwrap());
    assert!(!store.record_webhook(&broken).await.unwrap(), "a replay");
    let recorded = store.find_webhook(&broken.key).await.unwrap().unwrap();
    assert_eq!(
        (recorded.status, recorded.attempts, recorded.user_id),
        (WebhookStatus::Received, 0, Some(user))
    );
    assert_eq!(recorded.payload, broken.payload);
    let stranger = UserId::generate();
    let unknown = delivery(
        &stranger.to_string(),
        "id:wh-2",
        "USER_DELETED",
        Some(stranger),
    );
    assert!(
        store.record_webhook(&unknown).await.unwrap(),
        "an event naming a user the store does not hold is still recorded"
    );
    assert_eq!(
        store
            .find_webhook(&unknown.key)
            .await
            .unwrap()
            .unwrap()
            .user_id,
        None
    );
    assert!(
        store
            .record_webhook(&delivery("", "id:wh-3", "SOMETHING_NEW", None))
            .await
            .unwrap()
    );
    let other = h.new_user().await;
    assert!(
        store
            .record_webhook(&delivery(
                &other.to_string(),
                "id:wh-1",
                "CONNECTION_BROKEN",
                Some(other)
            ))
            .await
            .unwrap(),
        "the same webhook id for another user is another delivery: one user's id never blocks another's"
    );
    assert!(matches!(
        store.record_webhook(&delivery("", " ", "CONNECTION_BROKEN", None)).await,
        Err(RepoError::InvalidData { field, .. }) if field == "webhook_id"
    ));
    assert!(matches!(
        store.record_webhook(&delivery("", "id:wh-4", "BAD\0TYPE", None)).await,
        Err(RepoError::InvalidData { field, .. }) if field == "event_type"
    ));
}

pub async fn a_failed_delivery_stays_pending_until_applied_and_only_old_applied_ones_are_purged<
    H: Harness,
>(
    h: &H,
) {
    let user = h.new_user().await;
    let store = h.admin();
    let scope = user.to_string();
    let first = delivery(&scope, "id:first", "CONNECTION_BROKEN", Some(user));
    let second = delivery(&scope, "id:second", "ACCOUNT_HOLDINGS_UPDATED", Some(user));
    for recorded in [&first, &second] {
        assert!(store.record_webhook(recorded).await.unwrap());
    }
    store
        .mark_webhook_failed(&first.key, "the database went away\0")
        .await
        .unwrap();
    let pending = store.pending_webhooks(10).await.unwrap();
    assert_eq!(
        pending.iter().map(|d| d.key.clone()).collect::<Vec<_>>(),
        [first.key.clone(), second.key.clone()],
        "oldest first, failed and received alike"
    );
    assert_eq!(pending[0].status, WebhookStatus::Failed);
    assert_eq!(pending[0].attempts, 1);
    assert_eq!(
        pending[0].last_error.as_deref(),
        Some("the database went away")
    );
    assert_eq!(store.pending_webhooks(1).await.unwrap().len(), 1);

    store.mark_webhook_applied(&first.key).await.unwrap();
    store
        .mark_webhook_failed(&first.key, "a late failure of another process")
        .await
        .unwrap();
    let applied = store.find_webhook(&first.key).await.unwrap().unwrap();
    assert_eq!(
        applied.status,
        WebhookStatus::Applied,
        "applied stays applied"
    );
    assert_eq!(applied.last_error, None);
    let applied_at = applied.applied_at.expect("stamped when applied");
    assert_eq!(
        store.pending_webhooks(10).await.unwrap().len(),
        1,
        "only the second is pending"
    );

    assert_eq!(
        store.purge_webhooks(applied_at).await.unwrap(),
        0,
        "not older than itself"
    );
    let later = applied_at + Duration::seconds(1);
    assert_eq!(store.purge_webhooks(later).await.unwrap(), 1);
    assert_eq!(store.find_webhook(&first.key).await.unwrap(), None);
    assert!(
        store.find_webhook(&second.key).await.unwrap().is_some(),
        "a delivery not applied yet is never purged, however old"
    );
    assert!(matches!(
        store.mark_webhook_applied(&first.key).await,
        Err(RepoError::NotFound { entity: "webhook" })
    ));
}
