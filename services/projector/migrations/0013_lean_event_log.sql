-- event_log's INSERT was about 78% of a catch-up's statement time (issue 11): its search vector and 15 indexes.
-- This keeps what the query service's plans read and drops the rest (docs/performance.md, "event_log's insert").

-- The search vector and its snippet read what a reader searches for: the payload, the place, the source. Not the
-- envelope's ids, times, type, incident and bookkeeping: an event id, a timestamp or a correlation id parses into
-- lexemes of their own (about 25 of an event's 55), nearly all new to the index, so the GIN index's entry tree grew
-- with every event and cost more to insert into the larger it got; the type and incident have their own filters.
ALTER TABLE event_log DROP COLUMN search;  -- its index with it
CREATE OR REPLACE FUNCTION event_text(envelope jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT string_agg(item #>> '{}', ' ')
    FROM jsonb_path_query(
        envelope - '{event_id,type,schema_version,incident_id,occurred_at,occurred_precision,reported_at,recorded_at,recorded_by,correlation_id,causation_id}'::text[],
        'strict $.** ? (@.type() == "string")'
    ) AS item
$$;
ALTER TABLE event_log ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('crisis_search', event_text(envelope))) STORED;
CREATE INDEX event_log_search ON event_log USING gin (search);

-- No plan reads these: a source kind is a quarter of the events (the planner walks event_log_occurred and
-- filters); an incident's events by source are found through event_log_timeline, which leads with the incident.
DROP INDEX event_log_source_kind;
DROP INDEX event_log_source;

-- An incident's events of one type in time order (the timeline's `type`): (incident_id, type) found a rare type's
-- rows but left them to be sorted, and a common type's timeline walked event_log_timeline dropping the others; this
-- one walks straight to the page's rows, for about the same upkeep.
DROP INDEX event_log_type;
CREATE INDEX event_log_timeline_type ON event_log (incident_id, type, occurred_at, stream_seq);
