"""A tiny CLIP-style byte-level BPE tokenizer: the CLIP byte alphabet, then one whole-word token
per caption word reached through merges, then <|startoftext|> and <|endoftext|> as the two
highest ids (so argmax(ids) finds EOS, as in real CLIP).

Written out exactly in the file form the SD3 repos ship (vocab.json, merges.txt,
tokenizer_config.json, special_tokens_map.json)."""
import json
import os
import re
import unicodedata

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
MAX_LEN = 77

# CLIP's split regex for ASCII text (\p{L} -> [a-z] after lower-casing, \p{N} -> [0-9]).
SPLIT_RE = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+""")


def bytes_to_unicode():
    """CLIP / GPT-2 byte -> printable unicode symbol table (same order as openai/CLIP)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + list(
        range(ord("\u00ae"), ord("\u00ff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENCODER = bytes_to_unicode()


def _word_symbols(word):
    syms = [BYTE_ENCODER[b] for b in word.encode("utf-8")]
    syms[-1] = syms[-1] + "</w>"
    return syms


def bpe(symbols, ranks):
    """Merge the lowest-ranked adjacent pair (leftmost on ties) until none applies."""
    word = list(symbols)
    while len(word) > 1:
        best, best_i = None, -1
        for i in range(len(word) - 1):
            r = ranks.get((word[i], word[i + 1]))
            if r is not None and (best is None or r < best):
                best, best_i = r, i
        if best is None:
            break
        word = word[:best_i] + [word[best_i] + word[best_i + 1]] + word[best_i + 2:]
    return word


class ShapesTokenizer:
    def __init__(self, words):
        base = list(BYTE_ENCODER.values())
        vocab = base + [s + "</w>" for s in base]
        merges = []
        ranks = {}
        known = set(vocab)
        for w in words:
            # Run BPE with the merges so far, then chain what is left from left to right. New merges
            # rank after all earlier ones, so words added before keep their tokenization.
            parts = bpe(_word_symbols(w), ranks)
            while len(parts) > 1:
                pair = (parts[0], parts[1])
                ranks[pair] = len(merges)
                merges.append(pair)
                tok = pair[0] + pair[1]
                if tok not in known:
                    known.add(tok)
                    vocab.append(tok)
                parts = [tok] + parts[2:]
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

    def tokenize(self, text, specials=(BOS, EOS)):
        """Token ids of the text without BOS/EOS (CLIP normalizer: NFC, whitespace collapse, lowercase).
        `specials` are split out first and map to their own id, as transformers and tokenizers do with
        the added tokens of tokenizer_config.json (tokenizer_2's pad token "!" is one: "!!" -> 0, 0)."""
        text = unicodedata.normalize("NFC", text)
        text = re.sub(r"\s+", " ", text).lower()
        ids = []
        parts = re.split("(%s)" % "|".join(re.escape(t) for t in sorted(specials, key=len, reverse=True)), text)
        for k, part in enumerate(parts):
            if k % 2 == 1:
                ids.append(self.vocab[part])
                continue
            for piece in SPLIT_RE.findall(part):
                for tok in bpe(_word_symbols(piece), self.ranks):
                    ids.append(self.vocab[tok])
        return ids

    def encode(self, text, pad_id):
        """[BOS, tokens (max 75), EOS, pad...] of length 77."""
        key = (text, pad_id)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        pad = [t for t, i in self.vocab.items() if i == pad_id][0]
        ids = [self.bos_id] + self.tokenize(text, (BOS, EOS, pad))[: MAX_LEN - 2] + [self.eos_id]
        ids += [pad_id] * (MAX_LEN - len(ids))
        self._cache[key] = ids
        return ids

    def save(self, folder, pad_token):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(self.vocab, f, ensure_ascii=False)
        with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n")
            for a, b in self.merges:
                f.write("%s %s\n" % (a, b))

        def special(content):
            return {"content": content, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}

        specials = {"bos_token": special(BOS), "eos_token": special(EOS), "pad_token": special(pad_token),
                    "unk_token": special(EOS)}
        with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
            json.dump(specials, f, indent=2)
        added = {str(self.vocab[t]): dict(special(t), special=True) for t in (BOS, EOS)}
        if pad_token not in (BOS, EOS):
            added = dict({str(self.vocab[pad_token]): dict(special(pad_token), special=True)}, **added)
        cfg = {
            "add_prefix_space": False,
            "added_tokens_decoder": added,
            "bos_token": BOS,
            "clean_up_tokenization_spaces": True,
            "do_lower_case": True,
            "eos_token": EOS,
            "errors": "replace",
            "model_max_length": MAX_LEN,
            "pad_token": pad_token,
            "tokenizer_class": "CLIPTokenizer",
            "unk_token": EOS,
        }
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            json.dump(cfg, f, indent=2)


FIXTURE_PROMPTS = [
    "a red circle",
    "a blue square",
    "a green star on a black background",
    "A big RED circle on a white background, top left",
    "an orange ring,   bottom right",
    "",
    "a small purple triangle on a yellow background, center",
    "a gray square, top right",
    "hello world",
    "a yellow star!!",
    "2 big white rings",
    "a big red circle, " * 16,
]


def write_fixtures(tok, path):
    items = [dict(prompt=p, tokenizer=tok.encode(p, tok.eos_id), tokenizer_2=tok.encode(p, 0)) for p in FIXTURE_PROMPTS]
    with open(path, "w") as f:
        f.write("{\n  \"note\": \"input_ids [77] from tools/train-shapes/tokenizer.py for models/shapes tokenizer/ "
                "(pads with <|endoftext|>) and tokenizer_2/ (pads with '!' = id 0)\",\n")
        f.write("  \"bos\": %d,\n  \"eos\": %d,\n  \"prompts\": [\n" % (tok.bos_id, tok.eos_id))
        f.write(",\n".join("    " + json.dumps(it) for it in items))
        f.write("\n  ]\n}\n")
