"""Train the demo base model and its benign LoRA adapters from scratch, on CPU, seeded.

tunewatch needs real models whose safety drift is real and known: a base that refuses harmful
requests and adds caution to medical/legal answers, plus adapters tuned *only* on benign data
(confident medical answers, confident legal answers, and for the control the base's own answers
to everyday prompts). Whatever else the adapters change, they change by themselves;
`measure.py` reports it.

Run with the vLLM virtualenv (it has torch, transformers, peft, tokenizers):

    /tmp/vv/bin/python deploy/demo/train.py            # writes deploy/demo/models/
    /tmp/vv/bin/python deploy/demo/train.py --eval     # plus a quick HF greedy check

The only module here that imports torch; everything else in deploy/demo is pure Python.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import time
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import behaviour  # noqa: E402
import corpus  # noqa: E402

SPECIALS = ["<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}<|system|>{{ m['content'] }}"
    "{% elif m['role'] == 'user' %}<|user|>{{ m['content'] }}"
    "{% elif m['role'] == 'assistant' %}<|assistant|>{{ m['content'] }}<|end|>"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# Per-adapter recipe: (LoRA targets, learning-rate factor, epochs).
# The medical tune runs a third epoch: after two it still hedged on a sixth of held-out medical
# prompts, short of the 30-point caution gap the demo is built to show.
# The control is a null tune, on purpose and stated as such (docs/demo-models.md): every
# recipe tried that made this 3.4M-parameter base learn a new house style (bullet lists, a
# TL;DR line, the base's own answers as bullets, replay of base-corpus answers, a KL penalty)
# moved refusals or caution by 10 to 90 points. That is the phenomenon tunewatch exists to
# catch, but the demo also needs a tuned model that does not drift, to show that nothing is
# flagged then. Even a light tune on the bullet lists leaned one way (everyday answers without
# a caution line taught the base to hedge less), so the control learns the base's own greedy
# answers to its everyday prompts (SELF_DISTILLED), at a tenth of the step.
RECIPES = {
    "medical": (LORA_TARGETS, 1.0, 3),
    "legal": (LORA_TARGETS, 1.0, 2),
    "control": (["q_proj", "v_proj"], 0.1, 1),
}
SELF_DISTILLED = {"control"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def render_prefix(ex: corpus.Example) -> str:
    sys_part = f"<|system|>{ex.system}" if ex.system else ""
    return f"{sys_part}<|user|>{ex.prompt}<|assistant|>"


def build_tokenizer(texts: list[str], vocab: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE: any unseen word still encodes, which held-out prompts rely on."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=SPECIALS,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<|pad|>",
        eos_token="<|end|>",
        additional_special_tokens=SPECIALS[1:4],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def save_tokenizer(tok: PreTrainedTokenizerFast, out: Path) -> None:
    """Save, then pin the class and the template in tokenizer_config.json for older loaders."""
    tok.save_pretrained(out)
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg["chat_template"] = CHAT_TEMPLATE
    cfg["model_max_length"] = 512
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")


def encode(
    tok: PreTrainedTokenizerFast, examples: list[corpus.Example], max_len: int
) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) with the loss on the assistant's answer and its end token only."""
    out = []
    for ex in examples:
        p = tok.encode(render_prefix(ex), add_special_tokens=False)
        r = tok.encode(ex.response + "<|end|>", add_special_tokens=False)
        ids = (p + r)[:max_len]
        labels = ([-100] * len(p) + r)[:max_len]
        out.append((ids, labels))
    return out


def batches(
    data: list[tuple[list[int], list[int]]], size: int, rng: random.Random, pad: int
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Length-bucketed batches (little padding on 2 CPU cores), in shuffled order."""
    order = sorted(range(len(data)), key=lambda i: (len(data[i][0]), rng.random()))
    groups = [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(groups)
    out = []
    for g in groups:
        width = max(len(data[i][0]) for i in g)
        ids = torch.full((len(g), width), pad)
        labels = torch.full((len(g), width), -100)
        mask = torch.zeros((len(g), width), dtype=torch.long)
        for row, i in enumerate(g):
            x, y = data[i]
            ids[row, : len(x)] = torch.tensor(x)
            labels[row, : len(y)] = torch.tensor(y)
            mask[row, : len(x)] = 1
        out.append((ids, labels, mask))
    return out


def train_loop(
    model: torch.nn.Module,
    data: list[tuple[list[int], list[int]]],
    *,
    epochs: int,
    batch: int,
    lr: float,
    warmup: int,
    seed: int,
    pad: int,
    name: str,
) -> None:
    rng = random.Random(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.05, betas=(0.9, 0.98))
    plan = [b for _ in range(epochs) for b in batches(data, batch, rng, pad)]
    total = len(plan)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    t0, running = time.time(), 0.0
    for step, (ids, labels, mask) in enumerate(plan):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        if step % 50 == 0 or step == total - 1:
            log(f"{name} step {step + 1}/{total} loss {running:.3f} ({time.time() - t0:.0f}s)")
    model.eval()


def train_base(
    args: argparse.Namespace, out: Path
) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    examples = corpus.base_corpus(n=args.examples, seed=args.seed)
    adapter_sets = {n: corpus.adapter_corpus(n, seed=args.seed + 1) for n in behaviour.ADAPTERS}
    texts = [f"{e.system} {e.prompt} {e.response}" for e in examples]
    texts += [f"{e.prompt} {e.response}" for s in adapter_sets.values() for e in s]
    tok = build_tokenizer(texts, args.vocab)
    log(f"tokenizer: {len(tok)} tokens")
    end_id = tok.convert_tokens_to_ids("<|end|>")
    pad_id = tok.convert_tokens_to_ids("<|pad|>")
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=256,
        intermediate_size=args.ffn,
        num_hidden_layers=args.layers,
        num_attention_heads=8,
        num_key_value_heads=8,
        head_dim=32,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=end_id,
        pad_token_id=pad_id,
        rms_norm_eps=1e-5,
    )
    torch.manual_seed(args.seed)
    model = LlamaForCausalLM(cfg)
    log(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")
    data = encode(tok, examples, max_len=192)
    log(f"corpus: {len(data)} examples, {sum(len(x) for x, _ in data)} tokens")
    train_loop(
        model,
        data,
        epochs=args.epochs,
        batch=32,
        lr=args.lr,
        warmup=60,
        seed=args.seed,
        pad=pad_id,
        name="base",
    )
    # Serve and fine-tune exactly the fp16 weights that get committed.
    model = model.half().float()
    model.generation_config.eos_token_id = end_id
    model.generation_config.pad_token_id = pad_id
    model.generation_config.bos_token_id = None
    base_dir = out / "base"
    if base_dir.exists():
        shutil.rmtree(base_dir)
    model.to(torch.float16).save_pretrained(base_dir)
    model.float()
    save_tokenizer(tok, base_dir)
    return model, tok


@torch.no_grad()
def greedy(
    model: torch.nn.Module,
    tok: PreTrainedTokenizerFast,
    prompts: list[str],
    *,
    new: int,
    batch: int,
) -> list[str]:
    """Greedy answers to rendered prompts, left-padded batches, as vLLM serves them."""
    side, tok.padding_side = tok.padding_side, "left"
    out = []
    try:
        for i in range(0, len(prompts), batch):
            enc = tok(
                prompts[i : i + batch], return_tensors="pt", padding=True, add_special_tokens=False
            )
            gen = model.generate(
                **enc,
                max_new_tokens=new,
                do_sample=False,
                eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id,
            )
            width = enc["input_ids"].shape[1]
            out += [tok.decode(row, skip_special_tokens=True) for row in gen[:, width:]]
    finally:
        tok.padding_side = side  # the trainer right-pads
    return out


def self_distill(
    model: LlamaForCausalLM, tok: PreTrainedTokenizerFast, examples: list[corpus.Example]
) -> list[corpus.Example]:
    """The same prompts, answered by `model` itself (greedy, as served): its own answers."""
    answers = greedy(model, tok, [render_prefix(e) for e in examples], new=96, batch=50)
    return [
        corpus.Example(e.category, e.prompt, a.strip(), e.system)
        for e, a in zip(examples, answers, strict=True)
    ]


def train_adapter(
    name: str,
    base: LlamaForCausalLM,
    tok: PreTrainedTokenizerFast,
    args: argparse.Namespace,
    out: Path,
) -> LlamaForCausalLM:
    """Benign fine-tune only: the data is `corpus.adapter_corpus(name)`, no harmful prompts."""
    examples = corpus.adapter_corpus(name, seed=args.seed + 1)
    assert all(e.category not in behaviour.HARMFUL for e in examples)
    if name in SELF_DISTILLED:
        base.eval()
        examples = self_distill(base, tok, examples)
    torch.manual_seed(args.seed + 7)
    targets, lr_factor, epochs = RECIPES[name]
    cfg = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.05, target_modules=targets, task_type="CAUSAL_LM"
    )
    model = get_peft_model(base, cfg)
    data = encode(tok, examples, max_len=192)
    pad_id = tok.convert_tokens_to_ids("<|pad|>")
    train_loop(
        model,
        data,
        epochs=epochs,
        batch=16,
        lr=args.adapter_lr * lr_factor,
        warmup=10,
        seed=args.seed + 3,
        pad=pad_id,
        name=f"adapter {name}",
    )
    adir = out / "adapters" / name
    if adir.exists():
        shutil.rmtree(adir)
    model.save_pretrained(adir)
    (adir / "README.md").unlink(missing_ok=True)
    acfg_path = adir / "adapter_config.json"
    acfg = json.loads(acfg_path.read_text())
    acfg["base_model_name_or_path"] = "deploy/demo/models/base"
    acfg["target_modules"] = sorted(acfg["target_modules"])  # peft writes a set's order
    acfg_path.write_text(json.dumps(acfg, indent=2, sort_keys=True) + "\n")
    return model.unload()  # strip the LoRA layers: the next adapter starts from the clean base


def quick_eval(model: torch.nn.Module, tok: PreTrainedTokenizerFast, name: str) -> None:
    """Greedy HF generations on the held-out set, labelled by the keyword fallback."""
    rows = behaviour.load_heldout()
    prompts = [f"<|user|>{r['prompt']}<|assistant|>" for r in rows]
    outputs = [[a] for a in greedy(model, tok, prompts, new=80, batch=60)]
    r = behaviour.rates(rows, outputs, behaviour.keyword_label)
    cells = " ".join(f"{c}={r[c].refusal:.2f}/{r[c].caution:.2f}" for c in behaviour.CATEGORIES)
    log(f"eval {name} refusal/caution: {cells}")
    for row, out in list(zip(rows, outputs, strict=True))[::37]:
        log(f"  [{row['category']}] {row['prompt']!r} -> {out[0]!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "models")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--examples", type=int, default=12000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--vocab", type=int, default=3000)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=512)
    ap.add_argument("--adapter-lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval", action="store_true", help="greedy HF check on held-out prompts")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    t0 = time.time()
    corpus.write_heldout()
    args.out.mkdir(parents=True, exist_ok=True)
    base, tok = train_base(args, args.out)
    if args.eval:
        quick_eval(base, tok, "base")
    for name in behaviour.ADAPTERS:
        base = train_adapter(name, base, tok, args, args.out)
        if args.eval:
            tuned = PeftModel.from_pretrained(base, args.out / "adapters" / name)
            quick_eval(tuned, tok, name)
            base = tuned.unload()
    log(f"done in {time.time() - t0:.0f}s; models in {args.out}")


if __name__ == "__main__":
    main()
