"""study.toml: every table read, the [check] table of the CI gate, unknown keys refused."""

from __future__ import annotations

import pandas as pd
import pytest

from sofeval.config import CHECK_SCENARIOS, OPTIONAL_ANALYSES, CheckSettings, RunConfig
from sofeval.errors import OptionError

STUDY = """
[design]
data_end = "2019-12-31"
phase_cut = 8

[model]
covariates = ["sex", "age"]
family = "logit"

[inference]
bootstrap_draws = 99
bootstrap_weights = "webb"

[report]
threshold = 10

[check]
reps = 20
n_spells = 5000
scenarios = ["null"]
max_abs_bias = 0.1
min_coverage = 0.7
max_size = 0.25
"""


def test_study_toml_with_check_table(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(STUDY)
    cfg = RunConfig.from_toml(path)
    assert cfg.design == {"data_end": pd.Timestamp("2019-12-31"), "phase_cut": 8}
    assert cfg.covariates == ("sex", "age") and cfg.family == "logit"
    assert (cfg.bootstrap_draws, cfg.bootstrap_weights, cfg.threshold) == (99, "webb", 10)
    assert cfg.check == CheckSettings(reps=20, n_spells=5000, scenarios=("null",),
                                      max_abs_bias=0.1, min_coverage=0.7, max_size=0.25)


def test_check_defaults():
    c = RunConfig().check
    assert c.scenarios == CHECK_SCENARIOS == ("null", "homogeneous")
    assert (c.reps, c.max_abs_bias, c.min_coverage, c.max_size) == (50, 0.05, 0.80, 0.20)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[check]\ntolerance = 1\n", "check.tolerance"),
        ('[check]\nscenarios = ["report"]\n', "check.scenarios"),
        ("[check]\nreps = 1\n", "at least 2"),
        ("[gate]\nreps = 3\n", "gate"),
    ],
)
def test_bad_check_table_is_refused(tmp_path, text, match):
    path = tmp_path / "study.toml"
    path.write_text(text)
    with pytest.raises(OptionError, match=match):
        RunConfig.from_toml(path)


def test_skip_is_read_from_the_analyses_table_and_checked(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text('[analyses]\nskip = ["destinations", "subgroups"]\n')
    cfg = RunConfig.from_toml(path)
    assert cfg.skip == ("destinations", "subgroups")
    # durations need the destination models; the effects are not optional
    assert [a for a in OPTIONAL_ANALYSES if not cfg.runs(a)] == [
        "destinations", "durations", "subgroups"]
    assert RunConfig(subgroups=()).runs("subgroups") is False
    with pytest.raises(OptionError, match="'effects' is not a valid option"):
        RunConfig(skip=("effects",))
