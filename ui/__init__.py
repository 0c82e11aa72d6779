"""Shared dashboard widgets and plotly figure builders.

Figure builders are pure functions of plain data (dicts, lists, DataFrames) so they can be
tested without Streamlit. Nothing here imports torch, transformers or peft.
"""
