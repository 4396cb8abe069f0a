"""What the tests (and the benchmarks) share: fixtures' building blocks, not tests.

Import a module by name, e.g. ``from tests.support.media import make_video``:

- :mod:`~tests.support.paths` — the repository root and the offline models ``make setup`` fetches;
- :mod:`~tests.support.capabilities` — what a test needs from the machine (espeak-ng, the Whisper
  and embedding models, Chromium) as ``needs_*`` markers, resolved by one hook in tests/conftest.py;
- :mod:`~tests.support.auth` — the admin key the test gateways bootstrap, tenant keys through the API;
- :mod:`~tests.support.gateway` — the gateway in-process on a free port;
- :mod:`~tests.support.env` — settings → the ``VIDSAGE_*`` environment of a service process;
- :mod:`~tests.support.media` — small real videos and WAVs (PyAV);
- :mod:`~tests.support.speech` — known scripts spoken by espeak-ng, videos that speak them, WER;
- :mod:`~tests.support.stored_videos` — a video part-way through the pipeline, written straight to
  S3, the catalog and JetStream;
- :mod:`~tests.support.llm_server` — an OpenAI-compatible test server;
- :mod:`~tests.support.relevance` — spoken talks with questions and their real transcripts;
- :mod:`~tests.support.system` — the whole system started as ``make run`` starts it, and a way to
  empty its library between the test modules that share it.
"""
