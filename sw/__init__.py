"""Software side of rramlsm: event data, RRAM device model, LSM, training, export."""

__all__: list[str] = []
