#!/usr/bin/env python3
"""Checks `dit lab` the way a person and a hostile client would use it; the Swift test LabTests runs it.

    python/lab_check.py --dit .build/debug/dit --runs RUNS --generate-run NAME --curve-run NAME
                        [--browser --screenshot lab.png]

Starts `dit lab RUNS --port 0`, then over HTTP: path traversal (`..`, `%2e%2e`, absolute paths, a symbolic link out
of RUNS), a 10 MB request, bad generation requests, 20 generation requests at once (each must finish, in the order
asked), and a run deleted while the server watches. With --browser, headless Chromium (Debian's chromium and
chromium-driver, through selenium) opens the page: the run list renders, the curve has points, a prompt typed into
the playground generates with its steps streamed, a word's attention map shows, and a screenshot is written; every
resource the page loaded must come from the server itself. Prints one JSON line of what it measured; exits 1 with
the failed checks listed.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

failures: list[str] = []


def check(condition: bool, what: str) -> None:
    if not condition:
        failures.append(what)


def start_lab(dit: str, runs: str) -> tuple[subprocess.Popen, int]:
    lab = subprocess.Popen([dit, "lab", runs, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    deadline = time.time() + 60
    seen = []
    while time.time() < deadline:
        line = lab.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("DiTKit Lab: http://"):
            port = int(line.split("http://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
            threading.Thread(target=lambda: [None for _ in lab.stdout], daemon=True).start()  # keep draining
            return lab, port
    lab.kill()
    raise SystemExit("dit lab did not start: " + "".join(seen))


def request(port: int, method: str, path: str, body: bytes | None = None, timeout: float = 120):
    """(status, body) with the path sent exactly as given (no client-side normalisation of `..`)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        if body is not None:
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        if body is not None:
            try:
                connection.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server refused the body before reading it all; its answer is still there
        response = connection.getresponse()
        return response.status, response.read()
    except (ConnectionResetError, BrokenPipeError) as error:
        return None, str(error).encode()
    finally:
        connection.close()


def http_checks(dit: str, port: int, runs: Path, generate_run: str, curve_run: str) -> dict:
    measured: dict = {}
    status, body = request(port, "GET", "/api/runs")
    listed = json.loads(body)["runs"] if status == 200 else []
    names = [r["name"] for r in listed]
    check(generate_run in names and curve_run in names, f"/api/runs lists {names}")
    status, body = request(port, "GET", f"/api/runs/{curve_run}/scalars")
    measured["loss_points"] = len(json.loads(body).get("train/loss", [])) if status == 200 else 0
    check(measured["loss_points"] > 0, f"no loss points for {curve_run}")

    # A run whose lock a live process on this host holds is "training"; a stale lock (a gone pid) is not.
    lock_file = runs / curve_run / ".lock"
    for pid, expected in [(os.getpid(), "training"), (2 ** 22 + 12345, None)]:
        lock_file.write_text(f"{pid} {socket.gethostname()}")
        status, body = request(port, "GET", "/api/runs")
        state = next(r["status"] for r in json.loads(body)["runs"] if r["name"] == curve_run)
        measured.setdefault("lock_status", []).append(state)
        check(state == expected if expected else state != "training", f"lock of pid {pid}: status {state}")
    lock_file.unlink()

    # Traversal: every way out of the runs folder is refused with a 4xx, and nothing outside is ever sent.
    (runs / curve_run / "escape").symlink_to("/etc")
    secret = runs.parent / "secret.txt"
    secret.write_text("outside the runs folder\n")
    (runs / curve_run / "secret.txt").symlink_to(secret)
    attempts = [
        "/files/../../../etc/passwd", f"/files/{curve_run}/../../secret.txt", "/files/%2e%2e/%2e%2e/etc/passwd",
        f"/files/{curve_run}/%2e%2e/%2e%2e/secret.txt", "/files/..%2f..%2fetc%2fpasswd", "/files//etc/passwd",
        "/files/%2fetc%2fpasswd", f"/files/{curve_run}/escape/passwd", f"/files/{curve_run}/secret.txt",
        f"/api/runs/..%2f..%2f/scalars",
    ]
    measured["traversal"] = {}
    for path in attempts:
        status, body = request(port, "GET", path)
        measured["traversal"][path] = status
        check(status is not None and 400 <= status < 500, f"{path} answered {status}")
        check(b"root:" not in body and b"outside the runs folder" not in body, f"{path} leaked a file")
    status, _ = request(port, "GET", f"/files/{curve_run}/config.yaml")
    check(status == 200, f"a file inside the runs folder answered {status}")

    # A 10 MB body is refused (413) or the connection is closed on it; the server stays up.
    status, _ = request(port, "POST", "/api/generate", b"x" * (10 * 1024 * 1024))
    measured["ten_megabytes"] = status
    check(status in (413, None), f"a 10 MB request answered {status}")
    for body, expected in [(b"{not json", 400), (b'{"run": "nope", "prompt": "a"}', 404),
                           (json.dumps({"run": generate_run, "prompt": "a" * 501}).encode(), 400),
                           (json.dumps({"run": generate_run, "prompt": "a", "sampler": "magic"}).encode(), 400),
                           (json.dumps({"run": generate_run, "prompt": "a", "steps": 0}).encode(), 400)]:
        status, answer = request(port, "POST", "/api/generate", body)
        check(status == expected, f"{body[:40]!r} answered {status} ({answer[:120]!r}), expected {expected}")
        check(b"message" in answer, f"{body[:40]!r}: no message in {answer[:120]!r}")

    # 20 generations at once: each finishes, one at a time, in the order they were queued.
    results: list[tuple[int, float, bool]] = []
    lock = threading.Lock()

    def generate(i: int):
        payload = json.dumps({"run": generate_run, "prompt": f"a small red circle {i}", "steps": 2, "seed": i}).encode()
        status, body = request(port, "POST", "/api/generate", payload, timeout=600)
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()] if status == 200 else []
        job = next((e["id"] for e in lines if e.get("type") == "queued"), -1)
        done = bool(lines) and lines[-1].get("type") == "done"
        with lock:
            results.append((job, lines[-1].get("finished", -1) if done else -1, done))

    threads = [threading.Thread(target=generate, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    measured["concurrent_done"] = sum(done for _, _, done in results)
    check(measured["concurrent_done"] == 20, f"{measured['concurrent_done']} of 20 concurrent generations finished")
    # The server numbers jobs as they are queued and as they finish: the two orders must be the same.
    by_id = [finished for _, finished, _ in sorted(results)]
    check(by_id == sorted(by_id), f"concurrent generations finished in the order {by_id}, not as queued")

    # Cancelling: a long generation is stopped between steps; one waiting behind it is cancelled before it starts.
    def stream(payload: dict, events: list, started: threading.Event):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        connection.request("POST", "/api/generate", json.dumps(payload).encode(), {"Content-Type": "application/json"})
        response = connection.getresponse()
        for line in response:
            if line.strip():
                events.append(json.loads(line))
                started.set()
        connection.close()

    long_events: list = []
    waiting_events: list = []
    long_started, waiting_started = threading.Event(), threading.Event()
    long_thread = threading.Thread(target=stream, args=({"run": generate_run, "prompt": "a long one", "steps": 200},
                                                        long_events, long_started))
    long_thread.start()
    deadline = time.time() + 60
    while not any(e.get("type") == "step" for e in long_events) and time.time() < deadline:
        time.sleep(0.01)
    waiting_thread = threading.Thread(target=stream, args=({"run": generate_run, "prompt": "behind", "steps": 2},
                                                           waiting_events, waiting_started))
    waiting_thread.start()
    waiting_started.wait(30)
    waiting_id = next((e["id"] for e in waiting_events if e.get("type") == "queued"), None)
    long_id = next((e["id"] for e in long_events if e.get("type") == "queued"), None)
    measured["waiting_ahead"] = next((e["ahead"] for e in waiting_events if e.get("type") == "queued"), None)
    cancel_waiting, _ = request(port, "POST", f"/api/cancel/{waiting_id}")
    cancel_long, _ = request(port, "POST", f"/api/cancel/{long_id}")
    long_thread.join(120)
    waiting_thread.join(120)
    measured["cancelled_after_steps"] = sum(e.get("type") == "step" for e in long_events)
    check(cancel_waiting == 204 and cancel_long == 204, f"cancel answered {cancel_waiting}, {cancel_long}")
    check(measured["waiting_ahead"] == 1, f"the second request had {measured['waiting_ahead']} ahead of it")
    check(long_events and long_events[-1].get("type") == "cancelled" and measured["cancelled_after_steps"] < 200,
          f"the long generation ended with {long_events[-1:]} after {measured['cancelled_after_steps']} steps")
    check(waiting_events and waiting_events[-1].get("type") == "cancelled"
          and not any(e.get("type") == "start" for e in waiting_events), f"the waiting one ended {waiting_events[-1:]}")
    status, _ = request(port, "POST", "/api/cancel/999999")
    check(status == 404, f"cancelling an unknown job answered {status}")

    # A run deleted (and a checkpoint half-written) while the server watches.
    doomed = runs / "doomed"
    shutil.copytree(runs / generate_run, doomed, symlinks=True)
    (doomed / "checkpoints" / "step-999999.tmp").mkdir()
    # A checkpoint being written (no trainer state yet) is not offered; one whose weights are cut short fails its
    # generation with a message, and the server goes on.
    (doomed / "checkpoints" / "step-999998").mkdir()
    (doomed / "checkpoints" / "step-999998" / "model.safetensors").write_bytes(b"\0" * 100)
    broken = doomed / "checkpoints" / "step-999997"
    shutil.copytree(next(p for p in (doomed / "checkpoints").iterdir() if p.name.startswith("step-") and
                         (p / "trainer_state.json").exists()), broken)
    weights = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    status, body = request(port, "GET", "/api/runs")
    listed = {r["name"]: r for r in json.loads(body)["runs"]} if status == 200 else {}
    check("doomed" in listed, "a copied run is listed")
    offered = listed.get("doomed", {}).get("checkpoints", [])
    check(999998 not in offered and 999999 not in offered, f"half-written checkpoints offered: {offered}")
    status, body = request(port, "POST", "/api/generate",
                           json.dumps({"run": "doomed", "checkpoint": 999997, "prompt": "a", "steps": 2}).encode())
    last = json.loads(body.decode().strip().splitlines()[-1]) if status == 200 else {}
    measured["broken_checkpoint"] = last
    check(last.get("type") == "error" and "safetensors" in last.get("message", ""), f"a cut checkpoint gave {last}")
    shutil.rmtree(doomed)
    status, body = request(port, "GET", "/api/runs")
    check(status == 200 and b'"doomed"' not in body, f"after deleting a run /api/runs answered {status}")
    status, _ = request(port, "GET", "/api/runs/doomed/scalars")
    check(status == 404, f"a deleted run's scalars answered {status}")
    # A second lab on the same port says so and names the option.
    second = subprocess.run([dit, "lab", str(runs), "--port", str(port)], capture_output=True, text=True, timeout=60)
    measured["port_taken"] = second.stdout + second.stderr
    check(second.returncode != 0 and "is in use" in measured["port_taken"] and "--port" in measured["port_taken"],
          f"a second lab on port {port}: {measured['port_taken'][-200:]!r}")
    status, body = request(port, "GET", "/api/health")
    check(status == 200 and body == b"ok", "the server is still up")
    return measured


def browser_checks(port: int, generate_run: str, curve_run: str, screenshot: str, runs_screenshot: str | None) -> dict:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1100",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    measured: dict = {}
    base = f"http://127.0.0.1:{port}"
    try:
        wait = WebDriverWait(driver, 120)
        driver.get(base + "/")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'#runs tbody tr[data-run="{curve_run}"]'))
        measured["rows"] = [r.get_attribute("data-run") for r in driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr")]
        driver.find_element(By.CSS_SELECTOR, f'#runs tbody tr[data-run="{curve_run}"]').click()
        wait.until(lambda d: int(d.find_element(By.ID, "chart-loss").get_attribute("data-points") or 0) > 0)
        measured["curve_points"] = int(driver.find_element(By.ID, "chart-loss").get_attribute("data-points"))
        measured["polyline"] = len(driver.find_elements(By.CSS_SELECTOR, "#chart-loss polyline"))
        if runs_screenshot:
            driver.save_screenshot(runs_screenshot)

        driver.find_element(By.ID, "tab-play").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'#play-run option[value="{generate_run}"]'))
        Select(driver.find_element(By.ID, "play-run")).select_by_value(generate_run)
        prompt = driver.find_element(By.ID, "prompt")
        prompt.clear()
        prompt.send_keys("a large green triangle at the top left")
        steps = driver.find_element(By.ID, "steps")
        steps.clear()
        steps.send_keys("6")
        driver.find_element(By.ID, "generate").click()
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-generation") == "finished")
        measured["status"] = driver.find_element(By.ID, "play-status").text
        measured["streamed_steps"] = len(driver.find_elements(By.CSS_SELECTOR, "#trajectory img"))
        measured["result"] = (driver.find_element(By.ID, "result").get_attribute("src") or "")[:22]
        tokens = driver.find_elements(By.CSS_SELECTOR, "#tokens button")
        measured["tokens"] = [t.text for t in tokens]
        triangle = next((t for t in tokens if t.text.startswith("triangle")), None)
        if triangle is not None:
            triangle.click()
        measured["attention_caption"] = driver.find_element(By.ID, "attention-caption").text
        measured["attention_image"] = (driver.find_element(By.ID, "attention-image").get_attribute("src") or "")[:22]
        driver.save_screenshot(screenshot)

        # Compare: the same prompt and seed at guidance 1 (left) and 4 (right), side by side.
        driver.find_element(By.ID, "tab-compare").click()
        for side in ("left", "right"):
            Select(driver.find_element(By.ID, f"{side}-run")).select_by_value(generate_run)
        compare_steps = driver.find_element(By.ID, "compare-steps")
        compare_steps.clear()
        compare_steps.send_keys("4")
        driver.find_element(By.ID, "compare").click()
        wait.until(lambda d: d.find_element(By.ID, "compare-status").text in ("完成",) or
                   "error" in (d.find_element(By.ID, "compare-status").get_attribute("class") or ""))
        measured["compare_status"] = driver.find_element(By.ID, "compare-status").text
        measured["compare_images"] = [(driver.find_element(By.ID, f"{side}-image").get_attribute("src") or "")[:22]
                                      for side in ("left", "right")]
        measured["compare_differ"] = driver.execute_script(
            "return document.getElementById('left-image').src !== document.getElementById('right-image').src")
        # Every resource the page fetched came from the lab itself.
        resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        measured["resources"] = sorted(set(resources))
        measured["foreign"] = [r for r in resources if not (r.startswith(base) or r.startswith("data:"))]
    finally:
        driver.quit()
    check(measured.get("curve_points", 0) > 0 and measured.get("polyline") == 1, "the loss curve has no points")
    check(measured.get("streamed_steps") == 6, f"streamed {measured.get('streamed_steps')} steps, expected 6")
    check(measured.get("result") == "data:image/png;base64,", "no generated image")
    check(any(t.startswith("triangle") for t in measured.get("tokens", [])), f"tokens {measured.get('tokens')}")
    check("triangle" in measured.get("attention_caption", ""), f"caption {measured.get('attention_caption')!r}")
    check(measured.get("attention_image") == "data:image/png;base64,", "no attention map shown")
    check(not measured.get("foreign"), f"resources from elsewhere: {measured.get('foreign')}")
    check(measured.get("status") == "完成", f"status {measured.get('status')!r}")
    check(measured.get("compare_status") == "完成" and measured.get("compare_images") == ["data:image/png;base64,"] * 2
          and measured.get("compare_differ"), f"compare: {measured.get('compare_status')!r} {measured.get('compare_images')}")
    return measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dit", required=True)
    parser.add_argument("--runs", required=True)
    parser.add_argument("--generate-run", required=True, help="a run with a checkpoint to generate from")
    parser.add_argument("--curve-run", required=True, help="a run with TensorBoard logs")
    parser.add_argument("--browser", action="store_true")
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--screenshot", default="lab.png", help="the playground after a generation")
    parser.add_argument("--runs-screenshot", help="also the runs page with the curve-run's curves")
    args = parser.parse_args()
    lab, port = start_lab(args.dit, args.runs)
    measured: dict = {"port": port}
    try:
        if args.browser:
            measured["browser"] = browser_checks(port, args.generate_run, args.curve_run, args.screenshot,
                                                 args.runs_screenshot)
        if args.http:
            measured["http"] = http_checks(args.dit, port, Path(args.runs), args.generate_run, args.curve_run)
        check(lab.poll() is None, "dit lab exited")
    finally:
        lab.send_signal(signal.SIGINT)
        try:
            lab.wait(timeout=10)
        except subprocess.TimeoutExpired:
            lab.kill()
    print(json.dumps(measured, ensure_ascii=False, default=str))
    for failure in failures:
        print("FAILED:", failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
