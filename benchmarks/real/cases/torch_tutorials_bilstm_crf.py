"""pytorch/tutorials `beginner_source/nlp/advanced_tutorial.py` (Advanced: Making Dynamic Decisions and the
Bi-LSTM CRF): a BiLSTM produces emission scores for B / I / O tags and a CRF layer on top is trained on the
negative log-likelihood of the gold tag sequence, the partition function computed by the forward algorithm
(log-sum-exp over a learned transition matrix); decoding is Viterbi.

Ported (re-written to the same model, loss, decoding, optimizer and loop): Embedding(vocab, 5), a
bidirectional nn.LSTM(5, 2) whose (h, c) start from torch.randn for every sentence, Linear(4, 5) to the tag
space (B, I, O, <START>, <STOP>), nn.Parameter transitions ~ randn with "to START" and "from STOP" set to
-10000; neg_log_likelihood = forward-algorithm score - gold path score, one sentence per step,
model.zero_grad(), backward, SGD lr 0.01 weight_decay 1e-4. The tutorial's two hand-written sentences become
a small generated corpus of the same kind (see the TOML).
"""

import _harness
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

_harness.seed_everything()
torch.manual_seed(_harness.seed())


def to_scalar(var):
    return var.view(-1).data.tolist()[0]


def argmax(vec):
    _, idx = torch.max(vec, 1)
    return to_scalar(idx)


def prepare_sequence(seq, to_ix):
    idxs = [to_ix[w] for w in seq]
    return torch.LongTensor(idxs)


def log_sum_exp(vec):
    """log-sum-exp of a (1, n) row, numerically stable."""
    max_score = vec[0, argmax(vec)]
    max_score_broadcast = max_score.view(1, -1).expand(1, vec.size()[1])
    return max_score + torch.log(torch.sum(torch.exp(vec - max_score_broadcast)))


class BiLSTM_CRF(nn.Module):  # noqa: N801
    def __init__(self, vocab_size, tag_to_ix, embedding_dim, hidden_dim):
        super().__init__()
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.vocab_size = vocab_size
        self.tag_to_ix = tag_to_ix
        self.tagset_size = len(tag_to_ix)

        self.word_embeds = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim // 2, num_layers=1, bidirectional=True)

        # maps the LSTM output to tag space
        self.hidden2tag = nn.Linear(hidden_dim, self.tagset_size)

        # transitions[i, j]: the score of going *to* tag i *from* tag j
        self.transitions = nn.Parameter(torch.randn(self.tagset_size, self.tagset_size))
        # never go to the start tag, never leave the stop tag
        self.transitions.data[tag_to_ix[START_TAG], :] = -10000
        self.transitions.data[:, tag_to_ix[STOP_TAG]] = -10000

        self.hidden = self.init_hidden()

    def init_hidden(self):
        return (torch.randn(2, 1, self.hidden_dim // 2), torch.randn(2, 1, self.hidden_dim // 2))

    def _forward_alg(self, feats):
        # the forward algorithm: the log partition function
        init_alphas = torch.Tensor(1, self.tagset_size).fill_(-10000.0)
        init_alphas[0][self.tag_to_ix[START_TAG]] = 0.0
        forward_var = init_alphas
        for feat in feats:
            alphas_t = []
            for next_tag in range(self.tagset_size):
                emit_score = feat[next_tag].view(1, -1).expand(1, self.tagset_size)
                trans_score = self.transitions[next_tag].view(1, -1)
                next_tag_var = forward_var + trans_score + emit_score
                alphas_t.append(log_sum_exp(next_tag_var).view(1))
            forward_var = torch.cat(alphas_t).view(1, -1)
        terminal_var = forward_var + self.transitions[self.tag_to_ix[STOP_TAG]]
        alpha = log_sum_exp(terminal_var)
        return alpha

    def _get_lstm_features(self, sentence):
        self.hidden = self.init_hidden()
        embeds = self.word_embeds(sentence).view(len(sentence), 1, -1)
        lstm_out, self.hidden = self.lstm(embeds, self.hidden)
        lstm_out = lstm_out.view(len(sentence), self.hidden_dim)
        lstm_feats = self.hidden2tag(lstm_out)
        return lstm_feats

    def _score_sentence(self, feats, tags):
        # the score of the given tag sequence
        score = torch.Tensor([0])
        tags = torch.cat([torch.LongTensor([self.tag_to_ix[START_TAG]]), tags])
        for i, feat in enumerate(feats):
            score = score + self.transitions[tags[i + 1], tags[i]] + feat[tags[i + 1]]
        score = score + self.transitions[self.tag_to_ix[STOP_TAG], tags[-1]]
        return score

    def _viterbi_decode(self, feats):
        backpointers = []
        init_vvars = torch.Tensor(1, self.tagset_size).fill_(-10000.0)
        init_vvars[0][self.tag_to_ix[START_TAG]] = 0
        forward_var = init_vvars
        for feat in feats:
            bptrs_t = []
            viterbivars_t = []
            for next_tag in range(self.tagset_size):
                next_tag_var = forward_var + self.transitions[next_tag]
                best_tag_id = argmax(next_tag_var)
                bptrs_t.append(best_tag_id)
                viterbivars_t.append(next_tag_var[0][best_tag_id].view(1))
            forward_var = (torch.cat(viterbivars_t) + feat).view(1, -1)
            backpointers.append(bptrs_t)

        terminal_var = forward_var + self.transitions[self.tag_to_ix[STOP_TAG]]
        best_tag_id = argmax(terminal_var)
        path_score = terminal_var[0][best_tag_id]

        best_path = [best_tag_id]
        for bptrs_t in reversed(backpointers):
            best_tag_id = bptrs_t[best_tag_id]
            best_path.append(best_tag_id)
        start = best_path.pop()
        assert start == self.tag_to_ix[START_TAG]
        best_path.reverse()
        return path_score, best_path

    def neg_log_likelihood(self, sentence, tags):
        feats = self._get_lstm_features(sentence)
        forward_score = self._forward_alg(feats)
        gold_score = self._score_sentence(feats, tags)
        return forward_score - gold_score

    def forward(self, sentence):
        lstm_feats = self._get_lstm_features(sentence)
        score, tag_seq = self._viterbi_decode(lstm_feats)
        return score, tag_seq


START_TAG = "<START>"
STOP_TAG = "<STOP>"
EMBEDDING_DIM = 5
HIDDEN_DIM = 4


def make_corpus(rng, n):
    """Sentences like the tutorial's ("the wall street journal reported today that apple corporation made
    money" / B I I I O O O B I O O): one or two entities of 1-3 words (B then I) among ordinary words (O)."""
    entity_words = [f"ent{i}" for i in range(40)]
    other_words = [f"w{i}" for i in range(40)]
    data = []
    for _ in range(n):
        words, tags = [], []
        for _ in range(int(rng.integers(1, 3))):
            for _ in range(int(rng.integers(1, 4))):
                words.append(str(rng.choice(other_words)))
                tags.append("O")
            for k in range(int(rng.integers(1, 4))):
                words.append(str(rng.choice(entity_words)))
                tags.append("B" if k == 0 else "I")
        for _ in range(int(rng.integers(0, 3))):
            words.append(str(rng.choice(other_words)))
            tags.append("O")
        data.append((words, tags))
    return data


rng = np.random.default_rng(_harness.seed())
training_data = make_corpus(rng, 150)
test_data = make_corpus(rng, 100)

word_to_ix = {}
for sentence, _tags in training_data + test_data:
    for word in sentence:
        if word not in word_to_ix:
            word_to_ix[word] = len(word_to_ix)

tag_to_ix = {"B": 0, "I": 1, "O": 2, START_TAG: 3, STOP_TAG: 4}

model = BiLSTM_CRF(len(word_to_ix), tag_to_ix, EMBEDDING_DIM, HIDDEN_DIM)
optimizer = optim.SGD(model.parameters(), lr=0.01, weight_decay=1e-4)

with torch.no_grad():
    precheck_sent = prepare_sequence(training_data[0][0], word_to_ix)
    print(model(precheck_sent))

losses = []
for epoch in range(20):
    for sentence, tags in training_data:
        model.zero_grad()
        sentence_in = prepare_sequence(sentence, word_to_ix)
        targets = torch.LongTensor([tag_to_ix[t] for t in tags])
        neg_log_likelihood = model.neg_log_likelihood(sentence_in, targets)
        neg_log_likelihood.backward()
        optimizer.step()
        losses.append(neg_log_likelihood.item())
    print(f"epoch {epoch}: mean NLL {np.mean(losses[-len(training_data):]):.3f}")

with torch.no_grad():
    print(model(prepare_sequence(training_data[0][0], word_to_ix)), training_data[0][1])
    correct = total = 0
    for sentence, tags in test_data:
        _, predicted = model(prepare_sequence(sentence, word_to_ix))
        correct += sum(int(p == tag_to_ix[t]) for p, t in zip(predicted, tags, strict=True))
        total += len(tags)
counts = np.bincount([tag_to_ix[t] for _, tags in test_data for t in tags])
print(f"held-out tag accuracy {correct / total:.3f}")
_harness.report(metric=correct / total, metric_name="tag accuracy", chance=float(counts.max() / total), losses=losses)
