-- A checkpoint per read model and partition of the stream (CRISIS_STREAM_PARTITIONS): each partition's projector
-- moves its own. An unpartitioned stream is partition 0 of 1, so existing checkpoints keep their meaning.
-- Dedupe stays one record per event id (processed_events): an id is applied once whichever partition holds it.

ALTER TABLE projection_checkpoints ADD COLUMN partition smallint NOT NULL DEFAULT 0;
ALTER TABLE projection_checkpoints DROP CONSTRAINT projection_checkpoints_pkey;
ALTER TABLE projection_checkpoints ADD PRIMARY KEY (projection, partition);
