//! The decimal types agree with the migrations: each column's `NUMERIC(p, s)` is the type's precision and scale,
//! and a column with a `>= 0` CHECK is mapped to a type that refuses negatives. Read from the SQL files users
//! apply, so a migration that changes a column fails here until the type follows.

use rust_decimal::Decimal;
use tributary_domain::{
    Amount, DomainError, Notional, Percent, Price, Quantity, SignedAmount, UnitCost, Units,
};

/// The migrations that declare or change a decimal column, in the order they apply.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../../migrations/0002_base_schema.sql"),
    include_str!("../../../../migrations/0008_add_snaptrade_support.sql"),
    include_str!("../../../../migrations/0016_gain_percent_width.sql"),
    include_str!("../../../../migrations/0017_exact_figures.sql"),
];

/// A decimal type as the test sees it: its shape and its checked constructor.
struct Shape {
    precision: u32,
    scale: u32,
    check: fn(&'static str, Decimal) -> Result<(), DomainError>,
}

impl Shape {
    fn accepts_negative(&self) -> bool {
        (self.check)("any", Decimal::NEGATIVE_ONE).is_ok()
    }
}

macro_rules! shape {
    ($type:ty) => {
        Shape {
            precision: <$type>::PRECISION,
            scale: <$type>::SCALE,
            check: |field, value| <$type>::new_for(field, value).map(|_| ()),
        }
    };
}

/// Every decimal column and the type that holds it.
fn columns() -> Vec<(&'static str, Shape)> {
    vec![
        ("units", shape!(Units)),
        ("filled_units", shape!(Units)),
        ("notional_value", shape!(Notional)),
        ("limit_price", shape!(Price)),
        ("stop_price", shape!(Price)),
        ("average_fill_price", shape!(Price)),
        ("total_quantity", shape!(Quantity)),
        ("total_market_value", shape!(Amount)),
        ("total_cost_basis", shape!(Amount)),
        ("average_cost_basis", shape!(UnitCost)),
        ("unrealized_gain_loss", shape!(SignedAmount)),
        ("unrealized_gain_loss_percent", shape!(Percent)),
        ("day_change_value", shape!(SignedAmount)),
        ("day_change_percent", shape!(Percent)),
    ]
}

/// The `(precision, scale)` `column` has once every migration applied: the last of its `create table` line
/// (`units decimal(15, 6),`) and its `alter column … type` lines (`alter column x type numeric(26, 4);` or,
/// in a multi-column alter, `alter column x type numeric(28, 10),`).
fn declared_shape(column: &str) -> (u32, u32) {
    let created = format!("{column} ");
    let altered = format!("alter column {column} type ");
    let line = MIGRATIONS
        .iter()
        .rev()
        .flat_map(|sql| sql.lines().rev())
        .map(str::trim)
        .find(|line| {
            (line.starts_with(&created) || line.starts_with(&altered))
                && (line.contains("numeric(") || line.contains("decimal("))
        })
        .unwrap_or_else(|| panic!("no numeric declaration of {column} in the migrations"));
    let inside = line
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .unwrap()
        .0;
    let (precision, scale) = inside.split_once(',').unwrap();
    (
        precision.trim().parse().unwrap(),
        scale.trim().parse().unwrap(),
    )
}

/// Whether the migrations carry a CHECK forcing `column >= 0` (the whole column name: `units >= 0` inside
/// `filled_units >= 0` does not count).
fn has_non_negative_check(column: &str) -> bool {
    let needle = format!("{column} >= 0");
    MIGRATIONS.iter().any(|sql| {
        sql.match_indices(&needle).any(|(at, _)| {
            let before = sql[..at].chars().next_back();
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    })
}

#[test]
fn every_decimal_type_has_its_columns_precision_and_scale() {
    for (column, shape) in columns() {
        assert_eq!(
            declared_shape(column),
            (shape.precision, shape.scale),
            "{column}"
        );
    }
}

#[test]
fn every_column_with_a_non_negative_check_refuses_negatives_before_sql() {
    for (column, shape) in columns() {
        if has_non_negative_check(column) {
            assert!(
                !shape.accepts_negative(),
                "{column} has a >= 0 CHECK but its type accepts -1"
            );
        }
    }
}

#[test]
fn the_checked_columns_are_the_ones_the_schema_names() {
    let checked: Vec<_> = columns()
        .into_iter()
        .map(|(c, _)| c)
        .filter(|c| has_non_negative_check(c))
        .collect();
    assert_eq!(
        checked,
        [
            "units",
            "filled_units",
            "total_quantity",
            "total_market_value",
            "total_cost_basis"
        ]
    );
}

#[test]
fn the_largest_value_of_each_shape_fits_and_one_more_unit_does_not() {
    for (column, shape) in columns() {
        let integer_digits = shape.precision - shape.scale;
        let limit = Decimal::from_i128_with_scale(10_i128.pow(integer_digits), 0);
        let step = Decimal::new(1, shape.scale);
        let largest = limit - step;
        let fits = (shape.check)(column, largest);
        assert!(fits.is_ok(), "{column}: {largest} should fit, got {fits:?}");
        let overflow = (shape.check)(column, limit);
        assert!(
            matches!(overflow, Err(DomainError::NumericOverflow { field, .. }) if field == column),
            "{column}: {limit} should overflow naming the column, got {overflow:?}"
        );
    }
}
