"""Hugging Face transformers `examples/pytorch/question-answering/run_qa.py`: extractive question answering
(SQuAD) with `BertForQuestionAnswering` (start / end logits, cross-entropy over token positions) and the
example's `QuestionAnsweringTrainer`, scored by the SQuAD exact match and F1.

Ported (re-written to the same model class, preprocessing, Trainer and metric): question and context are
tokenized as a pair with `truncation="only_second"`, `max_length`, `stride=doc_stride`,
`return_overflowing_tokens=True`, `return_offsets_mapping=True` and padding to `max_length`
(`pad_to_max_length=True`, so `default_data_collator`); `prepare_train_features` maps the answer's character
span to start / end token positions through the offsets and labels features whose window misses the answer
with the CLS index; `prepare_validation_features` keeps each feature's example id and the context offsets
(None elsewhere); `postprocess_qa_predictions` takes the `n_best_size` (20) best start and end logits of
every feature, drops spans outside the context, reversed or longer than `max_answer_length` (30), and keeps
the best-scoring span's text per example; the `squad` metric (exact match and F1 after SQuAD's answer
normalization, x100); `QuestionAnsweringTrainer.evaluate` runs the evaluation loop without metrics, then the
post-processing and the metric; `TrainingArguments` as the README's command (`--do_train --do_eval
--per_device_train_batch_size 12 --learning_rate 3e-5 --num_train_epochs 2 --max_seq_length 384
--doc_stride 128`: AdamW without weight decay, linear decay, no warmup).

Changes: the SQuAD download and the pretrained `bert-base-uncased` become seeded local question / context
pairs and a tiny, randomly initialized `BertConfig` (2 layers, 2 heads, hidden 64); the tokenizer is a real
`BertTokenizerFast` on a local whole-word vocabulary; `datasets` and `evaluate` are not installed, so torch
`Dataset`s of tokenized rows stand in for `raw_datasets.map` and the squad metric is computed in the script;
max_seq_length 64 / doc_stride 16 (contexts of 15-60 words, so long ones still overflow into several
windows); learning rate 3e-4 (see the TOML); no checkpoints, saved model, metrics files, model
card or predictions (CPU).
"""

import collections
import os
import re
import string
import tempfile

import _harness
import numpy as np
import torch
from transformers import (
    BertConfig,
    BertForQuestionAnswering,
    BertTokenizerFast,
    EvalPrediction,
    Trainer,
    TrainingArguments,
    default_data_collator,
    set_seed,
)

RELATIONS = ["capital", "author", "founder", "owner", "leader", "inventor", "teacher", "winner", "mayor", "designer"]
ENTITY_WORDS = 300  # answer words
FILLER_WORDS = 300  # context words that are never part of an answer
N_FACTS = 1  # facts per context


def vocabulary():
    return {"relation": RELATIONS, "entity": [f"e{i}" for i in range(ENTITY_WORDS)],
            "filler": [f"w{i}" for i in range(FILLER_WORDS)],
            "question": ["who", "or", "what", "is", "the", "of", "it", "?"]}


def make_split(rng, n, words, prefix):
    """SQuAD-format examples: a context of 15-60 filler words holding a fact "<relation> <answer>" (the answer
    1-3 entity words) at a random place, a question naming the relation; the answer is the entity span right
    after the relation word (character start as in SQuAD)."""
    rows = {"id": [], "question": [], "context": [], "answers": []}
    for k in range(n):
        n_words = int(rng.integers(15, 61))
        n_facts = N_FACTS
        relations = rng.choice(len(RELATIONS), size=n_facts, replace=False)
        slots = sorted(rng.choice(np.arange(0, n_words, 5), size=n_facts, replace=False).tolist())
        context, facts = [], []
        for i in range(n_words):
            if i in slots:
                rel = RELATIONS[int(relations[slots.index(i)])]
                answer = [words["entity"][int(rng.integers(ENTITY_WORDS))] for _ in range(int(rng.integers(1, 4)))]
                context.append(rel)
                start = len(" ".join(context)) + 1
                context.extend(answer)
                facts.append((rel, " ".join(answer), start))
            context.append(words["filler"][int(rng.integers(FILLER_WORDS))])
        rel, text, start = facts[int(rng.integers(n_facts))]
        context = " ".join(context)
        assert context[start:start + len(text)] == text
        rows["id"].append(f"{prefix}{k}")
        rows["question"].append(f"  who or what is the {rel} of it ?")
        rows["context"].append(context)
        rows["answers"].append({"text": [text], "answer_start": [start]})
    return rows


class Rows(torch.utils.data.Dataset):
    """A tokenized split as a list of rows (stands in for the mapped `datasets.Dataset`)."""

    def __init__(self, columns):
        keys = list(columns)
        self.rows = [dict(zip(keys, values, strict=True)) for values in zip(*(columns[k] for k in keys), strict=True)]

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def postprocess_qa_predictions(examples, features, predictions, n_best_size=20, max_answer_length=30):
    """utils_qa.postprocess_qa_predictions (version_2_with_negative False): the best valid span per example."""
    all_start_logits, all_end_logits = predictions
    example_id_to_index = {k: i for i, k in enumerate(examples["id"])}
    features_per_example = collections.defaultdict(list)
    for i, feature in enumerate(features):
        features_per_example[example_id_to_index[feature["example_id"]]].append(i)
    all_predictions = collections.OrderedDict()
    for example_index, example_id in enumerate(examples["id"]):
        context = examples["context"][example_index]
        prelim_predictions = []
        for feature_index in features_per_example[example_index]:
            start_logits = all_start_logits[feature_index]
            end_logits = all_end_logits[feature_index]
            offset_mapping = features[feature_index]["offset_mapping"]
            start_indexes = np.argsort(start_logits)[-1: -n_best_size - 1: -1].tolist()
            end_indexes = np.argsort(end_logits)[-1: -n_best_size - 1: -1].tolist()
            for start_index in start_indexes:
                for end_index in end_indexes:
                    if (start_index >= len(offset_mapping) or end_index >= len(offset_mapping)
                            or offset_mapping[start_index] is None or len(offset_mapping[start_index]) < 2
                            or offset_mapping[end_index] is None or len(offset_mapping[end_index]) < 2):
                        continue
                    if end_index < start_index or end_index - start_index + 1 > max_answer_length:
                        continue
                    prelim_predictions.append({
                        "offsets": (offset_mapping[start_index][0], offset_mapping[end_index][1]),
                        "score": start_logits[start_index] + end_logits[end_index]})
        predictions_sorted = sorted(prelim_predictions, key=lambda x: x["score"], reverse=True)[:n_best_size]
        for pred in predictions_sorted:
            pred["text"] = context[pred["offsets"][0]: pred["offsets"][1]]
        if not predictions_sorted or (len(predictions_sorted) == 1 and predictions_sorted[0]["text"] == ""):
            predictions_sorted.insert(0, {"text": "empty", "score": 0.0})
        all_predictions[example_id] = predictions_sorted[0]["text"]
    return all_predictions


def normalize_answer(s):
    """SQuAD v1.1's answer normalization: lower case, no punctuation, articles or extra whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def f1_score(prediction, ground_truth):
    prediction_tokens, ground_truth_tokens = normalize_answer(prediction).split(), normalize_answer(ground_truth).split()
    common = collections.Counter(prediction_tokens) & collections.Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision, recall = num_same / len(prediction_tokens), num_same / len(ground_truth_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_compute(predictions, references):
    """evaluate.load("squad").compute: exact match and F1 (max over the gold answers), in percent."""
    gold = {r["id"]: r["answers"]["text"] for r in references}
    exact = f1 = 0.0
    for p in predictions:
        truths = gold[p["id"]]
        exact += max(float(normalize_answer(p["prediction_text"]) == normalize_answer(t)) for t in truths)
        f1 += max(f1_score(p["prediction_text"], t) for t in truths)
    return {"exact_match": 100.0 * exact / len(predictions), "f1": 100.0 * f1 / len(predictions)}


class QuestionAnsweringTrainer(Trainer):
    """trainer_qa.QuestionAnsweringTrainer: evaluation loop without metrics, then post-processing and metric."""

    def __init__(self, *args, eval_examples=None, eval_features=None, post_process_function=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.eval_examples = eval_examples
        self.eval_features = eval_features  # the features' example_id / offset_mapping columns
        self.post_process_function = post_process_function

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        eval_dataset = self.eval_dataset if eval_dataset is None else eval_dataset
        eval_dataloader = self.get_eval_dataloader(eval_dataset)
        compute_metrics = self.compute_metrics
        self.compute_metrics = None
        try:
            output = self.evaluation_loop(eval_dataloader, description="Evaluation",
                                          prediction_loss_only=True if compute_metrics is None else None,
                                          ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        finally:
            self.compute_metrics = compute_metrics
        if self.post_process_function is not None and self.compute_metrics is not None:
            eval_preds = self.post_process_function(self.eval_examples, self.eval_features, output.predictions)
            metrics = self.compute_metrics(eval_preds)
            metrics = {(k if k.startswith(f"{metric_key_prefix}_") else f"{metric_key_prefix}_{k}"): v
                       for k, v in metrics.items()}
            metrics.update(output.metrics)
        else:
            metrics = output.metrics
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def main():
    _harness.seed_everything()
    seed = _harness.seed()
    set_seed(seed)
    rng = np.random.default_rng(seed)
    words = vocabulary()
    raw_datasets = {"train": make_split(rng, 3000, words, "train-"),
                    "validation": make_split(rng, 400, words, "valid-")}

    with tempfile.TemporaryDirectory() as output_dir:
        pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(w for ws in words.values() for w in ws)]
        tokenizer = BertTokenizerFast(vocab={piece: i for i, piece in enumerate(pieces)}, do_lower_case=True)
        config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=256, max_position_embeddings=128)
        model = BertForQuestionAnswering(config)

        question_column_name, context_column_name, answer_column_name = "question", "context", "answers"
        pad_on_right = tokenizer.padding_side == "right"
        max_seq_length = 64  # README: 384
        doc_stride = 16  # README: 128
        pad_to_max_length = True

        def prepare_train_features(examples):
            examples[question_column_name] = [q.lstrip() for q in examples[question_column_name]]
            tokenized_examples = tokenizer(
                examples[question_column_name if pad_on_right else context_column_name],
                examples[context_column_name if pad_on_right else question_column_name],
                truncation="only_second" if pad_on_right else "only_first",
                max_length=max_seq_length,
                stride=doc_stride,
                return_overflowing_tokens=True,
                return_offsets_mapping=True,
                padding="max_length" if pad_to_max_length else False,
            )
            sample_mapping = tokenized_examples.pop("overflow_to_sample_mapping")
            offset_mapping = tokenized_examples.pop("offset_mapping")
            tokenized_examples["start_positions"] = []
            tokenized_examples["end_positions"] = []
            for i, offsets in enumerate(offset_mapping):
                input_ids = tokenized_examples["input_ids"][i]
                cls_index = input_ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in input_ids else 0
                sequence_ids = tokenized_examples.sequence_ids(i)
                answers = examples[answer_column_name][sample_mapping[i]]
                if len(answers["answer_start"]) == 0:
                    tokenized_examples["start_positions"].append(cls_index)
                    tokenized_examples["end_positions"].append(cls_index)
                    continue
                start_char = answers["answer_start"][0]
                end_char = start_char + len(answers["text"][0])
                token_start_index = 0
                while sequence_ids[token_start_index] != (1 if pad_on_right else 0):
                    token_start_index += 1
                token_end_index = len(input_ids) - 1
                while sequence_ids[token_end_index] != (1 if pad_on_right else 0):
                    token_end_index -= 1
                if not (offsets[token_start_index][0] <= start_char and offsets[token_end_index][1] >= end_char):
                    tokenized_examples["start_positions"].append(cls_index)
                    tokenized_examples["end_positions"].append(cls_index)
                else:
                    while token_start_index < len(offsets) and offsets[token_start_index][0] <= start_char:
                        token_start_index += 1
                    tokenized_examples["start_positions"].append(token_start_index - 1)
                    while offsets[token_end_index][1] >= end_char:
                        token_end_index -= 1
                    tokenized_examples["end_positions"].append(token_end_index + 1)
            return tokenized_examples

        def prepare_validation_features(examples):
            examples[question_column_name] = [q.lstrip() for q in examples[question_column_name]]
            tokenized_examples = tokenizer(
                examples[question_column_name if pad_on_right else context_column_name],
                examples[context_column_name if pad_on_right else question_column_name],
                truncation="only_second" if pad_on_right else "only_first",
                max_length=max_seq_length,
                stride=doc_stride,
                return_overflowing_tokens=True,
                return_offsets_mapping=True,
                padding="max_length" if pad_to_max_length else False,
            )
            sample_mapping = tokenized_examples.pop("overflow_to_sample_mapping")
            tokenized_examples["example_id"] = []
            for i in range(len(tokenized_examples["input_ids"])):
                sequence_ids = tokenized_examples.sequence_ids(i)
                context_index = 1 if pad_on_right else 0
                tokenized_examples["example_id"].append(examples["id"][sample_mapping[i]])
                tokenized_examples["offset_mapping"][i] = [
                    (o if sequence_ids[k] == context_index else None)
                    for k, o in enumerate(tokenized_examples["offset_mapping"][i])
                ]
            return tokenized_examples

        model_inputs = ("input_ids", "token_type_ids", "attention_mask")
        train_features = prepare_train_features(dict(raw_datasets["train"]))
        train_dataset = Rows({k: train_features[k] for k in (*model_inputs, "start_positions", "end_positions")})
        eval_examples = raw_datasets["validation"]
        eval_features = Rows(dict(prepare_validation_features(dict(eval_examples))))
        # the Trainer drops the columns the model does not take (remove_unused_columns)
        eval_dataset = Rows({k: [row[k] for row in eval_features.rows] for k in model_inputs})
        print(f"{len(raw_datasets['train']['id'])} train examples -> {len(train_dataset)} features; "
              f"{len(eval_examples['id'])} validation examples -> {len(eval_dataset)} features")
        data_collator = default_data_collator  # pad_to_max_length=True

        def post_processing_function(examples, features, predictions, stage="eval"):
            predictions = postprocess_qa_predictions(examples=examples, features=features, predictions=predictions,
                                                     n_best_size=20, max_answer_length=30)
            formatted_predictions = [{"id": str(k), "prediction_text": v} for k, v in predictions.items()]
            references = [{"id": str(i), "answers": a}
                          for i, a in zip(examples["id"], examples[answer_column_name], strict=True)]
            return EvalPrediction(predictions=formatted_predictions, label_ids=references)

        def compute_metrics(p: EvalPrediction):
            return squad_compute(predictions=p.predictions, references=p.label_ids)

        training_args = TrainingArguments(
            output_dir=os.path.join(output_dir, "qa"),
            do_train=True,
            do_eval=True,
            per_device_train_batch_size=12,
            learning_rate=3e-4,  # README: 3e-5 (for a pretrained BERT)
            num_train_epochs=2,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            seed=seed,
            disable_tqdm=True,
        )
        trainer = QuestionAnsweringTrainer(
            model=model,
            args=training_args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            eval_examples=eval_examples,
            eval_features=eval_features,
            processing_class=tokenizer,
            data_collator=data_collator,
            post_process_function=post_processing_function,
            compute_metrics=compute_metrics,
            callbacks=_harness.callbacks("huggingface"),
        )
        train_result = trainer.train()
        print("train metrics:", train_result.metrics)
        metrics = trainer.evaluate()
        print("eval metrics:", metrics)

        # chance: a span of the same length distribution drawn uniformly inside the context
        chance_rng = np.random.default_rng(seed + 1)
        chance_preds = []
        for k, context in zip(eval_examples["id"], eval_examples["context"], strict=True):
            tokens = context.split()
            length = int(chance_rng.integers(1, 4))
            start = int(chance_rng.integers(0, len(tokens) - length + 1))
            chance_preds.append({"id": k, "prediction_text": " ".join(tokens[start:start + length])})
        references = [{"id": i, "answers": a} for i, a in zip(eval_examples["id"], eval_examples["answers"], strict=True)]
        chance = squad_compute(chance_preds, references)["f1"]
        print(f"random-span F1: {chance:.2f}")
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    _harness.report(metric=metrics["eval_f1"] / 100, metric_name="SQuAD F1", chance=chance / 100, losses=losses,
                    exact_match=metrics["eval_exact_match"] / 100)


if __name__ == "__main__":
    main()
