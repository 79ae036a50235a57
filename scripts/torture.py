#!/usr/bin/env python3
"""`make torture`: kill DiTKit at random moments and check that every resume ends where an uninterrupted run ends.

For each mode, RUNS trials: the command is started, SIGKILLed (with its workers: the whole process group) at a random
moment, and started again (`--resume` once a checkpoint exists) until it finishes. Some kills are aimed at a
checkpoint write (the moment its temporary directory appears). After every kill each checkpoint on disk must load
(complete safetensors, readable trainer_state.json), the resumed run must say it resumed from the newest one, and at
the end the weights (or the cache, or the export) must equal an uninterrupted run's exactly.

Modes: train with 1 process, train with 2 processes (`dit launch`), `dit prepare` (shard writes, 1 and 2 processes)
and `dit export`. Prints one summary line per mode and exits 1 if anything was wrong.
"""
import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from safetensors.numpy import load_file

CONFIG = """run:
  name: {name}
  output_dir: {root}/runs
  seed: 11
  threads: 1
  log_every: 5
  checkpoint_every: 4
  keep_last: 2
  distributed_timeout: 60
data:
  cache: {root}/cache
  image_size: 32
  caption_dropout: 0.2
model:
  hidden_size: 32
  num_layers: 2
  num_heads: 2
  patch_size: 4
  in_channels: 3
  sample_size: 32
text_encoder:
  type: clip
  hidden_size: 32
  num_layers: 1
  num_heads: 2
  max_length: 12
scheduler:
  objective: epsilon
optimizer:
  learning_rate: 1.0e-3
  warmup_steps: 4
  ema_decay: 0.9
training:
  batch_size: 8
  max_steps: {steps}
"""


class Torture:
    def __init__(self, dit, root, seed):
        self.dit, self.root, self.rng = dit, root, random.Random(seed)
        self.problems = []

    def config(self, name, steps):
        path = os.path.join(self.root, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(CONFIG.format(name=name, root=self.root, steps=steps))
        shutil.rmtree(os.path.join(self.root, "runs", name), ignore_errors=True)
        return path

    def command(self, nproc, args):
        return [self.dit] + (["launch", "--nproc-per-node", str(nproc), "--"] if nproc > 1 else []) + args

    def run(self, argv):
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            sys.exit(f"torture: {' '.join(argv)} failed:\n{p.stdout}")
        return p.stdout

    def killed_run(self, argv, budget, watch=None):
        """Starts argv in its own process group; kills the group at a random moment within `budget` seconds (or as
        soon as a path matching `watch` appears). Returns (finished, output): finished when it exited by itself."""
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        deadline = time.monotonic() + self.rng.uniform(0.05, budget)
        while p.poll() is None and time.monotonic() < deadline:
            if watch and watch():
                break
            time.sleep(0.002 if watch else 0.01)
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            out = p.communicate()[0]
            return False, out
        out = p.communicate()[0]
        if p.returncode != 0:
            self.problems.append(f"{' '.join(argv)} exited with {p.returncode}: {out[-2000:]}")
        return True, out

    # -- checks --

    @staticmethod
    def checkpoints(run_dir):
        folder = os.path.join(run_dir, "checkpoints")
        if not os.path.isdir(folder):
            return []
        steps = [(int(n[5:]), os.path.join(folder, n)) for n in os.listdir(folder) if re.fullmatch(r"step-\d+", n)]
        return sorted(steps)

    def check_checkpoints(self, run_dir):
        """Every complete-looking checkpoint loads; returns how many are corrupt."""
        corrupt = 0
        for step, path in self.checkpoints(run_dir):
            try:
                for name in ("model", "ema", "optimizer"):
                    load_file(os.path.join(path, f"{name}.safetensors"))
                with open(os.path.join(path, "trainer_state.json")) as f:
                    if json.load(f)["step"] != step:
                        raise ValueError("trainer_state.json names another step")
            except Exception as e:  # noqa: BLE001 (any failure is a corrupt checkpoint)
                corrupt += 1
                self.problems.append(f"corrupt checkpoint {path}: {e}")
        return corrupt

    def same_weights(self, a, b):
        for name in ("model", "ema"):
            x, y = load_file(os.path.join(a, f"{name}.safetensors")), load_file(os.path.join(b, f"{name}.safetensors"))
            if x.keys() != y.keys() or any(x[k].tobytes() != y[k].tobytes() for k in x):
                return False
        return True

    @staticmethod
    def tree_digest(folder, skip=()):
        digest = {}
        for base, _, files in os.walk(folder):
            for f in files:
                rel = os.path.relpath(os.path.join(base, f), folder)
                if rel in skip:
                    continue
                with open(os.path.join(base, f), "rb") as fh:
                    digest[rel] = hashlib.sha256(fh.read()).hexdigest()
        return digest

    # -- modes --

    def train(self, nproc, runs, steps):
        ref_dir = os.path.join(self.root, "runs", f"ref{nproc}")
        self.run(self.command(nproc, ["train", "--config", self.config(f"ref{nproc}", steps)]))
        final = self.checkpoints(ref_dir)[-1][1]
        started = time.monotonic()
        self.run(self.command(nproc, ["train", "--config", self.config("timing", steps)]))
        budget = (time.monotonic() - started) * 1.2
        kills = aimed = resumes = exact = corrupt = 0
        for trial in range(runs):
            name = f"t{nproc}-{trial}"
            config = self.config(name, steps)
            run_dir = os.path.join(self.root, "runs", name)
            finished, attempts = False, 0
            while not finished:
                attempts += 1
                newest = self.checkpoints(run_dir)
                args = ["train", "--config", config] + (["--resume"] if newest else [])
                # Every third attempt aims at a checkpoint write: kill when a new temporary directory appears.
                folder = os.path.join(run_dir, "checkpoints")

                def temporaries():
                    return {n for n in os.listdir(folder) if ".tmp-" in n} if os.path.isdir(folder) else set()
                watch, before = None, temporaries()
                if attempts % 3 == 0:
                    def watch():
                        return bool(temporaries() - before)
                finished, out = self.killed_run(self.command(nproc, args), budget, watch)
                if newest:
                    resumes += 1
                    said = re.search(r"resuming from (\S+) at step", out)
                    if said and os.path.realpath(said.group(1)) != os.path.realpath(newest[-1][1]):
                        self.problems.append(f"{name}: resumed from {said.group(1)}, newest was {newest[-1][1]}")
                if not finished:
                    kills += 1
                    aimed += watch is not None and watch()
                    corrupt += self.check_checkpoints(run_dir)
                if attempts > 200:
                    self.problems.append(f"{name}: did not finish in 200 attempts")
                    break
            last = self.checkpoints(run_dir)
            if last and last[-1][0] == steps and self.same_weights(last[-1][1], final):
                exact += 1
            else:
                self.problems.append(f"{name}: final weights differ from the uninterrupted run")
        print(f"torture: train, {nproc} process{'es' if nproc > 1 else ''}: {runs} runs, {kills} kills "
              f"({aimed} inside a checkpoint write), {resumes} resumes from the newest checkpoint, "
              f"{exact}/{runs} final weights exact, {corrupt} corrupt checkpoints", flush=True)

    def output_trials(self, label, runs, argv_for):
        """Runs `argv_for(out)` once undisturbed, then `runs` times killed and restarted until it finishes; each
        folder must end byte for byte like the undisturbed one. Returns (kills, identical)."""
        ref = os.path.join(self.root, f"{label}-ref")
        started = time.monotonic()
        self.run(argv_for(ref))
        budget = (time.monotonic() - started) * 1.2
        want = self.tree_digest(ref)
        kills = exact = 0
        for trial in range(runs):
            out = os.path.join(self.root, f"{label}-{trial}")
            shutil.rmtree(out, ignore_errors=True)
            finished, attempts = False, 0
            while not finished and attempts < 200:
                attempts += 1
                finished, _ = self.killed_run(argv_for(out), budget)
                kills += not finished
            got = self.tree_digest(out)
            if got == want:
                exact += 1
            else:
                differ = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
                self.problems.append(f"{label} trial {trial}: differs from the uninterrupted run in {', '.join(differ)}")
        return kills, exact

    def prepare(self, nproc, runs):
        shapes, config = os.path.join(self.root, "shapes"), self.config("prep", 1)
        kills, exact = self.output_trials(f"cache{nproc}", runs, lambda out: self.command(
            nproc, ["prepare", shapes, "--config", config, "--output", out, "--shard-size", "6"]))
        print(f"torture: prepare, {nproc} process{'es' if nproc > 1 else ''}: {runs} runs, {kills} kills, "
              f"{exact}/{runs} caches identical to the uninterrupted one, {runs - exact} corrupt caches", flush=True)

    def export(self, runs):
        run_dir = os.path.join(self.root, "runs", "ref1")
        kills, exact = self.output_trials("export", runs, lambda out: [
            self.dit, "export", "--checkpoint", run_dir, "--diffusers", out])
        print(f"torture: export: {runs} runs, {kills} kills, {exact}/{runs} exports identical to the uninterrupted one",
              flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dit", required=True, help="the dit binary")
    ap.add_argument("--runs", type=int, default=10, help="trials per mode")
    ap.add_argument("--steps", type=int, default=24, help="optimizer steps of each training run")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="dit-torture-")
    t = Torture(os.path.abspath(args.dit), root, args.seed)
    t.run([t.dit, "shapes", os.path.join(root, "shapes"), "--count", "48", "--seed", "3"])
    t.run([t.dit, "prepare", os.path.join(root, "shapes"), "--config", t.config("prep", 1)])
    started = time.monotonic()
    t.train(1, args.runs, args.steps)
    t.train(2, args.runs, args.steps)
    t.prepare(1, args.runs)
    t.prepare(2, args.runs)
    t.export(args.runs)
    print(f"torture: {time.monotonic() - started:.0f} s; {len(t.problems)} problems")
    for p in t.problems:
        print("  " + p)
    shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if t.problems else 0)


if __name__ == "__main__":
    main()
