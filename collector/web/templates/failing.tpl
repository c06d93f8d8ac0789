% rebase("base", title=title)
<h1>Failing tests</h1>
<p class="lead">Tests that failed or errored, most failures first.</p>
% include("window_form", action="/ui/failing")
% if rows:
<div class="table-wrap">
<table>
  <thead>
    <tr><th scope="col">Test</th><th scope="col" class="num">Failures</th><th scope="col" class="num">Runs</th>
    <th scope="col" class="num">Failure rate</th><th scope="col">Last failure</th></tr>
  </thead>
  <tbody>
  % for row in rows:
  <tr>
    % include("test_cell", row=row)
    <td class="num">{{fmt.count(row.failures)}}</td>
    <td class="num">{{fmt.count(row.runs)}}</td>
    <td class="num">{{fmt.percent(row.failure_rate)}}</td>
    <td class="message">
      % last = row.last_failure
      % if last is not None:
      <a href="{{fmt.run_href(last.run_id)}}">{{fmt.moment(last.at)}}</a>
      % if last.message:
      <details><summary>{{fmt.first_line(last.message, 80)}}</summary><pre>{{last.message}}</pre></details>
      % end
      % end
    </td>
  </tr>
  % end
  </tbody>
</table>
</div>
% else:
<p class="empty">No test failed in this window.</p>
% end
