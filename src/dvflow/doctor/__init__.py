"""``dvflow doctor``: the project checked against the guide's practices, one registered
check each (``registry.check``), with what is safe repaired by ``--fix``."""

from dvflow.doctor.examination import CheckResult, DoctorReport, run_doctor
from dvflow.doctor.registry import CHECKS, Problem, check

__all__ = ["CHECKS", "CheckResult", "DoctorReport", "Problem", "check", "run_doctor"]
