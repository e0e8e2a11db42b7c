-- The analysts' commonest page (issue 13): a country's events of one type in a time window, newest or oldest
-- first. With the country's index alone PostgreSQL walked the window and dropped the other types' rows; this one
-- walks straight to the page's rows in their order. It carries what trends read of a country's casualty reports
-- (incident, event id), so that those are an index-only scan too.
CREATE INDEX event_log_country_type ON event_log (country, type, occurred_at, stream_seq) INCLUDE (incident_id, event_id);

-- An event's verification status as of a recorded time, as a one-row table function: PostgreSQL inlines it into
-- a view's statement (`CROSS JOIN LATERAL verification_at(id, as_of)`), one index probe per row, where the scalar
-- verification_as_of (a subquery, so never inlined) ran the SQL-function executor per row: about 5x slower, and a
-- year of a country's casualty figures paid it 573 times at 200k events. The rule stays in one place: the scalar
-- function is now this one, read for one event.
CREATE FUNCTION verification_at(target uuid, as_of timestamptz) RETURNS TABLE (verification text)
LANGUAGE sql STABLE ROWS 1 AS $$
    SELECT COALESCE((
        SELECT status FROM fact_changes
        WHERE target_event_id = target AND kind IN ('verification', 'retracted') AND recorded_at <= as_of
        ORDER BY recorded_at DESC, stream_seq DESC LIMIT 1
    ), 'reported')
$$;

CREATE OR REPLACE FUNCTION verification_as_of(target uuid, as_of timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT verification FROM verification_at(target, as_of)
$$;
