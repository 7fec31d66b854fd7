"""Wire formats: OpenAI (the canonical form inside Steward) and Anthropic. Pure, no I/O."""
