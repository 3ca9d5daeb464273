//! Ending things on request, through the engine on both stores with the sandbox providers: a Plaid Item unlinked,
//! a SnapTrade connection disconnected, a user forgotten — each idempotent, each cut short at every one of its steps
//! (a store call failing, a provider's answer lost) and finished by the same call made again; what another user can
//! do to them (nothing); and a broken SnapTrade connection, which cannot trade until it is reconnected.
#![cfg(all(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]

use std::future::Future;

use rust_decimal::Decimal;
use sqlx::PgPool;
use tributary_domain::{
    AuthorizationId, ConnectionStatus, ConnectionType, InvestmentAccount, OrderAction, Price,
    Provider, ProviderItemId, Symbol, Units, UserId,
};
use tributary_provider::RoutingRefusal;
use tributary_provider::capability::{BrokerageAccounts, OrderRequest, OrderSize};
use tributary_repo::{
    Keyring, MemoryStore, PgStore, RemovalRepository, RepoError, SecretKey, Store,
};
use tributary_sandbox::{LostAnswer, SeedAccount};
use tributary_sync::{ProviderRemoval, SyncError, WebhookOutcome};

use crate::seams::counting::CountingStore;
use crate::support::{World, webhook};

/// plaid-openapi.yml's `/sandbox/public_token/create` example institution.
const INSTITUTION: &str = "ins_109508";

/// Links a stored Item through the engine, as a front end handing over Link's public token would.
async fn link_item<S: Store + 'static>(world: &World<S>, user: UserId) -> ProviderItemId {
    let public_token = world
        .plaid
        .create_sandbox_public_token(INSTITUTION, &["investments".to_owned()])
        .await
        .unwrap();
    world
        .engine
        .plaid()
        .link(user, secrecy::ExposeSecret::expose_secret(&public_token))
        .await
        .unwrap()
        .item_id
}

fn limit_buy() -> OrderRequest {
    OrderRequest::limit(
        Symbol::parse("MSFT").unwrap(),
        OrderAction::Buy,
        OrderSize::Units(Units::parse("1").unwrap()),
        Price::parse("1.00").unwrap(),
    )
    .unwrap()
}

fn of_item(accounts: &[InvestmentAccount], item: &ProviderItemId) -> Vec<InvestmentAccount> {
    accounts
        .iter()
        .filter(|a| a.provider == Provider::Plaid && a.provider_item_id.as_ref() == Some(item))
        .cloned()
        .collect()
}

fn under(accounts: &[InvestmentAccount], authorization: AuthorizationId) -> Vec<InvestmentAccount> {
    accounts
        .iter()
        .filter(|a| a.snaptrade_authorization_id == Some(authorization))
        .cloned()
        .collect()
}

/// Everything the user has linked: two stored Plaid Items, a SnapTrade trade connection with an order placed,
/// an Alpaca brokerage account; synced.
async fn everything_linked<S: Store + 'static>(world: &World<S>) -> Vec<ProviderItemId> {
    // In the order the store lists them (by Item id), which is the order they are removed in.
    let mut items = vec![
        link_item(world, world.user).await,
        link_item(world, world.user).await,
    ];
    items.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    world.connect_snaptrade(ConnectionType::Trade).await;
    world.link_alpaca().await;
    let report = world.engine.sync_user(world.user).await.unwrap();
    assert!(!report.has_failures(), "{:?}", report.failures());
    let account = snaptrade_account(world).await;
    world
        .engine
        .place_order(world.user, account.id, limit_buy())
        .await
        .unwrap();
    items
}

async fn snaptrade_account<S: Store + 'static>(world: &World<S>) -> InvestmentAccount {
    world
        .store()
        .list_accounts(world.user)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.provider == Provider::SnapTrade)
        .expect("a SnapTrade account")
}

/// The user's holdings draw on no account but `kept`.
async fn holdings_only_from<S: Store + 'static>(world: &World<S>, kept: &[InvestmentAccount]) {
    let kept: Vec<_> = kept.iter().map(|a| a.id).collect();
    for holding in world.store().list_holdings(world.user).await.unwrap() {
        assert!(
            holding
                .account_contributions
                .iter()
                .all(|c| kept.contains(&c.account_id)),
            "{holding:?}"
        );
    }
}

pub async fn unlinking_an_item_removes_it_at_plaid_retires_its_accounts_and_a_second_call_finds_it_gone<
    S: Store + RemovalRepository + 'static,
>(
    world: World<S>,
) {
    let user = world.user;
    let gone = link_item(&world, user).await;
    let kept = link_item(&world, user).await;
    let before = world.store().list_accounts(user).await.unwrap();
    assert_eq!(of_item(&before, &gone).len(), 2);
    assert!(!world.store().list_holdings(user).await.unwrap().is_empty());

    let unlinked = world.engine.plaid().unlink_item(user, &gone).await.unwrap();
    assert_eq!(unlinked.at_plaid, ProviderRemoval::Removed);
    assert_eq!(unlinked.accounts_retired, 2);
    assert_eq!(world.sandbox.plaid().log().count("POST", "/item/remove"), 1);
    assert!(matches!(
        world.store().get_plaid_item(user, &gone).await,
        Err(RepoError::NotFound {
            entity: "plaid item"
        })
    ));
    world.store().get_plaid_item(user, &kept).await.unwrap();
    let accounts = world.store().list_accounts(user).await.unwrap();
    assert_eq!(accounts.len(), before.len(), "no account row is deleted");
    for account in of_item(&accounts, &gone) {
        assert!(!account.is_active, "{account:?}");
        assert_eq!(account.connection_status, ConnectionStatus::Disabled);
    }
    let remaining = of_item(&accounts, &kept);
    assert!(remaining.iter().all(|a| a.is_active));
    holdings_only_from(&world, &remaining).await;
    assert!(!world.store().list_holdings(user).await.unwrap().is_empty());

    // The same call again: the Item is gone here, so Plaid is not asked again.
    let again = world.engine.plaid().unlink_item(user, &gone).await.unwrap();
    assert_eq!(again.at_plaid, ProviderRemoval::AlreadyGone);
    assert_eq!(again.accounts_retired, 0);
    assert_eq!(world.sandbox.plaid().log().count("POST", "/item/remove"), 1);

    // The next sync reads only the Item left, and leaves the retired accounts retired.
    let report = world.engine.sync_user(user).await.unwrap();
    assert!(!report.has_failures(), "{:?}", report.failures());
    let accounts = world.store().list_accounts(user).await.unwrap();
    assert!(of_item(&accounts, &gone).iter().all(|a| !a.is_active));
    holdings_only_from(&world, &of_item(&accounts, &kept)).await;
}

pub async fn disconnecting_a_connection_deletes_it_at_snaptrade_retires_its_accounts_and_keeps_their_orders<
    S: Store + RemovalRepository + 'static,
>(
    world: World<S>,
) {
    let user = world.user;
    world.connect_snaptrade(ConnectionType::Trade).await;
    world.link_alpaca().await;
    world.engine.sync_user(user).await.unwrap();
    let account = snaptrade_account(&world).await;
    let authorization = account.snaptrade_authorization_id.unwrap();
    world
        .engine
        .place_order(user, account.id, limit_buy())
        .await
        .unwrap();
    let orders = world.store().list_orders(user, None).await.unwrap();
    let before = world.store().list_accounts(user).await.unwrap();

    let disconnected = world
        .engine
        .snaptrade()
        .disconnect(user, authorization)
        .await
        .unwrap();
    assert_eq!(disconnected.at_snaptrade, ProviderRemoval::Removed);
    assert_eq!(disconnected.accounts_retired, 2);
    assert!(
        world
            .sandbox
            .snaptrade()
            .authorizations(&user.to_string())
            .is_empty()
    );
    assert!(matches!(
        world.store().get_connection(user, authorization).await,
        Err(RepoError::NotFound {
            entity: "connection"
        })
    ));
    let accounts = world.store().list_accounts(user).await.unwrap();
    assert_eq!(accounts.len(), before.len(), "no account row is deleted");
    for retired in under(&accounts, authorization) {
        assert!(!retired.is_active);
        assert_eq!(retired.connection_status, ConnectionStatus::Disabled);
    }
    assert_eq!(
        world.store().list_orders(user, None).await.unwrap(),
        orders,
        "the order history is kept"
    );
    let alpaca: Vec<_> = accounts
        .iter()
        .filter(|a| a.provider == Provider::Alpaca)
        .cloned()
        .collect();
    holdings_only_from(&world, &alpaca).await;

    let calls = world
        .sandbox
        .snaptrade()
        .log()
        .count("DELETE", "/connection");
    let again = world
        .engine
        .snaptrade()
        .disconnect(user, authorization)
        .await
        .unwrap();
    assert_eq!(again.at_snaptrade, ProviderRemoval::AlreadyGone);
    assert_eq!(again.accounts_retired, 0);
    assert_eq!(
        world
            .sandbox
            .snaptrade()
            .log()
            .count("DELETE", "/connection"),
        calls
    );

    // SnapTrade's CONNECTION_DELETED, which follows its deletion, finds nothing left to do.
    let deleted = webhook(
        user,
        "CONNECTION_DELETED",
        &authorization.to_string(),
        "hook-after-disconnect",
    );
    let outcome = world.deliver(&deleted).await.unwrap();
    assert!(
        matches!(&outcome, WebhookOutcome::Ignored { reason } if reason.contains("is not stored")),
        "{outcome:?}"
    );
}

pub async fn forgetting_a_user_tells_every_provider_then_deletes_their_rows_and_leaves_alpaca_open<
    S: Store + RemovalRepository + 'static,
>(
    world: World<S>,
) {
    let user = world.user;
    let items = everything_linked(&world).await;
    let alpaca = world
        .store()
        .portfolio_mode(user)
        .await
        .unwrap()
        .alpaca_account_id
        .unwrap();

    let forgotten = world.engine.forget_user(user).await.unwrap();
    assert_eq!(
        forgotten.plaid_items,
        items
            .iter()
            .map(|item| (item.clone(), ProviderRemoval::Removed))
            .collect::<Vec<_>>()
    );
    assert_eq!(forgotten.snaptrade, ProviderRemoval::Removed);
    assert!(
        matches!(&forgotten.alpaca, ProviderRemoval::LeftInPlace { reason } if reason.contains(alpaca.as_str())),
        "{:?}",
        forgotten.alpaca
    );
    assert_eq!(forgotten.alpaca_account.as_ref(), Some(&alpaca));
    let rows = forgotten.rows;
    assert_eq!(rows.accounts, 2 + 2 + 2 + 1, "{rows:?}");
    assert_eq!(rows.orders, 1);
    assert_eq!(rows.connections, 1);
    assert_eq!(rows.plaid_items, 2);
    assert!(rows.holdings > 0 && rows.snaptrade_user && rows.alpaca_account_link);

    assert_forgotten(&world, user).await;
    // Alpaca's brokerage account is still there, positions and all.
    let positions = BrokerageAccounts::account_positions(world.alpaca.as_ref(), &(), &alpaca)
        .await
        .unwrap();
    assert!(!positions.items.is_empty());

    // The same call again: nothing is left anywhere, nothing is sent.
    let plaid_calls = world.sandbox.plaid().log().all().len();
    let snaptrade_calls = world.sandbox.snaptrade().log().all().len();
    let again = world.engine.forget_user(user).await.unwrap();
    assert!(again.plaid_items.is_empty());
    assert_eq!(again.snaptrade, ProviderRemoval::NothingStored);
    assert_eq!(again.alpaca, ProviderRemoval::NothingStored);
    assert!(again.rows.is_empty(), "{:?}", again.rows);
    assert_eq!(world.sandbox.plaid().log().all().len(), plaid_calls);
    assert_eq!(world.sandbox.snaptrade().log().all().len(), snaptrade_calls);

    // A scheduler's sync of the forgotten user brings nothing back.
    world.engine.sync_user(user).await.unwrap();
    assert!(world.store().list_accounts(user).await.unwrap().is_empty());
}

/// Nothing of `user` is left, here or at Plaid and SnapTrade.
async fn assert_forgotten<S: Store + 'static>(world: &World<S>, user: UserId) {
    let store = world.store();
    assert!(store.list_accounts(user).await.unwrap().is_empty());
    assert!(store.list_holdings(user).await.unwrap().is_empty());
    assert!(store.list_orders(user, None).await.unwrap().is_empty());
    assert!(store.list_connections(user).await.unwrap().is_empty());
    assert!(store.list_plaid_items(user).await.unwrap().is_empty());
    assert!(store.find_snaptrade_user(user).await.unwrap().is_none());
    assert!(
        store
            .portfolio_mode(user)
            .await
            .unwrap()
            .alpaca_account_id
            .is_none()
    );
    assert_eq!(world.sandbox.plaid().item_count(), 0, "every Item removed");
    assert!(
        !world
            .sandbox
            .snaptrade()
            .users()
            .contains(&user.to_string()),
        "the SnapTrade user is deleted"
    );
}

pub async fn another_users_item_and_connection_can_be_neither_unlinked_nor_disconnected<
    S: Store + RemovalRepository + 'static,
>(
    world: World<S>,
    attacker: UserId,
) {
    let victim = world.user;
    let item = link_item(&world, victim).await;
    world.connect_snaptrade(ConnectionType::Trade).await;
    world.engine.sync_user(victim).await.unwrap();
    let authorization = snaptrade_account(&world)
        .await
        .snaptrade_authorization_id
        .unwrap();
    let accounts = world.store().list_accounts(victim).await.unwrap();
    // The attacker has a SnapTrade registration of their own, so their credentials would open a call.
    let link = world
        .engine
        .snaptrade()
        .connect(attacker, ConnectionType::Read, None)
        .await
        .unwrap();
    assert!(link.url.starts_with("http"));

    let unlink = world
        .engine
        .plaid()
        .unlink_item(attacker, &item)
        .await
        .unwrap_err();
    assert!(
        matches!(
            unlink,
            SyncError::Repo(RepoError::NotFound {
                entity: "plaid item"
            })
        ),
        "{unlink:?}"
    );
    let disconnect = world
        .engine
        .snaptrade()
        .disconnect(attacker, authorization)
        .await
        .unwrap_err();
    assert!(
        matches!(
            disconnect,
            SyncError::Repo(RepoError::NotFound {
                entity: "connection"
            })
        ),
        "{disconnect:?}"
    );
    // Nor can the attacker open the reconnect portal for the victim's connection: refused before SnapTrade is asked.
    let logins = world
        .sandbox
        .snaptrade()
        .log()
        .count("POST", "/snapTrade/login");
    let reconnect = world
        .engine
        .snaptrade()
        .connect(attacker, ConnectionType::Trade, Some(authorization))
        .await
        .unwrap_err();
    assert!(
        matches!(
            reconnect,
            SyncError::Repo(RepoError::NotFound {
                entity: "connection"
            })
        ),
        "{reconnect:?}"
    );
    assert_eq!(
        world
            .sandbox
            .snaptrade()
            .log()
            .count("POST", "/snapTrade/login"),
        logins
    );
    // Forgetting themselves touches nothing of the victim's.
    world.engine.forget_user(attacker).await.unwrap();

    assert_eq!(world.sandbox.plaid().log().count("POST", "/item/remove"), 0);
    assert_eq!(
        world
            .sandbox
            .snaptrade()
            .log()
            .count("DELETE", "/connection"),
        0
    );
    world.store().get_plaid_item(victim, &item).await.unwrap();
    world
        .store()
        .get_connection(victim, authorization)
        .await
        .unwrap();
    assert_eq!(world.store().list_accounts(victim).await.unwrap(), accounts);
    assert_eq!(
        world
            .sandbox
            .snaptrade()
            .authorizations(&victim.to_string())
            .len(),
        1
    );
    let report = world.engine.sync_user(victim).await.unwrap();
    assert!(!report.has_failures(), "{:?}", report.failures());
}

pub async fn a_broken_snaptrade_connection_shows_disabled_cannot_trade_and_trades_again_once_reconnected<
    S: Store + 'static,
>(
    world: World<S>,
) {
    let user = world.user;
    world.connect_snaptrade(ConnectionType::Trade).await;
    world.engine.sync_user(user).await.unwrap();
    let account = snaptrade_account(&world).await;
    let authorization = account.snaptrade_authorization_id.unwrap();
    let trades = || world.sandbox.snaptrade().log().count("POST", "/trade");

    // SnapTrade's CONNECTION_BROKEN shows on the connection's accounts at once, before any sync.
    let broken = webhook(
        user,
        "CONNECTION_BROKEN",
        &authorization.to_string(),
        "hook-broken",
    );
    world.deliver(&broken).await.unwrap();
    for shown in under(
        &world.store().list_accounts(user).await.unwrap(),
        authorization,
    ) {
        assert_eq!(shown.connection_status, ConnectionStatus::Disabled);
    }
    let refused = world
        .engine
        .place_order(user, account.id, limit_buy())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, SyncError::Refused(RoutingRefusal::ConnectionUnavailable { account: a, status: ConnectionStatus::Disabled }) if a == account.id),
        "{refused:?}"
    );
    assert_eq!(trades(), 0, "nothing is sent to SnapTrade");
    let fixed = webhook(
        user,
        "CONNECTION_FIXED",
        &authorization.to_string(),
        "hook-fixed",
    );
    world.deliver(&fixed).await.unwrap();
    for shown in under(
        &world.store().list_accounts(user).await.unwrap(),
        authorization,
    ) {
        assert_eq!(shown.connection_status, ConnectionStatus::Active);
    }

    // Broken at SnapTrade: the sync shows it, and an order is refused before it is sent.
    assert!(
        world
            .sandbox
            .snaptrade()
            .disable_connection(*authorization.as_uuid())
    );
    world.engine.sync_user(user).await.unwrap();
    for shown in under(
        &world.store().list_accounts(user).await.unwrap(),
        authorization,
    ) {
        assert_eq!(shown.connection_status, ConnectionStatus::Disabled);
    }
    let refused = world
        .engine
        .place_order(user, account.id, limit_buy())
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            SyncError::Refused(RoutingRefusal::ConnectionUnavailable { .. })
        ),
        "{refused:?}"
    );
    assert_eq!(trades(), 0);
    assert!(
        world
            .store()
            .list_orders(user, None)
            .await
            .unwrap()
            .is_empty()
    );

    // The reconnect portal names the connection (SnapTrade's `reconnect`: "The UUID of the brokerage connection
    // to be reconnected"); once the user is through it, the next sync shows it working and the order goes.
    let link = world
        .engine
        .snaptrade()
        .connect(user, ConnectionType::Trade, Some(authorization))
        .await
        .unwrap();
    let portal = reqwest::get(&link.url).await.unwrap();
    assert!(portal.status().is_success());
    world.engine.sync_user(user).await.unwrap();
    let accounts = world.store().list_accounts(user).await.unwrap();
    assert_eq!(
        under(&accounts, authorization).len(),
        2,
        "the same connection"
    );
    for shown in under(&accounts, authorization) {
        assert_eq!(shown.connection_status, ConnectionStatus::Active);
    }
    world
        .engine
        .place_order(user, account.id, limit_buy())
        .await
        .unwrap();
    assert!(trades() > 0, "the order is sent once the connection works");
    assert_eq!(
        world.store().list_orders(user, None).await.unwrap().len(),
        1
    );
}

/// What a call cut short must leave: everything the same call made again can finish.
#[derive(Clone, Copy, Debug)]
pub enum Removal {
    Unlink,
    Disconnect,
    Forget,
}

/// Runs `removal` with the store failing at its first call, then its second, and so on until a run is not cut
/// short; after each cut the trap is disarmed and the same call made again must finish the job, as it would in a
/// fresh process after a crash. Each step gets a world of its own (a new sandbox, a new user).
pub async fn a_removal_cut_short_at_any_store_step_is_finished_by_the_same_call<S, F, W>(
    removal: Removal,
    new_world: F,
) where
    S: Store + RemovalRepository + 'static,
    F: Fn() -> W,
    W: Future<Output = World<CountingStore<S>>>,
{
    for step in 1.. {
        assert!(step < 40, "{removal:?} never ran to its end");
        let world = new_world().await;
        let items = everything_linked(&world).await;
        let authorization = snaptrade_account(&world)
            .await
            .snaptrade_authorization_id
            .unwrap();
        world.store().fail_at(step);
        let first = run(&world, removal, &items[0], authorization).await;
        let tripped = world.store().disarm();
        if tripped {
            assert!(
                first.is_err(),
                "{removal:?} cut at step {step} reported success"
            );
        } else {
            assert!(first.is_ok(), "{removal:?}: {first:?}");
        }
        run(&world, removal, &items[0], authorization)
            .await
            .unwrap_or_else(|error| panic!("{removal:?} after a cut at step {step}: {error:?}"));
        finished(&world, removal, &items[0], authorization).await;
        if !tripped {
            return;
        }
    }
}

async fn run<S: Store + RemovalRepository + 'static>(
    world: &World<S>,
    removal: Removal,
    item: &ProviderItemId,
    authorization: AuthorizationId,
) -> Result<(), SyncError> {
    match removal {
        Removal::Unlink => world
            .engine
            .plaid()
            .unlink_item(world.user, item)
            .await
            .map(drop),
        Removal::Disconnect => world
            .engine
            .snaptrade()
            .disconnect(world.user, authorization)
            .await
            .map(drop),
        Removal::Forget => world.engine.forget_user(world.user).await.map(drop),
    }
}

/// The state a finished removal leaves, here and at the provider.
async fn finished<S: Store + 'static>(
    world: &World<S>,
    removal: Removal,
    item: &ProviderItemId,
    authorization: AuthorizationId,
) {
    let user = world.user;
    match removal {
        Removal::Unlink => {
            assert!(world.store().get_plaid_item(user, item).await.is_err());
            let accounts = world.store().list_accounts(user).await.unwrap();
            let retired = of_item(&accounts, item);
            assert_eq!(retired.len(), 2);
            assert!(retired.iter().all(|a| !a.is_active));
            let kept: Vec<_> = accounts.iter().filter(|a| a.is_active).cloned().collect();
            holdings_only_from(world, &kept).await;
            assert_eq!(
                world.sandbox.plaid().item_count(),
                1,
                "the other Item stays"
            );
        }
        Removal::Disconnect => {
            assert!(
                world
                    .store()
                    .get_connection(user, authorization)
                    .await
                    .is_err()
            );
            let accounts = world.store().list_accounts(user).await.unwrap();
            assert!(under(&accounts, authorization).iter().all(|a| !a.is_active));
            assert_eq!(
                world.store().list_orders(user, None).await.unwrap().len(),
                1
            );
            assert!(
                world
                    .sandbox
                    .snaptrade()
                    .authorizations(&user.to_string())
                    .is_empty()
            );
        }
        Removal::Forget => assert_forgotten(world, user).await,
    }
}

/// The provider did what it was asked but its answer never arrived (the closest a test comes to a crash right
/// after the provider was told). Plaid's `/item/remove` is never repeated by the client, so the call fails and
/// the same call made again finds the Item gone at Plaid; SnapTrade's deletions are repeated by the client, whose
/// second attempt finds the thing gone within the same call. Either way the job is finished, and once only.
pub async fn a_removal_whose_provider_answer_is_lost_is_finished_by_the_same_call<
    S: Store + RemovalRepository + 'static,
>(
    world: World<S>,
    removal: Removal,
) {
    let user = world.user;
    let items = everything_linked(&world).await;
    let authorization = snaptrade_account(&world)
        .await
        .snaptrade_authorization_id
        .unwrap();
    let lost = LostAnswer::ServerError(502);
    let plaid = world.sandbox.plaid().knobs();
    let snaptrade = world.sandbox.snaptrade().knobs();
    match removal {
        Removal::Unlink => {
            plaid.lose_answer_next("POST", "/item/remove", 1, lost);
            world
                .engine
                .plaid()
                .unlink_item(user, &items[0])
                .await
                .expect_err("Plaid's answer was lost");
            assert_eq!(world.sandbox.plaid().item_count(), 1, "removed at Plaid");
            world.store().get_plaid_item(user, &items[0]).await.unwrap();
            let unlinked = world
                .engine
                .plaid()
                .unlink_item(user, &items[0])
                .await
                .unwrap();
            assert_eq!(unlinked.at_plaid, ProviderRemoval::AlreadyGone);
            assert_eq!(unlinked.accounts_retired, 2);
        }
        Removal::Disconnect => {
            snaptrade.lose_answer_next("DELETE", "/connection/{connection_id}", 1, lost);
            let disconnected = world
                .engine
                .snaptrade()
                .disconnect(user, authorization)
                .await
                .unwrap();
            assert_eq!(disconnected.at_snaptrade, ProviderRemoval::AlreadyGone);
            assert_eq!(disconnected.accounts_retired, 2);
        }
        Removal::Forget => {
            // Cut short after the first of two Items: the second is still at Plaid, everything still stored.
            plaid.lose_answer_next("POST", "/item/remove", 1, lost);
            world
                .engine
                .forget_user(user)
                .await
                .expect_err("Plaid's answer was lost");
            assert_eq!(world.sandbox.plaid().item_count(), 1);
            assert_eq!(world.store().list_plaid_items(user).await.unwrap().len(), 2);
            assert!(!world.store().list_accounts(user).await.unwrap().is_empty());
            snaptrade.lose_answer_next("DELETE", "/snapTrade/deleteUser", 1, lost);
            let forgotten = world.engine.forget_user(user).await.unwrap();
            assert_eq!(
                forgotten.plaid_items,
                vec![
                    (items[0].clone(), ProviderRemoval::AlreadyGone),
                    (items[1].clone(), ProviderRemoval::Removed),
                ]
            );
            assert_eq!(forgotten.snaptrade, ProviderRemoval::AlreadyGone);
        }
    }
    finished(&world, removal, &items[0], authorization).await;
}

/// A user whose Alpaca account is in the sandbox but whose row says nothing else: forgetting them leaves the
/// account open and says which.
pub async fn forgetting_an_alpaca_only_user_names_the_account_left_open<
    S: Store + RemovalRepository + 'static,
>(
    world: World<S>,
) {
    let id = world
        .sandbox
        .alpaca()
        .seed_account(SeedAccount::new(Decimal::from(1_000), 1));
    let account = tributary_domain::ProviderAccountId::parse(&id.to_string()).unwrap();
    world
        .store()
        .set_alpaca_account(world.user, Some(account.clone()))
        .await
        .unwrap();
    let forgotten = world.engine.forget_user(world.user).await.unwrap();
    assert_eq!(forgotten.alpaca_account, Some(account));
    assert!(forgotten.plaid_items.is_empty());
    assert_eq!(forgotten.snaptrade, ProviderRemoval::NothingStored);
    assert!(forgotten.rows.alpaca_account_link);
    assert_eq!(world.sandbox.snaptrade().log().all().len(), 0);
}

macro_rules! both_stores {
    ($($case:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let store = MemoryStore::new();
                    let user = store.create_user();
                    super::$case(World::start(store, user).await).await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[sqlx::test(migrations = false)]
                async fn $case(superuser: PgPool) {
                    let pool = backend(&superuser).await;
                    let user = pg_user(&pool).await;
                    super::$case(World::start(pg_store(&pool), user).await).await;
                }
            )*
        }
    };
}

both_stores!(
    unlinking_an_item_removes_it_at_plaid_retires_its_accounts_and_a_second_call_finds_it_gone,
    disconnecting_a_connection_deletes_it_at_snaptrade_retires_its_accounts_and_keeps_their_orders,
    forgetting_a_user_tells_every_provider_then_deletes_their_rows_and_leaves_alpaca_open,
    a_broken_snaptrade_connection_shows_disabled_cannot_trade_and_trades_again_once_reconnected,
    forgetting_an_alpaca_only_user_names_the_account_left_open,
);

async fn backend(superuser: &PgPool) -> PgPool {
    tributary_testdb::backend_pool(superuser, &tributary_repo::MIGRATOR)
        .await
        .expect("the backend role's pool")
}

fn pg_store(pool: &PgPool) -> PgStore {
    PgStore::new(pool.clone(), Keyring::new(SecretKey::from_bytes([9; 32])))
}

async fn pg_user(pool: &PgPool) -> UserId {
    UserId::new(tributary_testdb::create_auth_user(pool).await.unwrap())
}

/// The cases that take a second user or a removal, on both stores.
mod memory_more {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_users_item_and_connection_can_be_neither_unlinked_nor_disconnected() {
        let store = MemoryStore::new();
        let (victim, attacker) = (store.create_user(), store.create_user());
        super::another_users_item_and_connection_can_be_neither_unlinked_nor_disconnected(
            World::start(store, victim).await,
            attacker,
        )
        .await;
    }

    async fn failing_world() -> World<CountingStore<MemoryStore>> {
        let store = MemoryStore::new();
        let user = store.create_user();
        World::start(CountingStore::new(store), user).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unlink_cut_short_at_any_store_step_is_finished_by_the_same_call() {
        a_removal_cut_short_at_any_store_step_is_finished_by_the_same_call(
            Removal::Unlink,
            failing_world,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_disconnect_cut_short_at_any_store_step_is_finished_by_the_same_call() {
        a_removal_cut_short_at_any_store_step_is_finished_by_the_same_call(
            Removal::Disconnect,
            failing_world,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_forget_cut_short_at_any_store_step_is_finished_by_the_same_call() {
        a_removal_cut_short_at_any_store_step_is_finished_by_the_same_call(
            Removal::Forget,
            failing_world,
        )
        .await;
    }

    async fn world() -> World<MemoryStore> {
        let store = MemoryStore::new();
        let user = store.create_user();
        World::start(store, user).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_forget_whose_provider_answers_are_lost_is_finished_by_the_same_call() {
        a_removal_whose_provider_answer_is_lost_is_finished_by_the_same_call(
            world().await,
            Removal::Forget,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unlink_whose_plaid_answer_is_lost_is_finished_by_the_same_call() {
        a_removal_whose_provider_answer_is_lost_is_finished_by_the_same_call(
            world().await,
            Removal::Unlink,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_disconnect_whose_snaptrade_answer_is_lost_is_finished_by_the_same_call() {
        a_removal_whose_provider_answer_is_lost_is_finished_by_the_same_call(
            world().await,
            Removal::Disconnect,
        )
        .await;
    }
}

mod postgres_more {
    use super::*;

    #[sqlx::test(migrations = false)]
    async fn another_users_item_and_connection_can_be_neither_unlinked_nor_disconnected(
        superuser: PgPool,
    ) {
        let pool = backend(&superuser).await;
        let (victim, attacker) = (pg_user(&pool).await, pg_user(&pool).await);
        super::another_users_item_and_connection_can_be_neither_unlinked_nor_disconnected(
            World::start(pg_store(&pool), victim).await,
            attacker,
        )
        .await;
    }

    async fn cut_short(superuser: PgPool, removal: Removal) {
        let pool = backend(&superuser).await;
        a_removal_cut_short_at_any_store_step_is_finished_by_the_same_call(removal, || {
            let pool = pool.clone();
            async move {
                let user = pg_user(&pool).await;
                World::start(CountingStore::new(pg_store(&pool)), user).await
            }
        })
        .await;
    }

    #[sqlx::test(migrations = false)]
    async fn an_unlink_cut_short_at_any_store_step_is_finished_by_the_same_call(superuser: PgPool) {
        cut_short(superuser, Removal::Unlink).await;
    }

    #[sqlx::test(migrations = false)]
    async fn a_disconnect_cut_short_at_any_store_step_is_finished_by_the_same_call(
        superuser: PgPool,
    ) {
        cut_short(superuser, Removal::Disconnect).await;
    }

    #[sqlx::test(migrations = false)]
    async fn a_forget_cut_short_at_any_store_step_is_finished_by_the_same_call(superuser: PgPool) {
        cut_short(superuser, Removal::Forget).await;
    }

    async fn lost(superuser: PgPool, removal: Removal) {
        let pool = backend(&superuser).await;
        let user = pg_user(&pool).await;
        a_removal_whose_provider_answer_is_lost_is_finished_by_the_same_call(
            World::start(pg_store(&pool), user).await,
            removal,
        )
        .await;
    }

    #[sqlx::test(migrations = false)]
    async fn a_forget_whose_provider_answers_are_lost_is_finished_by_the_same_call(
        superuser: PgPool,
    ) {
        lost(superuser, Removal::Forget).await;
    }

    #[sqlx::test(migrations = false)]
    async fn an_unlink_whose_plaid_answer_is_lost_is_finished_by_the_same_call(superuser: PgPool) {
        lost(superuser, Removal::Unlink).await;
    }

    #[sqlx::test(migrations = false)]
    async fn a_disconnect_whose_snaptrade_answer_is_lost_is_finished_by_the_same_call(
        superuser: PgPool,
    ) {
        lost(superuser, Removal::Disconnect).await;
    }
}

/// A user with something stored at a provider this engine cannot reach (SnapTrade not wired in): forgetting them
/// would leave it billed and unreachable, so the call is refused before anything is sent to any provider (Plaid,
/// wired in, is not told either) or deleted.
async fn forgetting_a_user_is_refused_while_a_provider_holding_something_is_not_wired<
    S: Store + RemovalRepository + 'static,
>(
    store: S,
    user: UserId,
) {
    use std::sync::Arc;

    use secrecy::SecretString;
    use tributary_domain::{FeatureFlags, SnapTradeUserId, SnapTradeUserSecret};
    use tributary_provider::plaid::{PlaidClient, PlaidConfig, PlaidEnvironment};
    use tributary_provider::router::ProviderRouter;
    use tributary_repo::NewPlaidItem;
    use tributary_sandbox::{Sandbox, SeedItem};
    use tributary_sync::SyncEngine;
    use tributary_sync::source::GivenLogins;

    let sandbox = Sandbox::start().await;
    let seeded = sandbox.plaid().seed_item(SeedItem::default());
    let store = Arc::new(store);
    store
        .upsert_plaid_item(
            user,
            &NewPlaidItem {
                item_id: ProviderItemId::parse(&seeded.item_id).unwrap(),
                institution_id: None,
                institution_name: None,
                access_token: SecretString::from(seeded.access_token.as_str()),
            },
        )
        .await
        .unwrap();
    store
        .upsert_snaptrade_user(
            user,
            &tributary_domain::NewSnapTradeUser {
                user_id: user,
                snaptrade_user_id: SnapTradeUserId::parse(&user.to_string()).unwrap(),
                user_secret: SnapTradeUserSecret::new(SecretString::from("secret")).unwrap(),
            },
        )
        .await
        .unwrap();
    let plaid = PlaidConfig::new(
        sandbox.plaid().client_id(),
        SecretString::from(sandbox.plaid().secret()),
        PlaidEnvironment::Sandbox,
    )
    .with_base_url(sandbox.plaid_base_url().parse().unwrap());
    let engine = SyncEngine::new(
        Arc::clone(&store),
        ProviderRouter::new(FeatureFlags::all_on()),
    )
    .with_plaid(
        Arc::new(PlaidClient::new(plaid).unwrap()),
        Arc::new(GivenLogins::new()),
    );

    let refused = engine.forget_user(user).await.unwrap_err();
    assert!(
        matches!(
            refused,
            SyncError::NoClient {
                provider: Provider::SnapTrade
            }
        ),
        "{refused:?}"
    );
    assert_eq!(sandbox.plaid().log().count("POST", "/item/remove"), 0);
    assert_eq!(sandbox.plaid().item_count(), 1);
    assert_eq!(store.list_plaid_items(user).await.unwrap().len(), 1);
    assert!(store.find_snaptrade_user(user).await.unwrap().is_some());
}

#[tokio::test]
async fn forgetting_a_user_is_refused_while_a_provider_holding_something_is_not_wired_in_memory() {
    let store = MemoryStore::new();
    let user = store.create_user();
    forgetting_a_user_is_refused_while_a_provider_holding_something_is_not_wired(store, user).await;
}

#[sqlx::test(migrations = false)]
async fn forgetting_a_user_is_refused_while_a_provider_holding_something_is_not_wired_on_postgres(
    superuser: PgPool,
) {
    let pool = backend(&superuser).await;
    let user = pg_user(&pool).await;
    forgetting_a_user_is_refused_while_a_provider_holding_something_is_not_wired(
        pg_store(&pool),
        user,
    )
    .await;
}
