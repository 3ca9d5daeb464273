//! The engine on `MemoryStore` with the sandbox providers.
#![cfg(all(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]

mod support;

use support::World;
use tributary_repo::MemoryStore;

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
