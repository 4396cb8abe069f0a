"""``python -m benchmarks [name ...]``: every benchmark (or the named ones), one after the other.

``python -m benchmarks relevance [--sweep] [--model DIR]`` passes its options to the relevance
benchmark (see :mod:`benchmarks.relevance`).
"""

import sys

from benchmarks import auth, chat, relevance, search, transcription, upload_stream, vectorstore

ALL = {
    "upload": upload_stream.main,
    "transcription": transcription.main,
    "search": search.main,
    "chat": chat.main,
    "vectorstore": vectorstore.main,
    "auth": auth.main,
    "relevance": lambda: relevance.main([]),
}


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["relevance"] and len(args) > 1:
        return relevance.main(args[1:])
    names = args or list(ALL)
    unknown = [n for n in names if n not in ALL]
    if unknown:
        sys.stderr.write(f"unknown benchmark(s) {unknown}; choose from {list(ALL)}\n")
        return 2
    return max(ALL[name]() for name in names)


if __name__ == "__main__":
    raise SystemExit(main())
