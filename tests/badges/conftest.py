from tests.recertification.fixtures import credly, env  # noqa: F401 - fixtures
