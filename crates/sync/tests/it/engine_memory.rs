//! The engine on `MemoryStore` with the sandbox providers.
#![cfg(all(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]

use tributary_repo::MemoryStore;

use crate::support::{self, World};

async fn world() -> World<MemoryStore> {
    let store = MemoryStore::new();
    let user = store.create_user();
    World::start(store, user).await
}

macro_rules! memory_cases {
    ($($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            support::$case(world().await).await;
        }
    )*};
}

memory_cases!(
    a_sync_writes_exactly_what_the_sandbox_holds,
    a_second_sync_changes_nothing,
    a_position_sold_at_the_provider_disappears_from_the_holdings,
    a_broken_connection_ends_disabled_with_its_message_and_the_rest_syncs,
    a_read_only_connection_refuses_an_order,
    a_limit_order_is_recorded_pending_then_accepted_then_cancelled,
    connecting_twice_registers_the_user_once,
    a_provider_outage_keeps_its_holdings_and_reports_the_failure,
    a_replayed_webhook_is_not_applied_twice,
    each_webhook_event_type_is_acted_on,
    an_account_the_provider_no_longer_reports_is_deactivated_and_its_holdings_dropped,
    no_secret_reaches_the_engine_its_reports_or_its_errors,
    a_forged_alpaca_row_for_another_customers_account_can_neither_trade_nor_read,
    a_forged_snaptrade_row_for_another_users_account_cannot_trade,
    an_order_over_the_engines_notional_cap_is_refused_before_anything_is_sent,
    a_client_order_id_reused_for_another_order_is_refused_and_nothing_is_sent,
    // Every table checked against the sandbox, field by field (`support/tables.rs`).
    a_sync_leaves_every_table_as_the_sandbox_holds_it,
    a_second_sync_after_an_order_changes_no_table,
    a_position_sold_at_the_sandbox_disappears_from_the_holdings,
    broken_connections_end_disabled_or_in_error_with_their_messages,
    a_read_only_connection_refuses_a_limit_order,
);

/// The scenarios that build their own world (short client timeouts) from a store and a user.
macro_rules! memory_store_cases {
    ($($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let store = MemoryStore::new();
            let user = store.create_user();
            support::$case(store, user).await;
        }
    )*};
}

memory_store_cases!(
    alpaca_answer_lost_after_placing_leaves_one_order,
    snaptrade_answer_lost_after_placing_leaves_one_order_and_sends_nothing_more,
    alpaca_answer_after_the_timeout_leaves_one_order,
    snaptrade_answer_after_the_timeout_leaves_one_order_and_sends_nothing_more,
    alpaca_order_recorded_but_never_sent_is_sent_once_by_the_retry,
    snaptrade_order_recorded_but_never_sent_is_sent_once_by_the_retry,
    alpaca_retry_after_success_sends_nothing,
    snaptrade_retry_after_success_sends_nothing,
);

/// One holding that cannot be represented (its cost per unit past `average_cost_basis`'s column) is left out
/// and reported with the symbol and the field, and what the provider's answer left out reaches the report; the
/// other holdings of the same account, and the sync, are saved.
#[tokio::test]
async fn a_holding_that_cannot_be_represented_is_left_out_and_reported_and_the_rest_is_saved() {
    use std::sync::Arc;

    use async_trait::async_trait;
    use tokio::sync::Semaphore;
    use tributary_domain::{
        AccountType, FeatureFlags, Provider, ProviderAccountId, Quantity, SignedAmount, Symbol,
        UserId,
    };
    use tributary_provider::capability::{AccountInfo, Position, PositionSide, UnreadableItem};
    use tributary_provider::router::ProviderRouter;
    use tributary_repo::HoldingRepository;
    use tributary_sync::merge::LeftOutReason;
    use tributary_sync::source::{AccountSource, FetchedAccount, Snapshot};
    use tributary_sync::{SyncEngine, SyncError};

    /// A Plaid stand-in holding one ordinary position and one whose cost per unit overflows.
    struct OddBank;

    fn position(symbol: &str, quantity: &str, value: &str, cost: &str) -> Position {
        Position {
            provider_account_id: ProviderAccountId::parse("odd-account").unwrap(),
            symbol: Symbol::parse(symbol).unwrap(),
            security_id: None,
            security_name: None,
            security_type: None,
            provider_security_type: None,
            option_contract: None,
            side: PositionSide::Long,
            quantity: Quantity::parse(quantity).unwrap(),
            price: None,
            market_value: Some(SignedAmount::parse(value).unwrap()),
            cost_basis: Some(SignedAmount::parse(cost).unwrap()),
            currency: Some(tributary_domain::Currency::usd()),
        }
    }

    #[async_trait]
    impl AccountSource<MemoryStore> for OddBank {
        fn provider(&self) -> Provider {
            Provider::Plaid
        }

        async fn fetch(
            &self,
            _: &MemoryStore,
            _: UserId,
            _: Arc<Semaphore>,
        ) -> Result<Snapshot, SyncError> {
            let info = AccountInfo {
                provider: Provider::Plaid,
                provider_account_id: ProviderAccountId::parse("odd-account").unwrap(),
                provider_connection_id: None,
                institution: None,
                name: None,
                account_type: AccountType::parse("brokerage").unwrap(),
                account_subtype: None,
                total_value: None,
                cash: None,
                currency: None,
            };
            Ok(Snapshot {
                provider: Provider::Plaid,
                connections: Vec::new(),
                accounts: vec![FetchedAccount {
                    info,
                    positions: Ok(vec![
                        position("VTI", "3", "750", "600"),
                        position("DUST", "0.0000000001", "100000000", "100000000"),
                    ]),
                }],
                failures: Vec::new(),
                left_out: vec![UnreadableItem {
                    provider: Provider::Plaid,
                    item: "holding",
                    provider_id: Some("sec-odd".to_owned()),
                    field: "holdings[2].quantity".to_owned(),
                    reason: "is not a number".to_owned(),
                }],
            })
        }
    }

    let store = MemoryStore::new();
    let user = store.create_user();
    let engine = SyncEngine::new(Arc::new(store), ProviderRouter::new(FeatureFlags::all_on()))
        .with_source(OddBank);

    let report = engine.sync_user(user).await.unwrap();

    let left_out = &report.positions_left_out;
    assert_eq!(left_out.len(), 1, "{left_out:?}");
    assert_eq!(left_out[0].symbol.as_str(), "DUST");
    assert_eq!(
        left_out[0].account_id, None,
        "a merged holding is not one account's"
    );
    assert!(
        matches!(
            &left_out[0].reason,
            LeftOutReason::DoesNotFit(error) if error.to_string().contains("average_cost_basis")
        ),
        "{left_out:?}"
    );
    let holdings = engine.store().list_holdings(user).await.unwrap();
    let symbols: Vec<&str> = holdings.iter().map(|h| h.symbol.as_str()).collect();
    assert_eq!(symbols, ["VTI"]);
    // What the provider's answer left out reaches the report whole: provider, item, id, field and why.
    assert_eq!(report.left_out.len(), 1);
    assert_eq!(report.left_out[0].provider_id.as_deref(), Some("sec-odd"));
    assert_eq!(report.left_out[0].field, "holdings[2].quantity");
}
