"""Routing: public model names to provider targets."""
