"""The keyword signal: BM25 sparse vectors, computed in-process for both adapters.

The encoder is Qdrant Edge's own ``Bm25`` (``qdrant_edge.Bm25``, Rust, no model files), so the
Edge shard and a Qdrant server receive identical vectors. What it does (checked on
qdrant-edge-py 0.9.0):

* tokenises on word boundaries (``TokenizerType.Word``): ``"3.14"`` → ``3``, ``14``;
  ``"e-mail"`` → ``e``, ``mail``; ``"1,987"`` → ``1``, ``987``. Digits are kept, so a number
  such as ``42`` or ``1987`` is a token and matches itself;
* lower-cases, and folds accents (``ascii_folding``, set here): ``Reykjavík`` = ``reykjavik``;
* drops English stopwords (``the``, ``a``, ``don't`` ...) and stems with the English Snowball
  stemmer (``running`` = ``run``). Names and numbers go through the same steps on both sides,
  so they match; the stemming only has to be consistent, not linguistically right;
* maps a token to ``abs(murmur3_32(token, seed=0))`` (signed 32-bit), the same index as
  FastEmbed's ``Qdrant/bm25`` model and Qdrant's server-side BM25;
* documents: BM25 term-frequency saturation ``tf·(k+1) / (tf + k·(1 − b + b·len/avg_len))``
  with ``len`` the token count after stopwords; queries: 1.0 per unique token.

The IDF half of BM25 is applied by the engine at query time, through the ``keywords`` sparse
vector's IDF modifier (``Modifier.Idf`` / ``Modifier.IDF``), over the whole collection.

Changing the package version or any parameter here may change indices or weights: re-index
then (the contract tests pin a few indices to catch that). ``SCHEME`` names the current encoding.
"""

from __future__ import annotations

from qdrant_edge import Bm25, Bm25Config

from vidsage_indexer.store.base import Sparse

K1 = 1.2
"""Term-frequency saturation."""
B = 0.75
"""Length normalisation (0 = none, 1 = full)."""
AVG_LEN = 40.0
"""Average passage length in tokens after stopwords (passages are ≈60 words, see ``passage_max_words``)."""

SCHEME = f"qdrant-edge-bm25:english:ascii-folding:k={K1}:b={B}:avg_len={AVG_LEN:g}"
"""Identifies the encoding; a stored index is only valid for the scheme that built it."""

_MODEL = Bm25(Bm25Config(k=K1, b=B, avg_len=AVG_LEN, language="english", ascii_folding=True))
"""One shared encoder: it holds no mutable state and is safe to use from several threads."""


def encode_document(text: str) -> Sparse:
    """The sparse vector stored for a passage: BM25 term-frequency weights of its tokens."""
    vector = _MODEL.embed_document(text)
    return Sparse(indices=tuple(vector.indices), values=tuple(vector.values))


def encode_query(text: str) -> Sparse:
    """The sparse vector of a search query: weight 1.0 per unique token (IDF comes from the engine).

    Empty when the query has only stopwords or punctuation; the search is then dense only.
    """
    vector = _MODEL.embed_query(text)
    return Sparse(indices=tuple(vector.indices), values=tuple(vector.values))
