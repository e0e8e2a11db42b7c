-- The UTC offset the source gave with each time, in minutes: a timestamptz keeps the instant only, and a
-- day-precision event at local midnight (2021-03-19T00:00:00+06:00) must read as the source's day, not the
-- evening before in UTC. Rows written before this migration have none and read in UTC until a replay.
ALTER TABLE casualty_figures ADD COLUMN occurred_offset_min integer, ADD COLUMN reported_offset_min integer;
ALTER TABLE election_events ADD COLUMN occurred_offset_min integer;
ALTER TABLE detention_events ADD COLUMN occurred_offset_min integer;
ALTER TABLE statements ADD COLUMN occurred_offset_min integer;
ALTER TABLE actor_mentions ADD COLUMN occurred_offset_min integer;

-- Whom a casualty figure counts (CasualtiesReported version 2): figures of different groups never compete in one
-- range. Rows written before counted everyone the source counted.
ALTER TABLE casualty_figures ADD COLUMN casualty_group text NOT NULL DEFAULT 'total';
