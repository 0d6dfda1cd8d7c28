"""Fixtures for the credit tests live in credit_fixtures (a unique module name avoids conftest clashes)."""

from credit_fixtures import *  # noqa: F403
