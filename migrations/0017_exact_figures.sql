-- 0017: columns wide enough for the numbers providers send, so none is rounded on its way in (issue 14: "Nothing
-- is rounded or clamped silently"; "Crypto quantities keep their full precision (Alpaca sends up to 9
-- decimals)"). numeric(20, 8) rounded Alpaca's 9-decimal crypto quantities, numeric(20, 2) rounded money past the
-- cent (Plaid's own /investments/holdings/get example has institution_value 4437.35905; a holding quoted in BTC
-- counts satoshis, 8 decimals; Alpaca's trading account example has equity 28059.3882330664), and
-- numeric(15, 6) rounded order sizes and prices:
--   quantities, costs per unit and money  numeric(28, 10)  (18 integer digits, as before; 10 decimals)
--   order sizes and prices                numeric(24, 10)  (14 integer digits, 10 decimals)
-- Only widening: every value already stored fits, unchanged. Every shape holds at most 28 significant digits,
-- what Tributary's decimals (rust_decimal) hold. notional_value stays numeric(15, 2): Alpaca's notional "can take
-- up to 2 decimal points" and every order example in Alpaca's and SnapTrade's specs is whole dollars. The percent
-- columns stay numeric(26, 4) (0016): money below 10^18 over a cost basis of a cent or more is below 10^22 %.
--
-- A number with more decimals than even these keep is refused by Tributary before any SQL runs, never rounded
-- (the item is left out of the sync and reported). The holdings' content_digest (0012) digests each figure
-- without trailing zeros, so rows written before this migration still match an unchanged re-sync.
--
-- Re-runnable: each table is altered only when one of its columns is not yet its shape (so a re-run neither
-- rewrites it nor takes its exclusive lock), and then once, in one statement, so the table is rewritten once
-- rather than once per column. The shape is read from pg_catalog rather than information_schema.columns, which
-- hides columns the applying role holds no privilege on; a column it cannot find compares as distinct and the
-- alter runs, failing loudly instead of skipping.

do $$
begin
  if exists (
    select 1
    from (values
      ('total_quantity', 'numeric(28,10)'),
      ('average_cost_basis', 'numeric(28,10)'),
      ('total_market_value', 'numeric(28,10)'),
      ('total_cost_basis', 'numeric(28,10)'),
      ('unrealized_gain_loss', 'numeric(28,10)'),
      ('day_change_value', 'numeric(28,10)')
    ) as wanted (column_name, shape)
    left join pg_catalog.pg_attribute a
      on a.attrelid = 'public.user_aggregated_holdings'::pg_catalog.regclass
     and a.attname = wanted.column_name
     and not a.attisdropped
    where pg_catalog.format_type(a.atttypid, a.atttypmod) is distinct from wanted.shape
  ) then
    alter table public.user_aggregated_holdings
      alter column total_quantity type numeric(28, 10),
      alter column average_cost_basis type numeric(28, 10),
      alter column total_market_value type numeric(28, 10),
      alter column total_cost_basis type numeric(28, 10),
      alter column unrealized_gain_loss type numeric(28, 10),
      alter column day_change_value type numeric(28, 10);
  end if;

  if exists (
    select 1
    from (values
      ('units', 'numeric(24,10)'),
      ('filled_units', 'numeric(24,10)'),
      ('limit_price', 'numeric(24,10)'),
      ('stop_price', 'numeric(24,10)'),
      ('average_fill_price', 'numeric(24,10)')
    ) as wanted (column_name, shape)
    left join pg_catalog.pg_attribute a
      on a.attrelid = 'public.snaptrade_orders'::pg_catalog.regclass
     and a.attname = wanted.column_name
     and not a.attisdropped
    where pg_catalog.format_type(a.atttypid, a.atttypmod) is distinct from wanted.shape
  ) then
    alter table public.snaptrade_orders
      alter column units type numeric(24, 10),
      alter column filled_units type numeric(24, 10),
      alter column limit_price type numeric(24, 10),
      alter column stop_price type numeric(24, 10),
      alter column average_fill_price type numeric(24, 10);
  end if;
end
$$;
