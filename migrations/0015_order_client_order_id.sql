-- 0015: the caller's idempotency key on each order placed through Tributary. SnapTrade's spec says of
-- `client_order_id` that it "does not enforce uniqueness server-side", and its order records do not carry it, so
-- the key that makes a retried placement safe has to be kept here, beside the order, for as long as the order is.
-- Unique per user (never across users: one user's key can neither block nor find another's order). Re-runnable.

alter table public.snaptrade_orders add column if not exists client_order_id text;

do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conname = 'snaptrade_orders_client_order_id_check'
      and conrelid = 'public.snaptrade_orders'::pg_catalog.regclass
  ) then
    -- Alpaca's limit (128), the stricter of the two providers'.
    alter table public.snaptrade_orders add constraint snaptrade_orders_client_order_id_check
      check (client_order_id is null or pg_catalog.octet_length(client_order_id) between 1 and 128);
  end if;
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conname = 'snaptrade_orders_user_id_client_order_id_key'
      and conrelid = 'public.snaptrade_orders'::pg_catalog.regclass
  ) then
    -- Orders recorded before this migration kept the key in raw_order_data; the newest row per user and key
    -- takes it (an older pending row folded into its confirmed order keeps none).
    update public.snaptrade_orders o set client_order_id = k.key
    from (
      select distinct on (user_id, raw_order_data ->> 'client_order_id')
             id, raw_order_data ->> 'client_order_id' as key
      from public.snaptrade_orders
      where client_order_id is null
        and pg_catalog.octet_length(raw_order_data ->> 'client_order_id') between 1 and 128
      order by user_id, raw_order_data ->> 'client_order_id', placed_at desc, id
    ) k
    where o.id = k.id;
    alter table public.snaptrade_orders add constraint snaptrade_orders_user_id_client_order_id_key
      unique (user_id, client_order_id);
  end if;
end
$$;

comment on column public.snaptrade_orders.client_order_id is
  'The idempotency key the order was placed with through Tributary (unique per user); null for orders only read '
  'from a provider';
