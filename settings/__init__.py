"""One configuration mechanism for every component: typed dataclass sections, values coerced from their type
hints (file values arrive typed, environment values as strings), unknown keys refused, then each section's own
`validate()`; environment names derived from the dotted keys (`VOIMID_<SECTION>_<KEY>`)."""
from settings.env import apply_variables, derived_names, unknown_variables
from settings.files import read_file
from settings.typed import build, coerce, mapping, reject_unknown

__all__ = ["build", "coerce", "mapping", "reject_unknown", "derived_names", "unknown_variables", "apply_variables",
           "read_file"]
