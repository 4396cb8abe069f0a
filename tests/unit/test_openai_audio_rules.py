"""The form rules of ``POST /v1/audio/transcriptions`` (:class:`vidsage_gateway.openai_audio._Options`):
each bad field is a 400 naming the field (OpenAI's ``param``), checked before the file is stored
when the fields come first."""

from __future__ import annotations

import pytest

from vidsage_gateway.errors import ApiError
from vidsage_gateway.openai_audio import _Options

MODELS = ["whisper-1", "whisper-base"]


def options(**fields: str | list[str]) -> _Options:
    o = _Options()
    for name, value in fields.items():
        for v in value if isinstance(value, list) else [value]:
            o.add(name.replace("__", "[]"), v)
    return o


def refusal(o: _Options, *, complete: bool = True) -> tuple[int, str, str | None]:
    with pytest.raises(ApiError) as caught:
        o.check(MODELS, complete=complete)
    return caught.value.status, caught.value.code, caught.value.extra["param"]


def test_the_defaults_are_openais() -> None:
    o = options(model="whisper-1")
    o.check(MODELS, complete=True)
    assert (o.response_format, o.language, o.prompt, o.temperature) == ("json", None, None, 0.0)
    assert o.granularities == ("segment",)
    assert o.keep is False


def test_every_option_is_read() -> None:
    o = options(
        model="whisper-base",
        language="DE",
        prompt="  Dr. Hart  ",
        temperature="0.4",
        response_format="verbose_json",
        timestamp_granularities__=["word", "segment", "word"],
        vidsage_keep="true",
    )
    o.check(MODELS, complete=True)
    assert (o.model, o.language, o.prompt, o.temperature) == ("whisper-base", "de", "Dr. Hart", 0.4)
    assert o.granularities == ("word", "segment")
    assert o.keep is True


@pytest.mark.parametrize(
    ("fields", "code", "param"),
    [
        ({}, "missing_model", "model"),
        ({"model": "whisper-9"}, "model_not_found", "model"),
        ({"model": "whisper-1", "response_format": "xml"}, "invalid_value", "response_format"),
        ({"model": "whisper-1", "language": "klingon"}, "invalid_value", "language"),
        ({"model": "whisper-1", "temperature": "hot"}, "invalid_value", "temperature"),
        ({"model": "whisper-1", "temperature": "1.5"}, "invalid_value", "temperature"),
        ({"model": "whisper-1", "prompt": "x" * 2001}, "invalid_value", "prompt"),
        (
            {"model": "whisper-1", "timestamp_granularities__": "word"},
            "invalid_value",
            "timestamp_granularities",
        ),
        (
            {"model": "whisper-1", "response_format": "verbose_json", "timestamp_granularities__": "char"},
            "invalid_value",
            "timestamp_granularities",
        ),
        ({"model": "whisper-1", "vidsage_keep": "maybe"}, "invalid_value", "vidsage_keep"),
        ({"model": "whisper-1", "stream": "true"}, "invalid_value", "stream"),
    ],
)
def test_each_bad_field_is_a_400_naming_it(fields: dict[str, str], code: str, param: str) -> None:
    assert refusal(options(**fields)) == (400, code, param)


def test_before_the_file_only_what_came_is_checked() -> None:
    options().check(MODELS, complete=False)  # no model yet: it may follow the file
    assert refusal(options(model="nope"), complete=False) == (400, "model_not_found", "model")
