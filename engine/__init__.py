"""TransferLab engine: data loading, models, transfer strategies, training and prediction.

Everything here that touches torch/transformers/peft imports them lazily, so the light
modules (``errors``, ``workspace``, ``data``, ``catalog``, ``rundir``, ``config``) can be
imported by the Streamlit pages without loading torch.
"""
