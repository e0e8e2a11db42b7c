-- Projector operations: dedupe by event id, dead-letter decisions.

-- The events each projection applied, by id: the same event published twice (a client retry after
-- JetStream's duplicate window) is applied once. Written in the same transaction as the rows.
CREATE TABLE processed_events (
    projection  text NOT NULL,
    event_id    uuid NOT NULL,
    stream_seq  bigint NOT NULL,
    PRIMARY KEY (projection, event_id)
);

-- An operator's decision on a dead letter: 'open' until retried (and applied) or discarded.
ALTER TABLE dead_letters
    ADD COLUMN status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'retried', 'discarded')),
    ADD COLUMN resolved_at timestamptz,
    ADD COLUMN note        text;
