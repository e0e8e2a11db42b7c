-- Dedupe once per event, not once per read model: read models fed together share one record of the event ids
-- applied (the first stream sequence that held each id). Existing per-projection rows collapse into it.

CREATE TABLE processed_event_ids (
    event_id    uuid PRIMARY KEY,
    stream_seq  bigint NOT NULL     -- the first sequence that held this id: a later copy is a duplicate
);
INSERT INTO processed_event_ids (event_id, stream_seq)
    SELECT event_id, min(stream_seq) FROM processed_events GROUP BY event_id;
DROP TABLE processed_events;
ALTER TABLE processed_event_ids RENAME TO processed_events;
ALTER INDEX processed_event_ids_pkey RENAME TO processed_events_pkey;
