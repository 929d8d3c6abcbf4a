"""Root conftest: what the project's own test suite needs."""

pytest_plugins = ["pytester"]
