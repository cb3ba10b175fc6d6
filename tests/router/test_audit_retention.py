"""The audit file rotates daily and keeps audit.retention_days old files."""
import logging

import pytest

from router.config import RouterConfig
from router.errors import ConfigError
from router.logs import AUDIT_LOGGER, AuditLog, setup_logging


@pytest.fixture
def restore_logging():
    root, audit = logging.getLogger(), logging.getLogger(AUDIT_LOGGER)
    saved = (list(root.handlers), root.level, list(audit.handlers), audit.propagate, audit.level)
    yield
    for h in audit.handlers:
        h.close()
    root.handlers[:], root.level = saved[0], saved[1]
    audit.handlers[:], audit.propagate, audit.level = saved[2], saved[3], saved[4]


def test_old_audit_files_beyond_retention_are_removed(tmp_path, restore_logging):
    path = tmp_path / "audit.log"
    setup_logging("INFO", True, str(path), audit_retention_days=2)
    for day in range(1, 6):   # five older daily files
        (tmp_path / f"audit.log.2026-01-0{day}").write_text("old\n")
    AuditLog().record("verify", key_id="k1", result="accept", user_id="u1")
    handler = logging.getLogger(AUDIT_LOGGER).handlers[0]
    handler.doRollover()
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert len([n for n in kept if n.startswith("audit.log.")]) == 2 and "audit.log" in kept
    assert "audit.log.2026-01-01" not in kept


def test_retention_setting_is_validated():
    assert RouterConfig.from_dict({"audit": {"retention_days": 30}, "auth": {"enabled": False}}).audit.retention_days == 30
    with pytest.raises(ConfigError, match="audit.retention_days"):
        RouterConfig.from_dict({"audit": {"retention_days": -1}, "auth": {"enabled": False}})
