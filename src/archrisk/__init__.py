"""archrisk: how much security risk does a neural-network architecture carry, and why."""
__version__ = "0.1.0"
