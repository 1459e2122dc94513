"""Turning articles into indexed sentences: load, find junk, split, attribute speakers, embed, store."""
