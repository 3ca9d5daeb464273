//! Orders (`public.snaptrade_orders`) and the providers' order vocabularies.
//!
//! The vocabularies are open: a value this crate does not know is kept as `Other(String)`. Known values are stored
//! in SnapTrade's spelling (`BUY`, `StopLimit`, `GTC`, `EXECUTED`), the table's origin; Alpaca's spellings
//! (`buy`, `stop_limit`, `gtc`, `filled`) parse to the same values.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{AccountId, OrderId, UniversalSymbolId, UserId};
use crate::numeric::{Notional, Price, Units};
use crate::text::StatusMessage;
use crate::text::{BrokerageOrderId, ClientOrderId, Symbol};
use crate::vocabulary::open_vocabulary;

open_vocabulary! {
    /// Where an order stands (`snaptrade_orders.status`).
    OrderStatus, field = "status" {
        /// Received, not yet working (SnapTrade `PENDING`, Alpaca `pending_new`).
        Pending => "PENDING" ["pendingnew"],
        /// Working at the brokerage (SnapTrade `ACCEPTED`, Alpaca `accepted` and `new`).
        Accepted => "ACCEPTED" ["new"],
        /// Some units filled, the rest still working (SnapTrade `PARTIAL`/`PARTIALLY_EXECUTED`, Alpaca
        /// `partially_filled`).
        PartiallyFilled => "PARTIAL" ["partiallyfilled", "partiallyexecuted", "partialfill"],
        /// Completely filled (SnapTrade `EXECUTED`, Alpaca `filled`).
        Filled => "EXECUTED" ["filled", "fill"],
        /// Canceled before any fill.
        Canceled => "CANCELED" ["cancelled"],
        /// Canceled after a partial fill.
        PartiallyCanceled => "PARTIAL_CANCELED" ["partialcancelled", "partiallycanceled", "partiallycancelled"],
        /// A cancel was requested and is not confirmed yet (Alpaca `pending_cancel`).
        CancelPending => "CANCEL_PENDING" ["pendingcancel"],
        /// Replaced by another order.
        Replaced => "REPLACED",
        /// A replacement was requested and is not confirmed yet (Alpaca `pending_replace`).
        ReplacePending => "REPLACE_PENDING" ["pendingreplace"],
        /// Refused by the brokerage.
        Rejected => "REJECTED",
        /// Failed before reaching the brokerage (SnapTrade `FAILED`).
        Failed => "FAILED",
        /// Ended unfilled when its time in force ran out.
        Expired => "EXPIRED",
    }
}

impl OrderStatus {
    /// Whether the order is over and will not change again. `Other` values are neither open nor terminal: the
    /// caller decides, e.g. by asking the brokerage again.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Filled
                | Self::Canceled
                | Self::PartiallyCanceled
                | Self::Replaced
                | Self::Rejected
                | Self::Failed
                | Self::Expired
        )
    }

    /// Whether the order may still fill or be canceled.
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            Self::Pending
                | Self::Accepted
                | Self::PartiallyFilled
                | Self::CancelPending
                | Self::ReplacePending
        )
    }
}

open_vocabulary! {
    /// What an order does (`snaptrade_orders.action`).
    OrderAction, field = "action" {
        /// Buy.
        Buy => "BUY",
        /// Sell.
        Sell => "SELL",
        /// Open an option position by buying.
        BuyToOpen => "BUY_TO_OPEN" ["buyopen"],
        /// Close a short option position by buying.
        BuyToClose => "BUY_TO_CLOSE" ["buyclose"],
        /// Open an option position by selling (writing).
        SellToOpen => "SELL_TO_OPEN" ["sellopen"],
        /// Close a long option position by selling.
        SellToClose => "SELL_TO_CLOSE" ["sellclose"],
        /// Sell borrowed shares.
        SellShort => "SELL_SHORT",
        /// Buy back borrowed shares.
        BuyToCover => "BUY_COVER" ["buytocover"],
    }
}

open_vocabulary! {
    /// How an order is priced (`snaptrade_orders.order_type`).
    OrderType, field = "order_type" {
        /// At the market price.
        Market => "Market",
        /// At the limit price or better.
        Limit => "Limit",
        /// A market order once the stop price trades (SnapTrade V2 `STOP_LOSS_MARKET`).
        Stop => "Stop" ["stopmarket", "stoplossmarket", "stoploss"],
        /// A limit order once the stop price trades (SnapTrade V2 `STOP_LOSS_LIMIT`).
        StopLimit => "StopLimit" ["stoplosslimit"],
        /// A stop that follows the price by an amount or a percentage (Alpaca `trailing_stop`).
        TrailingStop => "TrailingStop",
    }
}

impl OrderType {
    /// Whether an order of this type needs a limit price.
    pub fn needs_limit_price(&self) -> bool {
        matches!(self, Self::Limit | Self::StopLimit)
    }

    /// Whether an order of this type needs a stop price.
    pub fn needs_stop_price(&self) -> bool {
        matches!(self, Self::Stop | Self::StopLimit)
    }
}

open_vocabulary! {
    /// How long an order stays working (`snaptrade_orders.time_in_force`).
    TimeInForce, field = "time_in_force" {
        /// Until the end of the trading day.
        Day => "Day",
        /// Until filled or canceled.
        GoodTillCanceled => "GTC" ["goodtillcanceled", "goodtilcanceled", "goodtillcancelled"],
        /// Fill completely at once or cancel.
        FillOrKill => "FOK" ["fillorkill"],
        /// Fill what can be filled at once, cancel the rest.
        ImmediateOrCancel => "IOC" ["immediateorcancel"],
        /// Until a given date.
        GoodTillDate => "GTD" ["goodtilldate"],
        /// In the opening auction only (Alpaca `opg`, SnapTrade `MOO`).
        AtTheOpen => "OPG" ["moo", "marketonopen", "attheopen"],
        /// In the closing auction only (Alpaca `cls`).
        AtTheClose => "CLS" ["moc", "marketonclose", "attheclose"],
    }
}

/// An order as stored: a row of `public.snaptrade_orders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// The row's id.
    pub id: OrderId,
    /// The owner.
    pub user_id: UserId,
    /// The account the order was placed in.
    pub account_id: AccountId,
    /// The brokerage's id; unique per account.
    pub brokerage_order_id: BrokerageOrderId,
    /// The symbol traded.
    pub symbol: Symbol,
    /// SnapTrade's id for the symbol, when known.
    pub universal_symbol_id: Option<UniversalSymbolId>,
    /// Buy, sell...
    pub action: OrderAction,
    /// Market, limit...
    pub order_type: OrderType,
    /// How long it stays working, when the brokerage says.
    pub time_in_force: Option<TimeInForce>,
    /// Units ordered (`units`), when the order is by quantity.
    pub units: Option<Units>,
    /// Dollars ordered (`notional_value`), when the order is by amount.
    pub notional_value: Option<Notional>,
    /// The limit price.
    pub limit_price: Option<Price>,
    /// The stop price.
    pub stop_price: Option<Price>,
    /// Units filled so far.
    pub filled_units: Option<Units>,
    /// The average price of the fills.
    pub average_fill_price: Option<Price>,
    /// Where the order stands.
    pub status: OrderStatus,
    /// The brokerage's explanation of the status (a rejection reason...).
    pub status_message: Option<StatusMessage>,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// When it filled completely.
    pub filled_at: Option<DateTime<Utc>>,
    /// When it was canceled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// When the row last changed (set by a trigger).
    pub updated_at: Option<DateTime<Utc>>,
    /// The provider's order exactly as received, for what the columns do not keep.
    pub raw_order_data: Option<serde_json::Value>,
    /// The caller's idempotency key the order was placed with through Tributary: unique per user, kept
    /// when the provider's listing of the order (which may not carry it) rewrites the row.
    pub client_order_id: Option<ClientOrderId>,
}

/// An order to insert or update, keyed by `(brokerage_order_id, account_id)`. Every field is already valid; the
/// database assigns the row id and `updated_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOrder {
    /// The owner.
    pub user_id: UserId,
    /// The account the order was placed in (must belong to the same user).
    pub account_id: AccountId,
    /// The brokerage's id.
    pub brokerage_order_id: BrokerageOrderId,
    /// The symbol traded.
    pub symbol: Symbol,
    /// SnapTrade's id for the symbol, when known.
    pub universal_symbol_id: Option<UniversalSymbolId>,
    /// Buy, sell...
    pub action: OrderAction,
    /// Market, limit...
    pub order_type: OrderType,
    /// How long it stays working.
    pub time_in_force: Option<TimeInForce>,
    /// Units ordered.
    pub units: Option<Units>,
    /// Dollars ordered.
    pub notional_value: Option<Notional>,
    /// The limit price.
    pub limit_price: Option<Price>,
    /// The stop price.
    pub stop_price: Option<Price>,
    /// Units filled so far.
    pub filled_units: Option<Units>,
    /// The average price of the fills.
    pub average_fill_price: Option<Price>,
    /// Where the order stands.
    pub status: OrderStatus,
    /// The brokerage's explanation of the status.
    pub status_message: Option<StatusMessage>,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// When it filled completely.
    pub filled_at: Option<DateTime<Utc>>,
    /// When it was canceled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The provider's order exactly as received.
    pub raw_order_data: Option<serde_json::Value>,
    /// The caller's idempotency key, set only by the engine when it records an order it sends; `None`
    /// leaves a stored key as it is.
    pub client_order_id: Option<ClientOrderId>,
}

impl NewOrder {
    /// An order with its required fields; the optional ones start empty and are set on the value
    /// (`NewOrder { units: Some(units), ..NewOrder::new(...) }` or field by field).
    #[allow(clippy::too_many_arguments)] // one argument per NOT NULL column, each its own type
    pub fn new(
        user_id: UserId,
        account_id: AccountId,
        brokerage_order_id: BrokerageOrderId,
        symbol: Symbol,
        action: OrderAction,
        order_type: OrderType,
        status: OrderStatus,
        placed_at: DateTime<Utc>,
    ) -> Self {
        Self {
            user_id,
            account_id,
            brokerage_order_id,
            symbol,
            universal_symbol_id: None,
            action,
            order_type,
            time_in_force: None,
            units: None,
            notional_value: None,
            limit_price: None,
            stop_price: None,
            filled_units: None,
            average_fill_price: None,
            status,
            status_message: None,
            placed_at,
            filled_at: None,
            cancelled_at: None,
            raw_order_data: None,
            client_order_id: None,
        }
    }

    /// The row this draft becomes when first inserted with id `id` at `now`: what an in-memory store keeps, and
    /// what PostgreSQL's defaults produce.
    pub fn into_stored(self, id: OrderId, now: DateTime<Utc>) -> Order {
        Order {
            id,
            user_id: self.user_id,
            account_id: self.account_id,
            brokerage_order_id: self.brokerage_order_id,
            symbol: self.symbol,
            universal_symbol_id: self.universal_symbol_id,
            action: self.action,
            order_type: self.order_type,
            time_in_force: self.time_in_force,
            units: self.units,
            notional_value: self.notional_value,
            limit_price: self.limit_price,
            stop_price: self.stop_price,
            filled_units: self.filled_units,
            average_fill_price: self.average_fill_price,
            status: self.status,
            status_message: self.status_message,
            placed_at: self.placed_at,
            filled_at: self.filled_at,
            cancelled_at: self.cancelled_at,
            updated_at: Some(now),
            raw_order_data: self.raw_order_data,
            client_order_id: self.client_order_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DomainError, TextProblem};

    #[test]
    fn snaptrade_and_alpaca_spellings_of_a_status_are_one_value() {
        for text in ["EXECUTED", "filled", "Filled"] {
            assert_eq!(
                OrderStatus::parse(text).unwrap(),
                OrderStatus::Filled,
                "{text}"
            );
        }
        for text in ["PARTIAL", "partially_filled", "PARTIALLY_EXECUTED"] {
            assert_eq!(
                OrderStatus::parse(text).unwrap(),
                OrderStatus::PartiallyFilled,
                "{text}"
            );
        }
        assert_eq!(
            OrderStatus::parse("pending_cancel").unwrap(),
            OrderStatus::CancelPending
        );
        assert_eq!(
            OrderStatus::parse("CANCEL_PENDING").unwrap(),
            OrderStatus::CancelPending
        );
        assert_eq!(
            OrderStatus::parse("cancelled").unwrap(),
            OrderStatus::Canceled
        );
        assert_eq!(OrderStatus::parse("new").unwrap(), OrderStatus::Accepted);
        assert_eq!(
            OrderStatus::parse("pending_new").unwrap(),
            OrderStatus::Pending
        );
    }

    #[test]
    fn an_unknown_status_is_kept_as_received_instead_of_failing() {
        let status = OrderStatus::parse(" done_for_day ").unwrap();
        assert_eq!(status, OrderStatus::Other("done_for_day".into()));
        assert_eq!(status.as_str(), "done_for_day");
        assert!(!status.is_known());
        assert!(!status.is_open() && !status.is_terminal());
    }

    #[test]
    fn known_values_are_stored_in_snaptrade_spelling() {
        assert_eq!(OrderStatus::parse("filled").unwrap().as_str(), "EXECUTED");
        assert_eq!(OrderAction::parse("sell").unwrap().as_str(), "SELL");
        assert_eq!(
            OrderType::parse("stop_limit").unwrap().as_str(),
            "StopLimit"
        );
        assert_eq!(TimeInForce::parse("gtc").unwrap().as_str(), "GTC");
    }

    #[test]
    fn every_known_value_parses_back_from_its_stored_spelling() {
        for status in OrderStatus::KNOWN {
            assert_eq!(&OrderStatus::parse(status.as_str()).unwrap(), status);
        }
        for action in OrderAction::KNOWN {
            assert_eq!(&OrderAction::parse(action.as_str()).unwrap(), action);
        }
        for kind in OrderType::KNOWN {
            assert_eq!(&OrderType::parse(kind.as_str()).unwrap(), kind);
        }
        for tif in TimeInForce::KNOWN {
            assert_eq!(&TimeInForce::parse(tif.as_str()).unwrap(), tif);
        }
    }

    #[test]
    fn order_types_parse_from_both_providers() {
        assert_eq!(OrderType::parse("Market").unwrap(), OrderType::Market);
        assert_eq!(OrderType::parse("limit").unwrap(), OrderType::Limit);
        assert_eq!(OrderType::parse("StopLimit").unwrap(), OrderType::StopLimit);
        assert_eq!(
            OrderType::parse("STOP_LOSS_LIMIT").unwrap(),
            OrderType::StopLimit
        );
        assert_eq!(
            OrderType::parse("STOP_LOSS_MARKET").unwrap(),
            OrderType::Stop
        );
        assert_eq!(
            OrderType::parse("trailing_stop").unwrap(),
            OrderType::TrailingStop
        );
    }

    #[test]
    fn times_in_force_parse_from_both_providers() {
        assert_eq!(TimeInForce::parse("Day").unwrap(), TimeInForce::Day);
        assert_eq!(TimeInForce::parse("DAY").unwrap(), TimeInForce::Day);
        assert_eq!(
            TimeInForce::parse("ioc").unwrap(),
            TimeInForce::ImmediateOrCancel
        );
        assert_eq!(TimeInForce::parse("FOK").unwrap(), TimeInForce::FillOrKill);
        assert_eq!(TimeInForce::parse("opg").unwrap(), TimeInForce::AtTheOpen);
        assert_eq!(TimeInForce::parse("cls").unwrap(), TimeInForce::AtTheClose);
        assert_eq!(
            TimeInForce::parse("EHP").unwrap(),
            TimeInForce::Other("EHP".into())
        );
    }

    #[test]
    fn option_actions_accept_snaptrade_short_forms() {
        assert_eq!(
            OrderAction::parse("BUY_OPEN").unwrap(),
            OrderAction::BuyToOpen
        );
        assert_eq!(
            OrderAction::parse("buy_to_open").unwrap(),
            OrderAction::BuyToOpen
        );
        assert_eq!(
            OrderAction::parse("SELL_CLOSE").unwrap(),
            OrderAction::SellToClose
        );
        assert_eq!(
            OrderAction::parse("BUY_COVER").unwrap(),
            OrderAction::BuyToCover
        );
    }

    #[test]
    fn an_empty_vocabulary_value_is_refused_naming_the_field() {
        assert_eq!(
            OrderAction::parse("  ").unwrap_err(),
            DomainError::InvalidText {
                field: "action",
                problem: TextProblem::Empty
            }
        );
        assert!(matches!(
            OrderStatus::parse("EXEC\0UTED"),
            Err(DomainError::InvalidText {
                field: "status",
                problem: TextProblem::ContainsNul
            })
        ));
    }

    #[test]
    fn vocabulary_values_serialize_as_their_stored_spelling() {
        assert_eq!(
            serde_json::to_string(&OrderStatus::Filled).unwrap(),
            "\"EXECUTED\""
        );
        assert_eq!(
            serde_json::from_str::<OrderStatus>("\"filled\"").unwrap(),
            OrderStatus::Filled
        );
        assert_eq!(
            serde_json::from_str::<OrderStatus>("\"HELD\"").unwrap(),
            OrderStatus::Other("HELD".into())
        );
    }

    #[test]
    fn terminal_and_open_statuses_do_not_overlap() {
        for status in OrderStatus::KNOWN {
            assert!(!(status.is_open() && status.is_terminal()), "{status}");
            assert!(status.is_open() || status.is_terminal(), "{status}");
        }
    }

    #[test]
    fn limit_and_stop_prices_are_required_by_the_types_that_use_them() {
        assert!(OrderType::Limit.needs_limit_price() && !OrderType::Limit.needs_stop_price());
        assert!(
            OrderType::StopLimit.needs_limit_price() && OrderType::StopLimit.needs_stop_price()
        );
        assert!(!OrderType::Market.needs_limit_price() && !OrderType::Market.needs_stop_price());
    }

    #[test]
    fn a_new_order_starts_with_only_its_required_fields() {
        let order = NewOrder::new(
            UserId::generate(),
            AccountId::generate(),
            BrokerageOrderId::parse("ord-1").unwrap(),
            Symbol::parse("AAPL").unwrap(),
            OrderAction::Buy,
            OrderType::Market,
            OrderStatus::Pending,
            Utc::now(),
        );
        assert_eq!(order.units, None);
        assert_eq!(order.raw_order_data, None);
        let json = serde_json::to_value(&order).unwrap();
        assert_eq!(json["action"], "BUY");
        assert_eq!(serde_json::from_value::<NewOrder>(json).unwrap(), order);
    }

    proptest::proptest! {
        #[test]
        fn any_status_text_round_trips_through_its_stored_spelling(text in "[A-Za-z_ ]{0,20}[A-Za-z]") {
            let status = OrderStatus::parse(&text).unwrap();
            proptest::prop_assert_eq!(OrderStatus::parse(status.as_str()).unwrap(), status.clone());
            let json = serde_json::to_string(&status).unwrap();
            proptest::prop_assert_eq!(serde_json::from_str::<OrderStatus>(&json).unwrap(), status);
        }
    }
}
