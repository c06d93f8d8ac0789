% rebase("base", title=title)
<h1>Flaky tests</h1>
<p class="lead">Tests that passed after failing within a run, or both passed and failed on one commit.</p>
% include("window_form", action="/ui/flaky")
% if rows:
<div class="table-wrap">
<table>
  <thead>
    <tr><th scope="col">Test</th><th scope="col" class="num">Flaky runs</th><th scope="col" class="num">Runs</th>
    <th scope="col" class="num">Flake rate</th><th scope="col" class="num">Flaky commits</th>
    <th scope="col">Last flaky</th><th scope="col">Example runs</th></tr>
  </thead>
  <tbody>
  % for row in rows:
  <tr>
    % include("test_cell", row=row)
    <td class="num">{{fmt.count(row.flaky_runs)}}</td>
    <td class="num">{{fmt.count(row.runs)}}</td>
    <td class="num">{{fmt.percent(row.flake_rate)}}</td>
    <td class="num">{{fmt.count(row.flaky_commits)}}</td>
    <td class="nowrap">{{fmt.moment(row.last_flaky_at)}}</td>
    <td class="examples">
      % for number, run_id in enumerate(row.example_run_ids[:3], 1):
      <a href="{{fmt.run_href(run_id)}}" title="{{run_id}}">run {{number}}</a>
      % end
    </td>
  </tr>
  % end
  </tbody>
</table>
</div>
% else:
<p class="empty">No flaky test in this window.</p>
% end
