"""An endpoint's traffic split as Vertex AI requires it: integer percentages that add up to exactly 100.

``DeployModelRequest.traffic_split`` names the model being deployed ``"0"`` and every other key is an
existing DeployedModel ID; ``UndeployModelRequest.traffic_split`` must take all traffic off the model that
goes (``aiplatform_v1``'s field documentation). Google's SDK rescales with ``int()`` and then hands the
shortfall out one point at a time in dict order; we apportion by largest remainder, ties broken by ID, so the
result is proportional, deterministic and sums to exactly 100.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from adapters._errors import SpecError

__all__ = ["NEW_MODEL", "apportion", "split_for_deploy", "split_for_undeploy"]

#: The key ``DeployModelRequest.traffic_split`` gives the model being deployed.
NEW_MODEL = "0"


def apportion(weights: Mapping[str, int], total: int) -> dict[str, int]:
    """Non-negative integers proportional to ``weights`` that add up to exactly ``total``.

    Largest remainder (Hamilton); equal weights stand in when every weight is 0, so that ``total`` is
    always handed out. An empty ``weights`` gives ``{}``.
    """
    if not weights:
        return {}
    if any(w < 0 for w in weights.values()):
        raise ValueError(f"traffic weights must not be negative, got {dict(weights)!r}")
    if sum(weights.values()) == 0:
        weights = dict.fromkeys(weights, 1)
    whole = sum(weights.values())
    shares = {k: total * w // whole for k, w in weights.items()}
    remainders = {k: total * w % whole for k, w in weights.items()}
    shortfall = total - sum(shares.values())
    for key in sorted(weights, key=lambda k: (-remainders[k], k))[:shortfall]:
        shares[key] += 1
    return shares


def split_for_deploy(
    current: Mapping[str, int], deployed: Iterable[str], percentage: int, endpoint: str
) -> dict[str, int]:
    """The ``traffic_split`` of a deploy at ``percentage`` next to the ``deployed`` models.

    The others share ``100 - percentage`` in proportion to what they carry now. An endpoint where no model
    carries traffic can only take the new model at 100% (as Google's SDK insists too): SpecError otherwise.
    """
    others = {d: int(current.get(d, 0)) for d in deployed}
    if percentage != 100 and sum(others.values()) == 0:
        where = "has no deployed model" if not others else "has no deployed model carrying traffic"
        raise SpecError(
            f"traffic_percentage={percentage} needs other models serving on the endpoint; {endpoint} "
            f"{where}, so the model must take 100% (traffic_percentage=100)"
        )
    return {NEW_MODEL: percentage, **apportion(others, 100 - percentage)}


def split_for_undeploy(current: Mapping[str, int], remaining: Iterable[str]) -> dict[str, int]:
    """The ``traffic_split`` that hands the leaving model's traffic to the ``remaining`` models.

    In proportion to what they carry now (evenly if none carries any); ``{}`` when none remains.
    """
    return apportion({d: int(current.get(d, 0)) for d in remaining}, 100)
