//! The one conformance suite: every case is a generic `async fn` over a [`Harness`], run by
//! `conformance_memory.rs` against `MemoryStore` and by `conformance_pg.rs` against `PgStore` (service mode, and
//! user-scoped mode for the cases listed in [`user_scoped_cases!`]). A behaviour that differs between the stores
//! fails one of the runs.

mod accounts;
mod connections;
pub mod history;
mod holdings;
mod locks;
mod orders;
mod plaid_items;
mod portfolio;
mod removal;
mod schedule;
mod snaptrade_users;
mod streams;
mod webhooks;
mod writes;

pub use self::accounts::{
    a_sync_outcome_is_recorded_and_a_failure_keeps_the_last_success,
    account_upserts_are_idempotent_on_provider_account_and_user,
    many_sync_outcomes_are_recorded_at_once_and_a_bad_batch_writes_nothing,
    unified_accounts_carry_their_connections_health,
};
pub use self::connections::{
    a_deleted_connection_is_gone_while_its_accounts_and_orders_stay,
    a_provider_key_held_by_one_user_neither_blocks_nor_captures_anothers,
    connection_status_moves_between_active_disabled_and_error,
};
pub use self::history::{
    a_revision_in_another_currency_is_refused_and_its_batch_writes_nothing,
    a_transaction_batch_naming_another_users_account_or_rows_is_refused_and_writes_nothing,
    a_value_point_naming_another_users_account_is_refused_and_writes_nothing,
    a_withdrawn_transaction_is_removed_and_an_unknown_id_is_skipped,
    net_contributions_sum_deposits_withdrawals_and_transfers_per_currency,
    the_synced_through_day_moves_only_forward_per_account,
    transactions_and_their_sync_position_are_saved_with_their_unit_of_writes_or_not_at_all,
    transactions_are_listed_newest_first_by_account_and_dates_up_to_a_limit,
    transactions_upsert_by_provider_id_and_an_unchanged_resync_writes_nothing,
    value_points_are_one_per_account_or_total_day_and_currency,
};
pub use self::holdings::{
    a_reader_never_sees_half_a_holdings_replacement,
    a_symbol_held_in_two_currencies_is_two_rows_each_replaced_on_its_own,
    providers_figures_are_stored_and_read_back_to_the_last_digit,
    replacing_holdings_removes_symbols_no_longer_held,
};
pub use self::locks::{
    a_bound_stores_reads_join_its_open_unit_and_run_alone_outside_it,
    a_store_binds_to_its_own_locks_and_refuses_anothers,
    a_unit_of_writes_is_saved_whole_or_not_at_all,
    a_users_lock_waits_for_its_holder_and_other_users_do_not,
};
pub use self::orders::{
    a_pending_order_is_confirmed_in_place_as_the_providers_order,
    orders_upsert_by_brokerage_order_and_account_and_take_status_updates,
};
pub use self::plaid_items::{
    an_items_health_moves_and_its_accounts_show_it, plaid_item,
    plaid_items_are_stored_once_per_user_and_item_and_keep_their_token,
    the_holders_of_a_plaid_item_are_found_across_users,
};
pub use self::portfolio::portfolio_mode_follows_the_truth_table_for_every_combination;
pub use self::removal::{
    a_connections_health_shows_on_its_accounts,
    a_removal_in_an_unfinished_unit_of_writes_is_undone,
    removing_an_item_or_a_user_deletes_that_users_rows_and_no_one_elses,
};
pub use self::schedule::the_users_due_are_those_with_a_usable_link_synced_too_long_ago_oldest_first;
pub use self::snaptrade_users::snaptrade_users_register_once_and_keep_their_secret;
pub use self::streams::{
    a_stream_position_is_saved_with_its_unit_of_writes_or_not_at_all,
    a_stream_position_moves_only_forward, the_owners_of_a_provider_account_are_found_across_users,
};
pub use self::webhooks::{
    a_failed_delivery_stays_pending_until_applied_and_only_old_applied_ones_are_purged,
    a_webhook_delivery_is_recorded_once_and_a_replay_is_refused,
    each_providers_deliveries_are_keyed_and_retried_apart,
};
pub use self::writes::{
    a_second_identical_write_changes_nothing,
    another_user_never_reads_or_writes_the_first_users_rows,
    missing_rows_and_bad_batches_are_typed_errors,
};
use chrono::{DateTime, Duration, Utc};
use tributary_domain::{
    AccountContribution, AccountId, AccountType, Amount, AuthorizationId, BrokerageName,
    BrokerageOrderId, BrokerageSlug, ConnectionType, HoldingFigures, InstitutionName,
    InvestmentAccount, NewBrokerageConnection, NewHolding, NewInvestmentAccount, NewOrder,
    NewSnapTradeUser, OrderAction, OrderStatus, OrderType, Price, Provider, ProviderAccountId,
    Quantity, SecretString, SnapTradeUserId, SnapTradeUserSecret, StatusMessage, Symbol, Units,
    UserId,
};
use tributary_repo::{AccountRepository, HoldingRepository, Store};

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
        $runner!(a_bound_stores_reads_join_its_open_unit_and_run_alone_outside_it);
        $runner!(a_store_binds_to_its_own_locks_and_refuses_anothers);
        $runner!(a_webhook_delivery_is_recorded_once_and_a_replay_is_refused);
        $runner!(
            a_failed_delivery_stays_pending_until_applied_and_only_old_applied_ones_are_purged
        );
        $runner!(a_deleted_connection_is_gone_while_its_accounts_and_orders_stay);
        $runner!(plaid_items_are_stored_once_per_user_and_item_and_keep_their_token);
        $runner!(an_items_health_moves_and_its_accounts_show_it);
        $runner!(a_stream_position_moves_only_forward);
        $runner!(a_stream_position_is_saved_with_its_unit_of_writes_or_not_at_all);
        $runner!(the_owners_of_a_provider_account_are_found_across_users);
        $runner!(removing_an_item_or_a_user_deletes_that_users_rows_and_no_one_elses);
        $runner!(a_removal_in_an_unfinished_unit_of_writes_is_undone);
        $runner!(a_connections_health_shows_on_its_accounts);
        $runner!(each_providers_deliveries_are_keyed_and_retried_apart);
        $runner!(the_holders_of_a_plaid_item_are_found_across_users);
        $runner!(transactions_upsert_by_provider_id_and_an_unchanged_resync_writes_nothing);
        $runner!(transactions_are_listed_newest_first_by_account_and_dates_up_to_a_limit);
        $runner!(a_withdrawn_transaction_is_removed_and_an_unknown_id_is_skipped);
        $runner!(
            a_transaction_batch_naming_another_users_account_or_rows_is_refused_and_writes_nothing
        );
        $runner!(a_revision_in_another_currency_is_refused_and_its_batch_writes_nothing);
        $runner!(net_contributions_sum_deposits_withdrawals_and_transfers_per_currency);
        $runner!(the_synced_through_day_moves_only_forward_per_account);
        $runner!(value_points_are_one_per_account_or_total_day_and_currency);
        $runner!(a_value_point_naming_another_users_account_is_refused_and_writes_nothing);
        $runner!(
            transactions_and_their_sync_position_are_saved_with_their_unit_of_writes_or_not_at_all
        );
        $runner!(the_users_due_are_those_with_a_usable_link_synced_too_long_ago_oldest_first);
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
        $runner!(transactions_upsert_by_provider_id_and_an_unchanged_resync_writes_nothing);
        $runner!(transactions_are_listed_newest_first_by_account_and_dates_up_to_a_limit);
        $runner!(a_withdrawn_transaction_is_removed_and_an_unknown_id_is_skipped);
        $runner!(
            a_transaction_batch_naming_another_users_account_or_rows_is_refused_and_writes_nothing
        );
        $runner!(a_revision_in_another_currency_is_refused_and_its_batch_writes_nothing);
        $runner!(net_contributions_sum_deposits_withdrawals_and_transfers_per_currency);
        $runner!(the_synced_through_day_moves_only_forward_per_account);
        $runner!(value_points_are_one_per_account_or_total_day_and_currency);
        $runner!(a_value_point_naming_another_users_account_is_refused_and_writes_nothing);
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
