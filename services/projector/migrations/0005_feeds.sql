-- Feeds for other services (issue 6).

-- The live feed reads an incident's entries after a stream sequence, in stream order.
CREATE INDEX event_log_live ON event_log (incident_id, stream_seq);

-- Webhooks: endpoints registered per incident (NULL: every incident) and event types (empty: every type).
-- A delivery worker, apart from the projections, queues matching event_log rows and posts them signed.
CREATE TABLE webhooks (
    id            bigserial PRIMARY KEY,
    url           text NOT NULL,
    incident_id   text,
    event_types   text[] NOT NULL DEFAULT '{}',
    secret        text NOT NULL,              -- the shared HMAC-SHA256 key
    queued_to     bigint NOT NULL DEFAULT 0,  -- event_log rows up to this stream sequence are queued
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    webhook_id       bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    stream_seq       bigint NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    last_error       text,
    PRIMARY KEY (webhook_id, stream_seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL;
