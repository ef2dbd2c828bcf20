"""dsdm_engine package."""
