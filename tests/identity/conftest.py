"""The API tests' migrated template database, reused for the identity store tests."""

from __future__ import annotations

from tests.api.conftest import (  # noqa: F401  (fixtures, re-exported)
    admin,
    cheap_argon2,
    env,
    template_db,
)
