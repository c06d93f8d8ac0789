% rebase("base", title=title)
<h1>Quarantine</h1>
<p class="note">A quarantined test still runs and its result is stored as it happened; only its failure does not block:
the verdict marks it <em>quarantined</em>, and <code>pytest --testrun-quarantine</code> and <code>junit-upload --quarantine</code>
do not fail the job for it.{{" Automatic quarantine is on for this project: tests flaky on 2 or more commits in 14 days are added, and released after 20 passes in a row on " + project.default_branch + "." if project.auto_quarantine else ""}}</p>
% if entries:
<div class="table-wrap">
<table class="quarantine">
  <thead>
    <tr><th scope="col">Test</th><th scope="col">Reason</th><th scope="col">By</th><th scope="col">Since</th>
    <th scope="col">Expires</th><th scope="col">Source</th>
    % if can_triage:
    <th scope="col"><span class="visually-hidden">Release</span></th>
    % end
    </tr>
  </thead>
  <tbody>
  % for entry in entries:
  <tr>
    <th scope="row" class="test"><a href="{{fmt.test_href(entry.test_id)}}">{{entry.test_id}}</a></th>
    <td class="reason">{{entry.reason}}</td>
    <td>{{entry.added_by}}</td>
    <td class="nowrap">{{fmt.moment(entry.added_at)}}</td>
    <td class="nowrap">{{fmt.moment(entry.expires_at) if entry.expires_at else "never"}}</td>
    <td><span class="badge {{"flaky" if entry.source == "auto" else "other"}}">{{"auto" if entry.source == "auto" else "manual"}}</span></td>
    % if can_triage:
    <td>
      <form method="post" action="/ui/quarantine/release">
        <input type="hidden" name="test_id" value="{{entry.test_id}}">
        <input type="hidden" name="next" value="/ui/quarantine">
        <button type="submit" class="secondary">Release</button>
      </form>
    </td>
    % end
  </tr>
  % end
  </tbody>
</table>
</div>
% else:
<p class="empty">No test is quarantined in this project.</p>
% end
% if not can_triage:
<p class="help">To quarantine or release a test here, sign in with a token that has the <code>triage</code> scope.</p>
% end
