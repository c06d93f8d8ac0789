% rebase("base", title=title)
<h1>Runs</h1>
<form class="filters" method="get" action="/ui/runs">
  <div class="field">
    <label for="branch">Branch</label>
    <input id="branch" name="branch" type="text" value="{{branch or ''}}" placeholder="all branches">
  </div>
  <div class="field">
    <label for="status">Status</label>
    <select id="status" name="status">
      <option value="">any</option>
      % for choice in statuses:
      % if choice == status:
      <option value="{{choice}}" selected>{{choice}}</option>
      % else:
      <option value="{{choice}}">{{choice}}</option>
      % end
      % end
    </select>
  </div>
  <button type="submit">Filter</button>
</form>
% if runs:
<div class="table-wrap">
<table class="runs">
  <thead>
    <tr>
      <th scope="col">Run</th><th scope="col">Started</th><th scope="col">Status</th><th scope="col">Branch</th>
      <th scope="col">Commit</th><th scope="col" class="num">Tests</th><th scope="col" class="num">Failed</th>
      <th scope="col" class="num">Duration</th>
    </tr>
  </thead>
  <tbody>
  % for run in runs:
  <tr>
    <th scope="row" class="test"><a href="{{fmt.run_href(run.run_id)}}">{{run.run_id}}</a></th>
    <td class="nowrap">{{fmt.moment(run.started_at)}}</td>
    <td><span class="badge {{fmt.status_kind(run.status)}}">{{run.status}}</span></td>
    <td>{{run.vcs.get("branch") if run.vcs.get("branch") is not None else ""}}</td>
    <td><code>{{fmt.short_commit(run.vcs.get("commit"))}}</code></td>
    <td class="num">{{fmt.count(run.counts.total)}}</td>
    <td class="num">{{fmt.count(run.counts.failed + run.counts.error)}}</td>
    <td class="num">{{fmt.duration(run.duration_ms)}}</td>
  </tr>
  % end
  </tbody>
</table>
</div>
% else:
<p class="empty">No runs match.</p>
% end
<nav class="pager" aria-label="Pages of runs">
% if newest:
<a href="{{newest}}">← Newest</a>
% end
% if older:
<a href="{{older}}" rel="next">Older →</a>
% end
</nav>
