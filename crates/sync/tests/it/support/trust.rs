//! Trading trusts the provider's truth, not a row: the attacks of a row forged for the wrong user (the way a bug
//! in a service writing with the service role would), and the engine's own limits on an order.

use rust_decimal::Decimal;
use tributary_domain::{
    AccountType, AuthorizationId, ConnectionType, InstitutionName, NewInvestmentAccount, Notional,
    OrderAction, Provider, ProviderAccountId, Symbol, Units,
};
use tributary_provider::capability::{OrderRequest, OrderSize};
use tributary_repo::Store;
use tributary_sandbox::{SeedAccount, SeedConnection};
use tributary_sync::{OrderRefusal, SyncError};

use super::{World, limit_buy};

/// A row claiming `provider_account_id` for the world's user, written straight into the store with the
/// backend's rights: what a bug elsewhere in a service could write.
async fn forge_account<S: Store + 'static>(
    world: &World<S>,
    provider: Provider,
    provider_account_id: &str,
    authorization: Option<AuthorizationId>,
) -> tributary_domain::InvestmentAccount {
    let mut row = NewInvestmentAccount::new(
        world.user,
        provider,
        ProviderAccountId::parse(provider_account_id).unwrap(),
        InstitutionName::parse("Forged").unwrap(),
        AccountType::parse("brokerage").unwrap(),
    );
    row.connection_type = ConnectionType::Trade;
    row.snaptrade_authorization_id = authorization;
    world
        .store()
        .upsert_accounts(world.user, &[row])
        .await
        .unwrap()
        .remove(0)
}

fn market_buy(units: &str) -> OrderRequest {
    OrderRequest::market(
        Symbol::parse("AAPL").unwrap(),
        OrderAction::Buy,
        OrderSize::Units(Units::parse(units).unwrap()),
    )
    .unwrap()
}

fn is_not_owned(error: &SyncError, account: tributary_domain::AccountId) -> bool {
    matches!(error, SyncError::AccountNotOwned { account: a, .. } if *a == account)
}

/// Listing the forged account's orders is refused as not the user's, like placing in it.
async fn listing_orders_is_refused<S: Store + 'static>(
    world: &World<S>,
    forged: tributary_domain::AccountId,
) {
    let read = world
        .engine
        .refresh_account_orders(world.user, forged)
        .await
        .unwrap_err();
    assert!(is_not_owned(&read, forged), "{read:?}");
}

/// No order of the user's is recorded.
async fn no_order_is_recorded<S: Store + 'static>(world: &World<S>) {
    let orders = world.store().list_orders(world.user, None).await.unwrap();
    assert!(orders.is_empty(), "nothing was recorded: {orders:?}");
}

pub async fn a_forged_alpaca_row_for_another_customers_account_can_neither_trade_nor_read<
    S: Store + 'static,
>(
    world: World<S>,
) {
    // The user's own Alpaca account, in their onboarding; the victim's is another customer of the partner.
    world.link_alpaca().await;
    let victim = world
        .sandbox
        .alpaca()
        .seed_account(SeedAccount::new(Decimal::from(1_000_000), 2));
    let forged = forge_account(&world, Provider::Alpaca, &victim.to_string(), None).await;
    world.sandbox.alpaca().log().clear();

    let placed = world
        .engine
        .place_order(world.user, forged.id, market_buy("1"))
        .await
        .unwrap_err();
    assert!(is_not_owned(&placed, forged.id), "{placed:?}");
    listing_orders_is_refused(&world, forged.id).await;

    let victims_path = format!("/v1/trading/accounts/{victim}");
    assert_eq!(
        world.sandbox.alpaca().log().count("POST", &victims_path)
            + world.sandbox.alpaca().log().count("GET", &victims_path),
        0,
        "nothing was asked of Alpaca about the victim's account"
    );
    assert!(world.sandbox.alpaca().orders(victim).is_empty());
    no_order_is_recorded(&world).await;
}

pub async fn a_forged_snaptrade_row_for_another_users_account_cannot_trade<S: Store + 'static>(
    world: World<S>,
) {
    world.connect_snaptrade(ConnectionType::Trade).await;
    world.engine.sync_user(world.user).await.unwrap();
    let own = world.first_account().await;
    // Another SnapTrade user of the same client, with a trade connection of their own.
    let victim = world
        .sandbox
        .snaptrade()
        .seed_user("victim-of-a-forged-row");
    let seeded = world
        .sandbox
        .snaptrade()
        .seed_connection(&victim.user_id, SeedConnection::new(1, 2));
    let victims_account = seeded.account_ids[0];
    // The forged row even names the user's own (trade) connection.
    let forged = forge_account(
        &world,
        Provider::SnapTrade,
        &victims_account.to_string(),
        own.snaptrade_authorization_id,
    )
    .await;
    world.sandbox.snaptrade().log().clear();

    let refused = world
        .engine
        .place_order(world.user, forged.id, limit_buy("AAPL", "1", "10.00"))
        .await
        .unwrap_err();
    assert!(is_not_owned(&refused, forged.id), "{refused:?}");
    assert_eq!(world.sandbox.snaptrade().log().count("POST", "/trade"), 0);
    assert!(world.sandbox.snaptrade().orders(victims_account).is_empty());
    listing_orders_is_refused(&world, forged.id).await;
    no_order_is_recorded(&world).await;
}

pub async fn an_order_over_the_engines_notional_cap_is_refused_before_anything_is_sent<
    S: Store + 'static,
>(
    world: World<S>,
) {
    let world = World {
        engine: world
            .engine
            .with_notional_cap(Notional::parse("1000").unwrap()),
        ..world
    };
    world.link_alpaca().await;
    world.engine.sync_user(world.user).await.unwrap();
    let account = world.first_account().await;
    world.sandbox.alpaca().log().clear();

    let notional = OrderRequest::market(
        Symbol::parse("AAPL").unwrap(),
        OrderAction::Buy,
        OrderSize::Notional(Notional::parse("1000.01").unwrap()),
    )
    .unwrap();
    let by_value = world
        .engine
        .place_order(world.user, account.id, notional)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &by_value,
            SyncError::OrderRefused { reason: OrderRefusal::NotionalOverCap { notional, .. } }
                if notional.get() == Decimal::new(100_001, 2)
        ),
        "{by_value:?}"
    );
    let priced = world
        .engine
        .place_order(world.user, account.id, limit_buy("AAPL", "11", "100.00"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &priced,
            SyncError::OrderRefused { reason: OrderRefusal::PricedValueOverCap { units, price, .. } }
                if units.get() == Decimal::from(11) && *price == Decimal::from(100)
        ),
        "{priced:?}"
    );
    assert_eq!(world.sandbox.alpaca().log().count("POST", "/v1/trading"), 0);
    no_order_is_recorded(&world).await;
    // At the cap exactly, the order goes through.
    let at_cap = world
        .engine
        .place_order(world.user, account.id, limit_buy("AAPL", "10", "100.00"))
        .await
        .unwrap();
    assert!(at_cap.impact.is_some());
}

pub async fn a_client_order_id_reused_for_another_order_is_refused_and_nothing_is_sent<
    S: Store + 'static,
>(
    world: World<S>,
) {
    world.link_alpaca().await;
    world.engine.sync_user(world.user).await.unwrap();
    let account = world.first_account().await;
    let first = world
        .engine
        .place_order(world.user, account.id, limit_buy("AAPL", "1", "10.00"))
        .await
        .unwrap();
    let other = limit_buy("MSFT", "1", "10.00").with_client_order_id(first.client_order_id.clone());
    let refused = world
        .engine
        .place_order(world.user, account.id, other)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, SyncError::ClientOrderIdReused { order, .. } if *order == first.order.id),
        "{refused:?}"
    );
    let provider_id = account.provider_account_id.as_str().parse().unwrap();
    assert_eq!(world.sandbox.alpaca().orders(provider_id).len(), 1);
}
