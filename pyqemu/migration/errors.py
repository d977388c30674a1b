"""The one error savevm/loadvm/delvm report (HMP prints it after ``Error: ``)."""

from __future__ import annotations


class MigrationError(Exception):
    pass
