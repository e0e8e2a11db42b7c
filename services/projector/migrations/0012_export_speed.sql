-- Every event whose verification status something changed by a recorded time, with its status then, by
-- verification_as_of's own rule: one set for an export to join (a function call per exported row cost it a third
-- of its statement's time). An event not in the set is as reported: verification_as_of's default.
CREATE FUNCTION verifications_as_of(as_of timestamptz) RETURNS TABLE (event_id uuid, status text)
LANGUAGE sql STABLE AS $$
    SELECT target_event_id, verification_as_of(target_event_id, as_of)
    FROM (
        SELECT DISTINCT target_event_id FROM fact_changes
        WHERE kind IN ('verification', 'retracted') AND recorded_at <= as_of
    ) AS changed
$$;
