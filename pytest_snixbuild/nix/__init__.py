"""Nix formats: nixbase32, store paths, derivations (ATerm and JSON) and their hashes."""
