//! History (migration 0024): transactions and the value history, on both stores.

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use tributary_domain::{
    AccountId, Amount, Currency, InvestmentTransaction, NewInvestmentTransaction, NewValuePoint,
    Provider, ProviderTransactionId, RawRecord, SecurityId, SignedAmount, Symbol,
    TransactionDescription, TransactionSubtype, TransactionType, UserId,
};
use tributary_repo::{
    AccountRepository, LockRepository, RepoError, TransactionQuery, TransactionRepository,
    TransactionsWritten, ValueHistoryRepository,
};

use super::{Harness, account};

pub fn day(text: &str) -> NaiveDate {
    NaiveDate::from_str(text).unwrap()
}

fn money(text: &str) -> SignedAmount {
    SignedAmount::parse_exact(text).unwrap()
}

/// A transaction of `account`, `amount` in `currency`, traded on `date`.
pub fn transaction(
    user: UserId,
    account: AccountId,
    provider: Provider,
    id: &str,
    date: &str,
    amount: &str,
    currency: &str,
) -> NewInvestmentTransaction {
    NewInvestmentTransaction {
        raw: RawRecord::parse(serde_json::json!({ "id": id, "amount": amount })).unwrap(),
        ..NewInvestmentTransaction::new(
            user,
            account,
            provider,
            ProviderTransactionId::parse(id).unwrap(),
            day(date),
            TransactionType::Deposit,
            money(amount),
            Currency::parse(currency).unwrap(),
        )
    }
}

/// Plaid's own example sale (plaid-openapi.yml, `/investments/transactions/get`): 47.74104242992852 units at
/// 27.53, fees 7.99, Plaid's amount -1289.01 (cash credited), stored as +1289.01.
fn plaid_sale(user: UserId, account: AccountId) -> NewInvestmentTransaction {
    let id = "pK99jB9e7mtwjA435GpVuMvmWQKVbVFLWme57";
    NewInvestmentTransaction {
        quantity: Some(Decimal::from_str("-47.74104242992852").unwrap()),
        price: Some(Decimal::from_str("27.53").unwrap()),
        fees: Some(money("7.99")),
        subtype: Some(TransactionSubtype::parse("sell").unwrap()),
        symbol: Some(Symbol::parse("MIPTX").unwrap()),
        security_id: Some(SecurityId::parse("JDdP7XPMklt5vwPmDN45t3KAoWAPmjtpaW7DP").unwrap()),
        settlement_date: Some(day("2020-05-29")),
        description: TransactionDescription::from_optional(Some(
            "SELL Matthews Pacific Tiger Fund Insti Class",
        )),
        raw: RawRecord::parse(serde_json::json!({
            "investment_transaction_id": id, "amount": -1289.01, "quantity": -47.74104242992852,
            "type": "sell", "subtype": "sell", "iso_currency_code": "USD"
        }))
        .unwrap(),
        ..NewInvestmentTransaction::new(
            user,
            account,
            Provider::Plaid,
            ProviderTransactionId::parse(id).unwrap(),
            day("2020-05-28"),
            TransactionType::Sell,
            money("1289.01"),
            Currency::usd(),
        )
    }
}

async fn plaid_account<H: Harness>(h: &H, user: UserId, id: &str) -> AccountId {
    h.admin()
        .upsert_accounts(user, &[account(user, Provider::Plaid, id)])
        .await
        .unwrap()[0]
        .id
}

fn written(inserted: usize, updated: usize, unchanged: usize) -> TransactionsWritten {
    TransactionsWritten {
        inserted,
        updated,
        unchanged,
    }
}

fn ids(listed: &[InvestmentTransaction]) -> Vec<&str> {
    listed
        .iter()
        .map(|t| t.transaction.provider_transaction_id.as_str())
        .collect()
}

pub async fn transactions_upsert_by_provider_id_and_an_unchanged_resync_writes_nothing<
    H: Harness,
>(
    h: &H,
) {
    let user = h.new_user().await;
    let brokerage = plaid_account(h, user, "acc-history").await;
    let writer = h.admin();
    let reader = h.store_for(user);
    let batch = vec![
        plaid_sale(user, brokerage),
        transaction(
            user,
            brokerage,
            Provider::Plaid,
            "t-1",
            "2020-05-01",
            "1000",
            "USD",
        ),
        transaction(
            user,
            brokerage,
            Provider::Plaid,
            "t-2",
            "2020-05-02",
            "-25.5",
            "USD",
        ),
    ];
    assert_eq!(
        writer
            .upsert_transactions(user, brokerage, &batch)
            .await
            .unwrap(),
        written(3, 0, 0)
    );
    let first = reader
        .list_transactions(user, &TransactionQuery::latest(10))
        .await
        .unwrap();
    assert_eq!(
        ids(&first),
        ["pK99jB9e7mtwjA435GpVuMvmWQKVbVFLWme57", "t-2", "t-1"]
    );
    // Every field read back as written, the quantity to its last digit.
    assert_eq!(first[0].transaction, batch[0]);
    assert_eq!(
        first[0].transaction.quantity.unwrap().to_string(),
        "-47.74104242992852"
    );
    assert_eq!(first[0].created_at, first[0].updated_at);

    // The same history again: nothing written, no row's updated_at moved.
    assert_eq!(
        writer
            .upsert_transactions(user, brokerage, &batch)
            .await
            .unwrap(),
        written(0, 0, 3)
    );
    let again = reader
        .list_transactions(user, &TransactionQuery::latest(10))
        .await
        .unwrap();
    assert_eq!(again, first);

    // The provider revises one: it alone changes, keeping its row and its creation time.
    let mut revised = batch.clone();
    revised[1].amount = money("1000.01");
    revised[1].description = TransactionDescription::from_optional(Some("ACH deposit, corrected"));
    assert_eq!(
        writer
            .upsert_transactions(user, brokerage, &revised)
            .await
            .unwrap(),
        written(0, 1, 2)
    );
    let after = reader
        .list_transactions(user, &TransactionQuery::latest(10))
        .await
        .unwrap();
    let (before_t1, after_t1) = (&first[2], &after[2]);
    assert_eq!(after_t1.transaction, revised[1]);
    assert_eq!(
        (after_t1.id, after_t1.created_at),
        (before_t1.id, before_t1.created_at)
    );
    assert!(after_t1.updated_at > before_t1.updated_at);
    assert_eq!(&after[..2], &first[..2]);

    // A page overlapping the stored ones adds only what is new.
    let overlap = vec![
        revised[2].clone(),
        transaction(
            user,
            brokerage,
            Provider::Plaid,
            "t-3",
            "2020-06-01",
            "5",
            "USD",
        ),
    ];
    assert_eq!(
        writer
            .upsert_transactions(user, brokerage, &overlap)
            .await
            .unwrap(),
        written(1, 0, 1)
    );
    assert_eq!(
        writer
            .upsert_transactions(user, brokerage, &[])
            .await
            .unwrap(),
        written(0, 0, 0)
    );
}

pub async fn transactions_are_listed_newest_first_by_account_and_dates_up_to_a_limit<H: Harness>(
    h: &H,
) {
    let user = h.new_user().await;
    let first = plaid_account(h, user, "acc-a").await;
    let second = plaid_account(h, user, "acc-b").await;
    let writer = h.admin();
    let mut in_first = Vec::new();
    for (id, date) in [
        ("a-3", "2024-03-01"),
        ("a-1", "2024-01-15"),
        ("a-2", "2024-02-10"),
    ] {
        in_first.push(transaction(
            user,
            first,
            Provider::Plaid,
            id,
            date,
            "10",
            "USD",
        ));
    }
    let mut in_second = Vec::new();
    for (id, date) in [("b-2", "2024-02-10"), ("b-1", "2023-12-31")] {
        in_second.push(transaction(
            user,
            second,
            Provider::Plaid,
            id,
            date,
            "10",
            "USD",
        ));
    }
    writer
        .upsert_transactions(user, first, &in_first)
        .await
        .unwrap();
    writer
        .upsert_transactions(user, second, &in_second)
        .await
        .unwrap();
    let reader = h.store_for(user);
    let list = |query: TransactionQuery| {
        let reader = reader.clone();
        async move { reader.list_transactions(user, &query).await.unwrap() }
    };

    let all = list(TransactionQuery::latest(100)).await;
    // Newest first; on one day by account, then provider id.
    let (a, b) = if first < second {
        ("a-2", "b-2")
    } else {
        ("b-2", "a-2")
    };
    assert_eq!(ids(&all), ["a-3", a, b, "a-1", "b-1"]);
    assert_eq!(ids(&list(TransactionQuery::latest(2)).await), ["a-3", a]);
    assert!(list(TransactionQuery::latest(0)).await.is_empty());
    assert_eq!(
        ids(&list(TransactionQuery::latest(100).in_account(second)).await),
        ["b-2", "b-1"]
    );
    let february = TransactionQuery::latest(100).between(day("2024-02-01"), day("2024-02-29"));
    assert_eq!(ids(&list(february).await), [a, b]);
    assert_eq!(ids(&list(february.in_account(first)).await), ["a-2"]);
    let one_day = TransactionQuery::latest(100).between(day("2023-12-31"), day("2023-12-31"));
    assert_eq!(ids(&list(one_day).await), ["b-1"]);
    let backwards = TransactionQuery::latest(10).between(day("2024-02-01"), day("2024-01-01"));
    assert!(matches!(
        reader.list_transactions(user, &backwards).await,
        Err(RepoError::InvalidData { field, .. }) if field == "to"
    ));
}

pub async fn a_withdrawn_transaction_is_removed_and_an_unknown_id_is_skipped<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let brokerage = plaid_account(h, user, "acc-removal").await;
    let store = h.admin();
    let batch: Vec<_> = ["r-1", "r-2", "r-3"]
        .into_iter()
        .map(|id| {
            transaction(
                user,
                brokerage,
                Provider::Plaid,
                id,
                "2025-01-02",
                "1",
                "USD",
            )
        })
        .collect();
    store
        .upsert_transactions(user, brokerage, &batch)
        .await
        .unwrap();
    let withdrawn = [
        ProviderTransactionId::parse("r-2").unwrap(),
        ProviderTransactionId::parse("never-stored").unwrap(),
    ];
    assert_eq!(
        store
            .remove_transactions(user, brokerage, &withdrawn)
            .await
            .unwrap(),
        1
    );
    let left = h
        .store_for(user)
        .list_transactions(user, &TransactionQuery::latest(10))
        .await
        .unwrap();
    assert_eq!(ids(&left), ["r-1", "r-3"]);
    assert_eq!(
        store
            .remove_transactions(user, brokerage, &withdrawn)
            .await
            .unwrap(),
        0
    );
    // Stored again after its removal, it is a new row.
    assert_eq!(
        store
            .upsert_transactions(user, brokerage, &batch)
            .await
            .unwrap(),
        written(1, 0, 2)
    );
}

pub async fn a_transaction_batch_naming_another_users_account_or_rows_is_refused_and_writes_nothing<
    H: Harness,
>(
    h: &H,
) {
    let alice = h.new_user().await;
    let bob = h.new_user().await;
    let alices = plaid_account(h, alice, "acc-alice").await;
    let bobs = plaid_account(h, bob, "acc-bob").await;
    let store = h.admin();
    let bobs_history = vec![transaction(
        bob,
        bobs,
        Provider::Plaid,
        "b-1",
        "2025-02-03",
        "100",
        "USD",
    )];
    store
        .upsert_transactions(bob, bobs, &bobs_history)
        .await
        .unwrap();
    let bobs_before = store
        .list_transactions(bob, &TransactionQuery::latest(10))
        .await
        .unwrap();

    // Alice's batch naming Bob's account (her own rows, his account id): not found, as if it did not exist.
    let into_bobs = vec![transaction(
        alice,
        bobs,
        Provider::Plaid,
        "b-1",
        "2025-02-03",
        "-999",
        "USD",
    )];
    assert!(matches!(
        store.upsert_transactions(alice, bobs, &into_bobs).await,
        Err(RepoError::NotFound { entity: "account" })
    ));
    // Bob's rows slipped into a batch written for Alice: forbidden.
    let bobs_rows = vec![transaction(
        bob,
        bobs,
        Provider::Plaid,
        "b-1",
        "2025-02-03",
        "-999",
        "USD",
    )];
    assert!(matches!(
        store.upsert_transactions(alice, bobs, &bobs_rows).await,
        Err(RepoError::Forbidden { .. })
    ));
    // Nor can she remove his, read his, or move his sync position.
    let his_id = [ProviderTransactionId::parse("b-1").unwrap()];
    assert!(matches!(
        store.remove_transactions(alice, bobs, &his_id).await,
        Err(RepoError::NotFound { entity: "account" })
    ));
    assert!(matches!(
        store
            .advance_transactions_synced_through(alice, bobs, day("2030-01-01"))
            .await,
        Err(RepoError::NotFound { entity: "account" })
    ));
    assert!(matches!(
        store.transactions_synced_through(alice, bobs).await,
        Err(RepoError::NotFound { entity: "account" })
    ));
    let as_alice = h
        .store_for(alice)
        .list_transactions(alice, &TransactionQuery::latest(10).in_account(bobs))
        .await
        .unwrap();
    assert!(as_alice.is_empty(), "{as_alice:?}");

    // Her own account, with a bad row in the batch: the batch is refused whole.
    let good = transaction(
        alice,
        alices,
        Provider::Plaid,
        "a-1",
        "2025-02-03",
        "1",
        "USD",
    );
    let other_account = transaction(
        alice,
        bobs,
        Provider::Plaid,
        "a-2",
        "2025-02-03",
        "1",
        "USD",
    );
    let other_provider = transaction(
        alice,
        alices,
        Provider::SnapTrade,
        "a-3",
        "2025-02-03",
        "1",
        "USD",
    );
    for (bad, field) in [
        (other_account, "account_id"),
        (other_provider, "provider"),
        (good.clone(), "provider_transaction_id"),
    ] {
        let outcome = store
            .upsert_transactions(alice, alices, &[good.clone(), bad])
            .await;
        assert!(
            matches!(&outcome, Err(RepoError::InvalidData { field: f, .. }) if f == field),
            "{field}: {outcome:?}"
        );
    }
    assert!(
        store
            .list_transactions(alice, &TransactionQuery::latest(10))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_transactions(bob, &TransactionQuery::latest(10))
            .await
            .unwrap(),
        bobs_before
    );
}

pub async fn a_revision_in_another_currency_is_refused_and_its_batch_writes_nothing<H: Harness>(
    h: &H,
) {
    let user = h.new_user().await;
    let brokerage = plaid_account(h, user, "acc-currency").await;
    let store = h.admin();
    let stored = vec![transaction(
        user,
        brokerage,
        Provider::Plaid,
        "c-1",
        "2025-03-01",
        "100",
        "USD",
    )];
    store
        .upsert_transactions(user, brokerage, &stored)
        .await
        .unwrap();
    let before = store
        .list_transactions(user, &TransactionQuery::latest(10))
        .await
        .unwrap();

    let mixed = vec![
        transaction(
            user,
            brokerage,
            Provider::Plaid,
            "c-2",
            "2025-03-02",
            "50",
            "USD",
        ),
        transaction(
            user,
            brokerage,
            Provider::Plaid,
            "c-1",
            "2025-03-01",
            "100",
            "CAD",
        ),
    ];
    let outcome = store.upsert_transactions(user, brokerage, &mixed).await;
    assert!(
        matches!(&outcome, Err(RepoError::InvalidData { field, reason }) if field == "currency"
            && reason.contains("c-1") && reason.contains("USD") && reason.contains("CAD")),
        "{outcome:?}"
    );
    assert_eq!(
        store
            .list_transactions(user, &TransactionQuery::latest(10))
            .await
            .unwrap(),
        before,
        "neither the revision nor the new transaction was stored"
    );

    // Two currencies in one account are two transactions, each in its own: that is not mixing.
    let in_cad = vec![transaction(
        user,
        brokerage,
        Provider::Plaid,
        "c-3",
        "2025-03-03",
        "70",
        "CAD",
    )];
    assert_eq!(
        store
            .upsert_transactions(user, brokerage, &in_cad)
            .await
            .unwrap(),
        written(1, 0, 0)
    );
    // Removed, then stored again, the transaction takes the new currency.
    store
        .remove_transactions(
            user,
            brokerage,
            &[ProviderTransactionId::parse("c-1").unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .upsert_transactions(user, brokerage, &mixed)
            .await
            .unwrap(),
        written(2, 0, 0)
    );
}

pub async fn net_contributions_sum_deposits_withdrawals_and_transfers_per_currency<H: Harness>(
    h: &H,
) {
    let user = h.new_user().await;
    let other = h.new_user().await;
    let brokerage = plaid_account(h, user, "acc-contributions").await;
    let theirs = plaid_account(h, other, "acc-contributions").await;
    let store = h.admin();
    let kind = |t: NewInvestmentTransaction, kind| NewInvestmentTransaction {
        transaction_type: kind,
        ..t
    };
    let of = |id, amount, currency| {
        transaction(
            user,
            brokerage,
            Provider::Plaid,
            id,
            "2025-01-02",
            amount,
            currency,
        )
    };
    let batch = [
        of("c-1", "1000", "USD"),
        kind(of("c-2", "-250.5", "USD"), TransactionType::Withdrawal),
        kind(of("c-3", "100", "USD"), TransactionType::Transfer),
        kind(of("c-4", "99999", "USD"), TransactionType::Dividend),
        kind(of("c-5", "-5000", "USD"), TransactionType::Buy),
        of("c-6", "0.0000000001", "CAD"),
    ];
    assert_eq!(
        store.net_contributions(user, brokerage).await.unwrap(),
        Default::default(),
        "no transaction, no contribution"
    );
    store
        .upsert_transactions(user, brokerage, &batch)
        .await
        .unwrap();

    let sums = h
        .store_for(user)
        .net_contributions(user, brokerage)
        .await
        .unwrap();
    assert_eq!(
        sums.into_iter().collect::<Vec<_>>(),
        [
            (
                Currency::parse("CAD").unwrap(),
                Decimal::from_str("0.0000000001").unwrap()
            ),
            (Currency::usd(), Decimal::from_str("849.5").unwrap()),
        ],
        "deposits, withdrawals and transfers only; each currency apart; to the last digit"
    );
    assert!(matches!(
        store.net_contributions(user, theirs).await,
        Err(RepoError::NotFound { entity: "account" })
    ));
}

pub async fn the_synced_through_day_moves_only_forward_per_account<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let first = plaid_account(h, user, "acc-sync-1").await;
    let second = plaid_account(h, user, "acc-sync-2").await;
    let writer = h.admin();
    let reader = h.store_for(user);
    assert_eq!(
        reader
            .transactions_synced_through(user, first)
            .await
            .unwrap(),
        None
    );
    assert!(
        writer
            .advance_transactions_synced_through(user, first, day("2025-06-30"))
            .await
            .unwrap()
    );
    assert!(
        !writer
            .advance_transactions_synced_through(user, first, day("2025-06-30"))
            .await
            .unwrap()
    );
    assert!(
        !writer
            .advance_transactions_synced_through(user, first, day("2025-06-01"))
            .await
            .unwrap(),
        "an older day never moves it back"
    );
    assert!(
        writer
            .advance_transactions_synced_through(user, first, day("2025-07-01"))
            .await
            .unwrap()
    );
    assert_eq!(
        reader
            .transactions_synced_through(user, first)
            .await
            .unwrap(),
        Some(day("2025-07-01"))
    );
    assert_eq!(
        reader
            .transactions_synced_through(user, second)
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        writer
            .advance_transactions_synced_through(user, AccountId::generate(), day("2025-07-01"))
            .await,
        Err(RepoError::NotFound { entity: "account" })
    ));
}

pub async fn transactions_and_their_sync_position_are_saved_with_their_unit_of_writes_or_not_at_all<
    H: Harness,
>(
    h: &H,
) {
    let user = h.new_user().await;
    let brokerage = plaid_account(h, user, "acc-unit-history").await;
    let store = h.admin();
    let batch = vec![transaction(
        user,
        brokerage,
        Provider::Plaid,
        "u-1",
        "2025-04-01",
        "1",
        "USD",
    )];
    let point = NewValuePoint::new(user, None, day("2025-04-01"), Currency::usd(), money("1"));

    let lock = store.lock_user(user).await.unwrap();
    let bound = store.within(&lock).unwrap();
    lock.begin_writes().await.unwrap();
    bound
        .upsert_transactions(user, brokerage, &batch)
        .await
        .unwrap();
    bound
        .advance_transactions_synced_through(user, brokerage, day("2025-04-01"))
        .await
        .unwrap();
    bound
        .upsert_value_points(user, std::slice::from_ref(&point))
        .await
        .unwrap();
    drop(bound);
    drop(lock);
    assert!(
        store
            .list_transactions(user, &TransactionQuery::latest(10))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .transactions_synced_through(user, brokerage)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .value_history(user, day("2025-01-01"), day("2025-12-31"))
            .await
            .unwrap()
            .is_empty()
    );

    let lock = store.lock_user(user).await.unwrap();
    let bound = store.within(&lock).unwrap();
    lock.begin_writes().await.unwrap();
    bound
        .upsert_transactions(user, brokerage, &batch)
        .await
        .unwrap();
    bound
        .advance_transactions_synced_through(user, brokerage, day("2025-04-01"))
        .await
        .unwrap();
    bound
        .upsert_value_points(user, std::slice::from_ref(&point))
        .await
        .unwrap();
    lock.commit_writes().await.unwrap();
    drop(bound);
    lock.release().await.unwrap();
    assert_eq!(
        store
            .list_transactions(user, &TransactionQuery::latest(10))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .transactions_synced_through(user, brokerage)
            .await
            .unwrap(),
        Some(day("2025-04-01"))
    );
    assert_eq!(
        store
            .value_history(user, day("2025-01-01"), day("2025-12-31"))
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn value_points_are_one_per_account_or_total_day_and_currency<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let brokerage = plaid_account(h, user, "acc-value").await;
    let writer = h.admin();
    let reader = h.store_for(user);
    let full = |account, date: &str, currency: &str, value: &str| NewValuePoint {
        cost_basis: Some(Amount::parse_exact("900").unwrap()),
        cash: Some(money("-12.5")),
        net_contributions: Some(money("850")),
        ..NewValuePoint::new(
            user,
            account,
            day(date),
            Currency::parse(currency).unwrap(),
            money(value),
        )
    };
    let friday = vec![
        full(Some(brokerage), "2025-05-02", "USD", "1000"),
        full(None, "2025-05-02", "USD", "1000"),
        full(None, "2025-05-02", "CAD", "300"),
    ];
    assert_eq!(writer.upsert_value_points(user, &friday).await.unwrap(), 3);
    // Monday, two days without a sync later: only what was recorded.
    let monday = vec![NewValuePoint::new(
        user,
        None,
        day("2025-05-05"),
        Currency::usd(),
        money("1010"),
    )];
    assert_eq!(writer.upsert_value_points(user, &monday).await.unwrap(), 1);

    let history = reader
        .value_history(user, day("2025-05-01"), day("2025-05-31"))
        .await
        .unwrap();
    let keys: Vec<_> = history
        .iter()
        .map(|p| {
            (
                p.point.day,
                p.point.account_id,
                p.point.currency.to_string(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            (day("2025-05-02"), None, "CAD".to_owned()),
            (day("2025-05-02"), None, "USD".to_owned()),
            (day("2025-05-02"), Some(brokerage), "USD".to_owned()),
            (day("2025-05-05"), None, "USD".to_owned()),
        ]
    );
    assert_eq!(history[2].point, friday[0]);
    assert_eq!(
        history[3].point.cost_basis, None,
        "an unknown figure stays unknown"
    );

    // The same day again: nothing written; a second sync that day with other figures rewrites its points.
    assert_eq!(writer.upsert_value_points(user, &friday).await.unwrap(), 0);
    let again = reader
        .value_history(user, day("2025-05-01"), day("2025-05-31"))
        .await
        .unwrap();
    assert_eq!(again, history);
    let mut later = friday.clone();
    later[1].market_value = money("1003.5");
    assert_eq!(writer.upsert_value_points(user, &later).await.unwrap(), 1);
    let rewritten = reader
        .value_history(user, day("2025-05-02"), day("2025-05-02"))
        .await
        .unwrap();
    assert_eq!(rewritten.len(), 3);
    assert_eq!(rewritten[1].point, later[1]);
    assert!(rewritten[1].recorded_at > history[1].recorded_at);
    assert_eq!(rewritten[0], history[0]);

    assert!(
        reader
            .value_history(user, day("2025-06-01"), day("2025-06-30"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        reader.value_history(user, day("2025-06-01"), day("2025-05-01")).await,
        Err(RepoError::InvalidData { field, .. }) if field == "to"
    ));
}

pub async fn a_value_point_naming_another_users_account_is_refused_and_writes_nothing<
    H: Harness,
>(
    h: &H,
) {
    let alice = h.new_user().await;
    let bob = h.new_user().await;
    let bobs = plaid_account(h, bob, "acc-bob-value").await;
    let store = h.admin();
    let own_total = NewValuePoint::new(alice, None, day("2025-05-02"), Currency::usd(), money("1"));
    let on_bobs_account = NewValuePoint::new(
        alice,
        Some(bobs),
        day("2025-05-02"),
        Currency::usd(),
        money("1"),
    );
    assert!(matches!(
        store
            .upsert_value_points(alice, &[own_total.clone(), on_bobs_account])
            .await,
        Err(RepoError::NotFound { entity: "account" })
    ));
    let bobs_point = NewValuePoint::new(bob, None, day("2025-05-02"), Currency::usd(), money("1"));
    assert!(matches!(
        store
            .upsert_value_points(alice, &[own_total.clone(), bobs_point])
            .await,
        Err(RepoError::Forbidden { .. })
    ));
    let twice = NewValuePoint {
        market_value: money("2"),
        ..own_total.clone()
    };
    assert!(matches!(
        store.upsert_value_points(alice, &[own_total, twice]).await,
        Err(RepoError::InvalidData { field, .. }) if field == "day"
    ));
    for user in [alice, bob] {
        assert!(
            store
                .value_history(user, day("2025-01-01"), day("2025-12-31"))
                .await
                .unwrap()
                .is_empty()
        );
    }
}
