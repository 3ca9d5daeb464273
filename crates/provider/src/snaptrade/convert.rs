//! SnapTrade's payloads as domain types, and SnapTrade as an [`Aggregation`], [`Trading`],
//! [`BrokerageAccounts`] and [`ConnectionPortal`] provider.
//!
//! Conversions are strict where the domain is (a negative quantity, a symbol that is not one, an id that
//! is not a UUID is [`ProviderError::InvalidData`] naming the field, e.g. `positions[3].units`) and lenient
//! where SnapTrade is: vocabularies stay open, a missing order type is told by the prices, a missing
//! optional figure stays `None`. SnapTrade's numbers are kept to the last digit or refused with the domain's
//! `exact` constructors, never rounded; only figures worked out here (units × price) are rounded to their
//! column, as PostgreSQL would round them.
//!
//! [`Aggregation`]: crate::capability::Aggregation
//! [`Trading`]: crate::capability::Trading
//! [`BrokerageAccounts`]: crate::capability::BrokerageAccounts
//! [`ConnectionPortal`]: crate::capability::ConnectionPortal

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use tributary_domain::{
    AccountName, AccountSubtype, AccountType, AuthorizationId, BrokerageOrderId, ClientOrderId,
    ConnectionStatus, ConnectionType, DomainError, InstitutionName, NewOrder, OptionContract,
    OptionRight, OrderAction, OrderStatus, OrderType, Price, Provider, ProviderAccountId,
    ProviderTransactionId, Quantity, SecurityId, SecurityName, SecurityType, SignedAmount,
    SnapTradeUserId, Symbol, TimeInForce, TransactionDescription, TransactionSubtype,
    TransactionType, Units, UniversalSymbolId, UserId,
};
use uuid::Uuid;

use super::wire::{
    self, Account, AccountPosition, Activity, BrokerageAuthorization, ManualTradeAndImpact,
    ManualTradeForm, ManualTradeFormWithOptions, OrderRecord, TradeTerms,
};
use super::{LoginOptions, OrderQuery, OrderState, SnapTradeClient, UserCredentials};
use crate::capability::{
    AccountInfo, AccountRef, Aggregation, BrokerageAccounts, ConnectionInfo, ConnectionPortal,
    CursorAt, Listing, OrderImpact, OrderRequest, OrderScope, OrderSize, PageCursor, PlacedOrder,
    PortalLink, PortalRequest, Position, PositionSide, ProviderConnectionId, Trading, Transaction,
    TransactionPage, currency_code,
};
use crate::error::ProviderError;
use crate::recorded::Recorded;

/// How long a portal link works (SnapTrade: 5 minutes).
const PORTAL_LINK_LIFETIME: Duration = Duration::minutes(5);
/// Activities per page (SnapTrade's maximum).
const ACTIVITY_PAGE: u64 = 1000;
/// How far back order lists reach (SnapTrade's maximum).
const ORDER_DAYS: u8 = 90;
/// A transactions cursor holds the account's position in the account list above this many bits and the
/// offset within its activities below.
const OFFSET_BITS: u32 = 48;

#[async_trait]
impl Aggregation for SnapTradeClient {
    type Login = UserCredentials;

    fn provider(&self) -> Provider {
        Provider::SnapTrade
    }

    async fn connections(
        &self,
        login: &UserCredentials,
    ) -> Result<Vec<ConnectionInfo>, ProviderError> {
        let authorizations = self.list_brokerage_authorizations(login).await?;
        authorizations
            .iter()
            .enumerate()
            .map(|(index, authorization)| connection_info(authorization, index))
            .collect()
    }

    async fn accounts(&self, login: &UserCredentials) -> Result<Vec<AccountInfo>, ProviderError> {
        let accounts = self.list_user_accounts(login).await?;
        accounts
            .iter()
            .enumerate()
            .map(|(index, account)| account_info(account, None, &format!("accounts[{index}]")))
            .collect()
    }

    async fn positions(&self, login: &UserCredentials) -> Result<Listing<Position>, ProviderError> {
        let mut positions = Listing::default();
        for account in account_ids(&self.list_user_accounts(login).await?)? {
            let listing = BrokerageAccounts::account_positions(self, login, &account).await?;
            positions.items.extend(listing.items);
            positions.left_out.extend(listing.left_out);
        }
        Ok(positions)
    }

    /// Pages through each account's activities in turn (the accounts in id order, so the cursor stays
    /// meaningful between calls), 1000 at a time.
    async fn transactions(
        &self,
        login: &UserCredentials,
        from: NaiveDate,
        to: NaiveDate,
        page: Option<PageCursor>,
    ) -> Result<TransactionPage, ProviderError> {
        let mut accounts = account_ids(&self.list_user_accounts(login).await?)?;
        accounts.sort();
        let (index, offset) = split_cursor(page.unwrap_or_default())?;
        let Some(account) = accounts.get(index) else {
            return Ok(TransactionPage {
                transactions: Vec::new(),
                left_out: Vec::new(),
                next: None,
            });
        };
        let (mut page, more_from) = self
            .activities_page(login, account, from, to, offset)
            .await?;
        page.next = match more_from {
            Some(seen) => Some(join_cursor(index, seen)),
            None if index + 1 < accounts.len() => Some(join_cursor(index + 1, 0)),
            None => None,
        };
        Ok(page)
    }
}

impl SnapTradeClient {
    /// One page of one account's activities from `offset`, and the offset of the account's next page when there
    /// is one. `PaginationDetails.total`: "The total number of items available to be returned over the API". The
    /// schema requires none of `pagination`'s fields: without a total, a full page may have more behind it (at
    /// most 1000 are returned per request), a short one is the last.
    async fn activities_page(
        &self,
        login: &UserCredentials,
        account: &ProviderAccountId,
        from: NaiveDate,
        to: NaiveDate,
        offset: u64,
    ) -> Result<(TransactionPage, Option<u64>), ProviderError> {
        let page = self
            .account_activities(login, account, from, to, offset, ACTIVITY_PAGE)
            .await?;
        let listing = Listing::each(
            Provider::SnapTrade,
            "activity",
            page.data.iter().enumerate(),
            |(_, recorded)| recorded.text("id"),
            |(at, recorded)| transaction(account, recorded, &format!("activities[{at}]")),
        );
        let seen = offset + page.data.len() as u64;
        let total = page
            .pagination
            .as_ref()
            .and_then(|pagination| pagination.total);
        let more = !page.data.is_empty()
            && match total {
                Some(total) => seen < total,
                None => page.data.len() as u64 >= ACTIVITY_PAGE,
            };
        let listed = TransactionPage {
            transactions: listing.items,
            left_out: listing.left_out,
            next: None,
        };
        Ok((listed, more.then_some(seen)))
    }
}

#[async_trait]
impl BrokerageAccounts for SnapTradeClient {
    type Login = UserCredentials;

    async fn brokerage_account(
        &self,
        login: &UserCredentials,
        account: &ProviderAccountId,
    ) -> Result<AccountInfo, ProviderError> {
        let details = self.account_details(login, account).await?;
        let balances = self.account_balances(login, account).await?;
        let currency = details
            .balance
            .as_ref()
            .and_then(|balance| balance.total.as_ref())
            .and_then(|total| total.currency.clone());
        let cash = balances
            .iter()
            .find(|balance| {
                currency.is_none()
                    || balance.currency.as_ref().and_then(|c| c.code.as_ref()) == currency.as_ref()
            })
            .and_then(|balance| balance.cash);
        account_info(&details, cash, "account")
    }

    async fn account_positions(
        &self,
        login: &UserCredentials,
        account: &ProviderAccountId,
    ) -> Result<Listing<Position>, ProviderError> {
        let positions = self.all_account_positions(login, account).await?;
        Ok(Listing::each(
            Provider::SnapTrade,
            "position",
            positions.results.iter().enumerate(),
            // SnapTrade's id for the instrument, or its ticker when it sent none.
            |(_, wire)| {
                let instrument = &wire.instrument;
                [&instrument.id, &instrument.symbol, &instrument.raw_symbol]
                    .into_iter()
                    .flatten()
                    .find(|text| !text.trim().is_empty())
                    .cloned()
            },
            |(index, wire)| position(account, wire, &format!("positions[{index}]")),
        ))
    }

    /// One account's activities, 1000 at a time, selected by SnapTrade's `startDate`/`endDate`; the cursor is
    /// the offset into them (as the first account's of [`Aggregation::transactions`]).
    async fn account_transactions(
        &self,
        login: &UserCredentials,
        account: &ProviderAccountId,
        from: NaiveDate,
        to: NaiveDate,
        page: Option<PageCursor>,
    ) -> Result<TransactionPage, ProviderError> {
        let (0, offset) = split_cursor(page.unwrap_or_default())? else {
            return Err(ProviderError::invalid_input(
                "page",
                "is a cursor over several accounts, not one account's",
            ));
        };
        let (mut page, more_from) = self
            .activities_page(login, account, from, to, offset)
            .await?;
        page.next = more_from.map(|seen| join_cursor(0, seen));
        Ok(page)
    }
}

#[async_trait]
impl Trading for SnapTradeClient {
    type Login = UserCredentials;

    fn provider(&self) -> Provider {
        Provider::SnapTrade
    }

    /// Looks the symbol up among what the account's brokerage trades, then asks SnapTrade for the impact;
    /// the answer's trade id places exactly this order.
    async fn order_impact(
        &self,
        login: &UserCredentials,
        account: &AccountRef,
        order: &OrderRequest,
    ) -> Result<OrderImpact, ProviderError> {
        let symbol_id = self.universal_symbol_id(login, account, order).await?;
        let form = impact_form(&account.provider_account_id, &symbol_id, order)?;
        let impact = SnapTradeClient::order_impact(self, login, &form).await?;
        order_impact(&impact)
    }

    /// Places the order by ticker with a `client_order_id` (the order's own or a fresh UUID), sent once.
    async fn place_order(
        &self,
        login: &UserCredentials,
        account: &AccountRef,
        order: &OrderRequest,
    ) -> Result<PlacedOrder, ProviderError> {
        let form = place_form(&account.provider_account_id, order)?;
        let placed = self.place_force_order(login, &form).await?;
        order_row(account, &placed, "order")
    }

    /// SnapTrade can never prove an order absent, nor find one by our id, so this is always
    /// [`ProviderError::OutcomeUnknown`] and makes no call. From `snaptrade-openapi.yaml`:
    ///
    /// * `ClientOrderID`: "SnapTrade forwards this value to the broker but does not enforce uniqueness
    ///   server-side. Refer to per-brokerage documentation for behavior on duplicate submission." Nothing
    ///   at SnapTrade is keyed by it.
    /// * `AccountOrderRecord` (what `/accounts/{accountId}/orders`, `/recentOrders` and
    ///   `/orders/details` return) has no `client_order_id` field: a listed order cannot be matched to
    ///   ours, only guessed at by symbol, side and size, which another order of the user's could share.
    /// * `/accounts/{accountId}/orders/details` looks an order up by `brokerage_order_id`, which exists only
    ///   once SnapTrade answered the placement, the very answer that is missing when this is asked.
    /// * `/accounts/{accountId}/orders`: "returns a list of recent orders", cached daily unless the key has
    ///   real-time access ("Daily data is cached and refreshed once a day"), and `days` is capped at 90; and
    ///   `/recentOrders` "only checks the last 24 hours" and returns "the latest page" of at most about 100.
    ///   Not finding an order in either proves nothing.
    /// * The checked flow's trade id (`/trade/{tradeId}`) places "the previously checked order"; the spec
    ///   says an expired trade "will be rejected" but nothing of a trade id placed twice, so its refusal
    ///   would not prove the first placement either.
    async fn find_order(
        &self,
        _: &UserCredentials,
        _: &AccountRef,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<PlacedOrder>, ProviderError> {
        Err(ProviderError::OutcomeUnknown {
            provider: Provider::SnapTrade,
            client_order_id: client_order_id.as_str().to_owned(),
            reason: "SnapTrade lists no order by client_order_id and does not enforce its uniqueness, so \
                     neither its presence nor its absence can be proven; a later refresh settles it"
                .to_owned(),
        })
    }

    async fn cancel_order(
        &self,
        login: &UserCredentials,
        account: &AccountRef,
        order: &BrokerageOrderId,
    ) -> Result<(), ProviderError> {
        SnapTradeClient::cancel_order(self, login, &account.provider_account_id, order)
            .await
            .map(drop)
    }

    /// The last 90 days of orders; `Closed` keeps those whose status is final.
    async fn list_orders(
        &self,
        login: &UserCredentials,
        account: &AccountRef,
        scope: OrderScope,
    ) -> Result<Listing<PlacedOrder>, ProviderError> {
        let state = match scope {
            OrderScope::Open => OrderState::Open,
            OrderScope::Closed | OrderScope::All => OrderState::All,
        };
        let query = OrderQuery {
            state,
            days: Some(ORDER_DAYS),
        };
        let records = self
            .account_orders(login, &account.provider_account_id, query)
            .await?;
        let mut rows = order_rows(account, &records);
        if scope == OrderScope::Closed {
            rows.items.retain(|row| row.status.is_terminal());
        }
        Ok(rows)
    }
}

#[async_trait]
impl ConnectionPortal for SnapTradeClient {
    type Registration = UserCredentials;

    /// Registers the user under Tributary's user id, which SnapTrade keeps for good.
    async fn register_user(&self, user: UserId) -> Result<UserCredentials, ProviderError> {
        let user_id = SnapTradeUserId::parse(&user.to_string())
            .map_err(|error| ProviderError::invalid_input("user_id", error.to_string()))?;
        self.register_snaptrade_user(&user_id).await
    }

    async fn portal_url(
        &self,
        registration: &UserCredentials,
        request: &PortalRequest,
    ) -> Result<PortalLink, ProviderError> {
        let options = LoginOptions {
            broker: request.broker.clone(),
            connection_type: Some(request.connection_type),
            reconnect: request.reconnect,
            custom_redirect: request.redirect_uri.clone(),
            immediate_redirect: None,
        };
        let asked_at = Utc::now();
        let redirect = self.login(registration, &options).await?;
        Ok(PortalLink {
            url: redirect.redirect_uri.unwrap_or_default(),
            session_id: redirect.session_id,
            expires_at: Some(asked_at + PORTAL_LINK_LIFETIME),
        })
    }

    async fn remove_connection(
        &self,
        registration: &UserCredentials,
        connection: &AuthorizationId,
    ) -> Result<(), ProviderError> {
        self.delete_connection(registration, connection)
            .await
            .map(drop)
    }
}

impl SnapTradeClient {
    /// The universal symbol id of the order's ticker among what the account's brokerage trades.
    async fn universal_symbol_id(
        &self,
        login: &UserCredentials,
        account: &AccountRef,
        order: &OrderRequest,
    ) -> Result<String, ProviderError> {
        let ticker = order.symbol().as_str();
        let found = self
            .search_account_symbols(login, &account.provider_account_id, ticker)
            .await?;
        found
            .into_iter()
            .find(|symbol| {
                [&symbol.symbol, &symbol.raw_symbol]
                    .into_iter()
                    .flatten()
                    .any(|text| text.eq_ignore_ascii_case(ticker))
            })
            .and_then(|symbol| symbol.id)
            .ok_or_else(|| {
                ProviderError::invalid_input(
                    "symbol",
                    format!("{ticker} is not traded at this account's brokerage"),
                )
            })
    }
}

fn invalid(field: impl Into<String>) -> impl FnOnce(DomainError) -> ProviderError {
    let field = field.into();
    move |error| ProviderError::invalid_data(Provider::SnapTrade, field, error)
}

fn missing(field: String) -> ProviderError {
    ProviderError::invalid_data(Provider::SnapTrade, field, "is missing")
}

fn split_cursor(cursor: PageCursor) -> Result<(usize, u64), ProviderError> {
    let CursorAt::Offset(packed) = cursor.0 else {
        return Err(ProviderError::invalid_input(
            "page",
            "is not a cursor SnapTrade's pages gave",
        ));
    };
    let index = usize::try_from(packed >> OFFSET_BITS).unwrap_or(usize::MAX);
    Ok((index, packed & ((1 << OFFSET_BITS) - 1)))
}

fn join_cursor(index: usize, offset: u64) -> PageCursor {
    PageCursor(CursorAt::Offset(((index as u64) << OFFSET_BITS) | offset))
}

fn account_ids(accounts: &[Account]) -> Result<Vec<ProviderAccountId>, ProviderError> {
    accounts
        .iter()
        .enumerate()
        .map(|(index, account)| {
            let field = format!("accounts[{index}].id");
            let id = account
                .id
                .as_deref()
                .ok_or_else(|| missing(field.clone()))?;
            ProviderAccountId::parse(id).map_err(invalid(field))
        })
        .collect()
}

/// A brokerage authorization as a connection. `type` is a free string: anything but `trade` is read-only,
/// the side that never trades by mistake.
pub(crate) fn connection_info(
    authorization: &BrokerageAuthorization,
    index: usize,
) -> Result<ConnectionInfo, ProviderError> {
    let at = |field: &str| format!("authorizations[{index}].{field}");
    let id = authorization
        .id
        .as_deref()
        .ok_or_else(|| missing(at("id")))?;
    let institution = authorization
        .brokerage
        .as_ref()
        .and_then(|brokerage| {
            brokerage
                .display_name
                .as_deref()
                .or(brokerage.name.as_deref())
        })
        .map(|name| InstitutionName::parse(name).map_err(invalid(at("brokerage.name"))))
        .transpose()?;
    let disabled = authorization.disabled.unwrap_or(false);
    Ok(ConnectionInfo {
        provider: Provider::SnapTrade,
        provider_connection_id: ProviderConnectionId::Authorization(
            AuthorizationId::parse(id).map_err(invalid(at("id")))?,
        ),
        institution,
        connection_type: connection_type(authorization.connection_type.as_deref()),
        status: if disabled {
            ConnectionStatus::Disabled
        } else {
            ConnectionStatus::Active
        },
        status_reason: disabled.then(|| match &authorization.disabled_date {
            Some(date) => format!("disabled by the brokerage since {date}; reconnect it"),
            None => "disabled by the brokerage; reconnect it".to_owned(),
        }),
    })
}

fn connection_type(text: Option<&str>) -> ConnectionType {
    match text.map(str::trim) {
        Some(text) if text.eq_ignore_ascii_case("trade") => ConnectionType::Trade,
        _ => ConnectionType::Read,
    }
}

/// An account. SnapTrade has no account type vocabulary of its own: every account is a `brokerage`
/// account, and the brokerage's own type (`Margin`, `TFSA`, `Roth IRA`) is the subtype.
pub(crate) fn account_info(
    account: &Account,
    cash: Option<Decimal>,
    at: &str,
) -> Result<AccountInfo, ProviderError> {
    let field = |name: &str| format!("{at}.{name}");
    let id = account.id.as_deref().ok_or_else(|| missing(field("id")))?;
    let total = account
        .balance
        .as_ref()
        .and_then(|balance| balance.total.as_ref());
    let name = account.name.as_deref().or(account.number.as_deref());
    Ok(AccountInfo {
        provider: Provider::SnapTrade,
        provider_account_id: ProviderAccountId::parse(id).map_err(invalid(field("id")))?,
        provider_connection_id: account
            .brokerage_authorization
            .as_deref()
            .map(|id| {
                AuthorizationId::parse(id)
                    .map(ProviderConnectionId::Authorization)
                    .map_err(invalid(field("brokerage_authorization")))
            })
            .transpose()?,
        institution: account
            .institution_name
            .as_deref()
            .map(|name| InstitutionName::parse(name).map_err(invalid(field("institution_name"))))
            .transpose()?,
        name: name
            .map(|name| AccountName::parse(name).map_err(invalid(field("name"))))
            .transpose()?,
        account_type: AccountType::parse("brokerage").map_err(invalid(field("type")))?,
        account_subtype: account
            .raw_type
            .as_deref()
            .filter(|raw| !raw.trim().is_empty())
            .map(|raw| AccountSubtype::parse(raw).map_err(invalid(field("raw_type"))))
            .transpose()?,
        total_value: signed(
            total.and_then(|total| total.amount),
            field("balance.total.amount"),
        )?,
        cash: signed(cash, field("cash"))?,
        currency: currency_code(
            Provider::SnapTrade,
            &field("balance.total.currency"),
            [total.and_then(|total| total.currency.as_deref())],
        )?,
    })
}

/// SnapTrade's amount, exactly.
fn signed(value: Option<Decimal>, field: String) -> Result<Option<SignedAmount>, ProviderError> {
    value
        .map(|value| SignedAmount::exact(value).map_err(invalid(field)))
        .transpose()
}

/// An amount worked out here (units × price), rounded to its column as PostgreSQL would.
fn worked_out(
    value: Option<Decimal>,
    field: String,
) -> Result<Option<SignedAmount>, ProviderError> {
    value
        .map(|value| SignedAmount::new(value).map_err(invalid(field)))
        .transpose()
}

/// A position from `/positions/all`. Short positions arrive with negative units; quantity and value are
/// given as positive numbers with the side saying which way.
pub(crate) fn position(
    account: &ProviderAccountId,
    wire: &AccountPosition,
    at: &str,
) -> Result<Position, ProviderError> {
    let field = |name: &str| format!("{at}.{name}");
    let instrument = &wire.instrument;
    let symbol = instrument
        .symbol
        .as_deref()
        .or(instrument.raw_symbol.as_deref())
        .ok_or_else(|| missing(field("instrument.symbol")))?;
    let units = wire.units.ok_or_else(|| missing(field("units")))?;
    let side = if units.is_sign_negative() {
        PositionSide::Short
    } else {
        PositionSide::Long
    };
    let option_contract = option_contract(instrument, &field("instrument"))?;
    let multiplier = option_contract
        .as_ref()
        .and_then(|contract| contract.multiplier)
        .unwrap_or(Decimal::ONE);
    let market_value = wire
        .price
        .and_then(|price| price.checked_mul(units)?.checked_mul(multiplier))
        .map(|value| value.abs());
    Ok(Position {
        provider_account_id: account.clone(),
        symbol: Symbol::parse(symbol).map_err(invalid(field("instrument.symbol")))?,
        security_id: instrument
            .id
            .as_deref()
            .map(|id| SecurityId::parse(id).map_err(invalid(field("instrument.id"))))
            .transpose()?,
        security_name: instrument
            .description
            .as_deref()
            .filter(|name| !name.trim().is_empty())
            .map(|name| SecurityName::parse(name).map_err(invalid(field("instrument.description"))))
            .transpose()?,
        security_type: instrument.kind.as_deref().map(SecurityType::classify),
        provider_security_type: instrument.kind.clone(),
        option_contract,
        side,
        quantity: Quantity::exact_for("units", units.abs()).map_err(invalid(field("units")))?,
        price: wire
            .price
            .map(|price| Price::exact_for("price", price).map_err(invalid(field("price"))))
            .transpose()?,
        market_value: worked_out(market_value, field("market_value"))?,
        cost_basis: signed(wire.cost_basis, field("cost_basis"))?,
        currency: currency_code(
            Provider::SnapTrade,
            &field("currency"),
            [wire.currency.as_deref(), instrument.currency.as_deref()],
        )?,
    })
}

fn option_contract(
    instrument: &wire::Instrument,
    at: &str,
) -> Result<Option<OptionContract>, ProviderError> {
    if !instrument
        .kind
        .as_deref()
        .is_some_and(|kind| kind.eq_ignore_ascii_case("option"))
    {
        return Ok(None);
    }
    let field = |name: &str| format!("{at}.{name}");
    let underlying = instrument
        .underlying
        .as_ref()
        .and_then(|underlying| underlying.symbol.as_deref())
        .ok_or_else(|| missing(field("underlying.symbol")))?;
    let option_type = match instrument.option_type.as_deref().map(str::trim) {
        Some(text) if text.eq_ignore_ascii_case("call") => OptionRight::Call,
        Some(text) if text.eq_ignore_ascii_case("put") => OptionRight::Put,
        _ => {
            return Err(ProviderError::invalid_data(
                Provider::SnapTrade,
                field("option_type"),
                "is neither CALL nor PUT",
            ));
        }
    };
    let strike = instrument
        .strike_price
        .ok_or_else(|| missing(field("strike_price")))?;
    let expiration = instrument
        .expiration_date
        .as_deref()
        .and_then(parse_timestamp)
        .ok_or_else(|| {
            ProviderError::invalid_data(
                Provider::SnapTrade,
                field("expiration_date"),
                "is not a date",
            )
        })?;
    Ok(Some(OptionContract {
        underlying_symbol: Symbol::parse(underlying)
            .map_err(invalid(field("underlying.symbol")))?,
        option_type,
        strike_price: Price::exact_for("strike_price", strike)
            .map_err(invalid(field("strike_price")))?,
        expiration_date: expiration.date_naive(),
        multiplier: instrument.multiplier,
    }))
}

/// A SnapTrade answer listing an account's orders (`getUserAccountOrders`: a JSON array of
/// `AccountOrderRecord`) as the rows to store for `account`, read as [`Trading::list_orders`] reads it: an
/// order that cannot be represented is left out, with why, and the others are kept.
///
/// For an answer that was kept (a recorded response, a support ticket's attachment) rather than fetched.
///
/// # Errors
/// [`ProviderError::Decode`] when the body is not such an array.
pub fn parse_orders(
    account: &AccountRef,
    body: &[u8],
) -> Result<Listing<PlacedOrder>, ProviderError> {
    let records: Vec<OrderRecord> = serde_json::from_slice(body).map_err(|error| {
        ProviderError::decode(Provider::SnapTrade, "getUserAccountOrders", &error, body)
    })?;
    Ok(order_rows(account, &records))
}

/// A SnapTrade answer holding one order (`placeForceOrder`'s or `placeOrder`'s `AccountOrderRecord`) as the
/// row to store for `account`, read as [`Trading::place_order`] reads it.
///
/// # Errors
/// [`ProviderError::Decode`] when the body is not an order record, [`ProviderError::InvalidData`] naming
/// the field when the order cannot be represented.
pub fn parse_order(account: &AccountRef, body: &[u8]) -> Result<PlacedOrder, ProviderError> {
    let record: OrderRecord = serde_json::from_slice(body).map_err(|error| {
        ProviderError::decode(Provider::SnapTrade, "placeForceOrder", &error, body)
    })?;
    order_row(account, &record, "order")
}

/// Order records as rows, each that cannot be represented left out with why.
fn order_rows(account: &AccountRef, records: &[OrderRecord]) -> Listing<NewOrder> {
    Listing::each(
        Provider::SnapTrade,
        "order",
        records.iter().enumerate(),
        |(_, record)| record.fields.brokerage_order_id.clone(),
        |(index, record)| order_row(account, record, &format!("orders[{index}]")),
    )
}

/// An order record as the row to store. SnapTrade leaves `order_type` out for some brokerages; the prices
/// then tell it (a stop and a limit price make a stop-limit order, and so on).
pub(crate) fn order_row(
    account: &AccountRef,
    record: &OrderRecord,
    at: &str,
) -> Result<NewOrder, ProviderError> {
    let field = |name: &str| format!("{at}.{name}");
    let wire = &record.fields;
    let brokerage_order_id = wire
        .brokerage_order_id
        .as_deref()
        .ok_or_else(|| missing(field("brokerage_order_id")))?;
    let symbol = wire
        .universal_symbol
        .as_ref()
        .and_then(|symbol| symbol.symbol.as_deref())
        .or_else(|| {
            wire.option_symbol
                .as_ref()
                .and_then(|option| option.ticker.as_deref())
        })
        .ok_or_else(|| missing(field("universal_symbol.symbol")))?;
    let action = wire
        .action
        .as_deref()
        .ok_or_else(|| missing(field("action")))?;
    let order_type = match wire
        .order_type
        .as_deref()
        .filter(|text| !text.trim().is_empty())
    {
        Some(text) => OrderType::parse(text).map_err(invalid(field("order_type")))?,
        None => order_type_from_prices(wire.limit_price, wire.stop_price),
    };
    let status = wire.status.as_deref().unwrap_or("NONE");
    let placed_at = [&wire.time_placed, &wire.time_updated]
        .into_iter()
        .flatten()
        .find_map(|text| parse_timestamp(text))
        .ok_or_else(|| {
            ProviderError::invalid_data(
                Provider::SnapTrade,
                field("time_placed"),
                "is missing or unreadable",
            )
        })?;
    let mut row = NewOrder::new(
        account.user_id,
        account.account_id,
        BrokerageOrderId::parse(brokerage_order_id)
            .map_err(invalid(field("brokerage_order_id")))?,
        Symbol::parse(symbol).map_err(invalid(field("universal_symbol.symbol")))?,
        OrderAction::parse(action).map_err(invalid(field("action")))?,
        order_type,
        OrderStatus::parse(status).map_err(invalid(field("status")))?,
        placed_at,
    );
    row.universal_symbol_id = wire
        .universal_symbol
        .as_ref()
        .and_then(|symbol| symbol.id.as_deref())
        .map(|id| UniversalSymbolId::parse(id).map_err(invalid(field("universal_symbol.id"))))
        .transpose()?;
    row.time_in_force = wire
        .time_in_force
        .as_deref()
        .filter(|text| !text.trim().is_empty())
        .map(|text| TimeInForce::parse(text).map_err(invalid(field("time_in_force"))))
        .transpose()?;
    let units = |value: Option<Decimal>, name: &'static str| {
        value
            .map(|value| Units::exact_for(name, value).map_err(invalid(field(name))))
            .transpose()
    };
    let price = |value: Option<Decimal>, name: &'static str| {
        value
            .map(|value| Price::exact_for(name, value).map_err(invalid(field(name))))
            .transpose()
    };
    row.units = units(wire.total_quantity, "total_quantity")?;
    row.filled_units = units(wire.filled_quantity, "filled_quantity")?;
    row.limit_price = price(wire.limit_price, "limit_price")?;
    row.stop_price = price(wire.stop_price, "stop_price")?;
    row.average_fill_price = price(wire.execution_price, "execution_price")?;
    row.filled_at = wire.time_executed.as_deref().and_then(parse_timestamp);
    if row.status == OrderStatus::Canceled {
        row.cancelled_at = wire.time_updated.as_deref().and_then(parse_timestamp);
    }
    row.raw_order_data = Some(record.raw.clone());
    Ok(row)
}

fn order_type_from_prices(limit: Option<Decimal>, stop: Option<Decimal>) -> OrderType {
    match (limit.is_some(), stop.is_some()) {
        (true, true) => OrderType::StopLimit,
        (true, false) => OrderType::Limit,
        (false, true) => OrderType::Stop,
        (false, false) => OrderType::Market,
    }
}

/// `getOrderImpact` takes equities only: buy or sell, the four classic order types, no GTD.
pub(crate) fn impact_form(
    account: &ProviderAccountId,
    universal_symbol_id: &str,
    order: &OrderRequest,
) -> Result<ManualTradeForm, ProviderError> {
    let action = match order.action() {
        OrderAction::Buy => "BUY",
        OrderAction::Sell => "SELL",
        other => {
            return Err(ProviderError::invalid_input(
                "action",
                format!("SnapTrade checks buy and sell orders only, not {other}"),
            ));
        }
    };
    Ok(ManualTradeForm::new(
        account.as_str(),
        action,
        universal_symbol_id,
        trade_order_type(order.order_type())?,
        trade_time_in_force(order.time_in_force(), false)?,
        trade_terms(order),
    ))
}

/// `placeForceOrder`'s form: by ticker, with a UUID `client_order_id` (the order's own, or a fresh one).
pub(crate) fn place_form(
    account: &ProviderAccountId,
    order: &OrderRequest,
) -> Result<ManualTradeFormWithOptions, ProviderError> {
    let client_order_id = match order.client_order_id() {
        Some(id) => Uuid::parse_str(id.as_str()).map_err(|_| {
            ProviderError::invalid_input("client_order_id", "SnapTrade takes a UUID")
        })?,
        None => Uuid::new_v4(),
    };
    let action = match order.action() {
        OrderAction::Buy => "BUY",
        OrderAction::Sell => "SELL",
        OrderAction::BuyToOpen => "BUY_TO_OPEN",
        OrderAction::BuyToClose => "BUY_TO_CLOSE",
        OrderAction::SellToOpen => "SELL_TO_OPEN",
        OrderAction::SellToClose => "SELL_TO_CLOSE",
        other => {
            return Err(ProviderError::invalid_input(
                "action",
                format!("SnapTrade does not place {other} orders"),
            ));
        }
    };
    let mut form = ManualTradeFormWithOptions::new(
        account.as_str(),
        action,
        order.symbol().as_str(),
        trade_order_type(order.order_type())?,
        trade_time_in_force(order.time_in_force(), true)?,
        trade_terms(order),
    );
    form.client_order_id = Some(client_order_id.to_string());
    Ok(form)
}

fn trade_terms(order: &OrderRequest) -> TradeTerms {
    let (units, notional) = match order.size() {
        OrderSize::Units(units) => (Some(units.get()), None),
        OrderSize::Notional(notional) => (None, Some(notional.get())),
    };
    TradeTerms::new(
        order.limit_price().map(Price::get),
        order.stop_price().map(Price::get),
        units,
        notional,
    )
}

fn trade_order_type(order_type: &OrderType) -> Result<&'static str, ProviderError> {
    match order_type {
        OrderType::Market => Ok("Market"),
        OrderType::Limit => Ok("Limit"),
        OrderType::Stop => Ok("Stop"),
        OrderType::StopLimit => Ok("StopLimit"),
        other => Err(ProviderError::invalid_input(
            "order_type",
            format!("SnapTrade does not take {other} orders"),
        )),
    }
}

fn trade_time_in_force(
    time_in_force: &TimeInForce,
    good_till_date_allowed: bool,
) -> Result<&'static str, ProviderError> {
    match time_in_force {
        TimeInForce::Day => Ok("Day"),
        TimeInForce::GoodTillCanceled => Ok("GTC"),
        TimeInForce::FillOrKill => Ok("FOK"),
        TimeInForce::ImmediateOrCancel => Ok("IOC"),
        TimeInForce::GoodTillDate if good_till_date_allowed => Ok("GTD"),
        other => Err(ProviderError::invalid_input(
            "time_in_force",
            format!("SnapTrade does not take {other} here"),
        )),
    }
}

/// The checked trade's impact. The value is the trade's units × SnapTrade's price; fees add commission
/// and currency-exchange fees; what is left is the combined remaining cash.
pub(crate) fn order_impact(impact: &ManualTradeAndImpact) -> Result<OrderImpact, ProviderError> {
    let trade = impact.trade.as_ref();
    let value = trade
        .and_then(|trade| trade.units?.checked_mul(trade.price?))
        .map(|value| value.abs());
    let fees = impact
        .trade_impacts
        .iter()
        .flat_map(|each| [each.estimated_commission, each.forex_fees])
        .flatten()
        .try_fold(None, |sum: Option<Decimal>, fee| match sum {
            None => Ok(Some(fee)),
            // Hostile or broken answers can carry fees near Decimal::MAX: `+` would panic.
            Some(sum) => sum.checked_add(fee).map(Some).ok_or_else(|| {
                ProviderError::invalid_data(
                    Provider::SnapTrade,
                    "trade_impacts.estimated_commission",
                    "the fees' sum overflows a decimal",
                )
            }),
        })?;
    let remaining = impact
        .combined_remaining_balance
        .as_ref()
        .and_then(|balance| balance.cash)
        .or_else(|| {
            impact
                .trade_impacts
                .first()
                .and_then(|each| each.remaining_cash)
        });
    let warnings = remaining
        .filter(Decimal::is_sign_negative)
        .map(|_| "the account's cash would be negative after this order".to_owned())
        .into_iter()
        .collect();
    Ok(OrderImpact {
        trade_id: trade.and_then(|trade| trade.id.clone()),
        estimated_value: worked_out(value, "trade.price".to_owned())?,
        estimated_fees: signed(fees, "trade_impacts.estimated_commission".to_owned())?,
        buying_power: None,
        remaining_buying_power: signed(remaining, "combined_remaining_balance.cash".to_owned())?,
        warnings,
    })
}

/// An activity as a transaction, signed as stored (see [`tributary_domain::NewInvestmentTransaction`]'s
/// "Signs"). SnapTrade's `AccountUniversalActivity` (snaptrade-openapi.yaml) leaves several signs open; each is
/// decided here, and [`activity_quantity`] and [`activity_amount`] say how.
///
/// * `amount`: "In general, transactions that positively affect the account balance (like sell, deposits,
///   dividends, etc) will have a positive amount, while transactions that negatively affect the account balance
///   (like buy, withdrawals, fees, etc) will have a negative amount" — the stored convention, kept as sent,
///   except for trades: the spec's own example `BUY` carries `amount: 263.82`, so a `BUY`'s cash is out and a
///   `SELL`'s in whatever its sign.
/// * `units`: "The number of units of the security for the transaction", sign unspecified: units in positive,
///   units out negative, by kind ([`activity_quantity`]).
/// * `fee`: "Any fee associated with the transaction if provided by the brokerage", sign unspecified (its
///   example is `0`): stored as a cost, positive when charged, whatever sign the brokerage gave it (Plaid's
///   `fees` are signed so too). It is informative, never taken from `amount` again (the spec does not say
///   whether `amount` includes it).
///
/// An activity whose `price`, `amount` and `fee` are in a security (`currency_universal_symbol`) rather than a
/// currency, or in no currency at all, is left out: a stored transaction has one currency.
pub(crate) fn transaction(
    account: &ProviderAccountId,
    recorded: &Recorded<Activity>,
    at: &str,
) -> Result<Transaction, ProviderError> {
    let field = |name: &str| format!("{at}.{name}");
    let activity = recorded
        .item
        .as_ref()
        .map_err(|reason| ProviderError::invalid_data(Provider::SnapTrade, field("*"), reason))?;
    let id = activity.id.as_deref().ok_or_else(|| missing(field("id")))?;
    let trade_date = activity
        .trade_date
        .as_deref()
        .and_then(parse_timestamp)
        .ok_or_else(|| {
            ProviderError::invalid_data(
                Provider::SnapTrade,
                field("trade_date"),
                "is missing or unreadable",
            )
        })?;
    let activity_type = activity
        .activity_type
        .as_deref()
        .map(str::trim)
        .unwrap_or_default();
    let transaction_type = TransactionType::parse(activity_type).map_err(invalid(field("type")))?;
    let currency = currency_code(
        Provider::SnapTrade,
        &field("currency.code"),
        [activity.currency.as_ref().and_then(|currency| currency.code.as_deref())],
    )?
    .ok_or_else(|| {
        let reason = if activity.currency_universal_symbol.is_some() {
            "is null: the activity is denominated in a security (currency_universal_symbol), not a currency"
        } else {
            "is null, and no currency_universal_symbol says what the amounts are in"
        };
        ProviderError::invalid_data(Provider::SnapTrade, field("currency"), reason)
    })?;
    // An option activity is about its contract (`option_symbol`: "The option security for the transaction"),
    // whose ticker and id name it, as a position in it is named; any other about `symbol` ("The security for
    // the transaction").
    let option = activity
        .option_symbol
        .as_ref()
        .filter(|option| option.ticker.is_some() || option.id.is_some());
    let (symbol, security_id) = match option {
        Some(option) => (option.ticker.as_deref(), option.id.as_deref()),
        None => (
            activity
                .symbol
                .as_ref()
                .and_then(|symbol| symbol.symbol.as_deref()),
            activity
                .symbol
                .as_ref()
                .and_then(|symbol| symbol.id.as_deref()),
        ),
    };
    let symbol = symbol.filter(|symbol| !symbol.trim().is_empty());
    let security_id = security_id.filter(|id| !id.trim().is_empty());
    let quantity = activity_quantity(activity_type, activity.units);
    let amount = activity_amount(activity_type, activity.amount, quantity, activity.price)
        .ok_or_else(|| missing(field("amount")))?;
    Ok(Transaction {
        provider_account_id: account.clone(),
        provider_transaction_id: ProviderTransactionId::parse(id).map_err(invalid(field("id")))?,
        trade_date: trade_date.date_naive(),
        settlement_date: activity
            .settlement_date
            .as_deref()
            .and_then(parse_timestamp)
            .map(|at| at.date_naive()),
        transaction_type,
        subtype: activity
            .option_type
            .as_deref()
            .filter(|kind| !kind.trim().is_empty())
            .map(|kind| TransactionSubtype::parse(kind).map_err(invalid(field("option_type"))))
            .transpose()?,
        symbol: symbol
            .map(|text| {
                let at = if option.is_some() {
                    "option_symbol.ticker"
                } else {
                    "symbol.symbol"
                };
                Symbol::parse(text).map_err(invalid(field(at)))
            })
            .transpose()?,
        security_id: security_id
            .map(|id| {
                let at = if option.is_some() {
                    "option_symbol.id"
                } else {
                    "symbol.id"
                };
                SecurityId::parse(id).map_err(invalid(field(at)))
            })
            .transpose()?,
        quantity,
        price: activity.price.filter(|price| !price.is_zero()),
        amount: SignedAmount::exact(amount).map_err(invalid(field("amount")))?,
        fees: signed(activity.fee.map(|fee| fee.abs()), field("fee"))?,
        currency,
        description: TransactionDescription::from_optional(activity.description.as_deref()),
        raw: recorded.raw().map_err(invalid(field("*")))?,
    })
}

/// The units an activity of SnapTrade type `kind` moves, signed as stored (into the account positive), from its
/// `units`, whose sign the spec leaves open:
///
/// * into the account, positive whatever the sign sent: `BUY` ("Asset bought"), `REI` ("Dividend
///   reinvestment"), `STOCK_DIVIDEND` ("A type of dividend where a company distributes shares instead of
///   cash"), `EXTERNAL_ASSET_TRANSFER_IN` ("Incoming transfer of an asset from an external account to this
///   account");
/// * out of it, negative: `SELL` ("Asset sold"), `EXTERNAL_ASSET_TRANSFER_OUT` ("Outgoing transfer of an asset
///   from this account to an external account");
/// * none: the cash kinds `DIVIDEND`, `SUBSTITUTE_DIVIDEND`, `INTEREST`, `FEE`, `TAX`, `CONTRIBUTION` and
///   `WITHDRAWAL`. Their `units`, where sent, are the shares the payment was reckoned on (the spec's example
///   description: "WALT DISNEY UNIT DIST ON 21 SHS"), not units moved; they stay in the raw record;
/// * as sent: `TRANSFER` ("Transfer of asset(s) from one account to another", either way), `SPLIT`,
///   `ADJUSTMENT` ("A one time adjustment of the account's cash balance or shares"), the option events and any
///   type the spec does not list: SnapTrade's sign is the only direction given.
///
/// Zero units are none.
pub(crate) fn activity_quantity(kind: &str, units: Option<Decimal>) -> Option<Decimal> {
    let units = units.filter(|units| !units.is_zero())?;
    match kind.trim().to_ascii_uppercase().as_str() {
        "BUY" | "REI" | "STOCK_DIVIDEND" | "EXTERNAL_ASSET_TRANSFER_IN" => Some(units.abs()),
        "SELL" | "EXTERNAL_ASSET_TRANSFER_OUT" => Some(-units.abs()),
        "DIVIDEND"
        | "SUBSTITUTE_DIVIDEND"
        | "INTEREST"
        | "FEE"
        | "TAX"
        | "CONTRIBUTION"
        | "WITHDRAWAL" => None,
        _ => Some(units),
    }
}

/// The cash an activity of SnapTrade type `kind` moves, signed as stored (into the account positive):
///
/// * a `BUY`'s cash out (negative) and a `SELL`'s in (positive), whatever the sign sent (the spec's example
///   `BUY` has `amount: 263.82`); without an `amount`, worked out exactly as units × price, as is a `REI`'s
///   (units bought with a dividend: cash out);
/// * any other kind's `amount` as sent ("In general, transactions that positively affect the account balance
///   … will have a positive amount");
/// * no `amount` ("nullable") on a kind that moves units only (`SPLIT`, `STOCK_DIVIDEND`, `TRANSFER`,
///   `EXTERNAL_ASSET_TRANSFER_IN`/`_OUT`, `ADJUSTMENT`, the option events) when it does move units: no cash
///   moved, zero;
/// * `None` otherwise (a dividend without an amount says nothing): the activity is left out.
pub(crate) fn activity_amount(
    kind: &str,
    amount: Option<Decimal>,
    quantity: Option<Decimal>,
    price: Option<Decimal>,
) -> Option<Decimal> {
    let kind = kind.trim().to_ascii_uppercase();
    match (kind.as_str(), amount) {
        ("BUY", Some(amount)) => Some(-amount.abs()),
        ("SELL", Some(amount)) => Some(amount.abs()),
        ("BUY" | "SELL" | "REI", None) => quantity?.checked_mul(price?).map(|value| -value),
        (_, Some(amount)) => Some(amount),
        (
            "SPLIT"
            | "STOCK_DIVIDEND"
            | "TRANSFER"
            | "EXTERNAL_ASSET_TRANSFER_IN"
            | "EXTERNAL_ASSET_TRANSFER_OUT"
            | "ADJUSTMENT"
            | "OPTIONEXPIRATION"
            | "OPTIONASSIGNMENT"
            | "OPTIONEXERCISE",
            None,
        ) => quantity.map(|_| Decimal::ZERO),
        _ => None,
    }
}

/// A SnapTrade timestamp as UTC. SnapTrade writes them several ways: RFC 3339
/// (`2024-08-20T21:56:19Z`), Python's `str(datetime)` (`2024-08-20 21:56:19.123935+00:00`), a naive
/// time (taken as UTC) or a bare date (midnight UTC).
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    if let Ok(at) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(at.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Some(at.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snaptrades_timestamp_spellings_all_read_as_utc() {
        let expected = DateTime::parse_from_rfc3339("2024-08-20T21:56:19.123935Z").unwrap();
        for text in [
            "2024-08-20 21:56:19.123935+00:00",
            "2024-08-20T21:56:19.123935Z",
            "2024-08-20T17:56:19.123935-04:00",
            "2024-08-20 21:56:19.123935",
        ] {
            assert_eq!(
                parse_timestamp(text),
                Some(expected.with_timezone(&Utc)),
                "{text}"
            );
        }
        assert_eq!(
            parse_timestamp("2024-08-20").unwrap().to_rfc3339(),
            "2024-08-20T00:00:00+00:00"
        );
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
