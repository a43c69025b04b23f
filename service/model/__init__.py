"""The served model: `holder` loads and self-checks it and says why when it cannot serve;
`refresh` swaps in a new champion when the registry alias moves."""
