"""Supervised training with a mixer: config schema (``config``), driver (``run``), mixer table
(``compare``)."""
