% rebase("base", title=title)
<h1>Overview</h1>
<p class="note">Default branch <code>{{project.default_branch}}</code>: a run's failures are judged against its latest results there (<code>testrun-admin project set {{project.slug}} --default-branch NAME</code> changes it).</p>
% include("window_form", action="/ui/")
% t = summary.totals
<dl class="totals">
  <div><dt>Runs</dt><dd>{{fmt.count(t.runs)}}</dd></div>
  <div><dt>Pass rate</dt><dd>{{fmt.percent(t.passed_runs / t.runs if t.runs else None)}}</dd></div>
  <div><dt>Failed runs</dt><dd>{{fmt.count(t.failed_runs)}}</dd></div>
  <div><dt>Tests run</dt><dd>{{fmt.count(t.tests_run)}}</dd></div>
  <div><dt>Median run</dt><dd>{{fmt.duration(t.p50_duration_ms)}}</dd></div>
</dl>
% if not t.runs:
<p class="empty">No runs in this window. Send results with <code>pytest --testrun-report</code> or <code>junit-upload</code>.</p>
% end
<div class="charts">
% for chart in charts:
% include("chart", chart=chart)
% end
</div>
<div class="pair">
<section>
<h2>Most failing</h2>
% if failing:
<div class="table-wrap">
<table>
  <thead><tr><th scope="col">Test</th><th scope="col" class="num">Failures</th><th scope="col" class="num">Failure rate</th></tr></thead>
  <tbody>
  % for row in failing:
  <tr>
    % include("test_cell", row=row)
    <td class="num">{{fmt.count(row.failures)}}</td>
    <td class="num">{{fmt.percent(row.failure_rate)}}</td>
  </tr>
  % end
  </tbody>
</table>
</div>
<p><a href="{{fmt.page('/failing', days=window.days, branch=window.branch)}}">All failing tests →</a></p>
% else:
<p class="empty">No test failed in this window.</p>
% end
</section>
<section>
<h2>Most flaky</h2>
% if flaky:
<div class="table-wrap">
<table>
  <thead><tr><th scope="col">Test</th><th scope="col" class="num">Flaky runs</th><th scope="col" class="num">Flake rate</th></tr></thead>
  <tbody>
  % for row in flaky:
  <tr>
    % include("test_cell", row=row)
    <td class="num">{{fmt.count(row.flaky_runs)}}</td>
    <td class="num">{{fmt.percent(row.flake_rate)}}</td>
  </tr>
  % end
  </tbody>
</table>
</div>
<p><a href="{{fmt.page('/flaky', days=window.days, branch=window.branch)}}">All flaky tests →</a></p>
% else:
<p class="empty">No flaky test in this window.</p>
% end
</section>
</div>
