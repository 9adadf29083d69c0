import pytest


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """The accounts suite runs on SQLite and on PostgreSQL."""
    return str(request.param)
