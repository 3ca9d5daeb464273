//! Holdings: the providers' figures to the last digit, whole replacements, one row per symbol and currency.

use std::collections::BTreeSet;

use tributary_domain::{
    AccountContribution, AccountId, Amount, Currency, HoldingFigures, InstitutionName, NewHolding,
    Price, Quantity, Symbol, Units,
};
use tributary_repo::{HoldingRepository, OrderRepository, RepoError};

use super::{Harness, contribution, holding, order, snaptrade_account, symbols};

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
