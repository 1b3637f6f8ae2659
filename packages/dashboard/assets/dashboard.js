/* global document, window, EventSource, McmCharts */
// The live dashboard page: follows GET api/events (server-sent events) and redraws the
// figures, charts and worker table from each snapshot and update.
(function () {
  'use strict';

  const view = { steps: [], validation: [], tasks: [], charts: {}, state: null };
  // Tests and the browser console read the charts and the last state from here.
  window.mcmDashboard = view;

  function element(id) {
    return document.getElementById(id);
  }

  function setText(id, text) {
    element(id).textContent = text;
  }

  /** Formats seconds as "1h 02m", "3m 05s" or "12s". */
  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '-';
    const total = Math.round(seconds);
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const rest = total % 60;
    if (hours > 0) return hours + 'h ' + String(minutes).padStart(2, '0') + 'm';
    if (minutes > 0) return minutes + 'm ' + String(rest).padStart(2, '0') + 's';
    return rest + 's';
  }

  function formatNumber(value, digits) {
    return value === null || value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);
  }

  /** Replaces the placeholder of a chart container with a chart. */
  function replaceChart(name, id, options) {
    const container = element(id);
    if (view.charts[name]) view.charts[name].destroy();
    container.textContent = '';
    view.charts[name] = McmCharts.lineChart(container, options);
  }

  function drawCharts() {
    if (view.tasks.length === 0) return;
    replaceChart('loss', 'chart-loss', { title: 'Loss per task', yLabel: 'cross-entropy', labels: view.tasks, data: McmCharts.lossColumns(view.steps, view.tasks) });
    replaceChart('ndcg', 'chart-ndcg', {
      title: 'Validation NDCG@10 per task',
      yLabel: 'NDCG@10',
      labels: view.tasks.concat(['mean']),
      dashed: ['mean'],
      points: true,
      data: McmCharts.ndcgColumns(view.validation, view.tasks),
    });
    replaceChart('throughput', 'chart-throughput', { title: 'Sequences per second', yLabel: 'sequences/s', labels: ['sequences/s'], data: McmCharts.throughputColumns(view.steps) });
  }

  function updateCharts() {
    if (!view.charts.loss) return drawCharts();
    view.charts.loss.setData(McmCharts.lossColumns(view.steps, view.tasks));
    view.charts.ndcg.setData(McmCharts.ndcgColumns(view.validation, view.tasks));
    view.charts.throughput.setData(McmCharts.throughputColumns(view.steps));
  }

  function renderHeader(state) {
    const description = state.description;
    setText('run-title', description.run);
    document.title = description.run + ' - mcm training dashboard';
    const parts = [description.model || 'model pending', description.dataset || 'dataset pending', 'backend ' + (description.backend || 'pending')];
    setText('run-meta', parts.join(' · '));
    const phase = element('phase');
    phase.textContent = state.phase;
    phase.className = 'badge ' + (state.phase === 'finished' ? 'done' : 'live');
    const access = {
      'read-only': 'read-only (no token set)',
      'token-required': 'read-only for this browser: open /?token=<token> to allow changes',
      authorized: 'changes allowed',
    };
    setText('access', access[state.access] || '');
  }

  function renderTiles(state) {
    const progress = state.progress;
    const description = state.description;
    setText('tile-step', String(progress.step));
    setText('tile-step-note', description.maxSteps === null ? 'no step limit' : 'of ' + description.maxSteps + ' steps');
    setText('tile-throughput', formatNumber(progress.sequencesPerSecond, 1));
    setText('tile-throughput-note', progress.secondsPerStep === null ? '' : formatNumber(progress.secondsPerStep * 1000, 0) + ' ms per step');
    setText('tile-eta', state.phase === 'finished' ? 'done' : formatDuration(progress.etaSeconds));
    const etaNotes = { 'max-steps': 'until --max-steps', budget: 'until the time budget' };
    setText('tile-eta-note', etaNotes[progress.etaBound] || '');
    setText('tile-elapsed', formatDuration(progress.elapsedSeconds));

    let best = null;
    view.validation.forEach(function (point) {
      if (best === null || point.meanNdcg > best.meanNdcg) best = point;
    });
    setText('tile-best', best === null ? '-' : best.meanNdcg.toFixed(4));
    setText('tile-best-note', best === null ? 'mean over tasks' : 'mean over tasks, step ' + best.step);
  }

  function cell(row, text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
  }

  function renderCoordinator(state) {
    const coordinator = state.coordinator;
    const shown = coordinator !== null;
    element('coordinator').hidden = !shown;
    element('tile-queue-box').hidden = !shown;
    element('tile-workers-box').hidden = !shown;
    if (!shown) return;

    setText('coordinator-state', 'coordinator ' + coordinator.state + ', session ' + coordinator.session);
    setText('tile-queue', String(coordinator.queue.waiting || 0));
    setText('tile-workers', String(coordinator.workers.length));
    setText('tile-workers-note', coordinator.state);

    const body = element('workers');
    body.textContent = '';
    const now = Date.parse(state.updatedAt);
    coordinator.workers.forEach(function (worker) {
      const row = document.createElement('tr');
      row.className = 'worker';
      cell(row, worker.id);
      cell(row, worker.host);
      cell(row, String(worker.pid), 'number');
      cell(row, worker.backend);
      const age = worker.heartbeatAt ? (now - Date.parse(worker.heartbeatAt)) / 1000 : null;
      cell(row, age === null ? '-' : formatNumber(Math.max(0, age), 1) + ' s ago');
      const shard = worker.currentShard;
      cell(row, shard === null ? 'idle' : 'step ' + shard.step + ', shard ' + (shard.shard + 1) + ' of ' + shard.shardCount);
      body.appendChild(row);
    });
    if (coordinator.workers.length === 0) {
      const row = document.createElement('tr');
      cell(row, 'no active worker: start one with "npx nx run trainer:worker"', 'empty');
      body.appendChild(row);
    }

    const head = element('queue-head');
    const counts = element('queue-counts');
    head.textContent = '';
    counts.textContent = '';
    Object.keys(coordinator.queue).forEach(function (name) {
      const th = document.createElement('th');
      th.textContent = name;
      th.className = 'number';
      head.appendChild(th);
      cell(counts, String(coordinator.queue[name]), 'number');
    });
    element('queue-board').hidden = state.queueBoard === null;
    if (state.queueBoard !== null) element('queue-board').setAttribute('href', state.queueBoard.replace(/^\//, ''));
  }

  function render(state) {
    view.state = state;
    renderHeader(state);
    renderTiles(state);
    renderCoordinator(state);
  }

  function onSnapshot(event) {
    const state = JSON.parse(event.data);
    view.steps = state.steps;
    view.validation = state.validation;
    view.tasks = McmCharts.tasksOf(state.description, view.steps);
    drawCharts();
    render(state);
  }

  function onUpdate(event) {
    const update = JSON.parse(event.data);
    Array.prototype.push.apply(view.steps, update.steps);
    Array.prototype.push.apply(view.validation, update.validation);
    const tasks = McmCharts.tasksOf(update.description, view.steps);
    if (tasks.join(',') !== view.tasks.join(',')) {
      view.tasks = tasks;
      drawCharts();
    } else if (update.steps.length > 0 || update.validation.length > 0) {
      updateCharts();
    }
    render(update);
  }

  function connect() {
    const connection = element('connection');
    const source = new EventSource('api/events');
    source.addEventListener('snapshot', onSnapshot);
    source.addEventListener('update', onUpdate);
    source.onopen = function () {
      connection.textContent = 'live';
      connection.className = 'badge live';
    };
    source.onerror = function () {
      // EventSource reconnects on its own; the run may also have ended, which closes the server.
      connection.textContent = 'disconnected, retrying';
      connection.className = 'badge off';
    };
  }

  connect();
})();
