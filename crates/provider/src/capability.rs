//! What a provider can do, as traits by capability, in domain types.
//!
//! A client implements the capabilities its provider has: Plaid [`Aggregation`]; Alpaca [`Trading`] and
//! [`BrokerageAccounts`]; SnapTrade all four. The sync layer and the router speak these traits, so they
//! never see a provider's JSON; each client converts its payloads at its edge, from decimal text to
//! `Decimal` newtypes, and reports a value the domain refuses as [`ProviderError::InvalidData`] naming the
//! field.
//!
//! No client has a public method of its own named like a capability's, so a call never lands on
//! something other than the capability; where two capabilities share a method name (`accounts` is not
//! one, but `provider` is), name the trait: `Aggregation::provider(&snaptrade)`.
//!
//! Each trait has an associated type for what the provider needs to know who is asking: a Plaid Item's
//! access token, a SnapTrade user's id and secret, an Alpaca account id. Those hold secrets where they
//! have them and never show them in `Debug`.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use tributary_domain::{
    AccountId, AccountName, AccountSubtype, AccountType, AuthorizationId, BrokerageOrderId,
    BrokerageSlug, ClientOrderId, ConnectionStatus, ConnectionType, Currency, DomainError,
    InstitutionName, NewInvestmentTransaction, NewOrder, Notional, OptionContract, OrderAction,
    OrderType, Price, Provider, ProviderAccountId, ProviderItemId, ProviderTransactionId, Quantity,
    RawRecord, SecurityId, SecurityName, SecurityType, SignedAmount, Symbol, TimeInForce,
    TransactionDescription, TransactionSubtype, TransactionType, Units, UserId,
};

use crate::error::ProviderError;

/// Which of the user's accounts a call is about: Tributary's ids for it, and the provider's.
///
/// Orders read back from a provider are recorded against `user_id` and `account_id`; requests name
/// `provider_account_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRef {
    /// The account's owner.
    pub user_id: UserId,
    /// Tributary's id for the account (`user_investment_accounts.id`).
    pub account_id: AccountId,
    /// The provider's id for it.
    pub provider_account_id: ProviderAccountId,
}

/// A provider's id for a connection: Plaid's Item id or SnapTrade's brokerage authorization id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProviderConnectionId {
    /// A Plaid Item.
    Item(ProviderItemId),
    /// A SnapTrade brokerage authorization.
    Authorization(AuthorizationId),
}

/// A connection to an institution as the provider reports it: a Plaid Item, a SnapTrade brokerage
/// authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Who holds the connection.
    pub provider: Provider,
    /// The provider's id for it.
    pub provider_connection_id: ProviderConnectionId,
    /// The institution or brokerage, when the provider names it.
    pub institution: Option<InstitutionName>,
    /// Read-only or trading.
    pub connection_type: ConnectionType,
    /// Working, disabled (the user must reconnect), or in error.
    pub status: ConnectionStatus,
    /// Why it is not active, when it is not.
    pub status_reason: Option<String>,
}

/// An account as the provider reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountInfo {
    /// Who reports it.
    pub provider: Provider,
    /// The provider's id for it.
    pub provider_account_id: ProviderAccountId,
    /// The connection it belongs to, when there is one.
    pub provider_connection_id: Option<ProviderConnectionId>,
    /// The institution or brokerage.
    pub institution: Option<InstitutionName>,
    /// The account's name as the user sees it.
    pub name: Option<AccountName>,
    /// The kind of account (`brokerage`, `ira`, `401k`…).
    pub account_type: AccountType,
    /// The finer kind, when the provider gives one.
    pub account_subtype: Option<AccountSubtype>,
    /// The account's total value, when reported.
    pub total_value: Option<SignedAmount>,
    /// Cash available, when reported.
    pub cash: Option<SignedAmount>,
    /// The currency of the amounts, when reported.
    pub currency: Option<Currency>,
}

/// Long or short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PositionSide {
    /// Units owned.
    Long,
    /// Units owed (a short sale); quantities and values are still given as positive numbers.
    Short,
}

/// One security held in one account.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// The account holding it.
    pub provider_account_id: ProviderAccountId,
    /// The symbol as the provider spells it.
    pub symbol: Symbol,
    /// The provider's id for the security, when it has one apart from the symbol.
    pub security_id: Option<SecurityId>,
    /// The security's name, when reported.
    pub security_name: Option<SecurityName>,
    /// The security's kind, sorted into the schema's set ([`SecurityType::classify`]).
    pub security_type: Option<SecurityType>,
    /// The security's kind as the provider names it (`mutual fund`, `us_equity`, `cs`…), for
    /// `provider_metadata`.
    pub provider_security_type: Option<String>,
    /// The contract, when the security is an option.
    pub option_contract: Option<OptionContract>,
    /// Long or short.
    pub side: PositionSide,
    /// How many units (always positive; see `side`).
    pub quantity: Quantity,
    /// The latest price per unit, when reported.
    pub price: Option<Price>,
    /// The position's market value (always positive; see `side`), when reported.
    pub market_value: Option<SignedAmount>,
    /// What the units cost in all, when reported.
    pub cost_basis: Option<SignedAmount>,
    /// The currency its price and values are in, when reported.
    pub currency: Option<Currency>,
}

/// One investment transaction as a provider reported it, signed and typed as Tributary stores it (see
/// [`NewInvestmentTransaction`]'s "Signs"): everything a stored transaction holds but whose it is, which
/// [`Transaction::into_new`] adds.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// The account it happened in, as the provider names it.
    pub provider_account_id: ProviderAccountId,
    /// The provider's id for it: unique within the account.
    pub provider_transaction_id: ProviderTransactionId,
    /// When it happened: Plaid's `date` (what `start_date`/`end_date` select by), SnapTrade's `trade_date` day.
    pub trade_date: NaiveDate,
    /// When it settled, when the provider says.
    pub settlement_date: Option<NaiveDate>,
    /// What it did, in the shared vocabulary; the provider's own word when it has no match.
    pub transaction_type: TransactionType,
    /// The provider's finer kind, as the provider spells it.
    pub subtype: Option<TransactionSubtype>,
    /// The security's symbol, when there is one.
    pub symbol: Option<Symbol>,
    /// The provider's id for the security, when it gives one.
    pub security_id: Option<SecurityId>,
    /// Units in (positive) or out (negative), exactly as sent: a transaction is not held in a bounded
    /// column, and Plaid's own example sells 47.74104242992852 units, which are kept, not rounded.
    pub quantity: Option<Decimal>,
    /// The price per unit, when reported, exactly as sent.
    pub price: Option<Decimal>,
    /// Cash into the account (positive) or out of it (negative).
    pub amount: SignedAmount,
    /// Fees, when reported.
    pub fees: Option<SignedAmount>,
    /// The one currency of its amount, price and fees.
    pub currency: Currency,
    /// The provider's description.
    pub description: Option<TransactionDescription>,
    /// The provider's record exactly as received.
    pub raw: RawRecord,
}

impl Transaction {
    /// The row to store: this transaction, as `user`'s, in Tributary's account `account`.
    pub fn into_new(
        self,
        user: UserId,
        account: AccountId,
        provider: Provider,
    ) -> NewInvestmentTransaction {
        NewInvestmentTransaction {
            user_id: user,
            account_id: account,
            provider,
            provider_transaction_id: self.provider_transaction_id,
            trade_date: self.trade_date,
            settlement_date: self.settlement_date,
            transaction_type: self.transaction_type,
            subtype: self.subtype,
            symbol: self.symbol,
            security_id: self.security_id,
            quantity: self.quantity,
            price: self.price,
            amount: self.amount,
            fees: self.fees,
            currency: self.currency,
            description: self.description,
            raw: self.raw,
        }
    }
}

/// Where the next page of transactions starts. Opaque to callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor(pub(crate) CursorAt);

/// What a [`PageCursor`] holds: an offset, or a provider's own token for the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CursorAt {
    /// Skip this many (Plaid's `offset`; SnapTrade's account index and offset, packed).
    Offset(u64),
    /// The provider's token (Alpaca's `page_token`: the last activity's id).
    #[allow(dead_code)] // read by the Alpaca client, which is behind its feature
    Token(String),
}

impl Default for PageCursor {
    fn default() -> Self {
        Self(CursorAt::Offset(0))
    }
}

/// One page of transactions and where the next one starts (`None` after the last).
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionPage {
    /// This page's transactions.
    pub transactions: Vec<Transaction>,
    /// This page's transactions that cannot be represented, with why: the rest of the page is kept.
    pub left_out: Vec<UnreadableItem>,
    /// Pass this to get the next page; `None` when there is none.
    pub next: Option<PageCursor>,
}

/// Reading a user's outside accounts: connections, accounts, positions and transactions.
#[async_trait]
pub trait Aggregation: Send + Sync {
    /// What the provider needs to read one user's data (a Plaid Item's access token, SnapTrade user
    /// credentials).
    type Login: Send + Sync;

    /// The provider.
    fn provider(&self) -> Provider;

    /// The connections behind `login`, with their health.
    async fn connections(&self, login: &Self::Login) -> Result<Vec<ConnectionInfo>, ProviderError>;

    /// The accounts behind `login`.
    async fn accounts(&self, login: &Self::Login) -> Result<Vec<AccountInfo>, ProviderError>;

    /// Every position in every account behind `login`; a position that cannot be represented is left out,
    /// with why, and the others are returned.
    ///
    /// ```no_run
    /// # #[cfg(feature = "snaptrade")]
    /// # async fn run(
    /// #     credentials: tributary_provider::snaptrade::UserCredentials,
    /// # ) -> Result<(), tributary_provider::ProviderError> {
    /// use tributary_provider::capability::Aggregation;
    /// use tributary_provider::snaptrade::{SnapTradeClient, SnapTradeConfig};
    ///
    /// let snaptrade = SnapTradeClient::new(SnapTradeConfig::from_env()?)?;
    /// // `credentials`: what `ConnectionPortal::register_user` gave back for this user, as stored.
    /// let holdings = snaptrade.positions(&credentials).await?;
    /// for position in &holdings.items {
    ///     println!("{} {}", position.quantity, position.symbol);
    /// }
    /// for left_out in &holdings.left_out {
    ///     println!("left out: {left_out}");
    /// }
    /// # Ok(()) }
    /// ```
    async fn positions(&self, login: &Self::Login) -> Result<Listing<Position>, ProviderError>;

    /// One page of transactions between two dates (inclusive); start with `None`, then pass the page's
    /// `next` until it is `None`. Pages are fetched one at a time so a caller can store each before
    /// asking for the next.
    async fn transactions(
        &self,
        login: &Self::Login,
        from: NaiveDate,
        to: NaiveDate,
        page: Option<PageCursor>,
    ) -> Result<TransactionPage, ProviderError>;
}

/// An item of a provider's answer that cannot be represented (a field missing, a number past its column, a
/// value the domain refuses): left out of the list it came in, and said why, so one odd item never sinks the
/// rest and nothing is dropped silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableItem {
    /// Who answered with it.
    pub provider: Provider,
    /// What kind of item: `"position"`, `"order"`, `"transaction"`…
    pub item: &'static str,
    /// The provider's id for it (a security id, an order id…), when it has one.
    pub provider_id: Option<String>,
    /// The field that could not be read.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// The first of `codes` that names a currency, parsed: providers send an empty string or null for "none". A
/// code that is not a currency code is refused naming `field`, so the item carrying it is left out and reported
/// rather than its money filed under a made-up currency.
#[cfg(any(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]
pub(crate) fn currency_code<'a>(
    provider: Provider,
    field: &str,
    codes: impl IntoIterator<Item = Option<&'a str>>,
) -> Result<Option<Currency>, ProviderError> {
    codes
        .into_iter()
        .flatten()
        .find(|code| !code.trim().is_empty())
        .map(|code| {
            Currency::parse(code)
                .map_err(|error| ProviderError::invalid_data(provider, field, error))
        })
        .transpose()
}

impl UnreadableItem {
    /// The item `provider_id` of kind `item`, left out because of `error` (a field the domain refused, or a
    /// provider error naming one).
    pub fn because(
        provider: Provider,
        item: &'static str,
        provider_id: Option<String>,
        error: &ProviderError,
    ) -> Self {
        let (field, reason) = match error {
            ProviderError::InvalidData { field, reason, .. } => (field.clone(), reason.clone()),
            other => (String::new(), other.to_string()),
        };
        Self {
            provider,
            item,
            provider_id,
            field,
            reason,
        }
    }
}

impl std::fmt::Display for UnreadableItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.provider, self.item)?;
        if let Some(id) = &self.provider_id {
            write!(f, " {id}")?;
        }
        if !self.field.is_empty() {
            write!(f, ", field {}", self.field)?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// What a list call read: the items that could be represented, and those left out with why.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing<T> {
    /// The items, in the provider's order.
    pub items: Vec<T>,
    /// The items that could not be represented.
    pub left_out: Vec<UnreadableItem>,
}

impl<T> Listing<T> {
    /// Every item read, none left out.
    pub fn all(items: Vec<T>) -> Self {
        Self {
            items,
            left_out: Vec::new(),
        }
    }

    /// Converts each raw item with `convert`: one that fails is left out as an `item` of `provider`, named by
    /// `id`, with the error's field and reason; the others are kept, in order.
    pub fn each<R>(
        provider: Provider,
        item: &'static str,
        raw: impl IntoIterator<Item = R>,
        id: impl Fn(&R) -> Option<String>,
        mut convert: impl FnMut(R) -> Result<T, ProviderError>,
    ) -> Self {
        let mut listing = Self::default();
        for raw in raw {
            let provider_id = id(&raw);
            match convert(raw) {
                Ok(converted) => listing.items.push(converted),
                Err(error) => listing.left_out.push(UnreadableItem::because(
                    provider,
                    item,
                    provider_id,
                    &error,
                )),
            }
        }
        listing
    }
}

impl<T> Default for Listing<T> {
    fn default() -> Self {
        Self::all(Vec::new())
    }
}

/// How much of a security an order asks for: units or a dollar amount, never both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderSize {
    /// A number of units.
    Units(Units),
    /// A dollar amount.
    Notional(Notional),
}

/// An order to place: checked on construction, so one that exists has the prices its type needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    symbol: Symbol,
    action: OrderAction,
    order_type: OrderType,
    time_in_force: TimeInForce,
    size: OrderSize,
    limit_price: Option<Price>,
    stop_price: Option<Price>,
    client_order_id: Option<ClientOrderId>,
}

impl OrderRequest {
    /// A market order, good for the day (change that with [`OrderRequest::with_time_in_force`]).
    ///
    /// # Errors
    /// [`ProviderError::InvalidInput`] naming `units` or `notional_value` when the size is zero: nothing is
    /// sent for an order that asks for nothing. (Build the size with the domain's `exact` constructors,
    /// e.g. `Units::parse_exact`, so excess decimals are refused rather than rounded.)
    ///
    /// ```
    /// use tributary_domain::{OrderAction, OrderType, Symbol, Units};
    /// use tributary_provider::capability::{OrderRequest, OrderSize};
    ///
    /// let size = OrderSize::Units(Units::parse_exact("2").unwrap());
    /// let order = OrderRequest::market(Symbol::parse("AAPL").unwrap(), OrderAction::Buy, size).unwrap();
    /// assert_eq!(order.order_type(), &OrderType::Market);
    /// assert_eq!(order.limit_price(), None);
    /// ```
    pub fn market(
        symbol: Symbol,
        action: OrderAction,
        size: OrderSize,
    ) -> Result<Self, ProviderError> {
        Self::checked(symbol, action, OrderType::Market, size, None, None)
    }

    /// A limit order at `limit_price` or better, good for the day.
    ///
    /// # Errors
    /// [`ProviderError::InvalidInput`] naming `units`/`notional_value` for a zero size, or `limit_price`
    /// for a price that is zero or negative.
    ///
    /// ```
    /// use tributary_domain::{OrderAction, OrderType, Price, Symbol, TimeInForce, Units};
    /// use tributary_provider::capability::{OrderRequest, OrderSize};
    ///
    /// let order = OrderRequest::limit(
    ///     Symbol::parse("AAPL").unwrap(),
    ///     OrderAction::Buy,
    ///     OrderSize::Units(Units::parse_exact("1").unwrap()),
    ///     Price::parse("150.50").unwrap(),
    /// )
    /// .unwrap()
    /// .with_time_in_force(TimeInForce::GoodTillCanceled);
    /// assert_eq!(order.order_type(), &OrderType::Limit);
    /// assert_eq!(order.limit_price(), Some(Price::parse("150.50").unwrap()));
    /// ```
    pub fn limit(
        symbol: Symbol,
        action: OrderAction,
        size: OrderSize,
        limit_price: Price,
    ) -> Result<Self, ProviderError> {
        Self::checked(
            symbol,
            action,
            OrderType::Limit,
            size,
            Some(limit_price),
            None,
        )
    }

    /// A stop order: a market order once `stop_price` trades, good for the day.
    ///
    /// # Errors
    /// [`ProviderError::InvalidInput`] naming `units`/`notional_value` for a zero size, or `stop_price`
    /// for a price that is zero or negative.
    pub fn stop(
        symbol: Symbol,
        action: OrderAction,
        size: OrderSize,
        stop_price: Price,
    ) -> Result<Self, ProviderError> {
        Self::checked(
            symbol,
            action,
            OrderType::Stop,
            size,
            None,
            Some(stop_price),
        )
    }

    /// A stop-limit order: a limit order at `limit_price` once `stop_price` trades, good for the day.
    ///
    /// # Errors
    /// [`ProviderError::InvalidInput`] naming `units`/`notional_value` for a zero size, or the price
    /// (`stop_price`, `limit_price`) that is zero or negative.
    pub fn stop_limit(
        symbol: Symbol,
        action: OrderAction,
        size: OrderSize,
        stop_price: Price,
        limit_price: Price,
    ) -> Result<Self, ProviderError> {
        Self::checked(
            symbol,
            action,
            OrderType::StopLimit,
            size,
            Some(limit_price),
            Some(stop_price),
        )
    }

    /// Any order type with its prices, refused with [`ProviderError::InvalidInput`] naming the field when
    /// the size is zero, a price is zero or negative, or a price is missing or superfluous for the order
    /// type. The named constructors above go through it; the crate's tests use it directly to build
    /// orders no public constructor offers (a trailing stop, an unknown type).
    pub(crate) fn checked(
        symbol: Symbol,
        action: OrderAction,
        order_type: OrderType,
        size: OrderSize,
        limit_price: Option<Price>,
        stop_price: Option<Price>,
    ) -> Result<Self, ProviderError> {
        check_size(size)?;
        check_price("limit_price", order_type.needs_limit_price(), limit_price)?;
        check_price("stop_price", order_type.needs_stop_price(), stop_price)?;
        Ok(Self {
            symbol,
            action,
            order_type,
            time_in_force: TimeInForce::Day,
            size,
            limit_price,
            stop_price,
            client_order_id: None,
        })
    }

    /// The same order working for `time_in_force` instead of the day.
    pub fn with_time_in_force(mut self, time_in_force: TimeInForce) -> Self {
        self.time_in_force = time_in_force;
        self
    }

    /// The same order with our idempotency id (one is generated when none is given).
    pub fn with_client_order_id(mut self, id: ClientOrderId) -> Self {
        self.client_order_id = Some(id);
        self
    }

    /// The symbol.
    pub fn symbol(&self) -> &Symbol {
        &self.symbol
    }

    /// Buy, sell…
    pub fn action(&self) -> &OrderAction {
        &self.action
    }

    /// Market, limit…
    pub fn order_type(&self) -> &OrderType {
        &self.order_type
    }

    /// How long it works.
    pub fn time_in_force(&self) -> &TimeInForce {
        &self.time_in_force
    }

    /// Units or dollars.
    pub fn size(&self) -> OrderSize {
        self.size
    }

    /// The limit price, for limit and stop-limit orders.
    pub fn limit_price(&self) -> Option<Price> {
        self.limit_price
    }

    /// The stop price, for stop and stop-limit orders.
    pub fn stop_price(&self) -> Option<Price> {
        self.stop_price
    }

    /// Our idempotency id, when the caller chose one.
    pub fn client_order_id(&self) -> Option<&ClientOrderId> {
        self.client_order_id.as_ref()
    }
}

/// Refuses a size of zero (the types already refuse negative ones).
fn check_size(size: OrderSize) -> Result<(), ProviderError> {
    let (field, value) = match size {
        OrderSize::Units(units) => ("units", units.get()),
        OrderSize::Notional(notional) => ("notional_value", notional.get()),
    };
    check_positive(field, value)
}

/// A size or price must be greater than zero to mean anything: [`DomainError::NotPositive`] as
/// [`ProviderError::InvalidInput`] naming the field.
fn check_positive(field: &'static str, value: rust_decimal::Decimal) -> Result<(), ProviderError> {
    if value > rust_decimal::Decimal::ZERO {
        Ok(())
    } else {
        let error = DomainError::NotPositive { field, value };
        Err(ProviderError::invalid_input(field, error.to_string()))
    }
}

fn check_price(
    field: &'static str,
    needed: bool,
    price: Option<Price>,
) -> Result<(), ProviderError> {
    if let Some(price) = price {
        check_positive(field, price.get())?;
    }
    match (needed, price) {
        (true, None) => Err(ProviderError::invalid_input(
            field,
            "is required for this order type",
        )),
        (false, Some(_)) => Err(ProviderError::invalid_input(
            field,
            "does not apply to this order type",
        )),
        _ => Ok(()),
    }
}

/// What placing an order would do, as far as the provider can tell before it is placed.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderImpact {
    /// The provider's id for this checked trade, to place exactly it (SnapTrade's trade id).
    pub trade_id: Option<String>,
    /// The order's estimated value (units × price), when a price is known.
    pub estimated_value: Option<SignedAmount>,
    /// The estimated commission and fees, when reported.
    pub estimated_fees: Option<SignedAmount>,
    /// Buying power or cash before the order, when reported.
    pub buying_power: Option<SignedAmount>,
    /// Buying power or cash left after the order, when it can be told.
    pub remaining_buying_power: Option<SignedAmount>,
    /// Anything the provider warns about (insufficient funds, market closed…).
    pub warnings: Vec<String>,
}

/// Which orders to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderScope {
    /// Working orders.
    #[default]
    Open,
    /// Orders that are over.
    Closed,
    /// Both.
    All,
}

/// An order the provider accepted or reports: the row to record, ready for the repository.
pub type PlacedOrder = NewOrder;

/// Placing, checking, cancelling and listing orders.
#[async_trait]
pub trait Trading: Send + Sync {
    /// What the provider needs to act for the user (SnapTrade user credentials; nothing more for Alpaca,
    /// whose correspondent credentials are the client's own).
    type Login: Send + Sync;

    /// The provider.
    fn provider(&self) -> Provider;

    /// What the order would do, without placing it.
    async fn order_impact(
        &self,
        login: &Self::Login,
        account: &AccountRef,
        order: &OrderRequest,
    ) -> Result<OrderImpact, ProviderError>;

    /// Places the order once: a retry after an unclear outcome never places it twice.
    ///
    /// ```no_run
    /// # #[cfg(feature = "alpaca")]
    /// # async fn run(account: tributary_provider::capability::AccountRef) -> anyhow::Result<()> {
    /// use tributary_domain::{OrderAction, Price, Symbol, Units};
    /// use tributary_provider::alpaca::{AlpacaClient, AlpacaConfig};
    /// use tributary_provider::capability::{OrderRequest, OrderSize, Trading};
    ///
    /// let alpaca = AlpacaClient::new(AlpacaConfig::from_env()?)?;
    /// let order = OrderRequest::limit(
    ///     Symbol::parse("AAPL")?,
    ///     OrderAction::Buy,
    ///     OrderSize::Units(Units::parse_exact("1")?),
    ///     Price::parse_exact("150.00")?,
    /// )?;
    /// // `account`: Tributary's ids for the user's brokerage account and Alpaca's id for it. Alpaca needs no
    /// // per-user login (`()`): the correspondent's credentials are the client's own.
    /// let placed = alpaca.place_order(&(), &account, &order).await?;
    /// println!("{} is {}", placed.brokerage_order_id, placed.status);
    ///
    /// // Cancelling names the brokerage's id for the order.
    /// alpaca.cancel_order(&(), &account, &placed.brokerage_order_id).await?;
    /// # Ok(()) }
    /// ```
    async fn place_order(
        &self,
        login: &Self::Login,
        account: &AccountRef,
        order: &OrderRequest,
    ) -> Result<PlacedOrder, ProviderError>;

    /// The order the provider holds that was sent with `client_order_id`.
    ///
    /// `Ok(Some(order))`: found. `Ok(None)`: the provider's answer proves it holds no such order (only then may
    /// the caller send it). `Err(_)`: it cannot be told either way (the caller must not send it again).
    async fn find_order(
        &self,
        login: &Self::Login,
        account: &AccountRef,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<PlacedOrder>, ProviderError>;

    /// Asks the brokerage to cancel the order (an example is on [`Trading::place_order`]).
    async fn cancel_order(
        &self,
        login: &Self::Login,
        account: &AccountRef,
        order: &BrokerageOrderId,
    ) -> Result<(), ProviderError>;

    /// The account's orders, newest first as the provider lists them; an order that cannot be represented is
    /// left out, with why, and the others are returned.
    async fn list_orders(
        &self,
        login: &Self::Login,
        account: &AccountRef,
        scope: OrderScope,
    ) -> Result<Listing<PlacedOrder>, ProviderError>;
}

/// Reading the brokerage accounts a trading provider operates (Alpaca) or connects (SnapTrade).
#[async_trait]
pub trait BrokerageAccounts: Send + Sync {
    /// What the provider needs to read the account.
    type Login: Send + Sync;

    /// The account, with its balances.
    async fn brokerage_account(
        &self,
        login: &Self::Login,
        account: &ProviderAccountId,
    ) -> Result<AccountInfo, ProviderError>;

    /// The account's positions; a position that cannot be represented is left out, with why.
    async fn account_positions(
        &self,
        login: &Self::Login,
        account: &ProviderAccountId,
    ) -> Result<Listing<Position>, ProviderError>;

    /// One page of the account's transactions between two dates (inclusive); start with `None`, then pass the
    /// page's `next` until it is `None`. A transaction that cannot be represented is left out, with why, and
    /// the rest of the page kept. Each provider says on its implementation which of its dates the range
    /// selects by.
    async fn account_transactions(
        &self,
        login: &Self::Login,
        account: &ProviderAccountId,
        from: NaiveDate,
        to: NaiveDate,
        page: Option<PageCursor>,
    ) -> Result<TransactionPage, ProviderError>;
}

/// What the connection portal should offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalRequest {
    /// Go straight to this brokerage, when given.
    pub broker: Option<BrokerageSlug>,
    /// Read-only or trading access.
    pub connection_type: ConnectionType,
    /// Repair this existing connection instead of making a new one.
    pub reconnect: Option<AuthorizationId>,
    /// Where the portal sends the user back.
    pub redirect_uri: Option<String>,
}

/// A link to the provider's connection portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalLink {
    /// Where to send the user. It carries a one-time token: hand it to the user, do not log it.
    pub url: String,
    /// The provider's id for the portal session, when it gives one.
    pub session_id: Option<String>,
    /// When the link stops working, when the provider says.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Registering users with a provider and sending them through its connection portal.
#[async_trait]
pub trait ConnectionPortal: Send + Sync {
    /// What registering gives back and later calls need (SnapTrade's user id and user secret).
    type Registration: Send + Sync;

    /// Registers `user` with the provider. Never retried blindly: a second registration fails or
    /// duplicates.
    async fn register_user(&self, user: UserId) -> Result<Self::Registration, ProviderError>;

    /// A link to the portal where the user connects (or repairs) a brokerage.
    ///
    /// ```no_run
    /// # #[cfg(feature = "snaptrade")]
    /// # async fn run() -> Result<(), tributary_provider::ProviderError> {
    /// use tributary_domain::{ConnectionType, UserId};
    /// use tributary_provider::capability::{ConnectionPortal, PortalRequest};
    /// use tributary_provider::snaptrade::{SnapTradeClient, SnapTradeConfig};
    ///
    /// let snaptrade = SnapTradeClient::new(SnapTradeConfig::from_env()?)?;
    /// // Once per user: keep the credentials (the user secret is a secret) for every later call.
    /// let credentials = snaptrade.register_user(UserId::generate()).await?;
    /// let request = PortalRequest {
    ///     broker: None,
    ///     connection_type: ConnectionType::Trade,
    ///     reconnect: None,
    ///     redirect_uri: Some("https://app.example/connected".to_owned()),
    /// };
    /// let link = snaptrade.portal_url(&credentials, &request).await?;
    /// // Send the user to `link.url`; it carries a one-time token, so it is not logged.
    /// # let _ = link;
    /// # Ok(()) }
    /// ```
    async fn portal_url(
        &self,
        registration: &Self::Registration,
        request: &PortalRequest,
    ) -> Result<PortalLink, ProviderError>;

    /// Removes one connection.
    async fn remove_connection(
        &self,
        registration: &Self::Registration,
        connection: &AuthorizationId,
    ) -> Result<(), ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbol() -> Symbol {
        Symbol::parse("AAPL").unwrap()
    }

    fn units() -> OrderSize {
        OrderSize::Units(Units::parse("1").unwrap())
    }

    #[test]
    fn a_limit_order_without_a_limit_price_is_refused_naming_the_field() {
        // No public constructor can leave it out; the shared check still refuses it.
        let error = OrderRequest::checked(
            symbol(),
            OrderAction::Buy,
            OrderType::Limit,
            units(),
            None,
            None,
        )
        .unwrap_err();
        assert!(matches!(
            error,
            ProviderError::InvalidInput {
                field: "limit_price",
                ..
            }
        ));
    }

    #[test]
    fn a_market_order_with_a_stop_price_is_refused() {
        let error = OrderRequest::checked(
            symbol(),
            OrderAction::Sell,
            OrderType::Market,
            units(),
            None,
            Some(Price::parse("10").unwrap()),
        )
        .unwrap_err();
        assert!(matches!(
            error,
            ProviderError::InvalidInput {
                field: "stop_price",
                ..
            }
        ));
    }

    #[test]
    fn a_market_order_for_zero_units_is_refused_naming_units() {
        let zero = OrderSize::Units(Units::parse("0").unwrap());
        let error = OrderRequest::market(symbol(), OrderAction::Buy, zero).unwrap_err();
        assert!(
            matches!(error, ProviderError::InvalidInput { field: "units", ref reason } if reason.contains("greater than zero")),
            "{error:?}"
        );
    }

    #[test]
    fn an_order_for_zero_dollars_is_refused_naming_the_notional() {
        let zero = OrderSize::Notional(Notional::parse("0.00").unwrap());
        let error = OrderRequest::market(symbol(), OrderAction::Buy, zero).unwrap_err();
        assert!(matches!(
            error,
            ProviderError::InvalidInput {
                field: "notional_value",
                ..
            }
        ));
    }

    #[test]
    fn a_zero_or_negative_price_is_refused_naming_the_price() {
        for (limit, stop, field) in [
            ("0", "100", "limit_price"),
            ("-0.35", "100", "limit_price"),
            ("101", "0", "stop_price"),
            ("101", "-1", "stop_price"),
        ] {
            let error = OrderRequest::stop_limit(
                symbol(),
                OrderAction::Buy,
                units(),
                Price::parse(stop).unwrap(),
                Price::parse(limit).unwrap(),
            )
            .unwrap_err();
            assert!(
                matches!(error, ProviderError::InvalidInput { field: f, .. } if f == field),
                "{limit}/{stop}: {error:?}"
            );
        }
        let limit = OrderRequest::limit(
            symbol(),
            OrderAction::Buy,
            units(),
            Price::parse("0").unwrap(),
        );
        assert!(matches!(
            limit,
            Err(ProviderError::InvalidInput {
                field: "limit_price",
                ..
            })
        ));
        let stop = OrderRequest::stop(
            symbol(),
            OrderAction::Sell,
            units(),
            Price::parse("-1").unwrap(),
        );
        assert!(matches!(
            stop,
            Err(ProviderError::InvalidInput {
                field: "stop_price",
                ..
            })
        ));
    }

    #[test]
    fn a_stop_limit_order_with_both_prices_is_accepted() {
        let order = OrderRequest::stop_limit(
            symbol(),
            OrderAction::Buy,
            units(),
            Price::parse("100").unwrap(),
            Price::parse("101").unwrap(),
        )
        .unwrap()
        .with_time_in_force(TimeInForce::GoodTillCanceled);
        assert_eq!(order.order_type(), &OrderType::StopLimit);
        assert_eq!(order.time_in_force(), &TimeInForce::GoodTillCanceled);
        assert_eq!(order.limit_price(), Some(Price::parse("101").unwrap()));
        assert_eq!(order.stop_price(), Some(Price::parse("100").unwrap()));
    }

    #[test]
    fn each_named_constructor_makes_the_order_type_it_names_for_the_day() {
        let price = Price::parse("10").unwrap();
        let cases = [
            (
                OrderRequest::market(symbol(), OrderAction::Buy, units()).unwrap(),
                OrderType::Market,
                None,
                None,
            ),
            (
                OrderRequest::limit(symbol(), OrderAction::Buy, units(), price).unwrap(),
                OrderType::Limit,
                Some(price),
                None,
            ),
            (
                OrderRequest::stop(symbol(), OrderAction::Sell, units(), price).unwrap(),
                OrderType::Stop,
                None,
                Some(price),
            ),
        ];
        for (order, order_type, limit, stop) in cases {
            assert_eq!(order.order_type(), &order_type);
            assert_eq!(order.time_in_force(), &TimeInForce::Day);
            assert_eq!(order.limit_price(), limit);
            assert_eq!(order.stop_price(), stop);
        }
    }
}
