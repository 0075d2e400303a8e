"""Pure domain: no I/O, stdlib only."""
