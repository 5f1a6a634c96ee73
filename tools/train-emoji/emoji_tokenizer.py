"""The emoji pack's CLIP-style BPE tokenizer: shapes' layout (byte alphabet, its `</w>` twins, one token per
caption word reached through merges, then <|startoftext|> and <|endoftext|> as the two highest ids), with a
builder that stays right for 4,000 words that share substrings.

Shapes' builder chains a word's leftover parts left to right. With repeated substrings that breaks: for
"assassin" the chain's first merge (as, s) also fires on the second "as s", and the chain's next merge
(ass, as) then never applies. Here each new merge joins the first two parts of the word's BPE run *from
scratch* with every merge so far, until that run gives one token; each word is therefore checked against the
real algorithm as it is built. New merges rank after all earlier ones, and an earlier word's run only ever
uses earlier merges until it is one token, so adding words never changes how earlier words tokenize.
"""
import os
import sys

_SHAPES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train-shapes")
if _SHAPES not in sys.path:
    sys.path.insert(1, _SHAPES)

from tokenizer import BOS, BYTE_ENCODER, EOS, ShapesTokenizer, _word_symbols, bpe  # noqa: E402


class EmojiTokenizer(ShapesTokenizer):
    def __init__(self, words):  # noqa: super().__init__ is replaced, not extended
        base = list(BYTE_ENCODER.values())
        vocab = base + [s + "</w>" for s in base]
        merges = []
        ranks = {}
        known = set(vocab)
        for w in words:
            while True:
                parts = bpe(_word_symbols(w), ranks)
                if len(parts) == 1:
                    break
                pair = (parts[0], parts[1])
                assert pair not in ranks, (w, pair)
                ranks[pair] = len(merges)
                merges.append(pair)
                tok = pair[0] + pair[1]
                if tok not in known:
                    known.add(tok)
                    vocab.append(tok)
        vocab += [BOS, EOS]
        self.vocab = {t: i for i, t in enumerate(vocab)}
        assert len(self.vocab) == len(vocab)
        self.merges = merges
        self.ranks = ranks
        self.bos_id = self.vocab[BOS]
        self.eos_id = self.vocab[EOS]
        self.vocab_size = len(vocab)
        for w in words:
            toks = bpe(_word_symbols(w), ranks)
            assert toks == [w + "</w>"], (w, toks)
        self._cache = {}
