-- Rows that keep a payload record the payload's schema_version, so that a reader brings an old row up to the
-- current shape through the same upcasters as the stream (schemas/upcasting.py), without a replay. Every row
-- written so far holds version 1, the only version of every type until now; from here on the writer says.
ALTER TABLE election_events ADD COLUMN schema_version integer NOT NULL DEFAULT 1;
ALTER TABLE detention_events ADD COLUMN schema_version integer NOT NULL DEFAULT 1;
ALTER TABLE statements ADD COLUMN schema_version integer NOT NULL DEFAULT 1;
ALTER TABLE election_events ALTER COLUMN schema_version DROP DEFAULT;
ALTER TABLE detention_events ALTER COLUMN schema_version DROP DEFAULT;
ALTER TABLE statements ALTER COLUMN schema_version DROP DEFAULT;
