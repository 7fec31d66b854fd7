"""The request pipeline: an ordered chain of small stages over a typed call context."""
