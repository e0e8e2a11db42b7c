-- Analysts' queries across incidents (issue 13): where an event happened as columns, full-text search across
-- scripts and diacritics, and the indexes the cross-incident filters and sorts walk.

-- Full-text search that finds "Jeenbekov" in "Jeenbékov" and a Cyrillic alias as written: the `simple`
-- configuration (no stemming, no stop words: reports come in many languages) behind `unaccent`. unaccent is a
-- trusted extension: the database owner who migrates may create it.
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE TEXT SEARCH CONFIGURATION crisis_search (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION crisis_search
    ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH unaccent, simple;

-- What a search reads of an event: every string of its envelope (descriptions, quotes, titles, the names of the
-- actors and places it names, an ActorRegistered's aliases, the source). One home, for the vector and the snippet.
CREATE FUNCTION event_text(envelope jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT string_agg(item #>> '{}', ' ')
    FROM jsonb_path_query(envelope, 'strict $.** ? (@.type() == "string")') AS item
$$;

-- An actor's other names, searchable: events that name the actor by id are found by any of them.
CREATE FUNCTION actor_aliases_text(aliases text[]) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_to_string(aliases, ' ')
$$;

-- The events retracted as of a recorded time, by verification_as_of's rule: what trends leave out, as one set to
-- anti-join (a function call per counted event cost a year of a country's weekly counts 160 ms of 185).
CREATE FUNCTION retracted_as_of(as_of timestamptz) RETURNS SETOF uuid LANGUAGE sql STABLE AS $$
    SELECT DISTINCT target_event_id FROM fact_changes
    WHERE kind = 'retracted' AND recorded_at <= as_of AND verification_as_of(target_event_id, as_of) = 'retracted'
$$;

-- Generated, so the projector writes nothing new and a replay rebuilds them.
ALTER TABLE event_log
    ADD COLUMN country text GENERATED ALWAYS AS (envelope #>> '{location,country}') STORED,
    ADD COLUMN place text GENERATED ALWAYS AS (envelope #>> '{location,name}') STORED,
    ADD COLUMN admin_area text GENERATED ALWAYS AS (envelope #>> '{location,admin_area}') STORED,
    ADD COLUMN lat double precision GENERATED ALWAYS AS ((envelope #>> '{location,lat}')::double precision) STORED,
    ADD COLUMN lon double precision GENERATED ALWAYS AS ((envelope #>> '{location,lon}')::double precision) STORED,
    ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('crisis_search', event_text(envelope))) STORED;

-- The timeline's `q` reads the new vector: the old expression index has no reader left.
DROP INDEX event_log_text;
CREATE INDEX event_log_search ON event_log USING gin (search);
CREATE INDEX actor_mentions_aliases ON actor_mentions USING gin (to_tsvector('crisis_search', actor_aliases_text(aliases)))
    WHERE aliases <> '{}';

-- Cross-incident lists sort by (occurred_at, stream_seq); the common filters lead their own index in that order.
-- A country's index also carries what trends count by (type, incident, the id verification is looked up by), so a
-- year of a country's weekly counts is an index-only scan: its events lie on as many heap pages as there are events.
CREATE INDEX event_log_occurred ON event_log (occurred_at, stream_seq);
CREATE INDEX event_log_country ON event_log (country, occurred_at, stream_seq) INCLUDE (type, incident_id, event_id);
CREATE INDEX event_log_type_occurred ON event_log (type, occurred_at, stream_seq);
CREATE INDEX event_log_source_kind ON event_log (source_kind, occurred_at, stream_seq);
CREATE INDEX event_log_place ON event_log (lower(place));
CREATE INDEX event_log_admin_area ON event_log (lower(admin_area));
CREATE INDEX event_log_position ON event_log (lat, lon) WHERE lat IS NOT NULL;
