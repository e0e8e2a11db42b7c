-- Every write to a table the query service answers from NOTIFYs crisis_read_models, delivered at COMMIT: the query
-- service's answer cache (services/query/answer_cache.py) drops what it holds. Not only the projector's writes
-- (which also announce their checkpoints): a replay's swap-in, `crisis purge`, a dead letter retried, an
-- operator's hand-made fix. One notification per statement, and PostgreSQL folds a transaction's identical ones.
-- A replay's shadow tables are made without it (their writes are no reader's); the swap-in adds it to them.
CREATE FUNCTION announce_read_models_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('crisis_read_models', '');
    RETURN NULL;
END
$$;

DO $$
DECLARE
    watched text;
BEGIN
    FOREACH watched IN ARRAY ARRAY[
        'event_log', 'incidents', 'facts', 'fact_changes', 'fact_links', 'casualty_figures', 'election_events',
        'detention_events', 'statements', 'actor_mentions', 'projection_checkpoints'
    ] LOOP
        EXECUTE format(
            'CREATE TRIGGER announce_read_models_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
            'FOR EACH STATEMENT EXECUTE FUNCTION announce_read_models_changed()',
            watched
        );
    END LOOP;
END
$$;
