"""Push declarations: every event the server pushes has one name constant and one payload model.

Declare a push next to its domain's models (``models/<domain>.py``)::

    MY_RESPONSE = Push("my_response", ChatResponse)

and emit it through the one emitter: ``await emitter.push(MY_RESPONSE, ChatResponse(data=...), to=room)``.
Every declaration registers itself in ``ALL_PUSHES`` (what the docs test reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

ALL_PUSHES: dict[str, Push[Any]] = {}


@dataclass(frozen=True, slots=True)
class Push(Generic[M]):
    """A pushed event: its name and the model of its payload.

    ``omit_none`` leaves out fields whose value is None (for compatibility shapes whose keys are sometimes absent).
    ``bare`` sends the value of the model's one field instead of an object, or no data at all when the model has
    no field (Dowell pushes such as ``callAccepted``'s raw signal and ``callEnded``'s empty push).
    """

    name: str
    model: type[M]
    omit_none: bool = False
    bare: bool = False

    def __post_init__(self) -> None:
        known = ALL_PUSHES.get(self.name)
        if known is not None and known.model is not self.model:
            raise ValueError(f"push {self.name!r} is declared twice with different models")
        ALL_PUSHES[self.name] = self

    def dump(self, payload: M | dict[str, Any]) -> Any:
        """Return ``payload`` validated against the model, as JSON-ready data (its one value when ``bare``)."""
        if isinstance(payload, dict):
            payload = self.model.model_validate(payload)
        elif not isinstance(payload, self.model):
            payload = self.model.model_validate(payload.model_dump())
        data = payload.model_dump(mode="json", exclude_none=self.omit_none)
        if not self.bare:
            return data
        if len(data) > 1:
            raise ValueError(f"bare push {self.name!r} has more than one field")
        return next(iter(data.values()), None)
