"""Where the directions declared in the feature registry come from.

Each is a direction the literature gives, stated once with its source; the registry attaches
them to features and training turns them into LightGBM monotone constraints.
"""

from __future__ import annotations


def directions(source: str, **by_outcome: int) -> dict[str, object]:
    """The keyword arguments of a `FeatureSpec` that declare these directions and their source."""
    return {"directions": tuple(by_outcome.items()), "direction_source": source}


ALLIANCE_LEVEL = (
    "A better alliance goes with less dropout (Sharf, Primavera & Diener 2010, Psychotherapy "
    "47(4): d = 0.55) and a poor initial alliance with violence on psychiatric wards "
    "(Beauford, McNiel & Binder 1997, Am J Psychiatry 154(9))"
)
RUPTURE = (
    "Unrepaired alliance ruptures go with dropout and poorer outcome; repaired ones with better "
    "outcome (Safran, Muran & Eubanks-Carter 2011, Psychotherapy 48(1)); a poorer alliance "
    "goes with violence (Beauford et al. 1997)"
)
ATTENDANCE = (
    "Missed appointments go with premature ending (e.g. Yang & Jin 2020, Taiwanese J "
    "Psychiatry 34(2)); dropouts often stop attending before their ending is recorded"
)
VIOLENCE_HISTORY = (
    "Past violence and current substance misuse are among the strongest risk factors for "
    "violence (Witt, van Dorn & Fazel 2013, PLoS One 8(2): e55942)"
)

#: Outcomes recorded only while a client is in care: incidents. A client who stops
#: attending has fewer days on which one could be recorded, so attendance's association
#: with them is the record's, not the client's ("missed a session; this lowers the violence
#: risk" would mislead). Attendance stays in the model and the waterfall, never a reason.
RECORDED_ONLY_IN_CARE = ("violence",)
