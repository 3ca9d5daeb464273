-- 0009: what the sync engine needs beyond the design's schema. Re-runnable: every statement finds its object and
-- leaves it as it is.

-- SnapTrade webhook deliveries already applied, by webhook id: a replay (SnapTrade's retry, a delivery seen by
-- another process, or after a restart) is acknowledged and not applied twice. Written by the backend only.
create table if not exists public.snaptrade_webhook_events (
  webhook_id text not null,
  event_type text not null,
  -- The Tributary user the event names, when it names one that exists; the row goes with the user.
  user_id uuid,
  received_at timestamptz not null default now(),
  constraint snaptrade_webhook_events_pkey primary key (webhook_id),
  constraint snaptrade_webhook_events_user_id_fkey foreign key (user_id) references auth.users (id) on delete cascade
);

create index if not exists idx_snaptrade_webhook_events_user_id on public.snaptrade_webhook_events (user_id);
create index if not exists idx_snaptrade_webhook_events_received_at
  on public.snaptrade_webhook_events (received_at);

-- Backend only: RLS on with no policy for the API roles, and their default privileges (from Supabase's default
-- grants) revoked, so anon and authenticated can neither see nor write a row. service_role bypasses RLS.
alter table public.snaptrade_webhook_events enable row level security;
revoke all on public.snaptrade_webhook_events from anon, authenticated;
grant select, insert, update, delete on public.snaptrade_webhook_events to service_role;

comment on table public.snaptrade_webhook_events is
  'SnapTrade webhook deliveries already applied, by webhook id (replays are acknowledged, not applied twice)';
