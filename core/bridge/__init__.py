"""Bridges to upstream brokers (mosquitto.conf `connection` sections): a subsystem the engine
never imports; the ports wire it in at start-up (core/README.md)."""
