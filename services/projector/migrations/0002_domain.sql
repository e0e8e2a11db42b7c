-- The crisis domain's read models. Every row keeps the recorded time of the event that wrote it, so each view can
-- answer "as the system knew it at as_of" by ignoring rows recorded later. Tables with `version_of` hold one row
-- set per version of a report: the original (version_of = event_id) and each correction of it (event_id = the
-- ReportCorrected); the current version as of a time is the latest recorded by then.

-- Incidents can be updated and merged into another.
ALTER TABLE incidents ADD COLUMN description text, ADD COLUMN merged_into text;

-- Every event's identity, so that corrections, retractions and verification changes can be checked against it.
CREATE TABLE facts (
    event_id     uuid PRIMARY KEY,
    incident_id  text NOT NULL,
    type         text NOT NULL,
    stream_seq   bigint NOT NULL,
    recorded_at  timestamptz NOT NULL
);

-- What happened to a fact later: corrected, retracted, verification changed (history rows, never updated).
CREATE TABLE fact_changes (
    event_id         uuid PRIMARY KEY,          -- the ReportCorrected / ReportRetracted / VerificationChanged
    target_event_id  uuid NOT NULL,
    incident_id      text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('corrected', 'retracted', 'verification')),
    status           text,                      -- the verification status it sets (retracted for retractions)
    reason           text,
    stream_seq       bigint NOT NULL,
    recorded_at      timestamptz NOT NULL
);
CREATE INDEX fact_changes_target ON fact_changes (target_event_id, recorded_at);

-- Events linked as cause and effect.
CREATE TABLE fact_links (
    event_id     uuid PRIMARY KEY,
    incident_id  text NOT NULL,
    cause        uuid NOT NULL,
    effect       uuid NOT NULL,
    explanation  text,
    recorded_at  timestamptz NOT NULL
);

-- An event's verification status as the system knew it at `as_of` (reported until something changed it).
CREATE FUNCTION verification_as_of(target uuid, as_of timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT COALESCE((
        SELECT status FROM fact_changes
        WHERE target_event_id = target AND kind IN ('verification', 'retracted') AND recorded_at <= as_of
        ORDER BY recorded_at DESC, stream_seq DESC LIMIT 1
    ), 'reported')
$$;

-- One row per figure per version of a casualty report.
CREATE TABLE casualty_figures (
    event_id      uuid NOT NULL,
    figure_index  integer NOT NULL,
    version_of    uuid NOT NULL,
    incident_id   text NOT NULL,
    type          text NOT NULL,
    category      text NOT NULL,
    value         integer,
    min           integer,
    max           integer,
    text          text,
    lower_bound   integer,
    upper_bound   integer,
    source        jsonb NOT NULL,
    reason        text,                         -- why this version replaced the previous one
    occurred_at   timestamptz NOT NULL,
    reported_at   timestamptz,
    recorded_at   timestamptz NOT NULL,
    stream_seq    bigint NOT NULL,
    PRIMARY KEY (event_id, figure_index)
);
CREATE INDEX casualty_figures_incident ON casualty_figures (incident_id, category);
CREATE INDEX casualty_figures_version ON casualty_figures (version_of);

-- Elections: held, results announced, annulled, certified.
CREATE TABLE election_events (
    event_id     uuid PRIMARY KEY,
    version_of   uuid NOT NULL,
    incident_id  text NOT NULL,
    type         text NOT NULL,
    election_id  text NOT NULL,
    payload      jsonb NOT NULL,
    source       jsonb NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    stream_seq   bigint NOT NULL
);
CREATE INDEX election_events_incident ON election_events (incident_id, election_id);
CREATE INDEX election_events_version ON election_events (version_of);

-- Detentions and releases, one row per event about one person.
CREATE TABLE detention_events (
    event_id     uuid PRIMARY KEY,
    version_of   uuid NOT NULL,
    incident_id  text NOT NULL,
    type         text NOT NULL,
    person_id    text NOT NULL,
    payload      jsonb NOT NULL,
    source       jsonb NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    stream_seq   bigint NOT NULL
);
CREATE INDEX detention_events_incident ON detention_events (incident_id, person_id);
CREATE INDEX detention_events_version ON detention_events (version_of);

-- Statements and observers' findings, by speaker.
CREATE TABLE statements (
    event_id     uuid PRIMARY KEY,
    version_of   uuid NOT NULL,
    incident_id  text NOT NULL,
    type         text NOT NULL,
    speaker_id   text NOT NULL,
    payload      jsonb NOT NULL,
    source       jsonb NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    stream_seq   bigint NOT NULL
);
CREATE INDEX statements_incident ON statements (incident_id, speaker_id);
CREATE INDEX statements_version ON statements (version_of);

-- Every mention of an actor (a registration is a mention with aliases and roles).
CREATE TABLE actor_mentions (
    event_id     uuid NOT NULL,
    actor_id     text NOT NULL,
    field        text NOT NULL,                 -- where in the payload, e.g. speaker, members.0
    incident_id  text NOT NULL,
    event_type   text NOT NULL,
    name         text NOT NULL,
    kind         text NOT NULL,
    role         text,
    aliases      text[] NOT NULL DEFAULT '{}',
    roles        jsonb NOT NULL DEFAULT '[]',
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    stream_seq   bigint NOT NULL,
    PRIMARY KEY (event_id, actor_id, field)
);
CREATE INDEX actor_mentions_actor ON actor_mentions (actor_id, stream_seq);
CREATE INDEX actor_mentions_incident ON actor_mentions (incident_id, actor_id);

-- Full-text search over every string of an event (the timeline's `q`).
CREATE INDEX event_log_text ON event_log USING gin (jsonb_to_tsvector('simple', envelope, '["string"]'));
CREATE INDEX event_log_source ON event_log (incident_id, source_name);
