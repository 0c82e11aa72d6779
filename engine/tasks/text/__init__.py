"""Texts: transformer backbones (BERT- and GPT-style), tokenised batches, pooled features."""
