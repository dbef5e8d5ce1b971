"""The simulator's own error."""


class SimulationError(ValueError):
    """The simulator reached an impossible state (negative book size, NaN price, ...); it stops
    there, and nothing after that state is emitted."""
