-- Feeds for other services (issue 6).

-- The live feed reads an incident's entries after a stream sequence, in stream order.
CREATE INDEX event_log_live ON event_log (incident_id, stream_seq);
