"""pytorch/tutorials `intermediate_source/seq2seq_translation_tutorial.py` ("NLP From Scratch: Translation
with a Sequence to Sequence Network and Attention", the batched version with ``get_dataloader`` and
``train_epoch``).

Ported (re-written with the same data pipeline, models, loss, optimizers and loop): sentence pairs are
normalized, reversed (the other language -> English), filtered to fewer than ``MAX_LENGTH`` = 10 words with
an English side starting with one of the tutorial's ``eng_prefixes``; each ``Lang`` indexes its words after
SOS (0) and EOS (1); ``get_dataloader`` writes every pair as ``MAX_LENGTH`` ids (the words, EOS, then zeros)
into a ``TensorDataset`` drawn by a ``RandomSampler`` in batches of 32. ``EncoderRNN`` is Embedding + dropout
0.1 + a batch-first GRU (hidden 128); ``AttnDecoderRNN`` starts from SOS and the encoder's last hidden state
and, for ``MAX_LENGTH`` steps, embeds its input (dropout 0.1), attends over the encoder outputs with
``BahdanauAttention`` (``Va(tanh(Wa(query) + Ua(keys)))``, softmax, bmm), feeds [embedding, context] to its
GRU and a Linear to the output vocabulary; with a target it feeds the true previous word (teacher forcing,
on every step), without one its own greedy choice; the outputs get ``log_softmax``. ``train`` makes two
``optim.Adam`` (lr 0.001), one per network, and ``nn.NLLLoss`` over every one of the ``MAX_LENGTH``
positions (the zero padding, which is SOS's id, included); ``train_epoch`` zeroes both optimizers, runs
encoder and decoder, calls ``loss.backward()`` and steps both. ``evaluate`` encodes one sentence (its words
and EOS), decodes greedily and stops at EOS.

The eng-fra download (data/eng-fra.txt) becomes a synthetic parallel corpus (``make_corpus``): English
sentences "subject be [not] [adverb] adjective [and adjective] ." or "subject be [not] a adjective noun ." and
their French-like translations, whose words come from fixed lists of invented word pairs, with the French
order and agreement rules (ne ... pas around the verb, the noun before its adjective, feminine adjectives
after elle / elles, one English subject for tu es / vous etes). Some lines start with "it is" / "this is"
or are too long, so the tutorial's filter still removes some. The reported measure is the token accuracy
of ``evaluate``'s greedy translations of held-out pairs (positions up to the target's EOS; words missing
after an early EOS count as wrong); chance is one over the English vocabulary.
"""

import random
import re
import time
import unicodedata

import _harness
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn, optim
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

_harness.seed_everything()

SOS_token = 0
EOS_token = 1


class Lang:
    def __init__(self, name):
        self.name = name
        self.word2index = {}
        self.word2count = {}
        self.index2word = {SOS_token: "SOS", EOS_token: "EOS"}
        self.n_words = 2  # SOS and EOS

    def addSentence(self, sentence):  # noqa: N802
        for word in sentence.split(" "):
            self.addWord(word)

    def addWord(self, word):  # noqa: N802
        if word in self.word2index:
            self.word2count[word] += 1
        else:
            self.word2index[word] = self.n_words
            self.word2count[word] = 1
            self.index2word[self.n_words] = word
            self.n_words += 1


def unicodeToAscii(s):  # noqa: N802
    # drop the combining marks left by NFD decomposition
    return "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")


def normalizeString(s):  # noqa: N802
    # lowercase, split off the end punctuation, keep only letters and .!?
    s = unicodeToAscii(s.lower().strip())
    s = re.sub(r"([.!?])", r" \1", s)
    s = re.sub(r"[^a-zA-Z.!?]+", r" ", s)
    return s


# ---------------------------------------------------------------------------------------------------------
# The stand-in for data/eng-fra.txt: "English<TAB>French" lines from a small translation grammar.
_SUBJECTS = [  # (English, French, feminine)
    ("i am", "je suis", False), ("he is", "il est", False), ("she is", "elle est", True),
    ("you are", "tu es", False), ("you are", "vous etes", False), ("we are", "nous sommes", False),
    ("they are", "ils sont", False), ("they are", "elles sont", True),
    ("it is", "c est", False), ("this is", "ceci est", False),  # removed by the prefix filter
]
_ADVERBS = [("very", "tres"), ("too", "trop"), ("so", "si"), ("really", "vraiment"), ("still", "encore"),
            ("always", "toujours"), ("quite", "assez"), ("almost", "presque")]
_ONSETS = ["b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "br", "gr", "pl", "tr", "ch"]
_VOWELS = ["a", "e", "i", "o", "u", "ou", "ai", "ea"]


def _words(rng, count, syllables):
    """``count`` distinct invented words of ``syllables`` syllables."""
    out = set()
    while len(out) < count:
        out.add("".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)))
    return sorted(out)


def make_corpus(seed, n_lines=2000, n_adjectives=20, n_nouns=20):
    rng = np.random.default_rng(seed + 31000)
    eng = _words(rng, n_adjectives + n_nouns, 2)
    fra = [w for w in _words(rng, 2 * (n_adjectives + n_nouns), 3) if w not in eng]
    rng.shuffle(eng)
    rng.shuffle(fra)
    adjectives = list(zip(eng[:n_adjectives], fra[:n_adjectives], strict=True))
    nouns = list(zip(eng[n_adjectives:], fra[n_adjectives:n_adjectives + n_nouns], strict=True))
    lines = set()
    while len(lines) < n_lines:
        e_subj, f_subj, feminine = _SUBJECTS[rng.integers(len(_SUBJECTS))]
        f_pron, f_verb = f_subj.split(" ")
        e, f = [e_subj], [f_pron]
        negated = rng.random() < 0.3
        e += ["not"] if negated else []
        f += ["ne", f_verb, "pas"] if negated else [f_verb]

        def adjective():
            e_adj, f_adj = adjectives[rng.integers(n_adjectives)]
            return e_adj, f_adj + ("e" if feminine else "")

        if rng.random() < 0.6:
            if rng.random() < 0.4:
                e_adv, f_adv = _ADVERBS[rng.integers(len(_ADVERBS))]
                e.append(e_adv)
                f.append(f_adv)
            e_adj, f_adj = adjective()
            e.append(e_adj)
            f.append(f_adj)
            for _ in range(rng.choice([0, 1, 2], p=[0.6, 0.3, 0.1])):  # two "and" may pass MAX_LENGTH
                e_adj, f_adj = adjective()
                e += ["and", e_adj]
                f += ["et", f_adj]
        else:
            e_noun, f_noun = nouns[rng.integers(n_nouns)]
            e_adj, f_adj = adjectives[rng.integers(n_adjectives)]
            e += ["a", e_adj, e_noun]
            f += ["une" if feminine else "un", f_noun, f_adj]
        lines.add(" ".join(e).capitalize() + ".\t" + " ".join(f).capitalize() + ".")
    lines = sorted(lines)
    rng.shuffle(lines)
    return lines


def readLangs(lang1, lang2, lines, reverse=False):  # noqa: N802
    print("Reading lines...")
    pairs = [[normalizeString(s) for s in line.split("\t")] for line in lines]
    if reverse:
        pairs = [list(reversed(p)) for p in pairs]
        input_lang, output_lang = Lang(lang2), Lang(lang1)
    else:
        input_lang, output_lang = Lang(lang1), Lang(lang2)
    return input_lang, output_lang, pairs


MAX_LENGTH = 10

eng_prefixes = ("i am ", "i m ", "he is", "he s ", "she is", "she s ", "you are", "you re ", "we are",
                "we re ", "they are", "they re ")


def filterPair(p):  # noqa: N802
    return len(p[0].split(" ")) < MAX_LENGTH and len(p[1].split(" ")) < MAX_LENGTH \
        and p[1].startswith(eng_prefixes)


def filterPairs(pairs):  # noqa: N802
    return [pair for pair in pairs if filterPair(pair)]


def prepareData(lang1, lang2, lines, reverse=False):  # noqa: N802
    input_lang, output_lang, pairs = readLangs(lang1, lang2, lines, reverse)
    print(f"Read {len(pairs)} sentence pairs")
    pairs = filterPairs(pairs)
    print(f"Trimmed to {len(pairs)} sentence pairs")
    print("Counting words...")
    for pair in pairs:
        input_lang.addSentence(pair[0])
        output_lang.addSentence(pair[1])
    print("Counted words:")
    print(input_lang.name, input_lang.n_words)
    print(output_lang.name, output_lang.n_words)
    return input_lang, output_lang, pairs


class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size, dropout_p=0.1):
        super().__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, input):  # noqa: A002
        embedded = self.dropout(self.embedding(input))
        output, hidden = self.gru(embedded)
        return output, hidden


class BahdanauAttention(nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.Wa = nn.Linear(hidden_size, hidden_size)
        self.Ua = nn.Linear(hidden_size, hidden_size)
        self.Va = nn.Linear(hidden_size, 1)

    def forward(self, query, keys):
        scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys)))  # (B, L, 1)
        scores = scores.squeeze(2).unsqueeze(1)  # (B, 1, L)
        weights = F.softmax(scores, dim=-1)
        context = torch.bmm(weights, keys)  # (B, 1, H)
        return context, weights


class AttnDecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size, dropout_p=0.1):
        super().__init__()
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.attention = BahdanauAttention(hidden_size)
        self.gru = nn.GRU(2 * hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, encoder_outputs, encoder_hidden, target_tensor=None):
        batch_size = encoder_outputs.size(0)
        decoder_input = torch.full((batch_size, 1), SOS_token, dtype=torch.long)
        decoder_hidden = encoder_hidden
        decoder_outputs, attentions = [], []
        for i in range(MAX_LENGTH):
            decoder_output, decoder_hidden, attn_weights = self.forward_step(
                decoder_input, decoder_hidden, encoder_outputs)
            decoder_outputs.append(decoder_output)
            attentions.append(attn_weights)
            if target_tensor is not None:
                decoder_input = target_tensor[:, i].unsqueeze(1)  # teacher forcing: the true word
            else:
                _, topi = decoder_output.topk(1)
                decoder_input = topi.squeeze(-1).detach()  # its own prediction, detached
        decoder_outputs = F.log_softmax(torch.cat(decoder_outputs, dim=1), dim=-1)
        return decoder_outputs, decoder_hidden, torch.cat(attentions, dim=1)

    def forward_step(self, input, hidden, encoder_outputs):  # noqa: A002
        embedded = self.dropout(self.embedding(input))
        query = hidden.permute(1, 0, 2)
        context, attn_weights = self.attention(query, encoder_outputs)
        output, hidden = self.gru(torch.cat((embedded, context), dim=2), hidden)
        return self.out(output), hidden, attn_weights


def indexesFromSentence(lang, sentence):  # noqa: N802
    return [lang.word2index[word] for word in sentence.split(" ")]


def tensorFromSentence(lang, sentence):  # noqa: N802
    indexes = indexesFromSentence(lang, sentence) + [EOS_token]
    return torch.tensor(indexes, dtype=torch.long).view(1, -1)


def get_dataloader(batch_size, pairs):
    n = len(pairs)
    input_ids = np.zeros((n, MAX_LENGTH), dtype=np.int32)
    target_ids = np.zeros((n, MAX_LENGTH), dtype=np.int32)
    for idx, (inp, tgt) in enumerate(pairs):
        inp_ids = indexesFromSentence(input_lang, inp) + [EOS_token]
        tgt_ids = indexesFromSentence(output_lang, tgt) + [EOS_token]
        input_ids[idx, :len(inp_ids)] = inp_ids
        target_ids[idx, :len(tgt_ids)] = tgt_ids
    train_data = TensorDataset(torch.LongTensor(input_ids), torch.LongTensor(target_ids))
    return DataLoader(train_data, sampler=RandomSampler(train_data), batch_size=batch_size)


losses = []  # every batch's loss, for the benchmark's report


def train_epoch(dataloader, encoder, decoder, encoder_optimizer, decoder_optimizer, criterion):
    total_loss = 0
    for input_tensor, target_tensor in dataloader:
        encoder_optimizer.zero_grad()
        decoder_optimizer.zero_grad()

        encoder_outputs, encoder_hidden = encoder(input_tensor)
        decoder_outputs, _, _ = decoder(encoder_outputs, encoder_hidden, target_tensor)

        loss = criterion(decoder_outputs.view(-1, decoder_outputs.size(-1)), target_tensor.view(-1))
        loss.backward()

        encoder_optimizer.step()
        decoder_optimizer.step()

        total_loss += loss.item()
        losses.append(loss.item())
    return total_loss / len(dataloader)


def train(train_dataloader, encoder, decoder, n_epochs, learning_rate=0.001, print_every=100):
    start = time.time()
    print_loss_total = 0

    encoder_optimizer = optim.Adam(encoder.parameters(), lr=learning_rate)
    decoder_optimizer = optim.Adam(decoder.parameters(), lr=learning_rate)
    criterion = nn.NLLLoss()

    for epoch in range(1, n_epochs + 1):
        loss = train_epoch(train_dataloader, encoder, decoder, encoder_optimizer, decoder_optimizer, criterion)
        print_loss_total += loss
        if epoch % print_every == 0:
            print(f"{time.time() - start:.1f}s ({epoch} {epoch / n_epochs * 100:.0f}%) "
                  f"{print_loss_total / print_every:.4f}")
            print_loss_total = 0


def evaluate(encoder, decoder, sentence, input_lang, output_lang):
    with torch.no_grad():
        input_tensor = tensorFromSentence(input_lang, sentence)
        encoder_outputs, encoder_hidden = encoder(input_tensor)
        decoder_outputs, _, decoder_attn = decoder(encoder_outputs, encoder_hidden)
        _, topi = decoder_outputs.topk(1)
        decoded_ids = topi.squeeze()
        decoded_words = []
        for idx in decoded_ids:
            if idx.item() == EOS_token:
                decoded_words.append("<EOS>")
                break
            decoded_words.append(output_lang.index2word[idx.item()])
    return decoded_words, decoder_attn


lines = make_corpus(_harness.seed())
input_lang, output_lang, pairs = prepareData("eng", "fra", lines, True)
print(random.choice(pairs))
n_test = len(pairs) // 10
train_pairs, test_pairs = pairs[n_test:], pairs[:n_test]  # held-out pairs for the reported measure

hidden_size = 128
batch_size = 32

train_dataloader = get_dataloader(batch_size, train_pairs)
encoder = EncoderRNN(input_lang.n_words, hidden_size)
decoder = AttnDecoderRNN(hidden_size, output_lang.n_words)
train(train_dataloader, encoder, decoder, 6, print_every=1)

encoder.eval()
decoder.eval()
correct = total = 0
for i, (source, target) in enumerate(test_pairs):
    output_words, _ = evaluate(encoder, decoder, source, input_lang, output_lang)
    reference = target.split(" ") + ["<EOS>"]
    correct += sum(w == r for w, r in zip(output_words, reference, strict=False))
    total += len(reference)
    if i < 5:
        print(">", source)
        print("=", target)
        print("<", " ".join(output_words))
accuracy = correct / total
print(f"held-out token accuracy {accuracy:.4f} over {len(test_pairs)} pairs")
_harness.report(metric=accuracy, metric_name="held-out greedy token accuracy", chance=1.0 / output_lang.n_words,
                losses=losses)
