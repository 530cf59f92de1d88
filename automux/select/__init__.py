"""select: problem profile + human constraints -> a ranked, explained choice of backend."""
from .profile import Profile, profile
from .rules import HARD_RULES, SOFT_RULES, Constraints, Rule
from .selector import Selection, rank, select

__all__ = ["Profile", "profile", "Constraints", "Rule", "HARD_RULES", "SOFT_RULES", "Selection", "rank", "select"]
