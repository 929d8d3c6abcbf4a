"""Root conftest: what the project's own test suite needs."""

pytest_plugins = ["pytester"]

# TOML files under tests/data are test inputs, not cases to collect
collect_ignore = ["tests/data"]
