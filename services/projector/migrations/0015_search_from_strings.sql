-- The search vector made from the envelope's strings themselves (jsonb_to_tsvector), not from their text joined
-- by event_text() and parsed again: the same lexemes for every event, at about a quarter less of event_log's
-- INSERT, the largest statement of a catch-up (issue 11, docs/performance.md). The positions differ: each string
-- value is a phrase of its own, so a quoted phrase no longer matches across two values (the end of a quote and the
-- start of the next field).

-- What a search reads of an event, one home for the vector and the snippet (event_text): every string of its
-- envelope but the bookkeeping (ids, times, type, incident: see 0013_lean_event_log.sql for why).
CREATE FUNCTION searched_envelope(envelope jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT envelope - '{event_id,type,schema_version,incident_id,occurred_at,occurred_precision,reported_at,recorded_at,recorded_by,correlation_id,causation_id}'::text[]
$$;
CREATE OR REPLACE FUNCTION event_text(envelope jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT string_agg(item #>> '{}', ' ')
    FROM jsonb_path_query(searched_envelope(envelope), 'strict $.** ? (@.type() == "string")') AS item
$$;

ALTER TABLE event_log DROP COLUMN search;  -- its index with it
ALTER TABLE event_log ADD COLUMN search tsvector
    GENERATED ALWAYS AS (jsonb_to_tsvector('crisis_search', searched_envelope(envelope), '["string"]')) STORED;
CREATE INDEX event_log_search ON event_log USING gin (search);
