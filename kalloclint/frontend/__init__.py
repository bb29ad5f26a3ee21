"""Front end: macro rewrite, tree-sitter parsing, and extraction of per-file facts."""
