"""Shared test settings."""

import os

from hypothesis import HealthCheck, settings

# Benchmarks are scripts run by hand, never collected as tests.
collect_ignore = ["bench"]

# CI runs a fixed, modest number of examples per property so the suite stays within minutes.
# derandomize: a CI verdict must not depend on the luck of the draw; local runs keep exploring.
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
