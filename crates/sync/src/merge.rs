//! The holdings merge: every account's positions, from every provider, folded into one row per symbol.
//!
//! Pure: no I/O, so the sums can be checked exhaustively. A [`Lot`] is one account's position in one
//! symbol; [`merge`] groups lots by symbol and currency into [`NewHolding`]s whose totals are the sums of
//! their per-account contributions (a symbol held twice in one account is one contribution). Lots in two
//! currencies are never added together: each currency is a holding of its own.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use tributary_domain::{
    AccountContribution, AccountId, Amount, Currency, DomainError, Holding, HoldingFigures,
    InstitutionName, NewHolding, OptionContract, Provider, Quantity, SecurityId, SecurityName,
    SecurityType, Symbol, UniversalSymbolId, UserId,
};
use tributary_provider::capability::{Position, PositionSide};

/// What is known about a security, whichever account reported it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SecurityFacts {
    /// The provider's id for the security.
    pub security_id: Option<SecurityId>,
    /// Its name.
    pub security_name: Option<SecurityName>,
    /// Its kind.
    pub security_type: Option<SecurityType>,
    /// SnapTrade's universal symbol id.
    pub universal_symbol_id: Option<UniversalSymbolId>,
    /// The contract, for an option.
    pub option_contract: Option<OptionContract>,
    /// What each provider said about it, keyed by provider.
    pub provider_metadata: Map<String, Value>,
}

/// One account's position in one symbol, in the units a holdings row stores.
#[derive(Debug, Clone, PartialEq)]
pub struct Lot {
    /// The stored account holding it.
    pub account_id: AccountId,
    /// The account's institution.
    pub institution: InstitutionName,
    /// The symbol.
    pub symbol: Symbol,
    /// The currency `market_value` and `cost_basis` are in; `None` when no one said.
    pub currency: Option<Currency>,
    /// How many units.
    pub quantity: Quantity,
    /// What they are worth.
    pub market_value: Amount,
    /// What they cost.
    pub cost_basis: Amount,
    /// The security.
    pub security: SecurityFacts,
}

/// A position, or the holding its lots would make, left out of the holdings: reported with why, never rounded
/// or clamped into a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionLeftOut {
    /// The symbol.
    pub symbol: Symbol,
    /// Its currency, when the provider said.
    pub currency: Option<Currency>,
    /// The account holding the position; `None` for a holding merged from several accounts' lots.
    pub account_id: Option<AccountId>,
    /// Why.
    pub reason: LeftOutReason,
}

/// Why a position has no place in the holdings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeftOutReason {
    /// A short position: a holding's quantity and market value are never negative.
    ShortPosition,
    /// A figure of the merged holding does not fit its column (an average cost per unit past its scale…).
    DoesNotFit(DomainError),
}

impl std::fmt::Display for LeftOutReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ShortPosition => f.write_str("short positions are not aggregated into holdings"),
            Self::DoesNotFit(error) => write!(f, "{error}"),
        }
    }
}

impl std::fmt::Display for PositionLeftOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.symbol)?;
        if let Some(currency) = &self.currency {
            write!(f, " ({currency})")?;
        }
        if let Some(account) = self.account_id {
            write!(f, " in account {account}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl Lot {
    /// The lot a provider's position makes, or why it has no place in the holdings.
    ///
    /// The market value is the provider's, else price × quantity, else zero (a position with no price is
    /// still held); a missing cost basis is zero. The currency is the position's, else `account_currency`
    /// (the currency the provider reports the account's balances in), else none. SnapTrade reports its
    /// universal symbol id as the security id: when a SnapTrade security id is a UUID it is also the
    /// universal symbol id.
    ///
    /// # Errors
    /// [`DomainError`] naming `market_value` or `cost_basis` when a long position's value is negative or
    /// too large for its column.
    pub fn from_position(
        account_id: AccountId,
        institution: InstitutionName,
        provider: Provider,
        position: &Position,
        account_currency: Option<&Currency>,
    ) -> Result<Result<Self, PositionLeftOut>, DomainError> {
        if position.side == PositionSide::Short {
            // total_quantity and total_market_value are >= 0 columns: a short has no row to live in.
            return Ok(Err(PositionLeftOut {
                symbol: position.symbol.clone(),
                currency: position
                    .currency
                    .clone()
                    .or_else(|| account_currency.cloned()),
                account_id: Some(account_id),
                reason: LeftOutReason::ShortPosition,
            }));
        }
        let market_value = match (position.market_value, position.price) {
            (Some(value), _) => value.get(),
            // Checked: the widest price times the widest quantity passes what a `Decimal` holds.
            (None, Some(price)) => price.get().checked_mul(position.quantity.get()).ok_or(
                DomainError::NumericOverflow {
                    field: "market_value",
                    value: Decimal::MAX,
                    precision: Amount::PRECISION,
                    scale: Amount::SCALE,
                },
            )?,
            (None, None) => Decimal::ZERO,
        };
        let cost_basis = position.cost_basis.map_or(Decimal::ZERO, |cost| cost.get());
        Ok(Ok(Self {
            account_id,
            institution,
            symbol: position.symbol.clone(),
            currency: position
                .currency
                .clone()
                .or_else(|| account_currency.cloned()),
            quantity: position.quantity,
            market_value: Amount::new_for("market_value", market_value)?,
            cost_basis: Amount::new_for("cost_basis", cost_basis)?,
            security: security_facts(provider, position),
        }))
    }

    /// The lots a stored holding holds for `accounts`: what a sync keeps for accounts it could not fetch,
    /// so a provider that is down does not empty the user's portfolio.
    pub fn carried_from(holding: &Holding, accounts: &[AccountId]) -> Vec<Self> {
        let security = SecurityFacts {
            security_id: holding.security_id.clone(),
            security_name: holding.security_name.clone(),
            security_type: holding.security_type,
            universal_symbol_id: holding.universal_symbol_id,
            option_contract: holding.option_contract.clone(),
            provider_metadata: holding.provider_metadata.clone(),
        };
        holding
            .account_contributions
            .iter()
            .filter(|contribution| accounts.contains(&contribution.account_id))
            .map(|contribution| Self {
                account_id: contribution.account_id,
                institution: contribution.institution.clone(),
                symbol: holding.symbol.clone(),
                currency: holding.currency.clone(),
                quantity: contribution.quantity,
                market_value: contribution.market_value,
                cost_basis: contribution.cost_basis,
                security: security.clone(),
            })
            .collect()
    }
}

fn security_facts(provider: Provider, position: &Position) -> SecurityFacts {
    let universal_symbol_id = match provider {
        Provider::SnapTrade => position
            .security_id
            .as_ref()
            .and_then(|id| UniversalSymbolId::parse(id.as_str()).ok()),
        _ => None,
    };
    let mut about = Map::new();
    if let Some(id) = &position.security_id {
        about.insert("security_id".into(), Value::from(id.as_str()));
    }
    if let Some(kind) = &position.provider_security_type {
        about.insert("security_type".into(), Value::from(kind.as_str()));
    }
    if let Some(currency) = &position.currency {
        about.insert("currency".into(), Value::from(currency.as_str()));
    }
    let mut provider_metadata = Map::new();
    if !about.is_empty() {
        provider_metadata.insert(provider.as_str().into(), Value::Object(about));
    }
    SecurityFacts {
        security_id: position.security_id.clone(),
        security_name: position.security_name.clone(),
        security_type: position.security_type,
        universal_symbol_id,
        option_contract: position.option_contract.clone(),
        provider_metadata,
    }
}

/// A holding's key: a symbol in a currency (`None`: no one said which).
pub type HoldingKey = (Symbol, Option<Currency>);

/// What [`merge_each`] made: a holding per symbol and currency, and those whose holding cannot be
/// represented.
#[derive(Debug, Default)]
pub struct Merged {
    /// One holding per symbol and currency that fits its columns, by symbol then currency.
    pub holdings: Vec<NewHolding>,
    /// Each holding left out, with the figure that does not fit (an average cost per unit past its column,
    /// say): reported, never rounded or clamped into a row.
    pub left_out: Vec<PositionLeftOut>,
}

/// Like [`merge`], but one holding that cannot be represented is left out with why instead of failing them
/// all.
pub fn merge_each(user: UserId, lots: Vec<Lot>) -> Merged {
    let mut merged = Merged::default();
    for (key, lots) in by_key(lots) {
        match holding(user, key.clone(), &lots) {
            Ok(holding) => merged.holdings.push(holding),
            Err(error) => merged.left_out.push(PositionLeftOut {
                symbol: key.0,
                currency: key.1,
                account_id: None,
                reason: LeftOutReason::DoesNotFit(error),
            }),
        }
    }
    merged
}

/// The lots of each symbol and currency, by symbol then currency, each key's sorted by account.
fn by_key(lots: Vec<Lot>) -> BTreeMap<HoldingKey, Vec<Lot>> {
    let mut by_key: BTreeMap<HoldingKey, Vec<Lot>> = BTreeMap::new();
    for lot in lots {
        let key = (lot.symbol.clone(), lot.currency.clone());
        by_key.entry(key).or_default().push(lot);
    }
    for lots in by_key.values_mut() {
        lots.sort_by_key(|lot| lot.account_id);
    }
    by_key
}

/// Folds `lots` into one holding per symbol and currency, by symbol then currency. Each holding's totals are
/// the sums of its contributions, one per account (by account id); security facts come from the first lot
/// that has each.
///
/// # Errors
/// [`DomainError`] naming the total that overflows its column.
pub fn merge(user: UserId, lots: Vec<Lot>) -> Result<Vec<NewHolding>, DomainError> {
    by_key(lots)
        .into_iter()
        .map(|(key, lots)| holding(user, key, &lots))
        .collect()
}

fn holding(
    user: UserId,
    (symbol, currency): HoldingKey,
    lots: &[Lot],
) -> Result<NewHolding, DomainError> {
    let contributions = contributions(lots)?;
    let sum = |value: fn(&AccountContribution) -> Decimal| -> Decimal {
        contributions.iter().map(value).sum()
    };
    let figures = HoldingFigures::derive(
        Quantity::new_for("total_quantity", sum(|c| c.quantity.get()))?,
        Amount::new_for("total_market_value", sum(|c| c.market_value.get()))?,
        Amount::new_for("total_cost_basis", sum(|c| c.cost_basis.get()))?,
    )?;
    let security = first_facts(lots);
    Ok(NewHolding {
        security_id: security.security_id,
        security_name: security.security_name,
        security_type: security.security_type,
        account_contributions: contributions,
        provider_metadata: security.provider_metadata,
        universal_symbol_id: security.universal_symbol_id,
        option_contract: security.option_contract,
        currency,
        ..NewHolding::new(user, symbol, figures)
    })
}

/// One contribution per account, its lots summed (lots arrive sorted by account).
fn contributions(lots: &[Lot]) -> Result<Vec<AccountContribution>, DomainError> {
    let mut contributions: Vec<AccountContribution> = Vec::new();
    for lot in lots {
        match contributions.last_mut() {
            Some(last) if last.account_id == lot.account_id => {
                last.quantity =
                    Quantity::new_for("quantity", last.quantity.get() + lot.quantity.get())?;
                last.market_value = Amount::new_for(
                    "market_value",
                    last.market_value.get() + lot.market_value.get(),
                )?;
                last.cost_basis =
                    Amount::new_for("cost_basis", last.cost_basis.get() + lot.cost_basis.get())?;
            }
            _ => contributions.push(AccountContribution {
                account_id: lot.account_id,
                institution: lot.institution.clone(),
                quantity: lot.quantity,
                market_value: lot.market_value,
                cost_basis: lot.cost_basis,
            }),
        }
    }
    Ok(contributions)
}

fn first_facts(lots: &[Lot]) -> SecurityFacts {
    let mut facts = SecurityFacts::default();
    for lot in lots {
        let lot = &lot.security;
        facts.security_id = facts.security_id.or_else(|| lot.security_id.clone());
        facts.security_name = facts.security_name.or_else(|| lot.security_name.clone());
        facts.security_type = facts.security_type.or(lot.security_type);
        facts.universal_symbol_id = facts.universal_symbol_id.or(lot.universal_symbol_id);
        facts.option_contract = facts
            .option_contract
            .or_else(|| lot.option_contract.clone());
        for (provider, about) in &lot.provider_metadata {
            facts
                .provider_metadata
                .entry(provider.clone())
                .or_insert_with(|| about.clone());
        }
    }
    facts
}
