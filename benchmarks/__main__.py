"""``python -m benchmarks [name ...]``: every benchmark (or the named ones), one after the other."""

import sys

from benchmarks import auth, chat, load, search, transcription, upload_stream, vectorstore

ALL = {
    "upload": upload_stream.main,
    "transcription": transcription.main,
    "search": search.main,
    "chat": chat.main,
    "vectorstore": vectorstore.main,
    "auth": auth.main,
    "load": load.main,
}


def main() -> int:
    names = sys.argv[1:] or list(ALL)
    unknown = [n for n in names if n not in ALL]
    if unknown:
        sys.stderr.write(f"unknown benchmark(s) {unknown}; choose from {list(ALL)}\n")
        return 2
    return max(ALL[name]() for name in names)


if __name__ == "__main__":
    raise SystemExit(main())
