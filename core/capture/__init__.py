"""Capture: broker events as JSON lines for Logstash, a subsystem the engine never imports
(core/README.md: how the ports wire it in)."""
