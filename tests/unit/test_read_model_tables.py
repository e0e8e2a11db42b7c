from services.projector.read_models import PROJECTIONS


def test_no_two_read_models_own_a_table_of_the_same_name() -> None:
    """A replay's feed finds every read model's tables in its shadow through one search path, which leads with all
    the run's shadow schemas (shadow.py): a name two of them used would lead both to one shadow's table."""
    tables = [table for projection in PROJECTIONS.values() for table in projection.tables]
    assert len(tables) == len(set(tables)), tables
