//! The closed lists plaid-openapi.yml gives for request fields the sandbox checks.

/// plaid-openapi.yml `components.schemas.Products.enum`, and the two Plaid added since (plaid-python 46.0.0,
/// spec 1.778.0, `Products.allowed_values`: `cra_home_lending`, `cra_qualify`), so a request from the newer SDK
/// is not refused.
pub(super) const PRODUCTS: &[&str] = &[
    "assets",
    "auth",
    "balance",
    "balance_plus",
    "beacon",
    "identity",
    "identity_match",
    "investments",
    "investments_auth",
    "liabilities",
    "payment_initiation",
    "identity_verification",
    "transactions",
    "credit_details",
    "income",
    "income_verification",
    "standing_orders",
    "transfer",
    "employment",
    "recurring_transactions",
    "transactions_refresh",
    "signal",
    "statements",
    "processor_payments",
    "processor_identity",
    "profile",
    "cra_base_report",
    "cra_income_insights",
    "cra_partner_insights",
    "cra_network_insights",
    "cra_cashflow_insights",
    "cra_monitoring",
    "cra_lend_score",
    "cra_plaid_credit_score",
    "layer",
    "pay_by_bank",
    "protect_linked_bank",
    "protect_transactions",
    "cra_home_lending",
    "cra_qualify",
];

/// The products `LinkTokenCreateRequest.products` allows in update mode: "should be omitted (unless you are using
/// update mode to add a credit product, such as Assets, Statements, Income, or Plaid Check Consumer Report …)".
pub(super) const CREDIT_PRODUCTS: &[&str] = &[
    "assets",
    "statements",
    "income",
    "income_verification",
    "cra_base_report",
    "cra_income_insights",
    "cra_partner_insights",
    "cra_network_insights",
    "cra_cashflow_insights",
    "cra_monitoring",
    "cra_lend_score",
    "cra_plaid_credit_score",
    "cra_home_lending",
    "cra_qualify",
];

/// plaid-openapi.yml `components.schemas.CountryCode.enum`.
pub(super) const COUNTRY_CODES: &[&str] = &[
    "US", "GB", "ES", "NL", "FR", "IE", "CA", "DE", "IT", "PL", "DK", "NO", "SE", "EE", "LT", "LV",
    "PT", "BE", "AT", "FI",
];

/// `LinkTokenCreateRequest.language`: "Supported languages are: …".
pub(super) const LANGUAGES: &[&str] = &[
    "da", "nl", "en", "et", "fr", "de", "hi", "it", "lv", "lt", "no", "pl", "pt", "ro", "es", "sv",
    "vi",
];

/// `ItemRemoveReasonCode.enum`.
pub(super) const REMOVE_REASONS: &[&str] = &[
    "FRAUD_FIRST_PARTY",
    "FRAUD_FALSE_IDENTITY",
    "FRAUD_ABUSE",
    "FRAUD_OTHER",
    "CONNECTION_IS_NON_FUNCTIONAL",
    "OTHER",
];
