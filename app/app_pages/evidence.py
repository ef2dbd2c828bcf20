"""Evidence page: should I trust these scores for this target? The newest `dsdm validate`
results (held-out LDS with its 95% CI for every DsDm run, similarity predictor and the token
count, on the same subset models), the noise floor, and held-out loss against budget with the
compute multiplier from `dsdm evaluate`."""

import streamlit as st

from app import analysis
from app.state import listed_or_stop, pick, query
from dsdm_engine.evaluation import figures
from dsdm_engine.evaluation.evidence import verdict

st.title("Evidence: do the scores predict?")
tasks = listed_or_stop(
    "catalog.list_target_tasks", "task_id", "No target tasks yet: add one on the Targets page."
)
target = pick("Target task", tasks, "target")
rows, noise = query("queries.latest_validation", target)
if rows.empty:
    st.info(
        f"No validation for {target} yet. `dsdm validate --pool POOL --targets {target}` (or a "
        "`validate` job on the Jobs page) trains models on random subsets of the pool and "
        "measures how well each method's scores predict their held-out loss (the LDS)."
    )
else:
    v = verdict(rows)
    if v is not None:
        (st.success if v.trusted else st.warning)(v.message)
    n = int(rows["n_subsets"].iloc[0])
    st.caption(
        f"Validation {rows['run_id'].iloc[0]}: {n} subset models. LDS is the Spearman "
        "correlation, over the subset models, between a predictor's sum of scores over the "
        "subset and the model's mean held-out log-prob of the target; 1 = perfect ranking, "
        "0 = none. The interval resamples the subset models."
    )
    st.plotly_chart(figures.lds_intervals(rows))
    held = rows[rows["split"] == "heldout"].set_index("predictor")
    sel = rows[rows["split"] == "selection"].set_index("predictor")
    table = held[["kind", "aggregate_lds", "ci_lo", "ci_hi"]].rename(
        columns={"aggregate_lds": "held-out LDS", "ci_lo": "CI low", "ci_hi": "CI high"}
    )
    table["selection-split LDS"] = sel["aggregate_lds"].reindex(table.index)
    table["per-example LDS"] = sel["per_example_lds"].reindex(table.index)
    st.dataframe(table.reset_index(), hide_index=True)
    if "lds_ceiling" in noise and (noise["replicates"] > 1).any():
        st.markdown("**Ceiling**: the LDS a perfect predictor could reach against these outcomes")
        cols = ["split", "replicates", "replicate_spearman", "lds_ceiling_1", "lds_ceiling"]
        st.dataframe(noise[cols], hide_index=True)
        st.caption(
            "Each subset trained several models with their own seeds; `replicate_spearman` is "
            "how well one model's outcomes over the subsets agree with another's, and the "
            "ceilings are the highest LDS any predictor could reach against one model per "
            "subset and against the mean of the replicates (the LDS above uses the mean)."
        )
    if not noise.empty and noise["seed_sd"].notna().any():
        st.markdown("**Noise floor**: how much a subset model's outcome moves with its seed alone")
        st.dataframe(noise[["split", "seed_sd", "subset_sd", "noise_ratio"]], hide_index=True)
        st.caption(
            "A ratio near 1 means seed noise is as large as the spread between subsets: no "
            "predictor can show much there."
        )
    else:
        st.caption(
            "This validation trained no extra-seed models (`--noise-seeds 0`): no noise floor."
        )

st.subheader("Held-out loss against budget")
results = query("queries.evaluation_results", target)
if results.empty:
    st.caption("No evaluations yet: `dsdm evaluate` trains models on each method's selection.")
else:
    st.plotly_chart(figures.loss_curves(results))
    st.dataframe(analysis.multipliers(results), hide_index=True)
