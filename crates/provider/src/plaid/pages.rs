//! `/investments/transactions/get`, one page at a time.

use chrono::NaiveDate;

use super::wire::InvestmentTransactionsGetResponse;
use super::{AccessToken, PlaidClient};
use crate::error::ProviderError;

/// The most transactions Plaid returns per page (`options.count` maximum).
pub const MAX_PAGE_SIZE: u32 = 500;

/// The investment transactions of one Item over a date range, fetched page by page.
///
/// Each [`next_page`](Self::next_page) call makes one request with the next offset and hands back that page
/// alone, so a caller can write each page away before asking for the next; nothing collects all pages.
/// Paging ends when the offset reaches `total_investment_transactions` (as the latest page reports it), or
/// when Plaid returns an empty page early (the total can shrink while paging; looping on it would not end).
#[must_use = "pages are fetched only when next_page is awaited"]
pub struct InvestmentTransactionPages<'a> {
    client: &'a PlaidClient,
    access_token: &'a AccessToken,
    start_date: NaiveDate,
    end_date: NaiveDate,
    account_ids: Vec<String>,
    page_size: u32,
    offset: u64,
    finished: bool,
}

impl<'a> InvestmentTransactionPages<'a> {
    pub(crate) fn new(
        client: &'a PlaidClient,
        access_token: &'a AccessToken,
        start_date: NaiveDate,
        end_date: NaiveDate,
    ) -> Self {
        Self {
            client,
            access_token,
            start_date,
            end_date,
            account_ids: Vec::new(),
            page_size: MAX_PAGE_SIZE,
            offset: 0,
            finished: false,
        }
    }

    /// Only these accounts' transactions.
    pub fn for_accounts(mut self, account_ids: Vec<String>) -> Self {
        self.account_ids = account_ids;
        self
    }

    /// Pages of `size` transactions, clamped to 1..=500 (Plaid's limits).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size.clamp(1, MAX_PAGE_SIZE);
        self
    }

    /// The offset the next request will carry.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Fetches the next page; `None` once every transaction has been returned.
    ///
    /// After an error the pager stays where it was, so calling again retries the same page.
    pub async fn next_page(
        &mut self,
    ) -> Option<Result<InvestmentTransactionsGetResponse, ProviderError>> {
        if self.finished {
            return None;
        }
        let page = match self
            .client
            .investment_transactions_page(
                self.access_token,
                self.start_date,
                self.end_date,
                &self.account_ids,
                self.page_size,
                self.offset,
            )
            .await
        {
            Ok(page) => page,
            Err(error) => return Some(Err(error)),
        };
        let received = page.investment_transactions.len() as u64;
        self.offset += received;
        self.finished = received == 0 || self.offset >= page.total_investment_transactions;
        Some(Ok(page))
    }
}
