//! Investment accounts (`public.user_investment_accounts`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::connection::{ConnectionStatus, ConnectionType};
use crate::id::{AccountId, AuthorizationId, UserId};
use crate::provider::{AccountMode, Provider};
use crate::text::{
    AccountName, AccountSubtype, AccountType, BrokerageName, InstitutionId, InstitutionName,
    ProviderAccountId, ProviderItemId, StatusMessage,
};
use crate::vocabulary::closed_vocabulary;

closed_vocabulary! {
    /// Where an account's last sync stands (`user_investment_accounts.sync_status`).
    SyncStatus, field = "sync_status" {
        /// Never synced yet (the column's default).
        Pending => "pending",
        /// A sync is running.
        Syncing => "syncing",
        /// The last sync succeeded.
        Success => "success",
        /// The last sync failed; `sync_error_message` says why.
        Error => "error",
        /// Syncing is turned off for the account.
        Disabled => "disabled",
    }
}

/// An investment account as stored: a row of `public.user_investment_accounts`, without its two secret columns
/// (`access_token_encrypted`, `snaptrade_user_secret`), which API roles cannot read.
///
/// Nullable columns that have a default are read as that default when NULL (`sync_enabled`, `is_active`,
/// `is_primary`, `sync_status`, `connection_type`, `connection_status`, `raw_account_data`); a NULL
/// `account_mode` is read as the provider's mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvestmentAccount {
    /// The row's id.
    pub id: AccountId,
    /// The owner.
    pub user_id: UserId,
    /// Where the data comes from.
    pub provider: Provider,
    /// The provider's id for the account; unique per (provider, user).
    pub provider_account_id: ProviderAccountId,
    /// Plaid's item (login) id.
    pub provider_item_id: Option<ProviderItemId>,
    /// The provider's id for the institution.
    pub institution_id: Option<InstitutionId>,
    /// The institution's display name.
    pub institution_name: InstitutionName,
    /// The account's display name.
    pub account_name: Option<AccountName>,
    /// The kind of account.
    pub account_type: AccountType,
    /// The finer kind of account.
    pub account_subtype: Option<AccountSubtype>,
    /// Whether syncs include this account.
    pub sync_enabled: bool,
    /// When it last synced successfully.
    pub last_synced: Option<DateTime<Utc>>,
    /// Where the last sync stands.
    pub sync_status: SyncStatus,
    /// Why the last sync failed.
    pub sync_error_message: Option<StatusMessage>,
    /// Whether the account counts (inactive accounts are kept but ignored, e.g. by the portfolio mode).
    pub is_active: bool,
    /// Whether it is the user's primary account.
    pub is_primary: bool,
    /// The provider's account exactly as received.
    pub raw_account_data: serde_json::Value,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (set by a trigger).
    pub updated_at: Option<DateTime<Utc>>,
    /// The SnapTrade authorization (connection) the account belongs to.
    pub snaptrade_authorization_id: Option<AuthorizationId>,
    /// The brokerage's display name (SnapTrade).
    pub brokerage_name: Option<BrokerageName>,
    /// Whether the account may trade.
    pub connection_type: ConnectionType,
    /// The connection's health as last recorded on the account.
    pub connection_status: ConnectionStatus,
    /// How the account is operated.
    pub account_mode: AccountMode,
}

/// An account to insert or update, keyed by `(provider, provider_account_id, user_id)`. The database assigns the
/// row id and timestamps; sync bookkeeping (`last_synced`, `sync_status`...) is written by the sync, not here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewInvestmentAccount {
    /// The owner.
    pub user_id: UserId,
    /// Where the data comes from.
    pub provider: Provider,
    /// The provider's id for the account.
    pub provider_account_id: ProviderAccountId,
    /// Plaid's item (login) id.
    pub provider_item_id: Option<ProviderItemId>,
    /// The provider's id for the institution.
    pub institution_id: Option<InstitutionId>,
    /// The institution's display name (required, non-empty).
    pub institution_name: InstitutionName,
    /// The account's display name.
    pub account_name: Option<AccountName>,
    /// The kind of account.
    pub account_type: AccountType,
    /// The finer kind of account.
    pub account_subtype: Option<AccountSubtype>,
    /// Whether syncs include this account.
    pub sync_enabled: bool,
    /// Whether the account counts.
    pub is_active: bool,
    /// Whether it is the user's primary account.
    pub is_primary: bool,
    /// The provider's account exactly as received.
    pub raw_account_data: serde_json::Value,
    /// The SnapTrade authorization the account belongs to.
    pub snaptrade_authorization_id: Option<AuthorizationId>,
    /// The brokerage's display name (SnapTrade).
    pub brokerage_name: Option<BrokerageName>,
    /// Whether the account may trade.
    pub connection_type: ConnectionType,
    /// The connection's health.
    pub connection_status: ConnectionStatus,
    /// How the account is operated.
    pub account_mode: AccountMode,
}

impl NewInvestmentAccount {
    /// An active, sync-enabled, read-only account with the schema's defaults for everything optional, and the
    /// provider's account mode.
    pub fn new(
        user_id: UserId,
        provider: Provider,
        provider_account_id: ProviderAccountId,
        institution_name: InstitutionName,
        account_type: AccountType,
    ) -> Self {
        Self {
            user_id,
            provider,
            provider_account_id,
            provider_item_id: None,
            institution_id: None,
            institution_name,
            account_name: None,
            account_type,
            account_subtype: None,
            sync_enabled: true,
            is_active: true,
            is_primary: false,
            raw_account_data: serde_json::Value::Object(serde_json::Map::new()),
            snaptrade_authorization_id: None,
            brokerage_name: None,
            connection_type: ConnectionType::Read,
            connection_status: ConnectionStatus::Active,
            account_mode: AccountMode::from(provider),
        }
    }

    /// The row this draft becomes when first inserted with id `id` at `now`: never synced (`pending`), created and
    /// updated at `now` — what an in-memory store keeps, and what PostgreSQL's defaults produce.
    pub fn into_stored(self, id: AccountId, now: DateTime<Utc>) -> InvestmentAccount {
        InvestmentAccount {
            id,
            user_id: self.user_id,
            provider: self.provider,
            provider_account_id: self.provider_account_id,
            provider_item_id: self.provider_item_id,
            institution_id: self.institution_id,
            institution_name: self.institution_name,
            account_name: self.account_name,
            account_type: self.account_type,
            account_subtype: self.account_subtype,
            sync_enabled: self.sync_enabled,
            last_synced: None,
            sync_status: SyncStatus::Pending,
            sync_error_message: None,
            is_active: self.is_active,
            is_primary: self.is_primary,
            raw_account_data: self.raw_account_data,
            created_at: Some(now),
            updated_at: Some(now),
            snaptrade_authorization_id: self.snaptrade_authorization_id,
            brokerage_name: self.brokerage_name,
            connection_type: self.connection_type,
            connection_status: self.connection_status,
            account_mode: self.account_mode,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plaid_account() -> NewInvestmentAccount {
        NewInvestmentAccount::new(
            UserId::generate(),
            Provider::Plaid,
            ProviderAccountId::parse("BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp").unwrap(),
            InstitutionName::parse("Vanguard").unwrap(),
            AccountType::parse("investment").unwrap(),
        )
    }

    #[test]
    fn a_new_account_takes_the_schema_defaults() {
        let account = plaid_account();
        assert!(account.sync_enabled && account.is_active && !account.is_primary);
        assert_eq!(account.connection_type, ConnectionType::Read);
        assert_eq!(account.connection_status, ConnectionStatus::Active);
        assert_eq!(account.raw_account_data, serde_json::json!({}));
    }

    #[test]
    fn a_new_account_is_operated_in_its_providers_mode() {
        let template = plaid_account();
        for provider in Provider::ALL {
            let account = NewInvestmentAccount::new(
                template.user_id,
                *provider,
                template.provider_account_id.clone(),
                template.institution_name.clone(),
                template.account_type.clone(),
            );
            assert_eq!(account.account_mode.as_str(), provider.as_str());
        }
    }

    #[test]
    fn a_stored_account_starts_unsynced_with_its_draft_values() {
        let draft = plaid_account();
        let now = Utc::now();
        let stored = draft.clone().into_stored(AccountId::generate(), now);
        assert_eq!(stored.sync_status, SyncStatus::Pending);
        assert_eq!((stored.last_synced, stored.created_at), (None, Some(now)));
        assert_eq!(stored.provider_account_id, draft.provider_account_id);
        assert_eq!(stored.account_mode, draft.account_mode);
    }

    #[test]
    fn sync_statuses_round_trip_the_schema_strings() {
        let stored: Vec<_> = SyncStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            stored,
            ["pending", "syncing", "success", "error", "disabled"]
        );
        for status in SyncStatus::ALL {
            assert_eq!(status.as_str().parse::<SyncStatus>().unwrap(), *status);
        }
    }

    #[test]
    fn an_account_serializes_with_schema_spellings_and_reads_back() {
        let account = plaid_account();
        let json = serde_json::to_value(&account).unwrap();
        assert_eq!(json["provider"], "plaid");
        assert_eq!(json["connection_type"], "read");
        assert_eq!(
            serde_json::from_value::<NewInvestmentAccount>(json).unwrap(),
            account
        );
    }

    #[test]
    fn an_account_with_an_empty_institution_name_cannot_be_deserialized() {
        let mut json = serde_json::to_value(plaid_account()).unwrap();
        json["institution_name"] = serde_json::json!("  ");
        let error = serde_json::from_value::<NewInvestmentAccount>(json).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("institution_name: must not be empty"),
            "{error}"
        );
    }
}
