"""The call-queue server of a 12345 government-service hotline, beside an Asterisk PBX."""

__version__ = "0.1.0"
