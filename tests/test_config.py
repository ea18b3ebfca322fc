"""Config: every field has a valid default, and bad values are refused with a clear ValueError."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest

from deeplocalize.config import Config


def test_defaults_are_valid_and_the_rules_name_real_fields() -> None:
    Config().validate()
    names = set(Config().to_dict())
    assert names >= Config.AT_LEAST_ONE | Config.UNIT_INTERVAL
    assert "AT_LEAST_ONE" not in Config().to_dict()  # rules are not settings


@pytest.mark.parametrize(("changes", "message"), [
    ({"window": 0}, "Config.window must be at least 1, got 0"),
    ({"window": -5}, "Config.window must be at least 1, got -5"),
    ({"check_every": 0}, "check_every must be at least 1"),
    ({"overfit_patience": -1}, "overfit_patience must be at least 0"),
    ({"dead_frac": 1.5}, "Config.dead_frac must be between 0 and 1, got 1.5"),
    ({"acc_min_gain": -0.1}, "acc_min_gain must be between 0 and 1"),
    ({"exploding_weight_abs": -1.0}, "exploding_weight_abs must be at least 0"),
    ({"exploding_weight_abs": math.nan}, "exploding_weight_abs must be a number, not NaN"),
    ({"window": 2.5}, "Config.window must be an integer, got 2.5"),
    ({"window": "64"}, "Config.window must be an integer, got '64'"),
    ({"stats_every": True}, "stats_every must be an integer, got True"),
    ({"dead_frac": "0.9"}, "dead_frac must be a number"),
])
def test_bad_values_raise_value_error(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Config(**changes)
    with pytest.raises(ValueError, match="must be"):
        Config().replace(**changes)


def test_good_edges_and_numpy_numbers() -> None:
    config = Config(window=1, dead_frac=0, saturated_frac=1, exploding_weight_abs=math.inf,
                    stats_every=np.int64(5), converged_loss=np.float32(0.01), tensor_sustain_frac=1)
    assert config.window == 1 and config.stats_every == 5


def test_every_fraction_field_is_bounded_by_name() -> None:
    for field in dataclasses.fields(Config):
        if field.name.endswith("_frac"):
            with pytest.raises(ValueError, match="between 0 and 1"):
                Config(**{field.name: 1.01})


def test_watch_refuses_a_bad_config_before_training() -> None:
    torch = pytest.importorskip("torch")
    import deeplocalize as dl

    with pytest.raises(ValueError, match=r"Config\.window must be at least 1"):
        dl.watch(torch.nn.Linear(2, 1), config=dl.Config(window=0), store=False)
