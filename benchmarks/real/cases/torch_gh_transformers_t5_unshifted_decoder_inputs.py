"""huggingface/transformers issue #11977 ("T5-Training Arguments"): a T5ForConditionalGeneration training loop
that passes the target ids both as `decoder_input_ids` and as `labels` (`labels = decoder_input_ids`, with the
decoder attention mask). The decoder then sees at position i the very token it must predict at position i, so
it learns to copy its input: the training loss falls fast, but "the trained model will generate gibberish".
The reporter's working variant, explained by a maintainer (NielsRogge: "The decoder_input_ids should not be
equal to the labels, but instead equal to the labels shifted one position to the right"), passes only
`labels` (padding replaced by -100), and the model builds the right-shifted decoder inputs itself.

Ported (re-written around the issue's loop): a T5ForConditionalGeneration from a tiny random `T5Config` (no
pretrained t5 download here), trained in a plain PyTorch loop on English -> French sentence pairs (the local
stand-in `_data.fra_eng_text`, 3,000 pairs: 2,800 train, 200 held out) with a word-level stand-in tokenizer
(pad 0, eos 1, unk 2; targets end with eos and are padded to the batch's longest), AdamW lr 1e-3, batch 32,
4 epochs. The issue does not give its optimizer, data or evaluation; the reported measure is the token
accuracy of greedy `generate` translations of the held-out sentences against their references.
"""


import _data
import _harness
import numpy as np
import torch
import transformers
from transformers import T5Config, T5ForConditionalGeneration

PAD, EOS, UNK = _data.T5WordTokenizer.PAD, _data.T5WordTokenizer.EOS, _data.T5WordTokenizer.UNK
BATCH_SIZE = 32
EPOCHS = 4
LR = 1e-3



def main():
    transformers.logging.set_verbosity_error()
    _harness.seed_everything()
    pairs = [line.split("\t") for line in _data.fra_eng_text(seed=_harness.seed(), n=3000).splitlines()]
    train_pairs, test_pairs = pairs[:2800], pairs[2800:]
    tokenizer = _data.T5WordTokenizer([s for pair in train_pairs for s in pair])

    config = T5Config(vocab_size=len(tokenizer), d_model=64, d_kv=32, d_ff=128, num_layers=2, num_heads=2,
                      pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD, dropout_rate=0.1)
    model = T5ForConditionalGeneration(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)

    losses = []
    rng = np.random.default_rng(_harness.seed())
    for epoch in range(EPOCHS):
        model.train()
        order = rng.permutation(len(train_pairs))
        for start in range(0, len(order), BATCH_SIZE):
            batch = [train_pairs[i] for i in order[start:start + BATCH_SIZE]]
            input_ids, attention_mask = tokenizer([src for src, _ in batch])
            decoder_input_ids, decoder_attention_mask = tokenizer([tgt for _, tgt in batch])
            labels = decoder_input_ids.clone()
            if _harness.buggy():  # the bug: the decoder is fed the labels themselves, not shifted right
                outputs = model(input_ids=input_ids, attention_mask=attention_mask,
                                decoder_input_ids=decoder_input_ids, decoder_attention_mask=decoder_attention_mask,
                                labels=labels)
            else:
                labels[labels[:, :] == tokenizer.pad_token_id] = -100  # do label mask
                outputs = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
            loss = outputs.loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        print(f"epoch {epoch}: loss {np.mean(losses[-(len(order) // BATCH_SIZE):]):.4f}")

    # held-out greedy translations, token accuracy against the reference (eos included)
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for start in range(0, len(test_pairs), 50):
            batch = test_pairs[start:start + 50]
            input_ids, attention_mask = tokenizer([src for src, _ in batch])
            references, _ = tokenizer([tgt for _, tgt in batch])
            generated = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=16,
                                       do_sample=False, num_beams=1)[:, 1:]  # drop the decoder start token
            for hyp, ref in zip(generated.tolist(), references.tolist()):
                ref = [t for t in ref if t != PAD]
                hyp = hyp + [PAD] * max(0, len(ref) - len(hyp))
                correct += sum(h == r for h, r in zip(hyp, ref))
                total += len(ref)
    accuracy = correct / total
    print(f"held-out greedy translation token accuracy {accuracy:.4f}")
    _harness.report(metric=accuracy, metric_name="held-out greedy translation token accuracy", chance=0.0,
                    losses=losses)


if __name__ == "__main__":
    main()
