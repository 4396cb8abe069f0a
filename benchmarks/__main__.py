"""``python -m benchmarks [name ...] [options]``: every benchmark (or the named ones), one after
the other. Options after the names go to the one benchmark named (``python -m benchmarks
transcription --rounds 5``, ``python -m benchmarks relevance --sweep``)."""

import sys

from benchmarks import (
    auth,
    chat,
    load,
    openai_audio,
    relevance,
    search,
    sse,
    transcription,
    tus_upload,
    upload_stream,
    vectorstore,
    webhooks,
)

ALL = {
    "upload": upload_stream.main,
    "transcription": transcription.main,
    "search": search.main,
    "chat": chat.main,
    "vectorstore": vectorstore.main,
    "auth": auth.main,
    "relevance": lambda: relevance.main([]),
    "tus": tus_upload.main,
    "load": load.main,
    "openai_audio": lambda: openai_audio.main([]),
    "webhooks": webhooks.main,
    "sse": sse.main,  # live status over Server-Sent Events (issue 16, part a)
}
WITH_OPTIONS = {
    "transcription": transcription.main,
    "relevance": relevance.main,
    "openai_audio": openai_audio.main,
}


def main() -> int:
    args = sys.argv[1:]
    first_option = next((i for i, a in enumerate(args) if a.startswith("-")), len(args))
    names, options = args[:first_option], args[first_option:]
    if options and (len(names) != 1 or names[0] not in WITH_OPTIONS):
        sys.stderr.write(f"options go after the one benchmark that takes them ({list(WITH_OPTIONS)})\n")
        return 2
    names = names or list(ALL)
    unknown = [n for n in names if n not in ALL]
    if unknown:
        sys.stderr.write(f"unknown benchmark(s) {unknown}; choose from {list(ALL)}\n")
        return 2
    if options:
        return WITH_OPTIONS[names[0]](options)
    return max(ALL[name]() if name not in WITH_OPTIONS else WITH_OPTIONS[name]([]) for name in names)


if __name__ == "__main__":
    raise SystemExit(main())
