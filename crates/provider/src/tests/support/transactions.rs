//! What the providers' transaction tests share: exact numbers from a record, a page split into what was kept
//! and what was left out, a history paged to its end, and the checks every generated history must pass.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::future::Future;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::ProviderError;
use crate::capability::{PageCursor, Transaction, TransactionPage};

/// A JSON number exactly as sent, whatever its digits or notation.
pub fn exact(number: &Value) -> Decimal {
    let text = number.to_string();
    Decimal::from_str_exact(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .unwrap_or_else(|_| panic!("{text} is a decimal"))
}

/// The provider ids of the page's kept transactions, and of each left-out `item` its id and field (each with
/// a reason).
pub fn kept_and_left_out(
    page: &TransactionPage,
    item: &str,
) -> (Vec<String>, Vec<(String, String)>) {
    let kept = page
        .transactions
        .iter()
        .map(|t| t.provider_transaction_id.as_str().to_owned())
        .collect();
    let left_out = page
        .left_out
        .iter()
        .map(|left_out| {
            assert_eq!(left_out.item, item);
            assert!(!left_out.reason.is_empty(), "{left_out}");
            (
                left_out.provider_id.clone().unwrap_or_default(),
                left_out.field.clone(),
            )
        })
        .collect();
    (kept, left_out)
}

/// Every page of a history to its end, none with anything left out: how many pages, and their transactions.
pub async fn every_page<F, Fut>(mut fetch: F) -> (usize, Vec<Transaction>)
where
    F: FnMut(Option<PageCursor>) -> Fut,
    Fut: Future<Output = Result<TransactionPage, ProviderError>>,
{
    let (mut pages, mut all) = (0, Vec::new());
    let mut cursor = None;
    loop {
        let page = fetch(cursor).await.unwrap();
        assert_eq!(page.left_out, []);
        pages += 1;
        all.extend(page.transactions);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    (pages, all)
}

/// A generated history read over `from..=to`: each transaction once, newest first, inside the window, reaching
/// back to `reaches_back`, with every kind of `kinds` among them.
pub fn assert_a_history(
    all: &[Transaction],
    (from, to): (NaiveDate, NaiveDate),
    reaches_back: NaiveDate,
    kinds: &[&str],
) {
    let ids: BTreeSet<_> = all.iter().map(|t| &t.provider_transaction_id).collect();
    assert_eq!(ids.len(), all.len(), "every transaction once");
    assert!(
        all.windows(2)
            .all(|pair| pair[0].trade_date >= pair[1].trade_date),
        "newest first"
    );
    assert!(all.iter().all(|t| (from..=to).contains(&t.trade_date)));
    assert!(
        all.last().unwrap().trade_date <= reaches_back,
        "the history reaches back far enough"
    );
    let present: BTreeSet<&str> = all.iter().map(|t| t.transaction_type.as_str()).collect();
    for kind in kinds {
        assert!(present.contains(kind), "{kind} in {present:?}");
    }
}

/// The values a spec lists and the values the mapping decided are the same set: a value the spec adds fails
/// until someone decides it, and a decision the spec no longer backs is stale. `what` names them in the message.
pub fn assert_every_listed_value_decided<T: Ord + Debug>(
    listed: &BTreeSet<T>,
    decided: &BTreeSet<T>,
    what: &str,
) {
    assert_eq!(
        listed.difference(decided).collect::<Vec<_>>(),
        Vec::<&T>::new(),
        "{what} the spec lists that no one decided"
    );
    assert_eq!(
        decided.difference(listed).collect::<Vec<_>>(),
        Vec::<&T>::new(),
        "{what} decided that the spec no longer lists"
    );
}
