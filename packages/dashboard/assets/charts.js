/* global uPlot, window */
// Line charts of the dashboard and the report, drawn by uPlot (npm "uplot"). uPlot was
// chosen over Chart.js because it is about 50 kB minified, so the self-contained report
// stays small, and it draws curves of tens of thousands of steps without lag.
(function () {
  'use strict';

  const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
  const HEIGHT = 260;

  /** Formats a chart value with 4 significant digits. */
  function formatValue(_chart, value) {
    return value === null || value === undefined ? '-' : Number(value).toPrecision(4);
  }

  /**
   * Draws a line chart into `container`: `labels` names one series each, `data` is
   * uPlot's column layout [steps, series 1, series 2, ...], with null for gaps.
   */
  function lineChart(container, options) {
    const series = [{ label: options.xLabel || 'step' }];
    options.labels.forEach(function (label, i) {
      series.push({
        label: label,
        stroke: COLORS[i % COLORS.length],
        width: 2,
        dash: options.dashed && options.dashed.indexOf(label) >= 0 ? [6, 4] : undefined,
        points: { show: options.points === true },
        spanGaps: true,
        value: formatValue,
      });
    });
    const chart = new uPlot(
      {
        title: options.title,
        width: Math.max(320, container.clientWidth || 640),
        height: options.height || HEIGHT,
        scales: { x: { time: false } },
        axes: [{ label: options.xLabel || 'step' }, { label: options.yLabel, size: 60 }],
        series: series,
        legend: { live: true },
      },
      options.data,
      container,
    );
    window.addEventListener('resize', function () {
      chart.setSize({ width: Math.max(320, container.clientWidth || 640), height: options.height || HEIGHT });
    });
    return chart;
  }

  /** Returns the loss chart's columns: steps, then each task's loss. */
  function lossColumns(steps, tasks) {
    const columns = [steps.map(function (point) { return point.step; })];
    tasks.forEach(function (task) {
      columns.push(steps.map(function (point) {
        const value = point.taskLosses[task];
        return typeof value === 'number' ? value : null;
      }));
    });
    return columns;
  }

  /** Returns the validation chart's columns: steps, each task's NDCG@10, then their mean. */
  function ndcgColumns(validation, tasks) {
    const columns = [validation.map(function (point) { return point.step; })];
    tasks.forEach(function (task) {
      columns.push(validation.map(function (point) {
        const value = point.ndcg[task];
        return typeof value === 'number' ? value : null;
      }));
    });
    columns.push(validation.map(function (point) { return point.meanNdcg; }));
    return columns;
  }

  /** Returns the throughput chart's columns: steps and sequences per second. */
  function throughputColumns(steps) {
    return [
      steps.map(function (point) { return point.step; }),
      steps.map(function (point) { return Number.isFinite(point.sequencesPerSecond) ? point.sequencesPerSecond : null; }),
    ];
  }

  /** Returns the tasks of a run: those of its configuration, else those of its first step. */
  function tasksOf(description, steps) {
    if (description.tasks.length > 0) return description.tasks;
    return steps.length > 0 ? Object.keys(steps[0].taskLosses) : [];
  }

  window.McmCharts = { lineChart: lineChart, lossColumns: lossColumns, ndcgColumns: ndcgColumns, throughputColumns: throughputColumns, tasksOf: tasksOf };
})();
