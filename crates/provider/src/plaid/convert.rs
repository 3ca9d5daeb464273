//! Plaid's payloads as domain types, and Plaid as an [`Aggregation`] provider.
//!
//! Amounts arrive as `Decimal` read from Plaid's decimal text (see [`wire`](super::wire)); here they are
//! checked against the domain's column shapes with the `exact` constructors: Plaid's number is kept to the
//! last digit or refused, never rounded. A value the domain refuses is [`ProviderError::InvalidData`] with
//! the path of the field in Plaid's payload; in a list (holdings, transactions) that item alone is left out.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use tributary_domain::{
    AccountName, AccountSubtype, AccountType, ConnectionStatus, ConnectionType, DomainError,
    InstitutionName, OptionContract, OptionRight, Price, Provider, ProviderAccountId,
    ProviderItemId, ProviderTransactionId, Quantity, SecurityId, SecurityName, SecurityType,
    SignedAmount, Symbol, TransactionDescription, TransactionSubtype, TransactionType,
};

use super::error_codes::needs_user;
use super::wire::{
    self, Account, Holding, InvestmentTransaction, InvestmentTransactionsGetResponse,
    InvestmentsHoldingsGetResponse, Item, ItemGetResponse, Security,
};
use super::{AccessToken, MAX_PAGE_SIZE, PlaidClient};
use crate::capability::{
    AccountInfo, Aggregation, ConnectionInfo, CursorAt, Listing, PageCursor, Position,
    PositionSide, ProviderConnectionId, Transaction, TransactionPage, currency_code,
};
use crate::error::ProviderError;
use crate::recorded::Recorded;

/// Plaid account types that hold investments (`brokerage` is the pre-2020 name of `investment`).
const INVESTMENT_ACCOUNT_TYPES: [&str; 2] = ["investment", "brokerage"];

#[async_trait]
impl Aggregation for PlaidClient {
    /// One Plaid Item's access token: Plaid's unit of one login at one institution.
    type Login = AccessToken;

    fn provider(&self) -> Provider {
        Provider::Plaid
    }

    async fn connections(&self, login: &AccessToken) -> Result<Vec<ConnectionInfo>, ProviderError> {
        Ok(vec![connection_info(&self.item(login).await?)?])
    }

    /// The Item's investment accounts; its bank and credit accounts are not Tributary's business.
    async fn accounts(&self, login: &AccessToken) -> Result<Vec<AccountInfo>, ProviderError> {
        let response = PlaidClient::accounts(self, login).await?;
        investment_accounts(&response.item, &response.accounts)
    }

    async fn positions(&self, login: &AccessToken) -> Result<Listing<Position>, ProviderError> {
        Ok(positions(&self.holdings(login).await?))
    }

    async fn transactions(
        &self,
        login: &AccessToken,
        from: NaiveDate,
        to: NaiveDate,
        page: Option<PageCursor>,
    ) -> Result<TransactionPage, ProviderError> {
        let CursorAt::Offset(offset) = page.unwrap_or_default().0 else {
            return Err(ProviderError::invalid_input(
                "page",
                "is not a cursor Plaid's pages gave",
            ));
        };
        let response = self
            .investment_transactions_page(login, from, to, &[], MAX_PAGE_SIZE, offset)
            .await?;
        transaction_page(&response, offset)
    }
}

/// A Plaid value the domain refuses, named by its path in Plaid's payload.
fn invalid(field: impl Into<String>) -> impl FnOnce(DomainError) -> ProviderError {
    let field = field.into();
    move |error| ProviderError::invalid_data(Provider::Plaid, field, error)
}

/// The Item as a read-only connection, disabled when Plaid needs the user to sign in again.
pub(super) fn connection_info(response: &ItemGetResponse) -> Result<ConnectionInfo, ProviderError> {
    let item = &response.item;
    let (status, status_reason) = match &item.error {
        None => (ConnectionStatus::Active, None),
        Some(error) => {
            let status = if needs_user(&error.error_code) {
                ConnectionStatus::Disabled
            } else {
                ConnectionStatus::Error
            };
            let reason = error
                .display_message
                .clone()
                .or_else(|| error.error_message.clone())
                .unwrap_or_else(|| error.error_code.clone());
            (status, Some(reason))
        }
    };
    Ok(ConnectionInfo {
        provider: Provider::Plaid,
        provider_connection_id: item_id(item)?,
        institution: institution(item),
        connection_type: ConnectionType::Read,
        status,
        status_reason,
    })
}

/// The investment accounts among an Item's accounts.
pub(super) fn investment_accounts(
    item: &Item,
    accounts: &[Account],
) -> Result<Vec<AccountInfo>, ProviderError> {
    accounts
        .iter()
        .enumerate()
        .filter(|(_, account)| INVESTMENT_ACCOUNT_TYPES.contains(&account.account_type.as_str()))
        .map(|(index, account)| account_info(item, account, index))
        .collect()
}

fn account_info(
    item: &Item,
    account: &Account,
    index: usize,
) -> Result<AccountInfo, ProviderError> {
    let at = |field: &str| format!("accounts[{index}].{field}");
    let balances = &account.balances;
    Ok(AccountInfo {
        provider: Provider::Plaid,
        provider_account_id: ProviderAccountId::parse(&account.account_id)
            .map_err(invalid(at("account_id")))?,
        provider_connection_id: Some(item_id(item)?),
        institution: institution(item),
        name: Some(AccountName::parse(&account.name).map_err(invalid(at("name")))?),
        account_type: AccountType::parse(&account.account_type).map_err(invalid(at("type")))?,
        account_subtype: account
            .subtype
            .as_deref()
            .map(|subtype| AccountSubtype::parse(subtype).map_err(invalid(at("subtype"))))
            .transpose()?,
        total_value: amount(balances.current, at("balances.current"))?,
        cash: amount(balances.available, at("balances.available"))?,
        currency: currency_code(
            Provider::Plaid,
            &at("balances.iso_currency_code"),
            [
                balances.iso_currency_code.as_deref(),
                balances.unofficial_currency_code.as_deref(),
            ],
        )?,
    })
}

/// Every holding as a position, its security looked up in the response's `securities`; a holding that cannot
/// be represented is left out, named by its security id.
pub(super) fn positions(response: &InvestmentsHoldingsGetResponse) -> Listing<Position> {
    let securities = securities_by_id(&response.securities);
    Listing::each(
        Provider::Plaid,
        "holding",
        response.holdings.iter().enumerate(),
        |(_, holding)| Some(holding.security_id.clone()),
        |(index, holding)| position(holding, &securities, index),
    )
}

fn position(
    holding: &Holding,
    securities: &HashMap<&str, &Security>,
    index: usize,
) -> Result<Position, ProviderError> {
    let at = |field: &str| format!("holdings[{index}].{field}");
    let security = securities.get(holding.security_id.as_str()).copied();
    let provider_type = security.and_then(|security| security.security_type.as_deref());
    let side = if holding.quantity.is_sign_negative() {
        PositionSide::Short
    } else {
        PositionSide::Long
    };
    Ok(Position {
        provider_account_id: ProviderAccountId::parse(&holding.account_id)
            .map_err(invalid(at("account_id")))?,
        symbol: symbol(&holding.security_id, security).map_err(invalid(at("security_id")))?,
        security_id: Some(
            SecurityId::parse(&holding.security_id).map_err(invalid(at("security_id")))?,
        ),
        security_name: security
            .and_then(|security| security.name.as_deref())
            .map(|name| SecurityName::parse(name).map_err(invalid("securities[].name")))
            .transpose()?,
        security_type: provider_type.map(SecurityType::classify),
        provider_security_type: provider_type.map(str::to_owned),
        option_contract: security
            .and_then(|security| security.option_contract.as_ref())
            .map(option_contract)
            .transpose()?,
        side,
        quantity: Quantity::exact_for("quantity", holding.quantity.abs())
            .map_err(invalid(at("quantity")))?,
        price: Some(
            Price::exact_for("institution_price", holding.institution_price)
                .map_err(invalid(at("institution_price")))?,
        ),
        market_value: amount(
            Some(holding.institution_value.abs()),
            at("institution_value"),
        )?,
        cost_basis: amount(holding.cost_basis, at("cost_basis"))?,
        // Plaid's `Holding.iso_currency_code`: "Always `null` if `unofficial_currency_code` is non-`null`"; a
        // holding in BTC says so in `unofficial_currency_code`. A holding naming neither is priced in its
        // security's currency (`Security.iso_currency_code`/`unofficial_currency_code`, the currency of
        // `close_price`). Nothing is assumed: no currency anywhere stays `None`, never USD.
        currency: currency_code(
            Provider::Plaid,
            &at("iso_currency_code"),
            [
                holding.iso_currency_code.as_deref(),
                holding.unofficial_currency_code.as_deref(),
                security.and_then(|security| security.iso_currency_code.as_deref()),
                security.and_then(|security| security.unofficial_currency_code.as_deref()),
            ],
        )?,
    })
}

/// One page of transactions, with the cursor of the next unless this page reached Plaid's total (or was
/// empty, since the total can shrink while paging).
pub(super) fn transaction_page(
    response: &InvestmentTransactionsGetResponse,
    offset: u64,
) -> Result<TransactionPage, ProviderError> {
    let securities = securities_by_id(&response.securities);
    let listing = Listing::each(
        Provider::Plaid,
        "transaction",
        response.investment_transactions.iter().enumerate(),
        |(_, recorded)| recorded.text("investment_transaction_id"),
        |(index, recorded)| self::transaction(recorded, &securities, index),
    );
    // The offset moves past every transaction Plaid sent, left out or not.
    let received = response.investment_transactions.len() as u64;
    let next_offset = offset + received;
    let more = received > 0 && next_offset < response.total_investment_transactions;
    Ok(TransactionPage {
        transactions: listing.items,
        left_out: listing.left_out,
        next: more.then_some(PageCursor(CursorAt::Offset(next_offset))),
    })
}

/// One of Plaid's `InvestmentTransaction`s, signed as stored: Plaid's `amount` is "positive when cash is
/// debited" (plaid-openapi.yml, `InvestmentTransaction.amount`), so it is negated; its `quantity` is already
/// "positive for buy transactions; negative for sell transactions", as stored.
///
/// The trade date is Plaid's `date`, the day `/investments/transactions/get`'s `start_date` and `end_date`
/// select by: a re-sync of a window then sees exactly the transactions stored for it. The execution time
/// (`transaction_datetime`) stays in the raw record.
fn transaction(
    recorded: &Recorded<InvestmentTransaction>,
    securities: &HashMap<&str, &Security>,
    index: usize,
) -> Result<Transaction, ProviderError> {
    let at = |field: &str| format!("investment_transactions[{index}].{field}");
    let transaction = recorded
        .item
        .as_ref()
        .map_err(|reason| ProviderError::invalid_data(Provider::Plaid, at("*"), reason.clone()))?;
    let symbol = match &transaction.security_id {
        Some(id) => Some(
            symbol(id, securities.get(id.as_str()).copied()).map_err(invalid(at("security_id")))?,
        ),
        None => None,
    };
    let security_id = transaction
        .security_id
        .as_deref()
        .map(|id| SecurityId::parse(id).map_err(invalid(at("security_id"))))
        .transpose()?;
    // `iso_currency_code` is "always `null` if `unofficial_currency_code` is non-`null`" (plaid-openapi.yml,
    // `InvestmentTransaction`): a crypto amount names its currency in the second.
    let currency = currency_code(
        Provider::Plaid,
        &at("iso_currency_code"),
        [
            transaction.iso_currency_code.as_deref(),
            transaction.unofficial_currency_code.as_deref(),
        ],
    )?
    .ok_or_else(|| {
        ProviderError::invalid_data(
            Provider::Plaid,
            at("iso_currency_code"),
            "and unofficial_currency_code are both null",
        )
    })?;

    let subtype = Some(transaction.subtype.trim())
        .filter(|subtype| !subtype.is_empty())
        .map(|subtype| TransactionSubtype::parse(subtype).map_err(invalid(at("subtype"))))
        .transpose()?;
    Ok(Transaction {
        provider_account_id: ProviderAccountId::parse(&transaction.account_id)
            .map_err(invalid(at("account_id")))?,
        provider_transaction_id: ProviderTransactionId::parse(
            &transaction.investment_transaction_id,
        )
        .map_err(invalid(at("investment_transaction_id")))?,
        trade_date: transaction.date,
        settlement_date: None,
        transaction_type: transaction_type(&transaction.transaction_type, &transaction.subtype)
            .map_err(invalid(at("type")))?,
        subtype,
        symbol,
        security_id,
        quantity: non_zero(transaction.quantity),
        price: non_zero(transaction.price),
        amount: SignedAmount::exact_for("amount", -transaction.amount)
            .map_err(invalid(at("amount")))?,
        // Plaid's `fees`: "The combined value of all fees applied to this transaction", a cost, positive when
        // charged (the spec's own example sale: `fees: 7.99`). Kept as sent, so a stored fee is positive when
        // charged. It is informative, never taken from `amount` again: `amount` is "The complete value of the
        // transaction", though the spec's example buy has `amount: 7.7`, its quantity × price without its fees.
        fees: amount(transaction.fees, at("fees"))?,
        currency,
        description: TransactionDescription::from_optional(Some(&transaction.name)),
        raw: recorded.raw().map_err(invalid(at("*")))?,
    })
}

/// A Plaid transaction's kind in the shared vocabulary, from its `type` (plaid-openapi.yml
/// `InvestmentTransactionType`) and `subtype` (`InvestmentTransactionSubtype`).
///
/// `buy`, `sell` and `cancel` say what happened on their own: a `buy` whose subtype is `dividend reinvestment`
/// or `buy to cover` still bought units, a `sell` whose subtype is `exercise` or `distribution` still sold
/// them. `cash` ("Activity that modifies a cash position"), `fee` and `transfer` ("Activity which modifies a
/// position, but not through buy/sell activity e.g. options exercise") are coarse: their subtype names the
/// kind where it has a shared meaning (see [`subtype_kind`]), and otherwise the coarse type is kept, with the
/// subtype stored as Plaid spells it. Plaid files income under `fee` too (`StandaloneInvestmentTransactionFeeType`
/// lists `dividend`, `interest`, `qualified dividend`…), so a `fee` is read by its subtype as well.
pub(crate) fn transaction_type(kind: &str, subtype: &str) -> Result<TransactionType, DomainError> {
    let coarse = TransactionType::parse(kind)?;
    if !matches!(
        coarse,
        TransactionType::Cash
            | TransactionType::Fee
            | TransactionType::Transfer
            | TransactionType::Other(_)
    ) {
        return Ok(coarse);
    }
    Ok(subtype_kind(subtype).unwrap_or(coarse))
}

/// The shared kind a Plaid subtype names, when it names one (the descriptions quoted are
/// plaid-openapi.yml's `StandaloneInvestmentTransaction*Type` properties); `None` for a subtype with no shared
/// meaning (`pending credit`, `send`, `long-term capital gain`, `stock distribution`…), which leaves the
/// coarse type.
fn subtype_kind(subtype: &str) -> Option<TransactionType> {
    let kind = match subtype.trim().to_ascii_lowercase().as_str() {
        // "Inflow of cash from a dividend", "… from a qualified dividend", "… from a non-qualified dividend".
        "dividend" | "qualified dividend" | "non-qualified dividend" => TransactionType::Dividend,
        // "Inflow of cash from interest", "Inflow of cash from interest receivable".
        "interest" | "interest receivable" => TransactionType::Interest,
        // "Inflow of cash into an account", "Inflow of assets into a tax-advantaged account".
        "deposit" | "contribution" => TransactionType::Deposit,
        // "Outflow of cash from an account".
        "withdrawal" => TransactionType::Withdrawal,
        // "Taxes paid on behalf of the investor", "Taxes withheld on behalf of the customer", "Taxes paid on
        // behalf of the investor for non-residency in investment jurisdiction".
        "tax" | "tax withheld" | "non-resident tax" => TransactionType::Tax,
        // "Fees paid for account maintenance", "… for legal charges or services", "… for investment
        // management…", "… for maintaining margin debt", "… incurred for transfer of a holding or account",
        // "… related to administration of a trust account"; `fund fee` and `miscellaneous fee` (listed in
        // `InvestmentTransactionSubtype`, undescribed).
        "account fee" | "legal fee" | "management fee" | "margin expense" | "transfer fee"
        | "trust fee" | "fund fee" | "miscellaneous fee" => TransactionType::Fee,
        // "Increase or decrease in quantity of item".
        "adjustment" => TransactionType::Adjustment,
        // "Exercise of an option or warrant contract", "Assignment of short option holding", "Expiration of
        // an option or warrant contract".
        "exercise" => TransactionType::OptionExercise,
        "assignment" => TransactionType::OptionAssignment,
        "expire" => TransactionType::OptionExpiration,
        // "Inflow of stock from a forward split of an existing holding", "Stock exchanged at a pre-defined
        // ratio as part of a merger between companies", "Inflow of stock from spin-off transaction of an
        // existing holding".
        "split" => TransactionType::Split,
        "merger" => TransactionType::Merger,
        "spin off" => TransactionType::SpinOff,
        // "Purchase using proceeds from a cash dividend" (a `buy` subtype), should it come under a coarse type.
        "dividend reinvestment" => TransactionType::Reinvestment,
        _ => return None,
    };
    Some(kind)
}

/// Plaid's option contract as the holding's `option_contract`.
fn option_contract(contract: &wire::OptionContract) -> Result<OptionContract, ProviderError> {
    let field = |name: &str| format!("securities[].option_contract.{name}");
    let option_type = match contract.contract_type.to_ascii_lowercase().as_str() {
        "call" => OptionRight::Call,
        "put" => OptionRight::Put,
        other => {
            return Err(ProviderError::invalid_data(
                Provider::Plaid,
                field("contract_type"),
                format!("{other:?} is neither call nor put"),
            ));
        }
    };
    Ok(OptionContract {
        underlying_symbol: Symbol::parse(&contract.underlying_security_ticker)
            .map_err(invalid(field("underlying_security_ticker")))?,
        option_type,
        strike_price: Price::exact_for("strike_price", contract.strike_price)
            .map_err(invalid(field("strike_price")))?,
        expiration_date: contract.expiration_date,
        multiplier: None,
    })
}

fn securities_by_id(securities: &[Security]) -> HashMap<&str, &Security> {
    securities
        .iter()
        .map(|security| (security.security_id.as_str(), security))
        .collect()
}

/// The security's ticker; a security without one (a cash sweep, some funds) keeps Plaid's stable
/// `security_id` so its holdings still have a key of their own.
fn symbol(security_id: &str, security: Option<&Security>) -> Result<Symbol, DomainError> {
    let ticker = security
        .and_then(|security| security.ticker_symbol.as_deref())
        .filter(|ticker| !ticker.trim().is_empty());
    Symbol::parse(ticker.unwrap_or(security_id))
}

fn item_id(item: &Item) -> Result<ProviderConnectionId, ProviderError> {
    ProviderItemId::parse(&item.item_id)
        .map(ProviderConnectionId::Item)
        .map_err(invalid("item.item_id"))
}

fn institution(item: &Item) -> Option<InstitutionName> {
    item.institution_name
        .as_deref()
        .and_then(|name| InstitutionName::parse(name).ok())
}

/// Plaid's amount, exactly (a balance, a value, a cost basis, fees).
fn amount(value: Option<Decimal>, field: String) -> Result<Option<SignedAmount>, ProviderError> {
    value
        .map(|value| SignedAmount::exact_for("amount", value).map_err(invalid(field)))
        .transpose()
}

fn non_zero(value: Decimal) -> Option<Decimal> {
    (!value.is_zero()).then_some(value)
}
