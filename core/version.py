"""Name and version of the broker, shown in logs, -h and $SYS/broker/version."""

NAME = "mqtt-edge broker"
VERSION = "0.1.0"
