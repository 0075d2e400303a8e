"""sandbox/kucoin."""
