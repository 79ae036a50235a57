#!/usr/bin/env python3
"""Writes the tokenizer fixtures that the Swift tests compare against (Tests/Fixtures/tokenizers/).

Five tiny tokenizer.json files built with Hugging Face `tokenizers` from our own small vocabularies and merges
(a WordPiece with BERT normalization; a CLIP-style byte-level BPE with `</w>` suffixes; a GPT-2 style byte-level BPE
with a fused unknown token; two WordLevels with padding/truncation saved in the file, one of them on the left), the
shared test corpus (corpus.json), and expected.json: what `tokenizers` gives for every corpus text (ids, tokens,
type ids, attention mask, decoded text) as the file is configured, and at a fixed max length.

Runs offline with the pinned packages of python/requirements-test.txt; nothing is random, so running it again
reproduces the files byte for byte.
"""
import json
import os

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "tokenizers")


def long_text():
    """About 300 words of caption-like prose with punctuation and numbers, for truncation."""
    subjects = ["a red circle", "two blue squares", "the small green triangle", "an orange star", "a grey cat"]
    places = ["at the top left", "near the center", "on a white background", "below the horizon", "in the corner"]
    extras = ["drawn with thick lines", "slightly rotated, 45 degrees", "(partly hidden)", "next to 3 dots",
              "under soft light; very calm", "and nothing else!"]
    words, i = [], 0
    while len(words) < 300:
        sentence = f"{subjects[i % 5]} {places[(i * 2) % 5]}, {extras[i % 6]}."
        words += sentence.capitalize().split()
        i += 1
    return " ".join(words[:300])


# The corpus (punctuation, accents, emoji, numbers, runs of spaces, Chinese) plus a few harder cases.
CORPUS = [
    "a small red circle at the top left",
    "A photo of a CAT!!",
    "naïve café — résumé",
    "emoji 🐱🚀 ok",
    "numbers 12345 and 3.14",
    "runs   of    spaces\tand\nnewlines",
    "中文字符测试 一只猫",
    "don't stop-believing...",
    "",
    "  leading and trailing  ",
    "ÀÉÎÕÜ ñ ß",
    "mixed中文and English",
    long_text(),
    "it's we're they've I'm you'll he'd",
    "decomposed e\u0301 and ﬁ ligature, İstanbul ΣΑΣ",
    "control\u0007char zero\u200bwidth non\u00a0breaking x\ufffdy",
    "한국어 ひらがな カタカナ русский العربية",
    "special [MASK] and <|endoftext|> tokens [SEP]",
    "$100 & 50% off: #1 @home ~tilde `code` {braces} <tags>",
    "separators\u001cand\u000bvertical\u0085tabs\u3000ideographic space",
    "added tokens: a <mask> here, circles circle xcircle circle!, STAR Star star",
    "year 2024: 1,000,000 items ①②③ ½ Ⅻ ２０２４",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
]

# Sentences of our own to learn the small BPE merges and build the small vocabularies from.
TRAINING = [
    "a small red circle at the top left of the image",
    "a large blue square near the center",
    "two green triangles on a white background",
    "the orange star is below the horizon",
    "a photo of a cat sitting on a mat",
    "a drawing of a dog running in the park",
    "three circles and one square, drawn with thick lines",
    "numbers like 1 2 3 4 5 6 7 8 9 0 appear in captions",
    "don't stop believing; keep going!",
    "the quick brown fox jumps over the lazy dog",
    "circles, squares, triangles and stars",
    "red green blue orange purple yellow black white grey",
]


def save_json(name, value, compact=False):
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=None if compact else 1, sort_keys=True)
        f.write("\n")


def save_tokenizer(name, tokenizer):
    # Re-serialize with sorted keys so the file does not depend on hash-map order.
    save_json(name, json.loads(tokenizer.to_str()))


def wordpiece():
    words = sorted({w for line in TRAINING for w in line.replace(",", " ").replace(";", " ").split()})
    chars = sorted({c for line in TRAINING + CORPUS for c in line.lower() if not c.isspace()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars]
    vocab += [w for w in words if w not in vocab] + ["##ing", "##s", "##le", "##er", "stop", "believ"]
    vocab = list(dict.fromkeys(vocab))
    tokenizer = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]",
                                           max_input_chars_per_word=24))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab.index("[CLS]")), ("[SEP]", vocab.index("[SEP]"))])
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    tokenizer.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    return tokenizer, {"pad_id": 0, "pad_token": "[PAD]"}


def byte_alphabet():
    """GPT-2's byte-to-character table, in CLIP's vocabulary order (printable bytes first)."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def learn_merges(words, count, suffix=""):
    """Classic BPE learning, deterministic: the most frequent adjacent pair wins, ties go to the smallest pair."""
    table = {}
    for word in words:
        symbols = list(word)
        if suffix:
            symbols[-1] += suffix
        table[tuple(symbols)] = table.get(tuple(symbols), 0) + 1
    merges = []
    while len(merges) < count:
        pairs = {}
        for symbols, n in table.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] = pairs.get(pair, 0) + n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged = {}
        for symbols, n in table.items():
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + n
        table = merged
    return merges


def pre_tokenized_words(tokenizer):
    words = []
    for line in TRAINING:
        normalized = tokenizer.normalizer.normalize_str(line)
        words += [w for w, _ in tokenizer.pre_tokenizer.pre_tokenize_str(normalized)]
    return words


def clip_bpe():
    """The pipeline transformers' CLIPTokenizer builds, over merges learned from TRAINING."""
    pattern = (r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]"
               r"|[^\s\p{L}\p{N}]+")
    normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    probe = Tokenizer(models.BPE())
    probe.normalizer, probe.pre_tokenizer = normalizer, pre_tokenizer
    merges = learn_merges(pre_tokenized_words(probe), 300, suffix="</w>")
    alphabet = byte_alphabet()
    vocab = alphabet + [c + "</w>" for c in alphabet] + ["".join(m) for m in merges]
    vocab = list(dict.fromkeys(vocab)) + ["<|startoftext|>", "<|endoftext|>"]
    tokenizer = Tokenizer(models.BPE({t: i for i, t in enumerate(vocab)}, merges, unk_token="<|endoftext|>",
                                     end_of_word_suffix="</w>"))
    tokenizer.normalizer, tokenizer.pre_tokenizer = normalizer, pre_tokenizer
    tokenizer.post_processor = processors.RobertaProcessing(
        ("<|endoftext|>", vocab.index("<|endoftext|>")), ("<|startoftext|>", vocab.index("<|startoftext|>")),
        trim_offsets=False)
    tokenizer.decoder = decoders.Sequence([decoders.ByteLevel(), decoders.Replace("</w>", " ")])
    tokenizer.add_special_tokens(["<|startoftext|>", "<|endoftext|>"])
    return tokenizer, {"pad_id": vocab.index("<|endoftext|>"), "pad_token": "<|endoftext|>"}


def gpt2_bpe():
    """A GPT-2 style byte-level BPE (prefix space, GPT-2 regex) whose alphabet is only what TRAINING uses, so
    other bytes become one fused <unk>."""
    probe = Tokenizer(models.BPE())
    probe.normalizer = normalizers.NFKC()
    probe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    words = pre_tokenized_words(probe)
    merges = learn_merges(words, 200)
    vocab = ["<|endoftext|>", "<unk>"] + sorted({c for w in words for c in w}) + ["".join(m) for m in merges]
    vocab = list(dict.fromkeys(vocab))
    tokenizer = Tokenizer(models.BPE({t: i for i, t in enumerate(vocab)}, merges, unk_token="<unk>", fuse_unk=True))
    tokenizer.normalizer, tokenizer.pre_tokenizer = probe.normalizer, probe.pre_tokenizer
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(["<|endoftext|>", "<unk>"])
    return tokenizer, {"pad_id": 0, "pad_token": "<|endoftext|>"}


def wordlevel():
    words = sorted({w for line in TRAINING for w in line.replace(",", " ").replace(";", " ").split()})
    vocab = ["<pad>", "<unk>", "<s>", "</s>"] + words + [",", ";", "!", "...", "'", "-", "."]
    vocab = list(dict.fromkeys(vocab))
    tokenizer = Tokenizer(models.WordLevel({t: i for i, t in enumerate(vocab)}, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase(), normalizers.Strip()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True)])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 2), ("</s>", 3)])
    tokenizer.add_special_tokens(["<pad>", "<unk>", "<s>", "</s>"])
    # Added tokens with every matching option: swallowed spaces, whole words only, matched after normalization.
    tokenizer.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=True, normalized=False)])
    tokenizer.add_tokens([AddedToken("circle", single_word=True), AddedToken("Star", normalized=True)])
    # Saved in the file: a plain encode pads and truncates to 16, like HF.
    tokenizer.enable_truncation(max_length=16)
    tokenizer.enable_padding(pad_id=0, pad_token="<pad>", length=16)
    return tokenizer, {"pad_id": 0, "pad_token": "<pad>"}


def wordlevel_left():
    """Whitespace pre-tokenizer, NFKC, BERT-style wrapping, and left-side truncation/padding saved in the file."""
    words = sorted({w for line in TRAINING for w in line.lower().replace(",", " ").replace(";", " ").split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + words + [str(d) for d in range(10)] + [",", "!", "...", "'"]
    vocab = list(dict.fromkeys(vocab))
    tokenizer = Tokenizer(models.WordLevel({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Lowercase(), normalizers.Replace("-", " "), normalizers.Prepend("")])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=False)])
    tokenizer.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
    tokenizer.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    tokenizer.enable_truncation(max_length=10, direction="left")
    tokenizer.enable_padding(direction="left", pad_id=0, pad_token="[PAD]", pad_to_multiple_of=8)
    return tokenizer, {"pad_id": 0, "pad_token": "[PAD]"}


def encodings(tokenizer, pad, max_length):
    """Plain encodes (with whatever the file configures), encodes at max_length, and decodes."""
    plain = []
    for text in CORPUS:
        e = tokenizer.encode(text)
        plain.append({"ids": e.ids, "tokens": e.tokens, "type_ids": e.type_ids, "attention_mask": e.attention_mask,
                      "decoded": tokenizer.decode(e.ids, skip_special_tokens=True)})
    # At a max length, cutting and padding happen on the sides the file names (right when it names none).
    fixed = Tokenizer.from_str(tokenizer.to_str())
    fixed.enable_truncation(max_length=max_length, direction=(tokenizer.truncation or {}).get("direction", "right"))
    fixed.enable_padding(length=max_length, pad_id=pad["pad_id"], pad_token=pad["pad_token"],
                         direction=(tokenizer.padding or {}).get("direction", "right"))
    batch = fixed.encode_batch(CORPUS)
    return {"plain": plain, "max_length": max_length, "pad_id": pad["pad_id"],
            "fixed": [{"ids": e.ids, "attention_mask": e.attention_mask} for e in batch]}


def main():
    os.makedirs(OUT, exist_ok=True)
    save_json("corpus.json", CORPUS)
    expected = {"tokenizers_version": tokenizers.__version__}
    for name, build, max_length in [("wordpiece", wordpiece, 12), ("bpe_clip", clip_bpe, 12),
                                    ("bpe_gpt2", gpt2_bpe, 12), ("wordlevel", wordlevel, 8),
                                    ("wordlevel_left", wordlevel_left, 6)]:
        tokenizer, pad = build()
        save_tokenizer(f"{name}.json", tokenizer)
        # Encode with the file as saved, so the expectations are what a reader of that file must produce.
        tokenizer = Tokenizer.from_file(os.path.join(OUT, f"{name}.json"))
        expected[name] = encodings(tokenizer, pad, max_length)
    save_json("expected.json", expected, compact=True)


if __name__ == "__main__":
    main()
