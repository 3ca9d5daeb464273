-- 0020: where each consumer of a provider's event stream stands. Alpaca's trade event stream
-- (`GET /v2/events/trades`) is resumed from the last event id applied (`since_id`); that id is stored here, written
-- in the same transaction as the order update the event made, so a crash never applies an event twice nor loses
-- one. One row per stream, named by the consumer (`alpaca/trade-events` and the like).
-- Re-runnable: every step finds its object and leaves it as it is.

create table if not exists public.event_stream_positions (
  stream_name text not null,
  last_event_id text not null,
  updated_at timestamptz not null default now(),
  constraint event_stream_positions_pkey primary key (stream_name)
);

do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.event_stream_positions'::regclass and conname = 'event_stream_positions_stream_name_check'
  ) then
    -- A name is short printable text: it is chosen by the service, never taken from a provider.
    alter table public.event_stream_positions add constraint event_stream_positions_stream_name_check
      check (pg_catalog.length(stream_name) between 1 and 100 and stream_name !~ '[[:cntrl:]]');
  end if;
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.event_stream_positions'::regclass and conname = 'event_stream_positions_last_event_id_check'
  ) then
    -- Alpaca's event ids are ULIDs (26 characters); room is left for other providers' ids, not for a payload.
    alter table public.event_stream_positions add constraint event_stream_positions_last_event_id_check
      check (pg_catalog.length(last_event_id) between 1 and 200 and last_event_id !~ '[[:cntrl:]]');
  end if;
end $$;

-- Backend only, as the webhook inbox (0014): RLS on with no policy, nothing granted to the API roles. The
-- positions are the service's bookkeeping across users; no user owns a row.
alter table public.event_stream_positions enable row level security;
revoke all on public.event_stream_positions from anon, authenticated;
grant select, insert, update, delete on public.event_stream_positions to service_role;

comment on table public.event_stream_positions is
  'Last event id applied from each provider event stream (Alpaca trade events), written with the changes the event made';
