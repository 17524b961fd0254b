"""Recipe values and model folders nobody here wrote: refused in one line, before a run directory exists.

Through the real CLI: each bad value or broken model folder is exit 2, exactly one stderr line
``ftui: ...`` that says why in full, and no run directory. Then hypothesis feeds the recipe loader
and overrides random documents, dicts, strings and bytes: a Recipe or a one-line RecipeError.
"""

from __future__ import annotations

import json
import math
import shutil
import string
import tomllib
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import ftui
from image_fixtures import image_folder, tiny_resnet, train_cli  # noqa: F401
from ftui.trainer.errors import RecipeError
from ftui.trainer.recipe import TYPED_SECTIONS, Recipe, from_dict, load_recipe, parse_override, set_value, to_toml
from dataclasses import fields


def assert_refused_before_run_dir(result, runs: Path, *fragments, quotes_transformers=False):
    """Exit 2, one stderr line ``ftui: ...`` holding every fragment, no traceback, no run directory.

    Our own messages are whole; one that quotes transformers' long boilerplate may end it in whole
    sentences and an ellipsis (first_line), after saying why in our words."""
    assert result.returncode == 2, (result.returncode, result.stdout[-500:], result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    # "ftui: why" from the recipe checks, "ftui train: --flag: why" from the flag's own type
    assert len(lines) == 1 and lines[0].startswith(("ftui: ", "ftui train: ")), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert quotes_transformers or "…" not in lines[0], lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert not runs.exists() or not any(runs.iterdir()), f"a run directory was left: {list(runs.iterdir())}"


@pytest.fixture
def train(tmp_path, tiny_model_dir, tiny_csv):
    """`ftui train --headless` on the tiny model and tweets, into tmp_path/runs, with extra arguments."""
    runs = tmp_path / "runs"

    def run(*extra, model=tiny_model_dir, recipe=None):
        args = ["train", *([recipe] if recipe else []), "--headless", "--model", model, "--data", tiny_csv,
                "--set", f"run.output_dir={json.dumps(str(runs))}", *extra]
        return ftui(*args), runs

    return run


# --- class 2: values checked only once training had started -----------------------------------

@pytest.mark.parametrize("toml, fragments", [
    ("[train]\nepochs = inf\n", ("train.epochs must be a finite number, got inf",)),
    ("[train]\nlr = nan\n", ("train.lr must be a finite number, got nan",)),
    ("[train]\nepochs = 1" + "0" * 400 + "\n", ("train.epochs must be a finite number",)),
    ("[train]\nwarmup_ratio = 3.5\n", ("train.warmup_ratio = 3.5 must be in [0, 1]",)),
    ("[run]\nseed = -1\n", ("run.seed = -1 must be an integer from 0 to 4294967295",)),
    ("[run]\nseed = 4294967296\n", ("run.seed = 4294967296 must be an integer from 0 to 4294967295",)),
    ("[train]\nmax_steps = 0\n", ("train.max_steps = 0 must be -1 (train for train.epochs) or greater than 0",)),
    ("[train]\nbatch_size = 100000000000\n", ("train.batch_size = 100000000000 is too large",)),
    ("[train]\nlora_dropout = 1.5\n", ("train.lora_dropout = 1.5 must be in [0, 1)",)),
    ("[train]\nllrd_decay = -inf\n", ("train.llrd_decay must be a finite number, got -inf",)),
    ("[early_stopping]\nmin_delta = nan\n", ("early_stopping.min_delta must be a finite number",)),
    ("[data]\nvalidation_fraction = inf\n", ("data.validation_fraction must be a finite number",)),
    ('[data]\nencoding = "utf-99"\n', ("data.encoding = 'utf-99' is not a text encoding Python knows",)),
    ('[data]\ntext_column = "te\\u0000xt"\n', ("data.text_column must not contain control characters",)),
    ('[run]\nname = "../outside"\n', ("run.name = '../outside' must be a plain folder name",)),
])
def test_bad_recipe_values_are_refused_by_key(train, tmp_path, toml, fragments):
    recipe = tmp_path / "bad.toml"
    recipe.write_text(toml)
    assert_refused_before_run_dir(*train(recipe=recipe), *fragments)


@pytest.mark.parametrize("flags, fragments", [
    (("--epochs", "inf"), ("--epochs: 'inf' is not a finite number",)),
    (("--epochs", "1e400"), ("--epochs: '1e400' is not a finite number",)),
    (("--lr", "nan"), ("--lr: 'nan' is not a finite number",)),
    (("--seed", "-1"), ("--seed: must be at least 0, not -1",)),
    (("--seed", "4294967296"), ("--seed: must be at most 4294967295, not 4294967296",)),
    (("--set", "train.epochs=inf"), ("train.epochs must be a finite number, got inf",)),
    (("--set", "train.warmup_ratio=3.5"), ("train.warmup_ratio = 3.5 must be in [0, 1]",)),
    (("--set", "train.lr=-inf"), ("train.lr must be a finite number, got -inf",)),
    (("--set", "train.lr=1e-3\ntrain.epochs=5"), ("the value must be one line",)),
    (("--name", "a/b"), ("run.name = 'a/b' must be a plain folder name",)),
    # a node of rank > 0 waits for node 0's run folder: a name that is no folder is refused, not awaited
    (("--name", "../outside", "--nnodes", "2", "--node-rank", "1"), ("run.name = '../outside' must be a plain folder name",)),
])
def test_bad_flag_values_are_refused_by_key(train, flags, fragments):
    assert_refused_before_run_dir(*train(*flags), *fragments)


def test_max_length_beyond_the_position_embeddings(train):
    result, runs = train("--set", "data.max_length=512")  # the tiny BERT has 128 positions
    assert_refused_before_run_dir(result, runs, "data.max_length = 512", "128 tokens",
                                  "max_position_embeddings = 128", "set data.max_length to 128 or less")


def test_max_length_of_a_roberta_counts_its_padding_offset():
    from ftui.models.checks import position_limit

    assert position_limit({"model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": 1})[0] == 512
    assert position_limit({"model_type": "bert", "max_position_embeddings": 512, "pad_token_id": 0})[0] == 512
    assert position_limit({"model_type": "resnet"}) is None


# --- class 3: model folders that fail to load -----------------------------------------------

def model_copy(tiny_model_dir: Path, tmp_path: Path, keep=lambda name: True) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    for path in tiny_model_dir.iterdir():
        if keep(path.name):
            shutil.copy(path, folder / path.name)
    return folder


def test_config_only_folder(train, tiny_model_dir, tmp_path):
    folder = model_copy(tiny_model_dir, tmp_path, keep=lambda n: n == "config.json")
    assert_refused_before_run_dir(*train(model=folder), "has no weights (model.safetensors)",
                                  "set model.name to the folder that has them")


@pytest.mark.parametrize("damage, fragment", [
    (lambda b: b"garbage", "shorter than the 8-byte header length"),
    (lambda b: b"not a safetensors file at all", "its header claims"),
    (lambda b: b[: len(b) // 2], "truncated"),
    (lambda b: b[:8] + b"{not json" + b[17:], "its header is not valid JSON"),
    (lambda b: b"\x02\x00\x00\x00\x00\x00\x00\x00[]", "its header is not a JSON object"),
])
def test_corrupt_safetensors(train, tiny_model_dir, tmp_path, damage, fragment):
    folder = model_copy(tiny_model_dir, tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(damage(weights.read_bytes()))
    assert_refused_before_run_dir(*train(model=folder), "model.safetensors is corrupt", fragment,
                                  "download or save the weights again")


@pytest.mark.parametrize("config, fragment", [
    ("{this is not json", "config.json is not valid JSON (Expecting property name enclosed in double quotes "
                          "at line 1, column 2)"),
    ("[1, 2, 3]", "config.json is not a JSON object"),
    ('{"hidden_size": 32}', "config.json has no model_type, so transformers cannot tell which architecture it is"),
])
def test_garbage_config_json(train, tiny_model_dir, tmp_path, config, fragment):
    folder = model_copy(tiny_model_dir, tmp_path)
    (folder / "config.json").write_text(config)
    assert_refused_before_run_dir(*train(model=folder), fragment)


def test_pickle_only_weights_are_never_loaded(train, tiny_model_dir, tmp_path):
    from transformers import BertModel

    folder = model_copy(tiny_model_dir, tmp_path, keep=lambda n: n != "model.safetensors")
    BertModel.from_pretrained(tiny_model_dir).save_pretrained(folder, safe_serialization=False)
    assert (folder / "pytorch_model.bin").is_file() and not (folder / "model.safetensors").exists()
    assert_refused_before_run_dir(*train(model=folder), "only pickle weights (pytorch_model.bin)",
                                  "ftui never loads pickles", "save_pretrained(")


def test_unknown_model_type_and_missing_tokenizer(train, tiny_model_dir, tmp_path):
    """What only transformers can judge: a model_type it does not know, a folder with no tokenizer."""
    folder = model_copy(tiny_model_dir, tmp_path, keep=lambda n: n in ("config.json", "model.safetensors"))
    assert_refused_before_run_dir(*train(model=folder), "cannot load its tokenizer", quotes_transformers=True)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "no-such-architecture"}))
    assert_refused_before_run_dir(*train(model=folder), "transformers cannot load its config.json",
                                  "no-such-architecture", quotes_transformers=True)


def test_image_model_without_an_image_processor(tmp_path, tiny_resnet):
    folder = model_copy(tiny_resnet, tmp_path, keep=lambda n: n != "preprocessor_config.json")
    result = train_cli(tmp_path, folder, image_folder(tmp_path / "pics"))
    assert_refused_before_run_dir(result, tmp_path / "runs", "no image processor, preprocessor_config.json",
                                  quotes_transformers=True)


# --- hypothesis: the recipe loader and overrides, fed anything -----------------------------------

KEYS = [(s, f.name) for s in TYPED_SECTIONS for f in fields(type(getattr(Recipe(), s)))]
SECTIONS = [s.name for s in fields(Recipe)]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-2**70, max_value=2**70),
                    st.integers(min_value=10**308, max_value=10**310),  # beyond a float
                    st.floats(), st.text(max_size=20), st.sampled_from(["inf", "nan", "lora", "demo:tweets", ""]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5),
                                                                                                inner, max_size=3),
                           max_leaves=6)
TYPED = {"float": st.floats() | st.sampled_from([math.inf, -math.inf, math.nan, 3.5, -0.5, 1e300])
         | st.integers(min_value=-2**70, max_value=2**70) | st.integers(min_value=10**308, max_value=10**310),
         "int": st.integers() | st.integers(min_value=-2**40, max_value=2**40) | st.integers(min_value=2**31),
         "str": st.text(max_size=12), "bool": st.booleans()}
FIELD_TYPES = {(s, f.name): f.type for s in TYPED_SECTIONS for f in fields(type(getattr(Recipe(), s)))}


@st.composite
def entries(draw):
    """(section, key, value): mostly a real key with a value of its type (nan, -1, 2**40, "\x00" ...),
    sometimes anything at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=8) | st.sampled_from(SECTIONS)), draw(st.text(max_size=8)), draw(json_values)
    section, key = draw(st.sampled_from(KEYS))
    value = draw(TYPED[FIELD_TYPES[section, key]] if draw(st.integers(0, 4)) else json_values)
    return section, key, value


@st.composite
def documents(draw):
    raw: dict = {}
    for section, key, value in draw(st.lists(entries(), max_size=4)):
        table = raw.setdefault(section, {})
        if isinstance(table, dict):
            table[key] = value
    if draw(st.integers(0, 19)) == 0:
        raw[draw(st.sampled_from(SECTIONS))] = draw(json_values)  # a section that is not a table
    return raw


def accepted_or_one_line_error(load):
    """``load()`` gives a Recipe that saves and reloads as itself, or a one-line RecipeError."""
    try:
        recipe = load()
    except RecipeError as e:
        assert str(e) and "\n" not in str(e)
        return None
    assert isinstance(recipe, Recipe)
    numbers = [v for section in recipe.to_dict().values() for v in section.values() if isinstance(v, float)]
    assert all(math.isfinite(v) for v in numbers), "every recipe number is finite"
    saved = to_toml(recipe)
    saved.encode("utf-8")  # the run dir's recipe.toml must be writable
    assert from_dict(tomllib.loads(saved)) == recipe, "an accepted recipe must save and reload as itself"
    return recipe


def _finish(recipe: Recipe) -> Recipe:
    from ftui.trainer.recipe import fill_task_defaults, validate

    fill_task_defaults(recipe)
    validate(recipe)
    return recipe


@SETTINGS
@given(documents())
def test_random_dicts_through_from_dict(raw):
    accepted_or_one_line_error(lambda: _finish(from_dict(raw)))


@SETTINGS
@given(documents())
def test_random_toml_documents_through_load_recipe(tmp_path, raw):
    try:
        text = tomli_w.dumps(_toml_able(raw))
    except (TypeError, ValueError):
        return  # not expressible as TOML
    path = tmp_path / "r.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    accepted_or_one_line_error(lambda: load_recipe(path))


def _toml_able(value):
    """The JSON-ish value with None (which TOML lacks) dropped."""
    if isinstance(value, dict):
        return {k: _toml_able(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_toml_able(v) for v in value if v is not None]
    return value


@SETTINGS
@given(st.binary(max_size=200) | st.builds(lambda s, k, v: f"[{s}]\n{k} = {v}\n".encode("utf-8", "surrogatepass"),
                                           st.sampled_from(SECTIONS), st.sampled_from([k for _, k in KEYS]),
                                           st.text(alphabet=string.printable, max_size=12)))
def test_random_bytes_as_a_recipe_file(tmp_path, content):
    path = tmp_path / "r.toml"
    path.write_bytes(content)
    accepted_or_one_line_error(lambda: load_recipe(path))


overrides = st.text(max_size=40) | st.builds(lambda k, v: f"{k[0]}.{k[1]}={v}", st.sampled_from(KEYS), st.text(max_size=20))


@SETTINGS
@given(st.lists(overrides, max_size=3))
def test_random_strings_through_parse_override_and_set_value(texts):
    def load():
        recipe = Recipe()
        for text in texts:
            set_value(recipe, *parse_override(text))
        return _finish(recipe)

    accepted_or_one_line_error(load)
    accepted_or_one_line_error(lambda: load_recipe(None, dict(parse_override(t) for t in texts)))


@SETTINGS
@given(st.floats(allow_nan=False) | st.integers() | st.text(max_size=20))
def test_flag_values_reach_the_recipe_as_given(value):
    """`--data 😀.csv`, `--lr 1e-5`, `--epochs inf`: a flag's value arrives as itself (JSON wrote the
    emoji as surrogate escapes, which TOML refuses, so the path arrived with its quotes)."""
    from ftui.tui.commands import _toml_value

    key, parsed = parse_override(f"data.train={_toml_value(value)}")
    assert key == "data.train" and parsed == value and type(parsed) is type(value)
