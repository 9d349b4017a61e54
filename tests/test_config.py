"""The typed config: one schema per group, analysis keys from one list, typed stage settings."""

from __future__ import annotations

import dataclasses

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra

from consistency.design import config
from consistency.cli import CONF_DIR, literal_run_id
from consistency.common.errors import InputError
from consistency.providers import model_settings
from consistency.design.settings import AnalysisSettings


def _compose(*overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_every_group_option_has_a_schema():
    repo = ConfigStore.instance().repo
    for group, options in {"model": ["local", "openai", "anthropic"], "tasks": ["builtin"],
                           "conditions": ["default"], "runner": ["default", "batch"],
                           "analysis": ["default"], "design": ["full", "quick"]}.items():
        for option in options:
            assert f"{option}.yaml" in repo[group], (group, option)


def test_analysis_schema_lists_exactly_the_analysis_settings_keys():
    names = [field.name for field in dataclasses.fields(config.AnalysisConfig)]
    assert names == [field.name for field in dataclasses.fields(AnalysisSettings)]
    defaults = config.AnalysisConfig()
    assert dataclasses.asdict(defaults) == dataclasses.asdict(AnalysisSettings())


def test_each_design_is_defined_once_and_chosen_by_the_model():
    for model, design in config.DESIGN_FOR_MODEL.items():
        assert design in config.DESIGNS and model in config.MODELS
    for model in config.MODELS:
        run = config.run_config(_compose(f"model={model}"))
        expected = config.DESIGNS[config.DESIGN_FOR_MODEL[model]]
        assert run.variants == expected["variants"]
        assert run.tasks.limit == expected["tasks"]["limit"]


def test_run_config_is_typed_all_the_way_down():
    run = config.run_config(_compose("model=openai", "runner=batch", "model.timeout_s=5"))
    assert isinstance(run.model, config.OpenAIModel) and run.model.timeout_s == 5.0
    assert isinstance(run.runner, config.RunnerSettings) and run.runner.mode == "batch"
    assert isinstance(run.tasks, config.TasksSettings)
    assert isinstance(run.analysis_settings(), AnalysisSettings)


def test_a_key_added_with_plus_is_still_refused():
    with pytest.raises(InputError, match="analysis.alpah: unknown key; did you mean analysis.alpha"):
        config.run_config(_compose("+analysis.alpah=0.1"))


def test_a_provider_mapping_is_checked_against_its_schema():
    settings = model_settings({"provider": "openai", "name": "m", "timeout_s": 5})
    assert isinstance(settings, config.OpenAIModel) and settings.max_retries == 4
    with pytest.raises(InputError, match="model"):
        model_settings({"provider": "openai", "name": "m", "temprature": 0.1})
    with pytest.raises(InputError, match="unknown provider"):
        model_settings({"provider": "gemini", "name": "m"})


@pytest.mark.parametrize(("given", "sent"), [
    ("run_id=1_000", "run_id='1_000'"), ("run_id=0", "run_id='0'"), ("run_id=null", "run_id=null"),
    ("run_id='x'", "run_id='x'"), ("run_id=a,b", "run_id='a','b'"), ("epochs=1_000", "epochs=1_000"),
    ("+run_id=7", "+run_id='7'"),
])
def test_run_id_overrides_are_passed_as_strings(given, sent):
    assert literal_run_id(given) == sent
