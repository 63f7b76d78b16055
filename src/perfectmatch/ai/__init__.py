"""AI layer: compatibility and profile analysis through OpenAI-compatible providers, with fallback."""
