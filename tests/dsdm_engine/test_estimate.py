"""The one featurisation cost estimate (dry run, app, launcher): it scales as the job does."""

import pytest

from dsdm_engine import estimate


def test_featurize_estimate_scales_with_pool_models_and_device():
    small = estimate.estimate_featurize(n_tokens=128_000, n_models=1, k=1024, preset="small")
    from dsdm_engine.compute.featurize.store import bytes_per_row

    assert small["n_chunks"] == 1000 and small["feature_bytes"] == 1000 * (1024 * 2 + 8)
    assert small["bytes_per_doc"] == 1024 * 2 + 8 == bytes_per_row(1024, "float16")
    f32 = estimate.estimate_featurize(n_tokens=128_000, n_models=1, k=1024, store="float32")
    assert f32["bytes_per_doc"] == 1025 * 4 == bytes_per_row(1024, "float32")
    big = estimate.estimate_featurize(n_tokens=128_000, n_models=4, k=1024, preset="small")
    assert big["feature_bytes"] == 4 * small["feature_bytes"]
    assert big["seconds"] == pytest.approx(4 * small["seconds"])
    gpu = estimate.estimate_featurize(n_tokens=128_000, n_models=4, k=1024, device="cuda")
    assert gpu["seconds"] < big["seconds"]
    assert estimate.estimate_featurize(n_docs=500)["n_chunks"] == 500  # no token counts yet
    assert estimate.estimate_featurize(n_docs=10, preset="125m")["n_params"] > 80e6
    with pytest.raises(ValueError):
        estimate.estimate_featurize(n_tokens=-1)


def test_preset_names_match_the_models_module():
    from dsdm_engine.compute.models import PRESETS

    assert estimate.PRESET_NAMES == tuple(PRESETS)


def test_output_kinds_match_the_model_output_module():
    from dsdm_engine.compute.configs import OUTPUT_KINDS
    from dsdm_engine.compute.model_output import OUTPUT_KINDS as real

    assert tuple(real) == OUTPUT_KINDS
