% rebase("base", title=title)
<h1>{{entries[0].name if entries else test_id}}</h1>
<p class="test-id"><code class="id">{{test_id}}</code></p>
<div class="charts">
% include("chart", chart=strip)
% include("chart", chart=durations)
</div>
<h2>History</h2>
% if entries:
<div class="table-wrap">
<table class="history">
  <thead>
    <tr><th scope="col">Run</th><th scope="col">Status</th><th scope="col" class="num">Duration</th>
    <th scope="col" class="num">Attempts</th><th scope="col">Branch</th><th scope="col">Commit</th>
    <th scope="col">Message</th></tr>
  </thead>
  <tbody>
  % for entry in entries:
  <tr>
    <th scope="row" class="nowrap"><a href="{{fmt.run_href(entry.run_id)}}" title="{{entry.run_id}}">{{fmt.moment(entry.started_at)}}</a></th>
    <td><span class="badge {{fmt.status_kind(entry.status, entry.flaky)}}">{{entry.status}}{{" · flaky" if entry.flaky else ""}}</span></td>
    <td class="num">{{fmt.duration(entry.duration_ms)}}</td>
    <td class="num">{{entry.attempts}}</td>
    <td>{{entry.branch or ""}}</td>
    <td><code>{{fmt.short_commit(entry.commit)}}</code></td>
    <td class="message">
      % if entry.message:
      <details><summary>{{fmt.first_line(entry.message, 80)}}</summary><pre>{{entry.message}}</pre></details>
      % end
    </td>
  </tr>
  % end
  </tbody>
</table>
</div>
% else:
<p class="empty">No older results.</p>
% end
<nav class="pager" aria-label="Pages of results">
% if newest:
<a href="{{newest}}">← Newest</a>
% end
% if older:
<a href="{{older}}" rel="next">Older →</a>
% end
</nav>
