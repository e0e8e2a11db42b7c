-- The projector's bookkeeping and the first two read models.

CREATE TABLE projection_checkpoints (
    projection  text PRIMARY KEY,
    last_seq    bigint NOT NULL DEFAULT 0,      -- last stream sequence applied (or dead-lettered)
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    projection  text NOT NULL,
    stream_seq  bigint NOT NULL,
    subject     text NOT NULL,
    headers     jsonb NOT NULL DEFAULT '{}',
    payload     bytea NOT NULL,
    error       text NOT NULL,
    attempts    integer NOT NULL DEFAULT 1,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (projection, stream_seq)
);

-- Every event as the stream holds it.
CREATE TABLE event_log (
    stream_seq      bigint PRIMARY KEY,
    event_id        uuid NOT NULL UNIQUE,
    subject         text NOT NULL,
    type            text NOT NULL,
    schema_version  integer NOT NULL,
    incident_id     text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    reported_at     timestamptz,
    recorded_at     timestamptz NOT NULL,
    source_name     text NOT NULL,
    source_kind     text NOT NULL,
    correlation_id  text,
    envelope        jsonb NOT NULL            -- the whole event, payload under "data"
);
CREATE INDEX event_log_timeline ON event_log (incident_id, occurred_at, stream_seq);
CREATE INDEX event_log_type ON event_log (incident_id, type);

-- One row per incident: what a list of incidents shows.
CREATE TABLE incidents (
    incident_id         text PRIMARY KEY,
    title               text,
    status              text,
    event_count         integer NOT NULL DEFAULT 0,
    counts_by_type      jsonb NOT NULL DEFAULT '{}',
    first_occurred_at   timestamptz NOT NULL,
    last_occurred_at    timestamptz NOT NULL,
    last_position       bigint NOT NULL,
    updated_at          timestamptz NOT NULL
);
