"""One module per schema revision, oldest first: 0001 is kukey 0.1's schema."""
