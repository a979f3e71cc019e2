"""Licence tokens: how a licensed partner proves it may fetch what the rules hold back."""
