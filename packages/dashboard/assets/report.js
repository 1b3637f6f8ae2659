/* global document, window, McmCharts */
// Draws the charts of a run report from the JSON embedded in the page.
(function () {
  'use strict';

  const data = JSON.parse(document.getElementById('report-data').textContent);
  const tasks = McmCharts.tasksOf(data.description, data.steps);
  const charts = {};
  // Tests read the charts from here.
  window.mcmReport = { charts: charts, tasks: tasks };

  function draw(name, id, options) {
    const container = document.getElementById(id);
    charts[name] = McmCharts.lineChart(container, options);
  }

  draw('loss', 'chart-loss', { title: 'Loss per task', yLabel: 'cross-entropy', labels: tasks, data: McmCharts.lossColumns(data.steps, tasks) });
  draw('ndcg', 'chart-ndcg', {
    title: 'Validation NDCG@10 per task',
    yLabel: 'NDCG@10',
    labels: tasks.concat(['mean']),
    dashed: ['mean'],
    points: true,
    data: McmCharts.ndcgColumns(data.validation, tasks),
  });
  draw('throughput', 'chart-throughput', { title: 'Sequences per second', yLabel: 'sequences/s', labels: ['sequences/s'], data: McmCharts.throughputColumns(data.steps) });
})();
