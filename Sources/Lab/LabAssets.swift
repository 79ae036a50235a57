/// Everything the lab's page loads: one HTML file, one script, one style sheet, served by `dit lab` itself (no CDN,
/// no web font, no external request: the Content-Security-Policy forbids any), so it works offline and behind a
/// firewall. The page speaks Chinese, as the course does; element ids are English for the browser test.
enum LabAssets {
    static let files: [(path: String, asset: (type: String, text: String))] = [
        ("/", ("text/html; charset=utf-8", html)),
        ("/app.js", ("text/javascript; charset=utf-8", script)),
        ("/app.css", ("text/css; charset=utf-8", style)),
    ]

    static let html = """
    <!doctype html>
    <html lang="zh-CN">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>DiTKit Lab</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="/app.css">
    </head>
    <body>
    <header>
      <h1>DiTKit Lab</h1>
      <nav>
        <button id="tab-runs" class="tab active" data-view="runs">训练运行</button>
        <button id="tab-play" class="tab" data-view="play">试一试</button>
        <button id="tab-compare" class="tab" data-view="compare">对比</button>
      </nav>
      <span id="root"></span>
    </header>
    <main>
    <section id="view-runs" class="view">
      <table id="runs"><thead><tr><th>运行</th><th>状态</th><th>步数</th><th>速度</th><th>剩余</th><th>checkpoint</th></tr></thead><tbody></tbody></table>
      <div id="run-detail" hidden>
        <h2 id="run-name"></h2>
        <div class="charts">
          <figure><figcaption>损失 train/loss</figcaption><svg id="chart-loss" class="chart" viewBox="0 0 400 200"></svg></figure>
          <figure><figcaption>学习率 train/lr</figcaption><svg id="chart-lr" class="chart" viewBox="0 0 400 200"></svg></figure>
          <figure><figcaption>梯度范数 train/grad_norm</figcaption><svg id="chart-grad_norm" class="chart" viewBox="0 0 400 200"></svg></figure>
        </div>
        <div id="samples" hidden>
          <label>训练中的样例图：<input id="sample-slider" type="range" min="0" max="0" value="0"> <span id="sample-step"></span></label>
          <img id="sample-image" alt="样例图">
        </div>
        <details><summary>配置 config.yaml</summary><pre id="run-config"></pre></details>
      </div>
    </section>
    <section id="view-play" class="view" hidden>
      <form id="play-form">
        <label>运行 <select id="play-run"></select></label>
        <label>checkpoint <select id="play-checkpoint"></select></label>
        <label class="wide">描述 <input id="prompt" maxlength="500" value="a small red circle at the top left"></label>
        <label class="wide">负面描述 <input id="negative" maxlength="500"></label>
        <label>种子 <input id="seed" type="number" min="0" value="0"></label>
        <label>步数 <input id="steps" type="number" min="1" max="200" value="20"></label>
        <label>引导强度 <input id="cfg" type="number" min="0" max="30" step="0.5" value="3"></label>
        <label>采样器 <select id="sampler"><option value="">配置里的</option><option>ddim</option><option>ddpm</option><option>dpmsolver++</option><option>euler</option></select></label>
        <button id="generate" type="submit">生成</button>
        <button id="cancel" type="button" disabled>取消</button>
      </form>
      <p id="play-status" role="status"></p>
      <div class="play-output">
        <figure><figcaption>当前预测的 x̂₀</figcaption><img id="current" alt=""></figure>
        <figure><figcaption>生成的图</figcaption><img id="result" alt=""></figure>
        <figure><figcaption id="attention-caption">点一个词，看它的注意力</figcaption><img id="attention-image" alt=""></figure>
      </div>
      <div id="tokens"></div>
      <h3>每一步的 x̂₀</h3>
      <div id="trajectory" class="strip"></div>
    </section>
    <section id="view-compare" class="view" hidden>
      <form id="compare-form">
        <label class="wide">描述 <input id="compare-prompt" maxlength="500" value="a small red circle at the top left"></label>
        <label>种子 <input id="compare-seed" type="number" min="0" value="0"></label>
        <label>步数 <input id="compare-steps" type="number" min="1" max="200" value="20"></label>
        <fieldset><legend>左</legend><select id="left-run"></select><select id="left-checkpoint"></select>
          <label>引导 <input id="left-cfg" type="number" min="0" max="30" step="0.5" value="1"></label></fieldset>
        <fieldset><legend>右</legend><select id="right-run"></select><select id="right-checkpoint"></select>
          <label>引导 <input id="right-cfg" type="number" min="0" max="30" step="0.5" value="4"></label></fieldset>
        <button id="compare" type="submit">对比</button>
      </form>
      <p id="compare-status" role="status"></p>
      <div class="play-output">
        <figure><figcaption id="left-caption">左</figcaption><img id="left-image" alt=""></figure>
        <figure><figcaption id="right-caption">右</figcaption><img id="right-image" alt=""></figure>
      </div>
    </section>
    </main>
    <script src="/app.js"></script>
    </body>
    </html>
    """

    static let style = """
    body { font-family: system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
    header { display: flex; align-items: center; gap: 1em; padding: .5em 1em; background: #263238; color: #fff; }
    header h1 { font-size: 1.2em; margin: 0; }
    #root { opacity: .7; font-size: .85em; }
    .tab { background: none; border: 1px solid #607d8b; color: #fff; padding: .3em .8em; cursor: pointer; }
    .tab.active { background: #607d8b; }
    main { padding: 1em; }
    table { border-collapse: collapse; }
    td, th { padding: .3em .8em; border-bottom: 1px solid #ddd; text-align: left; }
    tbody tr { cursor: pointer; }
    tbody tr:hover, tbody tr.selected { background: #e3f2fd; }
    .status-training { color: #2e7d32; font-weight: bold; }
    .status-interrupted { color: #ef6c00; }
    .charts { display: flex; flex-wrap: wrap; gap: 1em; }
    .chart { width: 400px; height: 200px; background: #fff; border: 1px solid #ccc; }
    .chart polyline { fill: none; stroke: #1565c0; stroke-width: 1.5; }
    .chart text { font-size: 10px; fill: #555; }
    figure { margin: 0; }
    img { image-rendering: pixelated; }
    #sample-image { display: block; max-width: 100%; margin-top: .5em; }
    form { display: flex; flex-wrap: wrap; gap: .6em 1em; align-items: end; }
    label.wide input { width: 28em; }
    .play-output { display: flex; gap: 1em; margin-top: 1em; }
    .play-output img { width: 256px; height: 256px; background: #000; }
    #tokens button { margin: .2em; }
    #tokens button.active { background: #1565c0; color: #fff; }
    .strip { display: flex; flex-wrap: wrap; gap: 4px; }
    .strip img { width: 64px; height: 64px; }
    .error { color: #c62828; }
    """

    static let script = """
    'use strict';
    const $ = (id) => document.getElementById(id);
    let runs = [], selected = null, job = null;

    function fmtTime(s) { if (s == null) return ''; s = Math.round(s); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`; }

    async function getJSON(url) {
      const r = await fetch(url);
      if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
      return r.json();
    }

    function showView(name) {
      for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.view === name);
      for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== `view-${name}`;
    }
    for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => showView(b.dataset.view));

    async function loadRuns() {
      const answer = await getJSON('/api/runs');
      runs = answer.runs;
      $('root').textContent = answer.root;
      const body = $('runs').tBodies[0];
      body.replaceChildren(...runs.map((r) => {
        const tr = document.createElement('tr');
        tr.dataset.run = r.name;
        tr.classList.toggle('selected', r.name === selected);
        const cells = [r.name, r.status, r.maxSteps ? `${r.step} / ${r.maxSteps}` : `${r.step}`,
          r.rate ? `${r.rate.toFixed(2)} 步/秒` : '', fmtTime(r.eta), r.checkpoints.map((s) => `step-${s}`).join(', ')];
        for (const c of cells) { const td = document.createElement('td'); td.textContent = c; tr.append(td); }
        tr.children[1].className = `status-${r.status.replace(' ', '-')}`;
        tr.addEventListener('click', () => selectRun(r.name));
        return tr;
      }));
      for (const id of ['play-run', 'left-run', 'right-run']) fillRuns($(id));
      if (!selected && runs.length) selectRun(runs[0].name);
    }

    function fillRuns(select) {
      const keep = select.value;
      const usable = runs.filter((r) => r.checkpoints.length);
      select.replaceChildren(...usable.map((r) => new Option(r.name, r.name)));
      if (usable.some((r) => r.name === keep)) select.value = keep;
      select.dispatchEvent(new Event('change'));
    }

    function fillCheckpoints(runSelect, checkpointSelect) {
      const run = runs.find((r) => r.name === runSelect.value);
      const keep = checkpointSelect.value;
      const steps = run ? run.checkpoints.slice().reverse() : [];
      checkpointSelect.replaceChildren(...steps.map((s) => new Option(`step-${s}`, String(s))));
      if (steps.map(String).includes(keep)) checkpointSelect.value = keep;
    }
    for (const side of ['play', 'left', 'right']) {
      $(`${side}-run`).addEventListener('change', () => fillCheckpoints($(`${side}-run`), $(`${side}-checkpoint`)));
    }

    async function selectRun(name) {
      selected = name;
      const run = runs.find((r) => r.name === name);
      for (const tr of $('runs').tBodies[0].rows) tr.classList.toggle('selected', tr.dataset.run === name);
      $('run-detail').hidden = false;
      $('run-name').textContent = name;
      $('run-config').textContent = run.config;
      const slider = $('sample-slider');
      $('samples').hidden = run.samples.length === 0;
      const atEnd = slider.value === slider.max;
      slider.max = String(Math.max(0, run.samples.length - 1));
      // A new run, or the newest sample being watched: follow the newest.
      if (slider.dataset.run !== name || atEnd) { slider.value = slider.max; slider.dataset.run = name; }
      showSample();
      await drawCharts();
    }

    function showSample() {
      const run = runs.find((r) => r.name === selected);
      if (!run || !run.samples.length) return;
      const step = run.samples[Number($('sample-slider').value)];
      $('sample-step').textContent = `step ${step}`;
      $('sample-image').src = `/files/${encodeURIComponent(run.name)}/samples/step-${step}.png`;
    }
    $('sample-slider').addEventListener('input', showSample);

    async function drawCharts() {
      if (!selected) return;
      const tags = await getJSON(`/api/runs/${encodeURIComponent(selected)}/scalars`);
      // Loss and gradient norm fall over orders of magnitude: a log scale, as dit plot logs --log-y draws them.
      for (const tag of ['loss', 'lr', 'grad_norm']) drawChart($(`chart-${tag}`), tags[`train/${tag}`] || [], tag !== 'lr');
    }

    function drawChart(svg, points, logScale) {
      svg.replaceChildren();
      svg.dataset.points = String(points.length);
      if (!points.length) return;
      const log = logScale && points.every((p) => p[1] > 0);
      const xs = points.map((p) => p[0]), ys = points.map((p) => log ? Math.log10(p[1]) : p[1]);
      const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
      const sx = (x) => 40 + (x1 > x0 ? (x - x0) / (x1 - x0) : 0.5) * 350;
      const sy = (y) => 185 - (y1 > y0 ? (y - y0) / (y1 - y0) : 0.5) * 170;
      const ns = 'http://www.w3.org/2000/svg';
      const line = document.createElementNS(ns, 'polyline');
      line.setAttribute('points', points.map((p, i) => `${sx(p[0]).toFixed(1)},${sy(ys[i]).toFixed(1)}`).join(' '));
      svg.append(line);
      const label = (x, y, text) => { const t = document.createElementNS(ns, 'text'); t.setAttribute('x', x); t.setAttribute('y', y); t.textContent = text; svg.append(t); };
      const value = (y) => (log ? 10 ** y : y).toPrecision(3);
      label(2, 15, value(y1)); label(2, 190, value(y0) + (log ? '（对数刻度）' : ''));
      label(40, 198, String(x0)); label(360, 198, String(x1));
    }

    // Streams one generation: lines of JSON (queued, start, step, image, attention, done / error / cancelled).
    async function generate(request, onEvent) {
      const r = await fetch('/api/generate', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(request) });
      if (!r.ok) throw new Error(await r.text());
      const reader = r.body.getReader(), decoder = new TextDecoder();
      let buffered = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffered.indexOf('\\n')) >= 0) {
          const line = buffered.slice(0, end); buffered = buffered.slice(end + 1);
          if (line) onEvent(JSON.parse(line));
        }
      }
    }

    function number(id) { const v = $(id).value; return v === '' ? undefined : Number(v); }

    $('play-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const request = { run: $('play-run').value, checkpoint: number('play-checkpoint'), prompt: $('prompt').value,
        negativePrompt: $('negative').value, seed: number('seed'), steps: number('steps'), cfgScale: number('cfg'),
        sampler: $('sampler').value || undefined };
      const status = $('play-status');
      status.className = '';
      $('trajectory').replaceChildren(); $('tokens').replaceChildren();
      for (const id of ['current', 'result', 'attention-image']) $(id).removeAttribute('src');
      $('generate').disabled = true; $('cancel').disabled = false;
      document.body.dataset.generation = 'running';
      try {
        await generate(request, (ev) => {
          if (ev.type === 'queued') { job = ev.id; status.textContent = ev.ahead ? `排队中，前面还有 ${ev.ahead} 个` : '开始…'; }
          if (ev.type === 'start') status.textContent = `${ev.run} ${ev.checkpoint}：${ev.steps} 步，引导 ${ev.cfgScale}，种子 ${ev.seed}`;
          if (ev.type === 'step') {
            status.textContent = `第 ${ev.index + 1} 步（t = ${Math.round(ev.timestep)}）`;
            const img = new Image(); img.src = ev.prediction || ev.sample; img.title = `t = ${ev.timestep}`;
            $('trajectory').append(img);
            $('current').src = img.src;
          }
          if (ev.type === 'image') $('result').src = ev.image;
          if (ev.type === 'attention') showAttention(ev);
          if (ev.type === 'error') { status.textContent = ev.message; status.className = 'error'; }
          if (ev.type === 'cancelled') status.textContent = '已取消';
          if (ev.type === 'done') status.textContent = '完成';
        });
      } catch (err) { status.textContent = String(err.message || err); status.className = 'error'; }
      $('generate').disabled = false; $('cancel').disabled = true; job = null;
      document.body.dataset.generation = 'finished';
    });
    $('cancel').addEventListener('click', () => { if (job) fetch(`/api/cancel/${job}`, { method: 'POST' }); });

    function showAttention(ev) {
      const buttons = ev.tokens.map((token, i) => {
        const b = document.createElement('button');
        b.type = 'button'; b.textContent = token; b.dataset.token = String(i);
        b.addEventListener('click', () => {
          for (const o of $('tokens').children) o.classList.toggle('active', o === b);
          $('attention-image').src = ev.overlays[i];
          const q = ev.quadrants[i].map((v) => v.toFixed(2)).join(' / ');
          $('attention-caption').textContent = `“${token}” 的注意力（左上 / 右上 / 左下 / 右下：${q}）`;
        });
        return b;
      });
      $('tokens').replaceChildren(...buttons);
      // The first word that is not a special token, shown at once.
      const first = buttons.find((b) => !b.textContent.startsWith('<') && !b.textContent.startsWith('['));
      (first || buttons[0])?.click();
    }

    $('compare-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const status = $('compare-status');
      status.className = '';
      for (const side of ['left', 'right']) $(`${side}-image`).removeAttribute('src');
      try {
        for (const side of ['left', 'right']) {
          const request = { run: $(`${side}-run`).value, checkpoint: number(`${side}-checkpoint`), prompt: $('compare-prompt').value,
            seed: number('compare-seed'), steps: number('compare-steps'), cfgScale: number(`${side}-cfg`) };
          status.textContent = `${side === 'left' ? '左' : '右'}：生成中…`;
          $(`${side}-caption`).textContent = `${request.run} step-${request.checkpoint}，引导 ${request.cfgScale}`;
          await generate(request, (ev) => {
            if (ev.type === 'step') $(`${side}-image`).src = ev.prediction || ev.sample;
            if (ev.type === 'image') $(`${side}-image`).src = ev.image;
            if (ev.type === 'error') throw new Error(ev.message);
          });
        }
        status.textContent = '完成';
      } catch (err) { status.textContent = String(err.message || err); status.className = 'error'; }
    });

    async function refresh() {
      try { await loadRuns(); if (selected && runs.some((r) => r.name === selected)) await selectRun(selected); }
      catch (err) { $('root').textContent = String(err); }
    }
    refresh();
    // A run that trains keeps writing: its status, curves and samples follow every few seconds.
    setInterval(refresh, 5000);
    """
}
