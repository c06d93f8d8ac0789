% rebase("base", title=title)
<h1>Slowest tests</h1>
<p class="lead">Ordered by the 95th percentile duration of the results that ran.</p>
% include("window_form", action="/ui/slowest")
% if rows:
<div class="table-wrap">
<table>
  <thead>
    <tr><th scope="col">Test</th><th scope="col" class="num">Runs</th><th scope="col" class="num">p50</th>
    <th scope="col" class="num">p95</th><th scope="col" class="num">Mean</th>
    <th scope="col" class="num">Share of test time</th></tr>
  </thead>
  <tbody>
  % for row in rows:
  <tr>
    % include("test_cell", row=row)
    <td class="num">{{fmt.count(row.runs)}}</td>
    <td class="num">{{fmt.duration(row.p50_ms)}}</td>
    <td class="num">{{fmt.duration(row.p95_ms)}}</td>
    <td class="num">{{fmt.duration(row.mean_ms)}}</td>
    <td class="num">{{fmt.percent(row.share)}}</td>
  </tr>
  % end
  </tbody>
</table>
</div>
% else:
<p class="empty">No test ran in this window.</p>
% end
