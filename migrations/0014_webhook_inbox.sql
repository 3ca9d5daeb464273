-- 0014: SnapTrade webhook deliveries become a durable inbox. A verified delivery is recorded here before
-- it is acknowledged, then applied from this row; a failure while applying leaves the row `failed` for a retry, so
-- a delivery is never lost to our own failure. The row also recognises SnapTrade's later retries of a delivery
-- (by webhook id, after the 300 s freshness window), and applied rows are purged once no retry can come.
-- Re-runnable: every step finds its object and leaves it as it is.

-- What the delivery was and where its application stands. Rows recorded before this migration were applied
-- (0009 recorded a delivery only to mark it applied), hence the `applied` default while the column is added; new
-- rows start `received`.
alter table public.snaptrade_webhook_events
  add column if not exists snaptrade_user_id text not null default '',
  add column if not exists payload jsonb not null default '{}'::jsonb,
  add column if not exists status text not null default 'applied',
  add column if not exists hint_only boolean not null default false,
  add column if not exists attempts integer not null default 0,
  add column if not exists last_error text,
  add column if not exists updated_at timestamptz not null default now(),
  add column if not exists applied_at timestamptz;

alter table public.snaptrade_webhook_events alter column status set default 'received';

-- Rows from before this migration: Tributary registers each user at SnapTrade under its own user id, so the
-- SnapTrade user a recorded delivery named is its user_id's text.
update public.snaptrade_webhook_events set snaptrade_user_id = user_id::text
where snaptrade_user_id = '' and user_id is not null;
update public.snaptrade_webhook_events set applied_at = received_at
where status = 'applied' and applied_at is null;

do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.snaptrade_webhook_events'::regclass and conname = 'snaptrade_webhook_events_status_check'
  ) then
    alter table public.snaptrade_webhook_events add constraint snaptrade_webhook_events_status_check
      check (status in ('received', 'applied', 'failed'));
  end if;
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.snaptrade_webhook_events'::regclass and conname = 'snaptrade_webhook_events_attempts_check'
  ) then
    alter table public.snaptrade_webhook_events add constraint snaptrade_webhook_events_attempts_check
      check (attempts >= 0);
  end if;
end $$;

-- A webhook id is scoped by the SnapTrade user the delivery names ('' for none): one user's delivery can never
-- block, or be taken for, another's. The key is text, not the nullable user_id, so a delivery naming a user this
-- database does not hold is still recorded once; Tributary's SnapTrade user id is its user id, so the key carries
-- the owner as a sharded deployment needs. The old key (webhook id alone) is replaced whatever its name.
do $$
declare
  current_key name;
  key_columns text[];
begin
  select c.conname, array(
           select a.attname::text from unnest(c.conkey) with ordinality as k(attnum, ord)
           join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
           order by k.ord)
  into current_key, key_columns
  from pg_catalog.pg_constraint c
  where c.conrelid = 'public.snaptrade_webhook_events'::regclass and c.contype = 'p';
  if key_columns is distinct from array['snaptrade_user_id', 'webhook_id'] then
    if current_key is not null then
      execute pg_catalog.format('alter table public.snaptrade_webhook_events drop constraint %I', current_key);
    end if;
    alter table public.snaptrade_webhook_events
      add constraint snaptrade_webhook_events_pkey primary key (snaptrade_user_id, webhook_id);
  end if;
end $$;

-- The retry job reads the deliveries not applied yet, oldest first; the purge reads applied ones by age.
create index if not exists idx_snaptrade_webhook_events_pending
  on public.snaptrade_webhook_events (received_at) where status <> 'applied';
create index if not exists idx_snaptrade_webhook_events_applied_at
  on public.snaptrade_webhook_events (applied_at) where status = 'applied';

-- Backend only, as in 0009: RLS on with no policy, nothing granted to the API roles; service_role (which bypasses
-- RLS) reads and writes it. The payload names accounts and connections, so it must stay out of the Data API.
alter table public.snaptrade_webhook_events enable row level security;
revoke all on public.snaptrade_webhook_events from anon, authenticated;
grant select, insert, update, delete on public.snaptrade_webhook_events to service_role;

comment on table public.snaptrade_webhook_events is
  'SnapTrade webhook inbox: each verified delivery recorded before it is acknowledged, applied from its row, retried on failure; keyed by SnapTrade user and webhook id';
comment on column public.snaptrade_webhook_events.hint_only is
  'signed but stale (outside the 300 s window) when first seen: applied as a resync of the user it names, never as a command';
