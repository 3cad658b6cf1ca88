"""Reliability under real faults: real sockets, chaos, properties, fuzzing, soak, security."""
