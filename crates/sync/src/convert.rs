//! Provider shapes → the rows the repository stores.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use tributary_domain::{
    AuthorizationId, BrokerageConnection, BrokerageName, BrokerageSlug, ConnectionStatus,
    ConnectionType, DomainError, InstitutionName, InvestmentAccount, NewBrokerageConnection,
    NewInvestmentAccount, Provider, StatusMessage, UserId,
};
use tributary_provider::capability::{AccountInfo, ConnectionInfo, ProviderConnectionId};

/// The account row for a provider's account, with its connection's type and health.
pub(crate) fn new_account(
    user: UserId,
    info: &AccountInfo,
    connection: Option<&ConnectionInfo>,
) -> Result<NewInvestmentAccount, DomainError> {
    let institution = match info
        .institution
        .clone()
        .or_else(|| connection.and_then(|c| c.institution.clone()))
    {
        Some(institution) => institution,
        None => InstitutionName::parse(info.provider.display_name())?,
    };
    let mut account = NewInvestmentAccount::new(
        user,
        info.provider,
        info.provider_account_id.clone(),
        institution.clone(),
        info.account_type.clone(),
    );
    account.account_name = info.name.clone();
    account.account_subtype = info.account_subtype.clone();
    account.raw_account_data = json!({
        "total_value": info.total_value,
        "cash": info.cash,
        "currency": info.currency,
    });
    match &info.provider_connection_id {
        Some(ProviderConnectionId::Item(item)) => account.provider_item_id = Some(item.clone()),
        Some(ProviderConnectionId::Authorization(authorization)) => {
            account.snaptrade_authorization_id = Some(*authorization);
            account.brokerage_name = Some(BrokerageName::parse(institution.as_str())?);
        }
        None => {}
    }
    account.connection_type = match (connection, info.provider) {
        (Some(connection), _) => connection.connection_type,
        // Alpaca is the user's own brokerage account: it trades.
        (None, Provider::Alpaca) => ConnectionType::Trade,
        (None, _) => ConnectionType::Read,
    };
    account.connection_status = connection.map_or(ConnectionStatus::Active, |c| c.status);
    Ok(account)
}

/// The row of an account its provider no longer reports, marked inactive, everything else as stored.
pub(crate) fn deactivated(account: &InvestmentAccount) -> NewInvestmentAccount {
    let mut row = NewInvestmentAccount::new(
        account.user_id,
        account.provider,
        account.provider_account_id.clone(),
        account.institution_name.clone(),
        account.account_type.clone(),
    );
    row.provider_item_id = account.provider_item_id.clone();
    row.institution_id = account.institution_id.clone();
    row.account_name = account.account_name.clone();
    row.account_subtype = account.account_subtype.clone();
    row.sync_enabled = account.sync_enabled;
    row.is_active = false;
    row.is_primary = account.is_primary;
    row.raw_account_data = account.raw_account_data.clone();
    row.snaptrade_authorization_id = account.snaptrade_authorization_id;
    row.brokerage_name = account.brokerage_name.clone();
    row.connection_type = account.connection_type;
    row.connection_status = account.connection_status;
    row.account_mode = account.account_mode;
    row
}

/// The connection a provider's account belongs to, if the provider reported it.
pub(crate) fn connection_of<'a>(
    connections: &'a [ConnectionInfo],
    info: &AccountInfo,
) -> Option<&'a ConnectionInfo> {
    let id = info.provider_connection_id.as_ref()?;
    connections.iter().find(|c| &c.provider_connection_id == id)
}

/// The `snaptrade_brokerage_connections` row for a SnapTrade authorization, or `None` for other providers'
/// connections. A connection that stays disabled keeps the date it was first seen disabled.
pub(crate) fn new_connection(
    user: UserId,
    info: &ConnectionInfo,
    accounts: &[AccountInfo],
    stored: &HashMap<AuthorizationId, BrokerageConnection>,
    now: DateTime<Utc>,
) -> Result<Option<NewBrokerageConnection>, DomainError> {
    let ProviderConnectionId::Authorization(authorization) = info.provider_connection_id else {
        return Ok(None);
    };
    let name = info
        .institution
        .as_ref()
        .map_or(info.provider.display_name(), |i| i.as_str());
    let connection = NewBrokerageConnection::new(
        user,
        authorization,
        BrokerageSlug::parse(&slug(name))?,
        BrokerageName::parse(name)?,
        info.connection_type,
    );
    let message = StatusMessage::from_optional(info.status_reason.as_deref());
    let mut connection = match info.status {
        ConnectionStatus::Active => connection,
        ConnectionStatus::Disabled => {
            let since = stored
                .get(&authorization)
                .and_then(|row| row.disabled_date)
                .unwrap_or(now);
            connection.disabled(since, message)
        }
        ConnectionStatus::Error => connection
            .failed(message.unwrap_or(StatusMessage::parse("the brokerage reported an error")?)),
    };
    let counted = accounts
        .iter()
        .filter(|a| a.provider_connection_id.as_ref() == Some(&info.provider_connection_id))
        .count();
    connection.accounts_count = u16::try_from(counted).unwrap_or(u16::MAX);
    connection.last_synced_at = Some(now);
    Ok(Some(connection))
}

/// SnapTrade's slug spelling of a brokerage's name: upper case, words joined by `_` ("Interactive Brokers"
/// → "INTERACTIVE_BROKERS"), used when the provider reports only the name.
fn slug(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_uppercase)
        .collect::<Vec<_>>()
        .join("_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slug_is_the_name_in_upper_case_words() {
        assert_eq!(slug("Interactive Brokers"), "INTERACTIVE_BROKERS");
        assert_eq!(slug("E*TRADE"), "E_TRADE");
        assert_eq!(slug("Alpaca"), "ALPACA");
    }
}
