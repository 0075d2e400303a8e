"""kucoin."""
