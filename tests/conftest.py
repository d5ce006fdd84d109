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
# Long fuzzing by hand (tests/test_fuzz.py): HYPOTHESIS_PROFILE=fuzz python -m pytest
# tests/test_fuzz.py, or --hypothesis-profile=fuzz; FUZZ_EXAMPLES sets the examples per property.
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "2000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)
